"""Figures of the layer study from cached analyses (matplotlib, Agg; imported by the CLI only).

* ``id_profiles.png``: ID vs layer for every K at the last epoch (the hunchback figure);
* ``id_evolution.png``: ID vs layer at every analysed epoch, one panel per K;
* ``imbalance_profiles.png``: ``Delta(l -> input)`` and ``Delta(l -> output)`` vs layer for
  every K at the last epoch;
* ``imbalance_evolution.png``: ``Delta(l -> input)`` vs layer at every analysed epoch;
* ``imbalance_vs_K.png``: ``Delta(output -> input)`` and ``Delta(z -> input)`` vs K;
* ``training_phases.png``: those two imbalances and the KL loss vs epoch;
* ``losses.png``: evaluation loss, reconstruction and KL terms vs epoch;
* ``relative_imbalance.png``: relative II difference per layer transition;
* ``reconstructions.png`` (`plot_reconstructions`, needs torch): evaluation images and
  their reconstructions at the last checkpoint.

One column of panels per dataset label. Every figure reads with one K or many, and with any
number of epochs: layers are named on the axes, log axes carry plain-number tick labels, and
legends sit beside the panels.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from conv_study.analysis import CheckpointGeometry, RunAnalysis, load_analysis
from conv_study.constants import LATENT_LAYER, N_LAYERS, OUTPUT_LAYER, dataset_display_name
from conv_study.runs import load_run, run_label
from linvae.utils.io import atomic_write
from linvae.utils.paths import check_writable

__all__ = [
    "LAYER_LABELS",
    "epoch_ticks",
    "find_analyses",
    "make_figures",
    "plot_reconstructions",
]

logger = logging.getLogger(__name__)

#: Axis labels of the layers l0..l10: the name and what it is.
LAYER_LABELS: tuple[str, ...] = (
    "l0 input",
    "l1 enc 1",
    "l2 enc 2",
    "l3 enc 3",
    "l4 enc 4",
    "l5 z",
    "l6 dec lin",
    "l7 dec 1",
    "l8 dec 2",
    "l9 dec 3",
    "l10 output",
)
# Resolution of every saved figure (150 dpi or more: readable when zoomed or printed).
_DPI = 150
_PANEL = (4.6, 3.4)


def find_analyses(runs_dir: str | os.PathLike[str]) -> list[RunAnalysis]:
    """Every cached analysis in ``runs_dir`` (itself or its direct subdirectories).

    Parameters
    ----------
    runs_dir : path-like
        A run directory or a directory of run directories.

    Returns
    -------
    list of RunAnalysis
        Sorted by label, then K; runs without ``analysis.json`` are skipped.
    """
    runs_dir = Path(runs_dir)
    found = []
    for path in [runs_dir, *sorted(p for p in runs_dir.iterdir() if p.is_dir())]:
        res = load_analysis(path)
        if res is not None and res.checkpoints:
            found.append(res)
    return sorted(found, key=lambda r: (r.label, r.latent_dim))


def _by_label(analyses: Sequence[RunAnalysis]) -> dict[str, list[RunAnalysis]]:
    groups: dict[str, list[RunAnalysis]] = {}
    for res in analyses:
        groups.setdefault(res.label, []).append(res)
    return groups


# ---------------------------------------------------------------------------------------------
# Axes that read
# ---------------------------------------------------------------------------------------------
def _plain(value: float, _pos=None) -> str:
    return f"{value:g}"


def _log_axis(ax, which: str = "y") -> None:
    """Log scale with plain-number labels at 1, 2, 5 x 10^n; linear when that leaves < 2."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    getattr(ax, f"set_{which}scale")("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(NullFormatter())
    low, high = getattr(ax, f"get_{which}lim")()
    visible = [t for t in axis.get_major_locator().tick_values(low, high) if low <= t <= high]
    if len(visible) < 2:
        # A narrow range (IDs that barely change): a linear axis labels it better.
        getattr(ax, f"set_{which}scale")("linear")
        axis.set_major_locator(MaxNLocator(nbins=5))
        axis.set_major_formatter(FuncFormatter(_plain))


def epoch_ticks(epochs: Sequence[int]) -> list[int]:
    """Epoch tick marks for a symlog epoch axis: 0, 1, 2, 5, 10, 20, 50, ... and the last.

    Examples
    --------
    >>> epoch_ticks([0, 1, 2, 5, 10, 20, 50, 75, 100, 150, 200])
    [0, 1, 2, 5, 10, 20, 50, 100, 200]
    >>> epoch_ticks([0, 3])
    [0, 1, 2, 3]
    """
    last = max(int(e) for e in epochs) if len(epochs) else 1
    nice = [0] + [m * 10**p for p in range(6) for m in (1, 2, 5)]
    ticks = [t for t in nice if t <= last]
    if last not in ticks:
        if ticks and last < 1.3 * ticks[-1]:
            ticks.pop()  # too close to the last nice tick to label both
        ticks.append(last)
    return ticks


def _epoch_axis(ax, epochs: Sequence[int]) -> None:
    ax.set_xscale("symlog", linthresh=1, linscale=0.5)  # epoch 0 (untrained) stays on the axis
    ax.xaxis.set_major_locator(FixedLocator(epoch_ticks(epochs)))
    ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("epoch")


def _layer_axis(ax, n: int = N_LAYERS, *, labels: bool = True) -> None:
    ax.set_xticks(range(n))
    if labels:
        ax.set_xticklabels(LAYER_LABELS[:n], rotation=45, ha="right", fontsize="small")
    else:
        ax.set_xticklabels([])
    ax.set_xlabel("layer" if labels else "")
    for boundary in (LATENT_LAYER,):
        ax.axvline(boundary, color="0.85", lw=0.8, zorder=0)


def _k_colors(n: int):
    return plt.cm.viridis(np.linspace(0.0, 0.9, max(n, 1)))


def _epoch_colors(n: int):
    return plt.cm.plasma(np.linspace(0.0, 0.85, max(n, 1)))


def _legend_outside(fig, ax, **kwargs) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles,
            labels,
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            ncol=1 if len(labels) <= 12 else 2,
            **kwargs,
        )


def _save(fig, out: Path, name: str) -> Path:
    fig.tight_layout()  # makes room for the legends beside the panels
    path = out / name
    # Atomic: through a symlink to its target; a read-only file is refused.
    atomic_write(
        path, lambda handle: fig.savefig(handle, format="png", dpi=_DPI, bbox_inches="tight")
    )
    plt.close(fig)
    return path


def _grid(rows: int, cols: int, title: str, *, sharex: bool = False):
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(_PANEL[0] * cols + 1.4, _PANEL[1] * rows + 0.6),
        squeeze=False,
        sharex=sharex,
    )
    fig.suptitle(title)
    return fig, axes


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------
def _id_profiles(groups, out: Path) -> Path:
    fig, axes = _grid(1, len(groups), "Intrinsic dimension per layer (last analysed epoch)")
    for ax, (label, runs) in zip(axes[0], groups.items(), strict=True):
        for color, res in zip(_k_colors(len(runs)), runs, strict=True):
            last = res.checkpoints[-1]
            ax.plot(range(len(last.id)), last.id, "o-", color=color, label=f"K={res.latent_dim}")
        ax.axhline(runs[0].data_id, color="gray", ls=":", label=f"input ID {runs[0].data_id:.1f}")
        ax.set(
            ylabel="2NN intrinsic dimension",
            title=f"{dataset_display_name(label)}, epoch {_last_epoch(runs)}",
        )
        _layer_axis(ax)
        _log_axis(ax, "y")
        _legend_outside(fig, ax)
    return _save(fig, out, "id_profiles.png")


def _last_epoch(runs: Sequence[RunAnalysis]) -> str:
    epochs = sorted({res.checkpoints[-1].epoch for res in runs})
    return ", ".join(str(e) for e in epochs)


def _profile_evolution(
    groups,
    out: Path,
    *,
    value: Callable[[CheckpointGeometry], Sequence[float]],
    ylabel: str,
    title: str,
    name: str,
    log: bool,
) -> Path:
    n_rows = max(len(runs) for runs in groups.values())
    fig, axes = _grid(n_rows, len(groups), title)
    for col, (label, runs) in enumerate(groups.items()):
        for row in range(n_rows):
            ax = axes[row, col]
            if row >= len(runs):
                ax.set_visible(False)
                continue
            res = runs[row]
            for color, geo in zip(
                _epoch_colors(len(res.checkpoints)), res.checkpoints, strict=True
            ):
                values = np.asarray(value(geo), dtype=float)
                ax.plot(range(len(values)), values, ".-", color=color, label=f"epoch {geo.epoch}")
            ax.set(ylabel=ylabel, title=f"{dataset_display_name(label)}, K={res.latent_dim}")
            _layer_axis(ax, labels=row == len(runs) - 1 or row == n_rows - 1)
            if log:
                _log_axis(ax, "y")
            _legend_outside(fig, ax)
    return _save(fig, out, name)


def _imbalance_profiles(groups, out: Path) -> Path:
    fig, axes = _grid(2, len(groups), "Information imbalance per layer (last analysed epoch)")
    for col, (label, runs) in enumerate(groups.items()):
        for color, res in zip(_k_colors(len(runs)), runs, strict=True):
            last = res.checkpoints[-1]
            n = len(last.delta_to_first)
            axes[0, col].plot(range(n), last.delta_to_first, "o-", color=color)
            axes[1, col].plot(
                range(n), last.delta_to_last, "o-", color=color, label=f"K={res.latent_dim}"
            )
        axes[0, col].set(ylabel="Δ(layer → input)", title=dataset_display_name(label))
        axes[1, col].set(ylabel="Δ(layer → output)")
        _layer_axis(axes[0, col], labels=False)
        _layer_axis(axes[1, col])
        for ax in axes[:, col]:
            ax.set_ylim(-0.02, 1.05)
        _legend_outside(fig, axes[1, col])
    return _save(fig, out, "imbalance_profiles.png")


def _imbalance_vs_k(groups, out: Path) -> Path:
    fig, axes = _grid(1, len(groups), "Information imbalance to the input (last analysed epoch)")
    for ax, (label, runs) in zip(axes[0], groups.items(), strict=True):
        ks = [r.latent_dim for r in runs]
        ax.plot(
            ks,
            [r.checkpoints[-1].delta_to_first[OUTPUT_LAYER] for r in runs],
            "o-",
            label="Δ(output → input)",
        )
        ax.plot(
            ks,
            [r.checkpoints[-1].delta_to_first[LATENT_LAYER] for r in runs],
            "s-",
            label="Δ(z → input)",
        )
        data_id = runs[0].data_id
        ax.set_xscale("log", base=2)
        low, high = min(*ks, data_id) / 2.0, max(*ks, data_id) * 2.0
        ax.set_xlim(low, high)
        ax.axvline(data_id, color="gray", ls=":", label=f"input ID {data_id:.1f}")
        powers = [2.0**i for i in range(math.floor(math.log2(low)), math.ceil(math.log2(high)))]
        ax.xaxis.set_major_locator(
            FixedLocator(sorted({*ks, *(p for p in powers if low <= p <= high)}))
        )
        ax.xaxis.set_major_formatter(FuncFormatter(_plain))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(
            xlabel="bottleneck K", ylabel="Δ", title=dataset_display_name(label), ylim=(-0.02, 1.05)
        )
        _legend_outside(fig, ax)
    return _save(fig, out, "imbalance_vs_K.png")


def _training_phases(groups, out: Path) -> Path:
    n = len(groups)
    fig, axes = _grid(3, n, "Training phases: imbalances and KL vs epoch", sharex=False)
    for col, (label, runs) in enumerate(groups.items()):
        all_epochs: set[int] = set()
        for color, res in zip(_k_colors(len(runs)), runs, strict=True):
            ep = np.array(res.epochs, dtype=float)
            all_epochs.update(res.epochs)
            out_in = [c.delta_to_first[OUTPUT_LAYER] for c in res.checkpoints]
            z_in = [c.delta_to_first[LATENT_LAYER] for c in res.checkpoints]
            axes[0, col].plot(ep, out_in, "o-", color=color, label=f"K={res.latent_dim}")
            axes[1, col].plot(ep, z_in, "o-", color=color)
            kl = [(m["epoch"], m["kl"]) for m in res.metrics if m.get("kl") is not None]
            if kl:
                e, v = np.array(kl, dtype=float).T
                axes[2, col].plot(e, v, "-", color=color)
                all_epochs.update(int(x) for x in e)
        axes[0, col].set(ylabel="Δ(output → input)", title=dataset_display_name(label))
        axes[1, col].set(ylabel="Δ(z → input)")
        axes[2, col].set(ylabel="KL per image (eval)")
        for ax in axes[:, col]:
            _epoch_axis(ax, sorted(all_epochs))
        _legend_outside(fig, axes[0, col])
    return _save(fig, out, "training_phases.png")


def _losses(groups, out: Path) -> Path:
    fig, axes = _grid(3, len(groups), "Evaluation losses per image vs epoch")
    keys = (("loss", "loss = recon + β KL"), ("recon", "reconstruction (BCE)"), ("kl", "KL"))
    for col, (label, runs) in enumerate(groups.items()):
        all_epochs: set[int] = set()
        for color, res in zip(_k_colors(len(runs)), runs, strict=True):
            for row, (key, _) in enumerate(keys):
                pts = [(m["epoch"], m[key]) for m in res.metrics if m.get(key) is not None]
                if pts:
                    e, v = np.array(pts, dtype=float).T
                    axes[row, col].plot(e, v, "-", color=color, label=f"K={res.latent_dim}")
                    all_epochs.update(int(x) for x in e)
        for row, (key, ylabel) in enumerate(keys):
            ax = axes[row, col]
            ax.set(ylabel=ylabel)
            _epoch_axis(ax, sorted(all_epochs) or [1])
            if ax.lines and key != "kl":
                # epoch 0's loss of an untrained network dwarfs the rest: start from epoch 1
                trained = np.concatenate([line.get_ydata()[1:] for line in ax.lines])
                if trained.size and np.all(np.isfinite(trained)) and trained.min() > 0:
                    ax.set_ylim(trained.min() * 0.97, trained.max() * 1.03)
        axes[0, col].set_title(dataset_display_name(label))
        _legend_outside(fig, axes[0, col])
    return _save(fig, out, "losses.png")


def _relative_imbalance(groups, out: Path) -> Path:
    fig, axes = _grid(1, len(groups), "Relative II difference per transition (last analysed epoch)")
    for ax, (label, runs) in zip(axes[0], groups.items(), strict=True):
        for color, res in zip(_k_colors(len(runs)), runs, strict=True):
            rel = res.checkpoints[-1].relative_difference
            ax.plot(np.arange(len(rel)) + 0.5, rel, "o-", color=color, label=f"K={res.latent_dim}")
        ax.axhline(0, color="gray", lw=0.8)
        transitions = np.arange(N_LAYERS - 1)
        ax.set_xticks(
            transitions + 0.5,
            [f"l{i}→l{i + 1}" for i in transitions],
            rotation=45,
            ha="right",
            fontsize="small",
        )
        ax.set_xlim(0, N_LAYERS - 1)
        ax.set(
            xlabel="transition", ylabel="relative II difference", title=dataset_display_name(label)
        )
        ax.text(
            0.02, 0.02, "< 0: compression, > 0: expansion", transform=ax.transAxes, fontsize="small"
        )
        _legend_outside(fig, ax)
    return _save(fig, out, "relative_imbalance.png")


def make_figures(analyses: Sequence[RunAnalysis], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the study figures for the given analyses.

    Parameters
    ----------
    analyses : sequence of RunAnalysis
        Typically `find_analyses` of a runs directory.
    out_dir : path-like
        Created if needed.

    Returns
    -------
    list of pathlib.Path
        The PNG files written (see the module docstring).

    Raises
    ------
    ValueError
        If ``analyses`` is empty.
    """
    if not analyses:
        raise ValueError(
            "make_figures needs at least one analysed run; run `conv-study analyze RUN_DIR` first."
        )
    out = check_writable(out_dir, "The `out_dir` parameter of make_figures", directory=True)
    out.mkdir(parents=True, exist_ok=True)
    groups = _by_label(analyses)
    paths = [
        _id_profiles(groups, out),
        _profile_evolution(
            groups,
            out,
            value=lambda geo: geo.id,
            ylabel="2NN ID",
            title="Intrinsic dimension per layer over training",
            name="id_evolution.png",
            log=True,
        ),
        _imbalance_profiles(groups, out),
        _profile_evolution(
            groups,
            out,
            value=lambda geo: geo.delta_to_first,
            ylabel="Δ(layer → input)",
            title="Information imbalance to the input over training",
            name="imbalance_evolution.png",
            log=False,
        ),
        _imbalance_vs_k(groups, out),
        _training_phases(groups, out),
        _losses(groups, out),
        _relative_imbalance(groups, out),
    ]
    for path in paths:
        logger.info("wrote %s", path)
    return paths


def plot_reconstructions(
    run_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    n_images: int = 8,
    name: str = "reconstructions.png",
) -> Path:
    """Evaluation images and their reconstructions (from ``mu``) at each run's last checkpoint.

    One block per dataset: the originals on top, then one row per K.

    Parameters
    ----------
    run_dirs : sequence of path-like
        Run directories with at least one checkpoint (others are skipped).
    out_dir : path-like
        Created if needed.
    n_images : int
        The first ``n_images`` evaluation images.

    Returns
    -------
    pathlib.Path
    """
    import torch  # the `conv` extra: only reconstructions need the network

    rows: list[tuple[str, np.ndarray]] = []
    seen: set[str] = set()
    runs = []
    for path in run_dirs:
        try:
            run = load_run(path)
        except FileNotFoundError:
            continue
        if run.checkpoint_epochs:
            runs.append(run)
    runs.sort(key=lambda r: (run_label(r.data_config), r.train_config.latent_dim))
    for run in runs:
        label = run_label(run.data_config)
        images = run.eval_images()[:n_images]
        if label not in seen:
            seen.add(label)
            rows.append((f"{dataset_display_name(label)}\ninput", images))
        model = run.load_model()
        with torch.no_grad():
            mu, _ = model.encode(torch.from_numpy(images))
            recon = model.decode(mu).numpy()
        epoch = run.checkpoint_epochs[-1]
        rows.append((f"K={run.train_config.latent_dim}\nepoch {epoch}", recon))
    if not rows:
        raise ValueError("plot_reconstructions found no run with a checkpoint.")
    out = check_writable(out_dir, "The `out_dir` parameter of plot_reconstructions", directory=True)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(0.75 * n_images + 1.2, 0.8 * len(rows) + 0.4), squeeze=False
    )
    for ax, (text, block) in zip(axes[:, 0], rows, strict=True):
        strip = np.concatenate(list(np.moveaxis(block, 1, -1)), axis=1)  # (32, n * 32, C)
        ax.imshow(strip.squeeze(-1) if strip.shape[-1] == 1 else strip, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(text, rotation=0, ha="right", va="center", fontsize="small")
    fig.suptitle("Reconstructions of evaluation images (decoder of the posterior mean)")
    path = _save(fig, out, name)
    logger.info("wrote %s", path)
    return path
