"""Figures of the analysis: phase diagrams, and eps_g* against beta.

`plot_phase_diagram` draws any `PhaseDiagram` (a colour map
with the analytic boundaries); `plot_error_vs_beta` the error at the attractor against
the KL weight, with the optimum beta = eta and the collapse threshold beta*. What they show is
explained on the results page (docs/results.md).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from linvae.analysis.phase import PhaseDiagram
from linvae.plot.labels import LABELS, axis_label

__all__ = ["plot_error_vs_beta", "plot_phase_diagram"]


def plot_phase_diagram(
    diagram: PhaseDiagram, value: str | None = None, *, ax: Axes | None = None
) -> Axes:
    """Draw a `PhaseDiagram`: a colour map of one value with the analytic boundaries.

    Parameters
    ----------
    diagram : PhaseDiagram
    value : str, optional
        Key of ``diagram.values`` (default ``diagram.default_value``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    value = diagram.default_value if value is None else value
    if value not in diagram.values:
        raise ValueError(
            f"The `value` parameter of plot_phase_diagram must be one of "
            f"{sorted(diagram.values)}. Got {value!r}."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.2), constrained_layout=True)
    data = np.asarray(diagram.values[value])
    if data.dtype.kind in "US":
        names = sorted(set(data.ravel().tolist()))
        data = np.vectorize(names.index)(data).astype(float)
    data = np.where(np.isfinite(data), data, np.nan)
    log_x = diagram.x_name == "gamma"
    mesh = ax.pcolormesh(diagram.x, diagram.y, data, shading="nearest", cmap="viridis")
    ax.figure.colorbar(mesh, ax=ax, label=axis_label(value))
    if "phase" in diagram.values:
        learned = (np.asarray(diagram.values["phase"]) == "learned").astype(float)
        ax.contour(diagram.x, diagram.y, learned, levels=[0.5], colors="w", linewidths=1.0)
    for key, color in (("beta_star", "r"), ("beta_eta", "orange")):
        if key in diagram.boundary:
            ax.plot(diagram.boundary[key], diagram.y, "--", color=color, lw=1.5, label=LABELS[key])
    if "gamma_c" in diagram.boundary:
        ax.plot(diagram.boundary["gamma_c"], diagram.y, "--", color="r", label=LABELS["gamma_c"])
        ax.plot(diagram.boundary["gamma_opt"], diagram.y, ":", color="w", label="best grid rate")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlim(diagram.x.min(), diagram.x.max())
    ax.set_ylim(diagram.y.min(), diagram.y.max())
    ax.set_xlabel(axis_label(diagram.x_name))
    ax.set_ylabel(axis_label(diagram.y_name))
    ax.legend(loc="upper right", frameon=True, fontsize=8)
    ax.set_title(f"{diagram.kind}: {value}")
    return ax


def plot_error_vs_beta(
    betas,
    curves: dict,
    *,
    eta: float,
    beta_star: float,
    points: dict | None = None,
    ax: Axes | None = None,
) -> Axes:
    """eps_g* against beta: theory curves, optional measured points, beta = eta and beta*.

    Parameters
    ----------
    betas : array
    curves : dict of label -> array (same length as ``betas``)
    eta, beta_star : float
        Marked as vertical lines (the optimum and the collapse threshold).
    points : dict of label -> (betas, values, errors or None), optional
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    for text, values in curves.items():
        ax.plot(betas, values, lw=1.6, label=text)
    for text, (bx, by, err) in (points or {}).items():
        ax.errorbar(bx, by, yerr=err, fmt="o", ms=4, capsize=2, label=text)
    ax.axvline(eta, color="0.5", ls=":", label=LABELS["beta_eta"])
    ax.axvline(beta_star, color="r", ls="--", label=r"$\beta^*=\rho+\eta$")
    ax.set_xlabel(LABELS["beta"])
    ax.set_ylabel(LABELS["eps_g_star"])
    ax.legend(frameon=False, fontsize=8)
    return ax
