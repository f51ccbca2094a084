"""An SGD run against its ODE twin, one panel per observable.

Drawn with `linvae.plot.trajectory.plot_observable`; the number that goes with the
figure (how far the two are apart) is `linvae.comparison.compare`. See the theory page
(docs/theory.md, section "SGD and its ODE twin").
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from linvae.plot.labels import model_text
from linvae.plot.trajectory import plot_observable, shared_legend
from linvae.trajectory import OBSERVABLE_NAMES, Trajectory

__all__ = ["plot_compare"]

# Observables drawn on a logarithmic y axis.
_LOG_SCALE = ("eps_g",)


def plot_compare(
    run: Trajectory,
    ode: Trajectory,
    *,
    names: Sequence[str] = ("eps_g", "m", "Q", "D"),
    index: tuple[int, ...] = (),
    show_seeds: bool = False,
    title: str | None = None,
) -> Figure:
    """One panel per observable: SGD (mean and 16-84 % band over seeds) and the ODE (dashed).

    The panels share one legend, outside them below the panels; the band is the 16 % to
    84 % quantiles over seeds on every panel (`linvae.plot.trajectory.spread_band`), which a
    log axis shows without the dive of mean - std near zero.

    Parameters
    ----------
    run : Trajectory
        A simulation (``source="sgd"``), any number of seeds.
    ode : Trajectory
        An ODE solution, e.g. ``solve_ode(run.model, t_max=..., init=run, t_eval=run.t)``.
    names : sequence of str
        Observables: ``eps_g`` (log scale) or m, d, Q, E, R, D (|m|, |d|: the sign of a
        latent is arbitrary).
    index : tuple of int
        Entry of the matrix observables (default: the first).
    show_seeds : bool
        Also draw every SGD seed thinly.
    title : str, optional
        Figure title; by default the model's parameters in symbols.

    Raises
    ------
    ValueError
        If a name is not an observable (the message lists them).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from linvae import Model, OrderParameters
    >>> from linvae.theory import solve_ode
    >>> init = OrderParameters(m=np.array([[0.1]]), d=np.array([[0.1]]), Q=np.eye(1),
    ...                        E=np.eye(1), R=np.zeros((1, 1)), D=np.ones(1))
    >>> ode = solve_ode(Model(tau=0.1), t_max=50.0, init=init)
    >>> fig = plot_compare(ode, ode, names=("eps_g",))
    """
    unknown = [n for n in names if n not in OBSERVABLE_NAMES]
    if unknown or not names:
        raise ValueError(
            f"The `names` parameter of plot_compare must list observables from "
            f"{', '.join(OBSERVABLE_NAMES)}. Got {tuple(names)!r}."
        )
    n = len(names)
    cols = min(n, 2)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 3.6 * rows), constrained_layout=True, squeeze=False
    )
    for ax, name in zip(axes.flat, names, strict=False):
        plot_observable(
            [run, ode],
            name,
            index=index,
            ax=ax,
            labels=[_short_label(run), _short_label(ode)],
            logy=name in _LOG_SCALE,
            band="quantile",
            show_seeds=show_seeds,
        )
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    shared_legend(fig, list(axes.flat)[:n])
    if title is None:
        title = model_text(run.model)
    fig.suptitle(title)
    return fig


def _short_label(traj: Trajectory) -> str:
    """A curve's legend entry; the model and its schedule are in the title."""
    if traj.source == "ode":
        return "ODE"
    return f"SGD mean, $N = {traj.N}$, {traj.n_seeds} seeds"
