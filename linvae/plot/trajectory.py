"""SGD runs and ODE solutions against t, on the same axes and drawn by the same code.

Simulation and theory produce the same `Trajectory`, so
`plot_observable` draws either (SGD as the mean and spread over seeds, the ODE as a
dashed line), and `save_figure` writes any figure of `linvae.plot`. Observables and
their symbols are those of the theory page (docs/theory.md, section "Conventions").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from linvae.plot.labels import LABELS, axis_label
from linvae.trajectory import Trajectory

__all__ = ["observable_series", "plot_observable", "save_figure"]


def observable_series(traj: Trajectory, name: str, index: tuple[int, ...] = ()) -> np.ndarray:
    """One scalar series per seed, shape (S, T): ``eps_g`` or an entry of a matrix observable.

    For m and d the sign is dropped (|m|, |d|): the model is symmetric under W, V -> -W, -V.
    """
    arr = getattr(traj, name)
    if arr.ndim > 2:
        idx = index or (0,) * (arr.ndim - 2)
        arr = arr[(slice(None), slice(None), *idx)]
    return np.abs(arr) if name in ("m", "d") else arr


def plot_observable(
    trajectories: Sequence[Trajectory] | Trajectory,
    name: str = "eps_g",
    *,
    index: tuple[int, ...] = (),
    ax: Axes | None = None,
    labels: Sequence[str] | None = None,
    logy: bool = False,
    show_seeds: bool = False,
) -> Axes:
    """Plot an observable against t: SGD as mean and +-1 std band over seeds, ODE as a line.

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
        Logarithmic y axis.
    show_seeds : bool
        Also draw each SGD seed thinly.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if isinstance(trajectories, Trajectory):
        trajectories = [trajectories]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for i, traj in enumerate(trajectories):
        series = observable_series(traj, name, index)
        label = labels[i] if labels else _default_label(traj)
        if traj.source == "ode":
            ax.plot(traj.t, series[0], "--", lw=1.8, label=label, color=f"C{i}")
            continue
        mean = series.mean(axis=0)
        (line,) = ax.plot(traj.t, mean, lw=1.4, label=label, color=f"C{i}")
        if series.shape[0] > 1:
            std = series.std(axis=0, ddof=1)
            ax.fill_between(traj.t, mean - std, mean + std, color=line.get_color(), alpha=0.25)
        if show_seeds:
            for s in series:
                ax.plot(traj.t, s, lw=0.5, alpha=0.4, color=line.get_color())
    ax.set_xlabel(f"{LABELS['t']} = step / {LABELS['N']}")
    ax.set_ylabel(axis_label(name, index))
    if logy:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    return ax


def _default_label(traj: Trajectory) -> str:
    beta = traj.model.schedule.describe()
    beta_text = f"beta={beta['beta']:g}" if beta["kind"] == "constant" else f"beta: {beta['kind']}"
    if traj.source == "ode":
        return f"ODE, {beta_text}"
    return f"SGD N={traj.N}, {traj.n_seeds} seeds, {beta_text}"


def save_figure(fig: Figure, path: str | Path, *, dpi: float = 150) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix, folders created) and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
        ``.png``, ``.pdf``, ``.svg``, ...
    dpi : float
        Resolution of raster formats.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)  # frees its memory in pyplot; a closed figure can still be saved again
    return path
