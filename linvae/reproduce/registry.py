"""The registry of the figure set: each figure a name, a stage, its files and two functions.

A figure is a `FigureSpec`: ``compute(context)`` returns its `Computed` numbers (what
``manifest.json`` records) and data (what the drawing, and the figures that need this one,
use); ``draw(computed, context)`` turns them into a matplotlib Figure. A `FigureSet` holds the
figures in the order they run and answers the questions of the driver
(`linvae.reproduce.run`): which stages to announce, which figures a selection names, and which
other figures must be computed first. Nothing here draws or computes: the figures live in the
sibling modules, one function pair per figure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from linvae.reproduce.context import Computed, Context

__all__ = ["FigureSet", "FigureSpec", "Stage"]


@dataclass(frozen=True, kw_only=True)
class Stage:
    """A group of figures announced together on the progress line.

    Attributes
    ----------
    name : str
        Short name, also accepted where figures are selected (all figures of the stage).
    description : str
        The progress line.
    section : str or None
        Key of ``manifest["numbers"]`` under which the stage's figures record their numbers;
        None records them at the top level.
    header : callable or None
        ``header(context) -> dict``: numbers the stage records in its section before its
        first figure (the stage's own settings).
    """

    name: str
    description: str
    section: str | None = None
    header: Callable[[Context], Mapping[str, Any]] | None = None


@dataclass(frozen=True, kw_only=True)
class FigureSpec:
    """One figure of the set.

    Attributes
    ----------
    name : str
        The file stem: the figure is written as ``name.png`` and ``name.pdf``.
    stage : Stage
    compute : callable
        ``compute(context) -> Computed``; the results of the figures named in ``needs`` are in
        ``context.results``.
    draw : callable
        ``draw(computed, context) -> matplotlib.figure.Figure``.
    needs : tuple of str
        Figures whose results ``compute`` reads; they come earlier in the set, and are
        computed (not drawn) when only this figure is selected.
    suffixes : tuple of str
        The formats written.
    """

    name: str
    stage: Stage
    compute: Callable[[Context], Computed]
    draw: Callable[[Computed, Context], Figure]
    needs: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ("png", "pdf")

    @property
    def files(self) -> tuple[str, ...]:
        """The files the figure writes, relative to the output folder."""
        return tuple(f"{self.name}.{suffix}" for suffix in self.suffixes)


class FigureSet:
    """The figures in the order they run: the registry that drives stages, selection and files.

    Parameters
    ----------
    figures : iterable of FigureSpec
        Unique names; each figure's ``needs`` name earlier figures.

    Raises
    ------
    ValueError
        If a name repeats, or a figure needs one that is not before it.
    """

    def __init__(self, figures: Iterable[FigureSpec]):
        self._figures: dict[str, FigureSpec] = {}
        for figure in figures:
            if figure.name in self._figures:
                raise ValueError(f"Two figures of the set are named {figure.name!r}.")
            missing = [need for need in figure.needs if need not in self._figures]
            if missing:
                raise ValueError(
                    f"The figure {figure.name!r} needs {missing}, which are not earlier in the set."
                )
            self._figures[figure.name] = figure

    def __iter__(self) -> Iterator[FigureSpec]:
        return iter(self._figures.values())

    def __len__(self) -> int:
        return len(self._figures)

    def __getitem__(self, name: str) -> FigureSpec:
        return self._figures[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._figures)

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The stages, in the order of their first figure."""
        return tuple(dict.fromkeys(figure.stage for figure in self))

    def select(
        self,
        names: Sequence[str] | None = None,
        *,
        owner: str = "The `figures` parameter of reproduce",
    ) -> tuple[FigureSpec, ...]:
        """The figures ``names`` asks for (figure or stage names), in the order of the set.

        Parameters
        ----------
        names : sequence of str or None
            Figure names (``"phase_beta_rho"``) or stage names (``"phase"``: all its figures);
            None or empty: every figure.
        owner : str
            What the error message calls ``names`` (a parameter, a command-line option).

        Raises
        ------
        ValueError
            For a name that is neither, listing the names there are.
        """
        if not names:
            return tuple(self)
        stages = {stage.name: stage for stage in self.stages}
        unknown = [name for name in names if name not in self._figures and name not in stages]
        if unknown:
            raise ValueError(
                f"{owner} names no figure or stage: {unknown}. "
                f"Figures: {', '.join(self.names)}; stages: {', '.join(stages)}."
            )
        wanted = set(names)
        return tuple(f for f in self if f.name in wanted or f.stage.name in wanted)

    def plan(self, selected: Sequence[FigureSpec]) -> tuple[FigureSpec, ...]:
        """``selected`` and, before them, every figure they need: what must be computed."""
        todo: set[str] = set()
        stack = [figure.name for figure in selected]
        while stack:
            name = stack.pop()
            if name not in todo:
                todo.add(name)
                stack.extend(self._figures[name].needs)
        return tuple(figure for figure in self if figure.name in todo)
