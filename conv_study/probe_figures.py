"""Figures of a probe and of a monitored training run (matplotlib, Agg).

* `plot_probe`: the ID profile and the imbalance profiles of one or more `Probe` results
  (the study's hunchback and imbalance figures, for any network);
* `plot_monitor`: the ID of every layer and chosen imbalances over training steps, from
  `conv_study.monitor.GeometryMonitor` records or a monitored run's ``metrics.jsonl``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from conv_study.probe import Probe
from linvae.utils.io import atomic_write

__all__ = ["monitor_records", "plot_monitor", "plot_probe"]

_DPI = 150  # 150 dpi or more for every saved figure


def _finish(fig, path: str | os.PathLike[str] | None):
    # Laid out whether saved here or returned: a returned figure is shown or saved by the
    # caller (a notebook, the docs gallery), where overlapping panel labels would stay.
    fig.tight_layout()
    if path is None:
        return fig
    path = Path(path)
    atomic_write(
        path, lambda handle: fig.savefig(handle, format="png", dpi=_DPI, bbox_inches="tight")
    )
    plt.close(fig)
    return path


def _layer_axis(ax, layers: Sequence[str]) -> None:
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=45, ha="right", fontsize=8)
    ax.grid(alpha=0.3)


def plot_probe(
    results: Probe | Mapping[str, Probe],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
):
    """The ID profile and the imbalance profiles of probe results, layer by layer.

    Panels: the 2NN ID per layer; ``Delta(l -> first)`` (solid) and ``Delta(l -> last)``
    (dashed) per layer, where measured; the relative imbalance difference of consecutive
    layers (negative: compression), where both directions were measured.

    Parameters
    ----------
    results : Probe or mapping of label to Probe
        One result, or several (one line each, e.g. checkpoints or networks) with the same
        layers.
    path : path-like, optional
        Write a PNG there (atomically) and close the figure; without it the open figure is
        returned.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure or pathlib.Path
    """
    if isinstance(results, Probe):
        results = {"": results}
    items = list(results.items())
    layers = items[0][1].layers
    x = np.arange(len(layers))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(items)))
    for (label, res), color in zip(items, colors, strict=True):
        ids = [res.ids[name] for name in res.layers]
        axes[0].plot(x, ids, "o-", color=color, label=label or None)
        first = [res.delta(name, res.layers[0]) for name in res.layers]
        last = [res.delta(name, res.layers[-1]) for name in res.layers]
        # A profile needs more than the one pair that "consecutive" shares with it.
        if np.isfinite(first).sum() > 1:
            axes[1].plot(x, first, "o-", color=color, label=f"{label} to {res.layers[0]}".strip())
        if np.isfinite(last).sum() > 1:
            axes[1].plot(x, last, "s--", color=color, label=f"{label} to {res.layers[-1]}".strip())
        rel = res.relative_difference
        if np.isfinite(rel).any():
            axes[2].plot(x[:-1] + 0.5, rel, "o-", color=color, label=label or None)
    axes[0].set_ylabel("2NN intrinsic dimension")
    axes[1].set_ylabel(r"$\Delta(l \to$ first / last$)$")
    axes[1].set_ylim(bottom=0)
    axes[2].axhline(0, color="0.5", lw=0.8)
    axes[2].set_ylabel("relative imbalance difference\n(< 0: compression)")
    for ax in axes:
        _layer_axis(ax, layers)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    axes[0].set_title(f"ID per layer (N = {items[0][1].n_points})", fontsize=10)
    axes[1].set_title("information imbalance to the first and last layer", fontsize=10)
    axes[2].set_title("consecutive layers", fontsize=10)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def monitor_records(metrics: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The monitor's measurements of a run, in step order, from its metrics records.

    Parameters
    ----------
    metrics : sequence of dict
        ``metrics.jsonl`` records (`conv_study.runs.RunFolder.metrics`); those of a run
        trained with a monitor hold a ``"geometry"`` list.

    Returns
    -------
    list of dict
        Every measurement (`conv_study.monitor.record_of`), with its ``epoch`` added.
    """
    out = []
    for rec in metrics:
        for g in rec.get("geometry") or ():
            out.append({**g, "epoch": rec.get("epoch")})
    return sorted(out, key=lambda r: r["step"])


def plot_monitor(
    records: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str] | None = None,
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    title: str | None = None,
):
    """ID of every layer and chosen imbalances over training steps.

    Parameters
    ----------
    records : sequence of dict
        `conv_study.monitor.GeometryMonitor.records`, or `monitor_records` of a run.
    path : path-like, optional
        Write a PNG there (atomically) and close the figure; without it the figure is
        returned open.
    pairs : sequence of (a, b), optional
        Imbalances to draw (default: the layers' imbalances to the first layer, at most
        eight, evenly spaced and the last included; else the first measured pairs).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure or pathlib.Path

    Raises
    ------
    ValueError
        If there are no records.
    """
    if not records:
        raise ValueError(
            "plot_monitor needs at least one record. Train with a monitor (conv-study train "
            "--monitor-every STEPS) first."
        )
    steps = np.array([r["step"] for r in records], dtype=float)
    layers = list(records[0]["layers"])
    measured = [(d["from"], d["to"]) for d in records[0]["imbalances"]]
    if pairs is None:
        pairs = [p for p in measured if p[1] == layers[0]] or measured
        if len(pairs) > 8:  # evenly spaced, the last (e.g. output -> input) included
            pairs = [pairs[i] for i in np.linspace(0, len(pairs) - 1, 8).round().astype(int)]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.4))
    colors = plt.cm.turbo(np.linspace(0.05, 0.95, len(layers)))
    for name, color in zip(layers, colors, strict=True):
        ids = [r["id"].get(name, np.nan) for r in records]
        axes[0].plot(steps, ids, ".-", color=color, label=name)
    pair_colors = plt.cm.tab10(np.arange(len(pairs)) % 10)
    for (a, b), color in zip(pairs, pair_colors, strict=True):
        values = []
        for r in records:
            found = [d["delta"] for d in r["imbalances"] if (d["from"], d["to"]) == (a, b)]
            values.append(found[0] if found and found[0] is not None else np.nan)
        axes[1].plot(steps, values, ".-", color=color, label=rf"{a} $\to$ {b}")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("2NN intrinsic dimension")
    axes[0].set_title(f"ID per layer (N = {records[0]['n_points']} probe points)", fontsize=10)
    axes[1].set_ylabel(r"$\Delta(a \to b)$")
    axes[1].set_ylim(bottom=0)
    axes[1].set_title("information imbalance", fontsize=10)
    for ax in axes:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
