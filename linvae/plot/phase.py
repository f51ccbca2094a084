"""Figures of the analysis: phase diagrams, eps_g* against beta, and hysteresis loops.

`plot_phase_diagram` draws any `PhaseDiagram` (a colour map
with the analytic boundaries); `plot_error_vs_beta` the error at the attractor against
the KL weight, with the optimum beta = eta and the collapse threshold beta*;
`plot_hysteresis` the point reached by a beta sweep up and down. What they show is explained
on the results page (docs/results.md) and the hysteresis page (docs/hysteresis.md).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from linvae.analysis.hysteresis import Hysteresis
from linvae.analysis.phase import PhaseDiagram
from linvae.plot._layout import drawn_in, in_view, legend_below, legend_key, plain_log_ticks
from linvae.plot.labels import LABELS, axis_label

__all__ = ["plot_error_vs_beta", "plot_hysteresis", "plot_phase_diagram"]


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
        _, ax = plt.subplots(figsize=(5.5, 5.0), constrained_layout=True)
    data = np.asarray(diagram.values[value])
    if data.dtype.kind in "US":
        names = sorted(set(data.ravel().tolist()))
        data = np.vectorize(names.index)(data).astype(float)
    data = np.where(np.isfinite(data), data, np.nan)
    log_x = diagram.x_name == "gamma"
    mesh = ax.pcolormesh(diagram.x, diagram.y, data, shading="nearest", cmap="viridis")
    ax.figure.colorbar(mesh, ax=ax, label=_COLORBAR_LABELS.get(value, axis_label(value)))
    view = (diagram.x.min(), diagram.x.max(), diagram.y.min(), diagram.y.max())
    if "phase" in diagram.values:
        # The boundary is the analytic beta* line below (a contour of the grid's labels
        # would be a staircase); each region is named at its centre of mass.
        _label_regions(ax, diagram)
    if "beta_spinodal" in diagram.boundary:
        _draw_first_order(ax, diagram)
    for key, color in (("beta_star", "r"), ("beta_eta", "orange")):
        if key in diagram.boundary:
            x = np.asarray(diagram.boundary[key])
            style = {"color": color, "lw": 1.5, "ls": "--"}
            label = _BOUNDARY_WORDS.get(key, LABELS[key])
            if np.all(x == x[0]):  # the same beta for every y: across the whole axis
                if in_view(x[:1], diagram.y[:1], view):
                    ax.axvline(x[0], label=label, **style)
            else:
                ax.plot(x, diagram.y, label=label, **style)
    if "gamma_c" in diagram.boundary:
        ax.plot(diagram.boundary["gamma_c"], diagram.y, "--", color="r", label=LABELS["gamma_c"])
        ax.plot(diagram.boundary["gamma_opt"], diagram.y, ":", color="w", label="best grid rate")
    if log_x:
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
    ax.set_xlim(diagram.x.min(), diagram.x.max())
    if diagram.y_name == "M":  # whole rows for the whole numbers M, and integer ticks
        ax.set_ylim(diagram.y.min() - 0.5, diagram.y.max() + 0.5)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.set_ylim(diagram.y.min(), diagram.y.max())
    ax.set_xlabel(axis_label(diagram.x_name))
    ax.set_ylabel(axis_label(diagram.y_name))
    handles = [legend_key(h) for h in ax.get_legend_handles_labels()[0] if drawn_in(h, view)]
    if handles:
        # one column: beside the colour bar, two columns of long entries overhang the axes
        legend_below(ax, handles, ncols=1)
    ax.set_title(_title(diagram, value), fontsize=10)
    return ax


def _draw_first_order(ax: Axes, diagram: PhaseDiagram) -> None:
    """Hatch the coexistence strip (beta* < beta < spinodal) and draw the spinodal and the
    equal-loss lines where the transition is first order; nothing where it is continuous."""
    y = np.asarray(diagram.y, dtype=np.float64)
    star = np.asarray(diagram.boundary["beta_star"], dtype=np.float64)
    spinodal = np.asarray(diagram.boundary["beta_spinodal"], dtype=np.float64)
    equal = np.asarray(diagram.boundary["beta_coexistence"], dtype=np.float64)
    first = spinodal > star
    if not np.any(first):
        return
    left = np.maximum(star, diagram.x.min())
    ax.fill_betweenx(
        y, left, spinodal, where=first & (spinodal > left), facecolor="none", edgecolor="w",
        hatch="////", lw=0.0, label="coexistence: learned and collapsed both stable",
    )  # fmt: skip
    ax.plot(np.where(first, spinodal, np.nan), y, color="m", lw=1.5,
            label="spinodal: the learned branch ends")  # fmt: skip
    ax.plot(np.where(first, equal, np.nan), y, color="c", lw=1.2, ls="-.",
            label="equal loss (learned = collapsed)")  # fmt: skip


# Legend entries of the analytic boundaries.
_BOUNDARY_WORDS = {
    "beta_star": r"$\beta^*$: collapse threshold",
    "beta_eta": r"$\beta = \eta$: spare latents stop fitting noise",
}
# Titles of the diagrams, in words; the colour's symbol is added by _title.
_KIND_TITLES = {
    "beta-rho": r"Posterior collapse over KL weight $\beta$ and signal $\rho$",
    "beta-eta": r"Posterior collapse over KL weight $\beta$ and noise $\eta$",
    "beta-lam": r"Posterior collapse over KL weight $\beta$ and L2 penalty $\lambda$",
    "gamma-beta-f": r"KL annealing $\beta_f \tanh(\gamma t)$: speed-up",
    "M-beta": r"Spare latents ($M > M^*$): extra error at the attractor",
}
_VALUE_WORDS = {
    "eps_g_star": "error at the attractor",
    "learned_fraction": "share of starts ending learned",
    "penalty": r"extra error over $M = M^*$",
    "speedup": r"convergence speed-up over a constant $\beta_f$",
    "t_conv": "convergence time",
    "top_eigenvalue": "top Jacobian eigenvalue at the attractor",
}


# Colour-bar labels in words where the value has no symbol.
_COLORBAR_LABELS = {"learned_fraction": _VALUE_WORDS["learned_fraction"]}


def _title(diagram: PhaseDiagram, value: str) -> str:
    """``"<what the diagram shows>\ncolour: <value in words> <symbol>\n<fixed parameters>"``."""
    head = _KIND_TITLES.get(diagram.kind, diagram.kind)
    words = _VALUE_WORDS.get(value, value.replace("_", " "))
    symbol = axis_label(value)
    colour = f"colour: {words}" + (f", {symbol}" if symbol != value else "")
    return f"{head}\n{colour}\n{_fixed_text(diagram)}"


def _fixed_text(diagram: PhaseDiagram) -> str:
    """The model parameters that are not an axis of the diagram, in symbols (mathtext)."""
    model, axes = diagram.model, {diagram.x_name, diagram.y_name}
    parts = []
    if "rho" not in axes:
        rho = [f"{r:g}" for r in np.atleast_1d(model.rho_vector)]
        parts.append(r"$\rho = " + (rho[0] if len(rho) == 1 else f"({', '.join(rho)})") + "$")
    if "eta" not in axes:
        parts.append(rf"$\eta = {model.eta:g}$")
    if "lam" not in axes:
        parts.append(rf"$\lambda = {model.lam:g}$")
    if "M" not in axes:
        parts.append(f"$M = {model.M}$")
    parts.append(f"$M^* = {model.M_star}$")
    return ", ".join(parts)


def _label_regions(ax: Axes, diagram: PhaseDiagram) -> None:
    """Write "learned" and "collapsed" at the centre of mass of each region."""
    phase = np.asarray(diagram.values["phase"])
    for name in ("learned", "collapsed"):
        rows, cols = np.nonzero(phase == name)
        if rows.size == 0:
            continue
        ax.text(
            diagram.x[cols].mean(),
            diagram.y[rows].mean(),
            name,
            ha="center",
            va="center",
            fontsize=10,
            color="k",
            bbox={"boxstyle": "round", "fc": "w", "ec": "none", "alpha": 0.75},
        )


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


def plot_hysteresis(
    sweep: Hysteresis, *, value: str = "eps_g", points: dict | None = None, ax: Axes | None = None
) -> Axes:
    """The point reached going up in beta and coming down, with beta*, the spinodal, the
    equal-loss line and the coexistence strip between beta* and the spinodal.

    Parameters
    ----------
    sweep : Hysteresis
        From `linvae.analysis.hysteresis.beta_sweep`.
    value : {"eps_g", "Q"}
        eps_g of the point reached, or its Q (0 when collapsed).
    points : dict of label -> (betas, values), optional
        Measured points (e.g. SGD end values) drawn as open circles; the labels are legend
        entries (mathtext welcome).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if value not in ("eps_g", "Q"):
        raise ValueError(f"The `value` parameter of plot_hysteresis must be 'eps_g' or 'Q'. "
                         f"Got {value!r}.")  # fmt: skip
    if ax is None:
        _, ax = plt.subplots(figsize=(8.6, 4.0), constrained_layout=True)
    b = sweep.betas_up
    up, down = (
        (sweep.eps_g_up, sweep.eps_g_down) if value == "eps_g" else (sweep.q_up, sweep.q_down)
    )
    lines = sweep.lines
    star, spin, equal = (
        float(lines[k]) for k in ("beta_star", "beta_spinodal", "beta_coexistence")
    )
    if lines["first_order"]:
        ax.axvspan(max(star, b.min()), spin, color="0.85", zorder=0,
                   label="coexistence: learned and collapsed both stable")  # fmt: skip
        ax.axvline(spin, color="m", lw=1.3, label=rf"spinodal, $\beta = {spin:.4g}$")
        ax.axvline(equal, color="c", lw=1.2, ls="-.", label=rf"equal loss, $\beta = {equal:.4g}$")
    if star >= b.min():
        ax.axvline(star, color="r", lw=1.3, ls="--", label=rf"$\beta^* = {star:.4g}$")
    ax.plot(b, up, "-^", color="C0", ms=4, lw=1.4, label=r"sweep up ($\beta$ increasing)")
    ax.plot(b, down, "--v", color="C3", ms=4, lw=1.2, label=r"sweep down ($\beta$ decreasing)")
    for k, (text, (px, py)) in enumerate((points or {}).items()):
        ax.plot(px, py, "o", ms=7, mfc="none", mew=1.6, color=f"C{k + 4}", label=text)
    ax.set_xlabel(LABELS["beta"])
    ax.set_ylabel(axis_label("eps_g") if value == "eps_g" else "$Q$ of the point reached")
    # beside the axes: inside, every corner holds a branch or a measured point
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0)  # fmt: skip
    model = sweep.model
    ax.set_title(
        rf"Hysteresis: $\rho = {model.rho_vector[0]:g}$, $\eta = {model.eta:g}$, "
        rf"$\lambda = {model.lam:g}$ (ODE, each $\beta$ from the last end state)",
        fontsize=9,
    )
    return ax
