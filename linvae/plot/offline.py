"""Figures of the finite-data analysis (docs/offline.md): eps_g against alpha, the (alpha, beta)
phase diagram, rate-distortion curves, one-pass against multi-pass learning.

Every function draws on a given (or new) Axes and returns it; the numbers come from
`linvae.offline` (theory) and `linvae.offline.train.train_offline` (finite N).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from linvae.analysis.phase import PhaseDiagram
from linvae.offline.phase import OfflinePhase
from linvae.offline.theory import gaussian_bound
from linvae.plot._layout import drawn_in, in_view, legend_below, plain_log_ticks
from linvae.plot.labels import axis_label

__all__ = [
    "plot_eps_g_vs_alpha",
    "plot_offline_phase_diagram",
    "plot_rate_distortion",
]

_PHASE_COLOURS = {
    OfflinePhase.COLLAPSED.value: "#bdbdbd",
    OfflinePhase.LEARNED.value: "#4daf4a",
    OfflinePhase.OVERFITTING.value: "#ff7f00",
}


def _axes(ax, size=(6.0, 4.2)):
    if ax is None:
        _, ax = plt.subplots(figsize=size, constrained_layout=True)
    return ax


def plot_eps_g_vs_alpha(
    alphas,
    theory: dict,
    *,
    points: dict | None = None,
    points_label: str = "finite N",
    rho: float = 1.0,
    ax: Axes | None = None,
) -> Axes:
    """eps_g against alpha: theory curves and simulation points (mean and standard deviation).

    Parameters
    ----------
    alphas : array
        The alphas of the theory curves.
    theory : dict of label -> array
        eps_g of the N -> infinity global minimum, one curve per label.
    points : dict of label -> (alphas, means, stds), optional
        Finite-N training; a label of ``theory`` gets that curve's colour.
    points_label : str
        Added to the legend entry of the points.
    rho : float
        eps_g of the collapsed solution (dotted line).
    ax : matplotlib Axes, optional
    """
    ax = _axes(ax)
    colours = {}
    for k, (text, values) in enumerate(theory.items()):
        (line,) = ax.plot(alphas, values, color=f"C{k}", lw=1.6, label=text)
        colours[text] = line.get_color()
    for k, (text, (px, py, err)) in enumerate((points or {}).items()):
        colour = colours.get(text, f"C{len(theory) + k}")
        ax.errorbar(
            px,
            py,
            yerr=err,
            fmt="o",
            ms=4,
            capsize=2,
            color=colour,
            label=f"{text}: {points_label}",
        )
    ax.axhline(rho, color="0.5", ls=":", lw=1, label=r"collapsed: $\varepsilon_g = \rho$")
    ax.set_xlabel(r"samples per dimension $\alpha = n/N$")
    ax.set_ylabel(axis_label("eps_g"))
    ax.legend(frameon=False, fontsize=7)
    return ax


def plot_offline_phase_diagram(
    diagram: PhaseDiagram, value: str | None = None, *, ax: Axes | None = None
) -> Axes:
    """The (alpha, beta) diagram: phases (or one value) as colours, beta_c(alpha), alpha_BBP,
    rho + eta. Where the transition is first order, the coexistence region (a learned local
    minimum beside a stable collapsed point, between beta* and the spinodal) is hatched and
    both lines are drawn; beta_c is then the equal-loss line inside it.

    Parameters
    ----------
    diagram : PhaseDiagram
        From `linvae.offline.offline_phase_diagram`.
    value : str, optional
        ``"phase"`` (default) or a key of ``diagram.values`` drawn as a colour map.
    ax : matplotlib Axes, optional
    """
    if diagram.kind != "alpha-beta":
        raise ValueError(
            "The `diagram` parameter of plot_offline_phase_diagram must be an alpha-beta "
            f"diagram (linvae.offline.offline_phase_diagram). Got kind {diagram.kind!r}."
        )
    value = "phase" if value is None else value
    if value not in diagram.values:
        raise ValueError(
            f"The `value` parameter of plot_offline_phase_diagram must be one of "
            f"{sorted(diagram.values)}. Got {value!r}."
        )
    ax = _axes(ax, (6.2, 5.0))
    view = (diagram.x.min(), diagram.x.max(), diagram.y.min(), diagram.y.max())
    names = list(_PHASE_COLOURS)
    if value == "phase":
        phase = np.asarray(diagram.values["phase"])
        codes = np.vectorize(names.index)(phase)
        cmap = ListedColormap([_PHASE_COLOURS[n] for n in names])
        ax.pcolormesh(
            diagram.x,
            diagram.y,
            codes,
            shading="nearest",
            rasterized=True,  # a vector PDF of a fine mesh is slow to write and to view
            cmap=cmap,
            vmin=-0.5,
            vmax=len(names) - 0.5,
        )
    else:
        mesh = ax.pcolormesh(
            diagram.x,
            diagram.y,
            np.asarray(diagram.values[value], float),
            shading="nearest",
            rasterized=True,  # a vector PDF of a fine mesh is slow to write and to view
            cmap="viridis",
        )
        ax.figure.colorbar(mesh, ax=ax, label=axis_label(value))
    star = np.asarray(diagram.boundary["beta_star"], dtype=np.float64)
    spinodal = np.asarray(diagram.boundary["beta_spinodal"], dtype=np.float64)
    first = spinodal > star
    # the first-order region: a learned local minimum beside a stable collapsed point
    low = np.maximum(star, diagram.y.min())
    strip = first & (spinodal > low)
    if first.any():
        ax.fill_between(
            diagram.x, low, spinodal, where=strip, facecolor="none",
            edgecolor="k", hatch="////", lw=0.0, interpolate=True,
        )  # fmt: skip
        ax.plot(diagram.x, np.where(first, spinodal, np.nan), color="m", lw=1.4,
                label="spinodal: the learned minimum ends")  # fmt: skip
        ax.plot(diagram.x, np.where(first, star, np.nan), color="r", ls="--", lw=1.2,
                label=r"$\beta^*$: collapse turns unstable")  # fmt: skip
    ax.plot(
        diagram.x,
        diagram.boundary["beta_c"],
        "r-",
        lw=1.6,
        label=r"$\beta_c(\alpha)$: collapse of the global minimum (equal loss)",
    )
    # the straight lines only where they fall inside the window (no legend entry otherwise)
    alpha_bbp = float(diagram.boundary["alpha_bbp"][0])
    if in_view(alpha_bbp, view[2], view):
        ax.axvline(alpha_bbp, color="k", ls=":", lw=1.2, label=r"$\alpha_{BBP} = (\eta/\rho)^2$")
    beta_online = float(diagram.boundary["beta_online"][0])
    if in_view(view[0], beta_online, view):
        ax.axhline(beta_online, color="b", ls="--", lw=1.2,
                   label=r"$\rho + \eta$: online threshold ($\alpha \to \infty$)")  # fmt: skip
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlim(diagram.x.min(), diagram.x.max())
    ax.set_ylim(diagram.y.min(), diagram.y.max())
    ax.set_xlabel(r"samples per dimension $\alpha = n/N$")
    ax.set_ylabel(axis_label("beta"))
    handles = [h for h in ax.get_legend_handles_labels()[0] if drawn_in(h, view)]
    if value == "phase":  # the phases present in the window
        handles += [Patch(color=_PHASE_COLOURS[n], label=n) for n in names if np.any(phase == n)]
    if strip.any():
        handles.append(
            Patch(facecolor="none", hatch="////", label="coexistence: learned and collapsed")
        )
    legend_below(ax, handles, ncols=2)
    lam = diagram.model.lam
    model = diagram.model
    ax.set_title(
        rf"Finite data: global minimum over $(\alpha, \beta)$, $\rho = {model.rho_vector[0]:g}$, "
        rf"$\eta = {model.eta:g}$, $\lambda = {lam:g}$",
        fontsize=10,
    )
    return ax


def plot_rate_distortion(
    curves: dict, *, nu: float, train: dict | None = None, ax: Axes | None = None
) -> Axes:
    """Rate-distortion curves (one per alpha, traced by beta) against the Gaussian bound.

    Parameters
    ----------
    curves : dict of label -> (rate, distortion)
        Test-set curves.
    nu : float
        rho + eta: the bound is ``nu exp(-2 R)``.
    train : dict of label -> (rate, distortion), optional
        Training-set curves (dashed, same colours).
    ax : matplotlib Axes, optional
    """
    ax = _axes(ax)
    r_max = max(float(np.nanmax(r)) for r, _ in curves.values())
    r = np.linspace(0.0, 1.05 * r_max, 200)
    ax.plot(r, gaussian_bound(r, nu), "k-", lw=2.2, label=r"Gaussian bound $\nu e^{-2R}$")
    for k, (text, (rate, dist)) in enumerate(curves.items()):
        ax.plot(rate, dist, color=f"C{k}", lw=1.4, label=text)
    for k, (rate, dist) in enumerate((train or {}).values()):
        ax.plot(rate, dist, color=f"C{k}", lw=1.0, ls="--")
    ax.set_xlabel("rate $R$ (nats)")
    ax.set_ylabel(r"distortion $D - (N-1)\eta$")
    ax.legend(frameon=False, fontsize=7)
    return ax
