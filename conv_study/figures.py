"""Figures of the layer study from cached analyses (matplotlib, Agg; imported by the CLI only).

* ``id_profiles.png``: ID vs layer for every K at the last epoch (the hunchback figure);
* ``imbalance_vs_K.png``: ``Delta(output -> input)`` and ``Delta(z -> input)`` vs K;
* ``training_phases.png``: those two imbalances and the KL loss vs epoch (log axis);
* ``relative_imbalance.png``: relative II difference per layer transition.

One column of panels per dataset label.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from conv_study.analysis import RunAnalysis, load_analysis
from conv_study.constants import LATENT_LAYER, N_LAYERS, OUTPUT_LAYER

__all__ = ["find_analyses", "make_figures"]

logger = logging.getLogger(__name__)


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


def _panels(n: int, title: str):
    fig, axes = plt.subplots(1, n, figsize=(5.0 * n, 4.0), squeeze=False)
    fig.suptitle(title)
    return fig, axes[0]


def _colors(n: int):
    return plt.cm.viridis(np.linspace(0, 0.9, max(n, 1)))


def _id_profiles(groups, out: Path) -> Path:
    fig, axes = _panels(len(groups), "Intrinsic dimension per layer (last checkpoint)")
    for ax, (label, runs) in zip(axes, groups.items(), strict=True):
        for color, res in zip(_colors(len(runs)), runs, strict=True):
            last = res.checkpoints[-1]
            ax.plot(range(len(last.id)), last.id, "o-", color=color, label=f"K={res.latent_dim}")
        ax.axhline(runs[0].data_id, color="gray", ls=":", label="data ID")
        ax.set(xlabel="layer", ylabel="2NN ID", title=label, yscale="log")
        ax.set_xticks(range(N_LAYERS))
        ax.legend(fontsize="small")
    path = out / "id_profiles.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _imbalance_vs_k(groups, out: Path) -> Path:
    fig, axes = _panels(len(groups), "Information imbalance to the input (last checkpoint)")
    for ax, (label, runs) in zip(axes, groups.items(), strict=True):
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
        ax.axvline(runs[0].data_id, color="gray", ls=":", label="data ID")
        ax.set(xlabel="K", ylabel="Δ", title=label, xscale="log")
        ax.legend(fontsize="small")
    path = out / "imbalance_vs_K.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _training_phases(groups, out: Path) -> Path:
    n = len(groups)
    fig, axes = plt.subplots(3, n, figsize=(5.0 * n, 9.0), squeeze=False, sharex="col")
    fig.suptitle("Training phases: imbalances and KL vs epoch")
    for col, (label, runs) in enumerate(groups.items()):
        for color, res in zip(_colors(len(runs)), runs, strict=True):
            ep = np.array(res.epochs, dtype=float)
            out_in = [c.delta_to_first[OUTPUT_LAYER] for c in res.checkpoints]
            z_in = [c.delta_to_first[LATENT_LAYER] for c in res.checkpoints]
            axes[0, col].plot(ep, out_in, "o-", color=color, label=f"K={res.latent_dim}")
            axes[1, col].plot(ep, z_in, "o-", color=color)
            kl = [(m["epoch"], m["kl"]) for m in res.metrics if m.get("kl") is not None]
            if kl:
                e, v = np.array(kl, dtype=float).T
                axes[2, col].plot(e, v, "-", color=color)
        axes[0, col].set(ylabel="Δ(output → input)", title=label)
        axes[1, col].set(ylabel="Δ(z → input)")
        axes[2, col].set(ylabel="KL (eval, per image)", xlabel="epoch")
        for ax in axes[:, col]:
            ax.set_xscale("symlog", linthresh=1)  # epoch 0 (untrained) stays on the axis
        axes[0, col].legend(fontsize="small")
    path = out / "training_phases.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _relative_imbalance(groups, out: Path) -> Path:
    fig, axes = _panels(len(groups), "Relative II difference per transition (last checkpoint)")
    for ax, (label, runs) in zip(axes, groups.items(), strict=True):
        for color, res in zip(_colors(len(runs)), runs, strict=True):
            rel = res.checkpoints[-1].relative_difference
            ax.plot(np.arange(len(rel)) + 0.5, rel, "o-", color=color, label=f"K={res.latent_dim}")
        ax.axhline(0, color="gray", lw=0.8)
        transitions = np.arange(N_LAYERS - 1)
        ax.set_xticks(transitions + 0.5, [f"{i}→{i + 1}" for i in transitions], fontsize="small")
        ax.set(xlabel="transition", ylabel="relative II difference", title=label)
        ax.text(
            0.02, 0.02, "< 0: compression, > 0: expansion", transform=ax.transAxes, fontsize="small"
        )
        ax.legend(fontsize="small")
    path = out / "relative_imbalance.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def make_figures(analyses: Sequence[RunAnalysis], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the four study figures for the given analyses.

    Parameters
    ----------
    analyses : sequence of RunAnalysis
        Typically `find_analyses` of a runs directory.
    out_dir : path-like
        Created if needed.

    Returns
    -------
    list of pathlib.Path
        The PNG files written.

    Raises
    ------
    ValueError
        If ``analyses`` is empty.
    """
    if not analyses:
        raise ValueError(
            "make_figures needs at least one analysed run; run `conv-study analyze RUN_DIR` first."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups = _by_label(analyses)
    paths = [
        _id_profiles(groups, out),
        _imbalance_vs_k(groups, out),
        _training_phases(groups, out),
        _relative_imbalance(groups, out),
    ]
    for path in paths:
        logger.info("wrote %s", path)
    return paths
