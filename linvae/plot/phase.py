"""Figures of the analysis: phase diagrams, eps_g* against beta, annealing, spare latents.

Imported by nobody in the core; matplotlib is loaded on first use.
"""

from __future__ import annotations

import numpy as np

from linvae.analysis.phase import PhaseDiagram

__all__ = ["plot_error_vs_beta", "plot_phase_diagram"]

_LABELS = {
    "beta": r"$\beta$",
    "rho": r"$\rho$",
    "eta": r"$\eta$",
    "lam": r"$\lambda$",
    "gamma": r"$\gamma$",
    "beta_f": r"$\beta_f$",
    "M": r"$M$",
    "eps_g_star": r"$\varepsilon_g^*$",
    "penalty": r"$\varepsilon_g^*(M) - \varepsilon_g^*(M^*)$",
    "speedup": r"$T_{conv}(\beta_f) / T_{conv}(\gamma)$",
    "t_conv": r"$T_{conv}$",
    "top_eigenvalue": r"$J_{max}$",
}


def plot_phase_diagram(diagram: PhaseDiagram, value: str | None = None, *, ax=None):
    """Draw a :class:`PhaseDiagram`: a colour map of one value with the analytic boundaries.

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
    import matplotlib.pyplot as plt

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
    ax.figure.colorbar(mesh, ax=ax, label=_LABELS.get(value, value))
    if "phase" in diagram.values:
        learned = (np.asarray(diagram.values["phase"]) == "learned").astype(float)
        ax.contour(diagram.x, diagram.y, learned, levels=[0.5], colors="w", linewidths=1.0)
    styles = {"beta_star": ("r", r"$\beta^*$"), "beta_eta": ("orange", r"$\beta=\eta$")}
    for key, (color, label) in styles.items():
        if key in diagram.boundary:
            ax.plot(diagram.boundary[key], diagram.y, "--", color=color, lw=1.5, label=label)
    if "gamma_c" in diagram.boundary:
        ax.plot(diagram.boundary["gamma_c"], diagram.y, "--", color="r", label=r"$\gamma_c$")
        ax.plot(diagram.boundary["gamma_opt"], diagram.y, ":", color="w", label="best grid rate")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlim(diagram.x.min(), diagram.x.max())
    ax.set_ylim(diagram.y.min(), diagram.y.max())
    ax.set_xlabel(_LABELS.get(diagram.x_name, diagram.x_name))
    ax.set_ylabel(_LABELS.get(diagram.y_name, diagram.y_name))
    ax.legend(loc="upper right", frameon=True, fontsize=8)
    ax.set_title(f"{diagram.kind}: {value}")
    return ax


def plot_error_vs_beta(betas, curves: dict, *, eta: float, beta_star: float, points=None, ax=None):
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
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    for label, values in curves.items():
        ax.plot(betas, values, lw=1.6, label=label)
    for label, (bx, by, err) in (points or {}).items():
        ax.errorbar(bx, by, yerr=err, fmt="o", ms=4, capsize=2, label=label)
    ax.axvline(eta, color="0.5", ls=":", label=r"$\beta=\eta$")
    ax.axvline(beta_star, color="r", ls="--", label=r"$\beta^*=\rho+\eta$")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$\varepsilon_g^*$")
    ax.legend(frameon=False, fontsize=8)
    return ax
