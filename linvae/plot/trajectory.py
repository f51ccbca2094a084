"""SGD runs and ODE solutions against t, on the same axes and drawn by the same code.

Simulation and theory produce the same `Trajectory`, so
`plot_observable` draws either (SGD as the mean over seeds with a band for their spread: mean
+- 1 std on a linear axis, the 16 % to 84 % quantiles on a log axis, named in the legend; the
ODE as a dashed line), and `save_figure` writes any figure of `linvae.plot`. Observables and
their symbols are those of the theory page (docs/theory.md, section "Conventions").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from linvae.plot.labels import LABELS, axis_label, schedule_text
from linvae.trajectory import OBSERVABLE_NAMES, Trajectory
from linvae.utils.io import atomic_write
from linvae.utils.paths import check_writable

__all__ = [
    "BAND_LABELS",
    "BAND_QUANTILES",
    "check_figure_format",
    "check_figure_path",
    "observable_series",
    "plot_observable",
    "save_figure",
    "shared_legend",
    "spread_band",
]


def observable_series(traj: Trajectory, name: str, index: tuple[int, ...] = ()) -> np.ndarray:
    """One scalar series per seed, shape (S, T): ``eps_g`` or an entry of a matrix observable.

    For m and d the sign is dropped (|m|, |d|): the model is symmetric under W, V -> -W, -V.

    Raises
    ------
    ValueError
        If ``name`` is not an observable, or ``index`` not an entry of it.
    """
    if name not in OBSERVABLE_NAMES:
        raise ValueError(
            f"The `name` parameter of observable_series must be one of "
            f"{', '.join(OBSERVABLE_NAMES)}. Got {name!r}."
        )
    arr = getattr(traj, name)
    if arr.ndim > 2:
        idx = index or (0,) * (arr.ndim - 2)
        arr = arr[(slice(None), slice(None), *idx)]
    return np.abs(arr) if name in ("m", "d") else arr


# The band of SGD's spread on a log axis: these quantiles over seeds (the +-1 std of a normal
# law); mean - std can be zero or negative there, which a log axis would draw as a dive.
BAND_QUANTILES = (0.16, 0.84)
# What the band of each kind means, as its legend entry.
BAND_LABELS = {
    "std": r"SGD $\pm 1$ std over seeds",
    "quantile": "SGD 16\N{EN DASH}84 % of seeds",
}


def plot_observable(
    trajectories: Sequence[Trajectory] | Trajectory,
    name: str = "eps_g",
    *,
    index: tuple[int, ...] = (),
    ax: Axes | None = None,
    labels: Sequence[str] | None = None,
    logy: bool = False,
    band: Literal["std", "quantile"] | None = None,
    show_seeds: bool = False,
) -> Axes:
    """Plot an observable against t: SGD as the mean over seeds and a band, ODE as a line.

    Parameters
    ----------
    trajectories : Trajectory or sequence of them
        SGD runs and ODE solutions, in any mix.
    name : str
        ``eps_g`` or one of m, d, Q, E, R, D.
    index : tuple of int
        Entry of a matrix observable (default the first).
    ax : matplotlib Axes, optional
    labels : sequence of str, optional
    logy : bool
        Logarithmic y axis. Values <= 0 are not drawn there.
    band : {"std", "quantile"}, optional
        The spread over seeds drawn around an SGD mean (with two seeds or more):
        ``"std"`` is mean +- 1 standard deviation, ``"quantile"`` the 16 % to 84 % quantiles
        over seeds (`BAND_QUANTILES`; the same band for normal spread, and never below zero
        for a positive observable). Default: ``"quantile"`` on a log axis, ``"std"``
        otherwise. The legend states which (``"SGD +-1 std over seeds"``,
        ``"SGD 16-84 % of seeds"``).
    show_seeds : bool
        Also draw each SGD seed thinly.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If ``band`` is not one of the two.
    """
    if band is None:
        band = "quantile" if logy else "std"
    if band not in ("std", "quantile"):
        raise ValueError(
            f"The `band` parameter of plot_observable must be 'std' or 'quantile'. Got {band!r}."
        )
    if isinstance(trajectories, Trajectory):
        trajectories = [trajectories]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    # A log axis cannot show values <= 0 (matplotlib would draw them at its floor): masked.
    shown = _positive if logy else np.asarray
    for i, traj in enumerate(trajectories):
        series = observable_series(traj, name, index)
        label = labels[i] if labels else _default_label(traj)
        if traj.source == "ode":
            ax.plot(traj.t, shown(series[0]), "--", lw=1.8, label=label, color=f"C{i}")
            continue
        mean = series.mean(axis=0)
        (line,) = ax.plot(traj.t, shown(mean), lw=1.4, label=label, color=f"C{i}")
        if series.shape[0] > 1:
            low, high = spread_band(series, band)
            # One legend entry per kind of band, however many runs share the axes.
            shown_before = {c.get_label() for c in ax.collections}
            ax.fill_between(
                traj.t,
                shown(low),
                shown(high),
                color=line.get_color(),
                alpha=0.25,
                lw=0,
                label="_" if BAND_LABELS[band] in shown_before else BAND_LABELS[band],
            )
        if show_seeds:
            for s in series:
                ax.plot(traj.t, shown(s), lw=0.5, alpha=0.4, color=line.get_color())
    ax.set_xlabel(f"{LABELS['t']} = step / {LABELS['N']}")
    ax.set_ylabel(axis_label(name, index))
    if logy:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    return ax


def spread_band(
    series: np.ndarray, band: Literal["std", "quantile"] = "quantile"
) -> tuple[np.ndarray, np.ndarray]:
    """The lower and upper edges, shape (T,), of the band over seeds of ``series`` (S, T).

    ``"std"``: mean -+ 1 standard deviation (``ddof=1``). ``"quantile"``: the
    `BAND_QUANTILES` (16 % and 84 %) over seeds, linearly interpolated between seeds as
    `numpy.quantile` does; for a positive observable both edges are positive, so a log axis
    shows the band without a dive.

    Examples
    --------
    >>> low, high = spread_band(np.array([[1.0], [2.0], [4.0]]))
    >>> float(low[0]), float(high[0])
    (1.32, 3.36)
    """
    series = np.asarray(series, dtype=np.float64)
    if band == "std":
        mean, std = series.mean(axis=0), series.std(axis=0, ddof=1)
        return mean - std, mean + std
    low, high = np.quantile(series, BAND_QUANTILES, axis=0)
    return low, high


def shared_legend(fig: Figure, axes: Sequence[Axes], *, ncols: int = 3) -> Legend:
    """One legend for panels that draw the same curves, below them, instead of one per panel.

    The entries of every panel's legend, each label once (first handle kept), go into a
    figure legend outside the axes (``loc="outside lower center"``, which a figure with
    ``layout="constrained"`` makes room for); the panels' own legends are removed.

    Returns
    -------
    matplotlib.legend.Legend
        The figure's legend.
    """
    entries: dict[str, Artist] = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels, strict=True):
            entries.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    return fig.legend(
        list(entries.values()),
        list(entries),
        loc="outside lower center",
        ncols=min(len(entries), ncols) or 1,
        frameon=False,
    )


def _positive(values: np.ndarray) -> np.ndarray:
    """``values`` with the entries <= 0 (or NaN) masked as NaN: what a log axis can show."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(values > 0, values, np.nan)


def _default_label(traj: Trajectory) -> str:
    beta = schedule_text(traj.model.schedule)
    if traj.source == "ode":
        return f"ODE, {beta}"
    return f"SGD mean, $N = {traj.N}$, {traj.n_seeds} seeds, {beta}"


def check_figure_format(path: str | Path, name: str = "path") -> Path:
    """Check that the suffix of ``path`` is a format matplotlib writes; return it as a Path.

    The format half of `check_figure_path`, for a caller that checked the path's
    writability already (a command's outputs, `linvae.utils.paths.check_outputs`).

    Raises
    ------
    ValueError
        Naming ``name`` (e.g. ``"--out"``), the path and the formats.

    Examples
    --------
    >>> check_figure_format("fig.xyz", "--out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --out fig.xyz: '.xyz' is not a figure format; use one of ..., .png, ...
    """
    path = Path(path)
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if path.suffix.lower().lstrip(".") not in formats:
        shown = f"{path.suffix!r} is not a figure format" if path.suffix else "no suffix"
        raise ValueError(
            f"{name} {path}: {shown}; use one of " + ", ".join(f".{f}" for f in formats) + "."
        )
    return path


def check_figure_path(path: str | Path, name: str = "path", *, force: bool = False) -> Path:
    """Check, before drawing, that a figure can be saved at ``path``; return it as a Path.

    The suffix must be a format matplotlib writes (png, pdf, svg, ...: `check_figure_format`)
    and the path writable (`linvae.utils.paths.check_writable`; ``force`` accepts a read-only
    file, to be replaced).

    Raises
    ------
    ValueError
        Naming ``name`` (e.g. ``"--out"``), the path and the formats, or why the path cannot
        be written.

    Examples
    --------
    >>> check_figure_path("fig.xyz", "--out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --out fig.xyz: '.xyz' is not a figure format; use one of ..., .png, ...
    """
    return check_writable(check_figure_format(path, name), name, force=force)


def save_figure(
    fig: Figure, path: str | Path, *, dpi: float = 150, force: bool = False, **savefig_kwargs
) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix, folders created) and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
        ``.png``, ``.pdf``, ``.svg``, ... Written atomically (`linvae.utils.io.atomic_write`):
        through a symlink to its target, keeping a replaced file's permissions.
    dpi : float
        Resolution of raster formats.
    force : bool
        Replace a read-only file at ``path``.
    **savefig_kwargs
        Passed on to `matplotlib.figure.Figure.savefig` (``bbox_inches="tight"``, ...).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    PermissionError
        If ``path`` is a read-only file and ``force`` is False.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or None
    atomic_write(
        path, lambda handle: fig.savefig(handle, format=fmt, dpi=dpi, **savefig_kwargs), force=force
    )
    plt.close(fig)  # frees its memory in pyplot; a closed figure can still be saved again
    return path
