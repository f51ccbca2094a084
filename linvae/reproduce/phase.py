"""The four phase diagrams of the online problem, one figure each.

(beta, rho) and (beta, lam): stability of the fixed points; (gamma, beta_f): annealing, with
gamma in units of the critical rate of the annealing figure; (M, beta): the penalty of
superfluous latents. Registered in `linvae.reproduce.run`, under the ``phase_diagrams``
section of the manifest's numbers.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from linvae.analysis.phase import (
    PhaseDiagram,
    annealing_diagram,
    penalty_diagram,
    stability_diagram,
)
from linvae.plot.phase import plot_phase_diagram
from linvae.reproduce.context import Computed, Context
from linvae.reproduce.panels import new_figure

__all__ = [
    "draw_phase_diagram",
    "phase_M_beta",
    "phase_beta_lam",
    "phase_beta_rho",
    "phase_gamma_beta_f",
]


def _computed(name: str, diagram: PhaseDiagram, *, arrays: bool = False) -> Computed:
    return Computed({name: diagram.as_dict(arrays=arrays)}, {"diagram": diagram})


def phase_beta_rho(ctx: Context) -> Computed:
    """Stability in the (beta, rho) plane, beta in [0.02, 4], rho in [0.05, 3]."""
    n = ctx.settings.phase_n
    diagram = stability_diagram(
        ctx.base, betas=np.linspace(0.02, 4.0, n), values=np.linspace(0.05, 3.0, n), axis="rho"
    )
    return _computed("phase_beta_rho", diagram)


def phase_beta_lam(ctx: Context) -> Computed:
    """Stability in the (beta, lam) plane, beta in [0.02, 3], lam in [0, 1]."""
    n = ctx.settings.phase_n
    diagram = stability_diagram(
        ctx.base, betas=np.linspace(0.02, 3.0, n), values=np.linspace(0.0, 1.0, n), axis="lam"
    )
    return _computed("phase_beta_lam", diagram)


def phase_gamma_beta_f(ctx: Context) -> Computed:
    """Annealing in the (gamma, beta_f) plane, gamma from 0.05 to 10 gamma_c (of beta_f = 1).

    The numbers keep the diagram's arrays (the grid is small).
    """
    gamma_c = ctx.results["annealing"].data["optima"][1.0].gamma_c
    n_gamma, n_beta = ctx.settings.anneal_grid
    diagram = annealing_diagram(
        ctx.base,
        gammas=np.geomspace(0.05, 10.0, n_gamma) * gamma_c,
        beta_finals=np.linspace(0.3, 1.9, n_beta),
    )
    return _computed("phase_gamma_beta_f", diagram, arrays=True)


def phase_M_beta(ctx: Context) -> Computed:
    """The (M, beta) penalty diagram, M = 1..6, beta in [0.02, 2.5]."""
    diagram = penalty_diagram(
        ctx.base, Ms=np.arange(1, 7), betas=np.linspace(0.02, 2.5, ctx.settings.phase_n)
    )
    return _computed("phase_M_beta", diagram)


def draw_phase_diagram(computed: Computed, ctx: Context) -> Figure:
    """Any of the four diagrams, as `linvae.plot.phase.plot_phase_diagram` draws it."""
    fig, axes = new_figure(size=(5.8, 4.4))
    plot_phase_diagram(computed.data["diagram"], ax=axes[0, 0])
    return fig
