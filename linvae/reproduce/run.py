"""The figure set as a registry (`FIGURES`), and `reproduce`, which runs a selection of it.

Each figure is a `FigureSpec`: a name (its files' stem), a stage, and the pair of functions
of its module that compute its numbers and draw it. The registry orders the figures, groups
them into stages (what the progress bar shows), resolves the figures a selection needs, and
names the files; `reproduce` computes, draws and saves them one by one and keeps
``manifest.json`` (the files and the numbers) up to date with what is finished.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from linvae.plot.trajectory import save_figure
from linvae.reproduce import annealing, offline, online, phase, superfluous
from linvae.reproduce.context import Context
from linvae.reproduce.registry import FigureSet, FigureSpec, Stage
from linvae.utils.io import atomic_write_json, to_jsonable
from linvae.utils.paths import check_writable
from linvae.utils.process import check_interrupt, deferred_interrupts, folder_lock
from linvae.utils.progress import make_progress
from linvae.utils.version import __version__

__all__ = ["FIGURES", "reproduce"]

_CURVES = Stage(name="learning_curves", description="learning curves: SGD and ODE for several beta")
_ORDER = Stage(name="order_parameters", description="order parameters at beta = 1")
_EPS_G = Stage(
    name="eps_g_vs_beta", description="eps_g* vs beta: closed form, finite tau, SGD, ODE"
)
_SUPERFLUOUS = Stage(
    name="superfluous",
    description="superfluous latents: noise fitting, 1/t at beta = eta, convergence vs M",
)
_ANNEALING = Stage(
    name="annealing", description="annealing: curves around gamma_c, T_conv(gamma), optimum"
)
_PHASE = Stage(name="phase", description="phase diagrams", section="phase_diagrams")
_OFFLINE = Stage(
    name="offline",
    description="offline: finite data (theory, the authors' Adam protocol, one vs many passes)",
    section="offline",
    header=lambda ctx: {"settings": ctx.offline.__dict__},
)


def _phase(name: str, compute, needs: tuple[str, ...] = ()) -> FigureSpec:
    return FigureSpec(
        name=name, stage=_PHASE, compute=compute, draw=phase.draw_phase_diagram, needs=needs
    )


#: The paper's figure set, in the order it is drawn (docs/results.md, docs/offline.md).
FIGURES = FigureSet(
    [
        FigureSpec(
            name="learning_curves",
            stage=_CURVES,
            compute=online.learning_curves,
            draw=online.draw_learning_curves,
        ),
        FigureSpec(
            name="order_parameters",
            stage=_ORDER,
            compute=online.order_parameters,
            draw=online.draw_order_parameters,
            needs=("learning_curves",),
        ),
        FigureSpec(
            name="eps_g_vs_beta",
            stage=_EPS_G,
            compute=online.eps_g_vs_beta,
            draw=online.draw_eps_g_vs_beta,
            needs=("learning_curves",),
        ),
        FigureSpec(
            name="superfluous",
            stage=_SUPERFLUOUS,
            compute=superfluous.superfluous,
            draw=superfluous.draw_superfluous,
        ),
        FigureSpec(
            name="annealing",
            stage=_ANNEALING,
            compute=annealing.annealing,
            draw=annealing.draw_annealing,
        ),
        _phase("phase_beta_rho", phase.phase_beta_rho),
        _phase("phase_beta_lam", phase.phase_beta_lam),
        _phase("phase_gamma_beta_f", phase.phase_gamma_beta_f, needs=("annealing",)),
        _phase("phase_M_beta", phase.phase_M_beta),
        FigureSpec(
            name="offline-eps_g_vs_alpha",
            stage=_OFFLINE,
            compute=offline.offline_eps_g_vs_alpha,
            draw=offline.draw_eps_g_vs_alpha,
        ),
        FigureSpec(
            name="offline-phase_alpha_beta",
            stage=_OFFLINE,
            compute=offline.offline_phase,
            draw=offline.draw_offline_phase,
        ),
        FigureSpec(
            name="offline-rate_distortion",
            stage=_OFFLINE,
            compute=offline.offline_rate_distortion,
            draw=offline.draw_rate_distortion,
        ),
        FigureSpec(
            name="offline-one_pass_vs_offline",
            stage=_OFFLINE,
            compute=offline.one_pass_vs_offline,
            draw=offline.draw_one_pass_vs_offline,
        ),
    ]
)


def reproduce(
    out_dir: str | Path,
    *,
    quick: bool = False,
    progress: bool = True,
    figures: Sequence[str] | None = None,
) -> dict:
    """Write the figure set (PNG + PDF) and ``manifest.json`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Created if needed.
    quick : bool
        `ReproduceSettings.quick` (about a minute) instead of the default (about ten).
    progress : bool
        A tqdm bar on stderr over the figures, labelled with the current stage
        (``[2/5] phase diagrams``), and a closing line.
    figures : sequence of str or None
        Figure names (``FIGURES.names``: ``"learning_curves"``, ``"phase_beta_rho"``, ...)
        or stage names (``"phase"``, ``"offline"``, ...) to draw; None: all. The figures a
        selected one needs are computed (their numbers recorded), not drawn.

    Returns
    -------
    dict
        The manifest: ``out``, ``quick``, ``complete``, ``settings``, ``figures`` (relative
        paths), ``numbers`` (the values behind the figures), ``wall_time_s``,
        ``linvae_version``.

    Raises
    ------
    ValueError
        If ``figures`` names an unknown figure or stage.
    linvae.utils.process.FolderLocked
        (a ValueError) If another process is writing ``out_dir``.
    KeyboardInterrupt
        On Ctrl-C or SIGTERM, at the next figure or stage (the signals are deferred while
        it runs: `linvae.utils.process.deferred_interrupts`): ``manifest.json`` is written
        first, with ``"complete": false`` and the figures and numbers finished so far.

    Examples
    --------
    >>> manifest = reproduce("figures/", quick=True, figures=["phase_beta_rho"])  # doctest: +SKIP
    >>> manifest["figures"]  # doctest: +SKIP
    ['phase_beta_rho.png', 'phase_beta_rho.pdf']
    """
    start = time.perf_counter()
    selected = FIGURES.select(figures)
    ctx = Context(quick=quick)
    out = Path(out_dir)
    written: list[str] = []
    numbers: dict = {}

    def manifest(complete: bool) -> dict:
        result = {
            "out": str(out),
            "quick": quick,
            "complete": complete,
            "settings": ctx.settings.__dict__,
            "figures": written,
            "numbers": numbers,
            "wall_time_s": time.perf_counter() - start,
            "linvae_version": __version__,
        }
        result = to_jsonable(result)  # plain JSON: numpy to Python, inf and NaN to None
        atomic_write_json(out / "manifest.json", result, indent=1)
        return result

    check_writable(out, "The `out_dir` folder of reproduce", directory=True)
    # Signals are recorded and acted upon between figures and stages: a KeyboardInterrupt
    # raised inside one of matplotlib's garbage-collection callbacks would be lost.
    with folder_lock(out, "The `out_dir` folder of reproduce"), deferred_interrupts():
        try:
            _run(out, ctx, selected, written, numbers, progress=progress)
        except KeyboardInterrupt:
            # Keep what is finished: the figures on disk and the numbers behind them.
            manifest(complete=False)
            if progress:
                sys.stderr.write(f"interrupted: {len(written)} files kept in {out}\n")
            raise
        result = manifest(complete=True)
    if progress:
        sys.stderr.write(f"done: {len(written)} files in {result['wall_time_s']:.1f} s\n")
    return result


def _run(
    out: Path,
    ctx: Context,
    selected: Sequence[FigureSpec],
    written: list[str],
    numbers: dict,
    *,
    progress: bool,
) -> None:
    """Compute every figure of the plan, draw and save the selected ones, stage by stage.

    ``written`` (files, relative to ``out``) and ``numbers`` grow as each figure is done, so
    that an interruption keeps everything finished.
    """
    plan = FIGURES.plan(selected)
    drawn = {figure.name for figure in selected}
    stages = list(dict.fromkeys(figure.stage for figure in plan))
    bar = make_progress(progress, len(plan), "reproduce", unit="figures")
    done = 0
    try:
        for k, stage in enumerate(stages, 1):
            check_interrupt()  # a safe point: every earlier stage is saved
            bar.set_label(f"[{k}/{len(stages)}] {stage.description}")
            section = numbers.setdefault(stage.section, {}) if stage.section else numbers
            if stage.header is not None:
                section.update(stage.header(ctx))
            for figure in (f for f in plan if f.stage == stage):
                computed = ctx.results[figure.name] = figure.compute(ctx)
                section.update(computed.numbers)
                if figure.name in drawn:
                    fig = figure.draw(computed, ctx)
                    for file in figure.files:
                        path = save_figure(fig, out / file, dpi=150)
                        written.append(str(path.relative_to(out)))
                    check_interrupt()  # a safe point: this figure is on disk
                done += 1
                bar(done)
    finally:
        bar.close()
