"""The superfluous-latent figure: M > M* = 1 latents for one factor.

Noise fitting (beta < eta), algebraic convergence (beta = eta), the carrier of the factor over
time, and the convergence time against M; registered in `linvae.reproduce.run`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from matplotlib.figure import Figure

from linvae.analysis.superfluous import (
    convergence_vs_latents,
    decay_exponent,
    superfluous_dynamics,
)
from linvae.plot.labels import LABELS
from linvae.reproduce.context import Computed, Context
from linvae.reproduce.panels import base_text, new_figure
from linvae.sgd.simulator import simulate
from linvae.theory.initial import initial_order_parameters

__all__ = ["EPS_G_FLOOR", "draw_superfluous", "superfluous"]

#: Smallest eps_g drawn on the log axes of the ODE curves: ten times the relative tolerance
#: (1e-9) of the superfluous-latent solves; below it eps_g is round-off.
EPS_G_FLOOR = 1e-8

# The two KL weights of the top panels: below eta (noise fitting) and at eta (algebraic).
_BETAS = (0.5, 1.0)


def superfluous(ctx: Context) -> Computed:
    """ODE runs for each M of the settings at beta = 0.5 and 1, SGD at M = 2, and the
    convergence and disentangling times against M at beta = 1.5.

    Numbers, per (beta, M): the closed-form eps_g, eps_g*, the ODE end value, T_conv, and at
    beta = eta, M > 1 the fitted decay exponent of eps_g - eps_g* (about -1); and
    ``convergence_vs_M``.
    """
    s, base, seed = ctx.settings, ctx.base, ctx.seed
    numbers: dict = {}
    dynamics, runs = {}, {}
    for beta in _BETAS:
        for M in s.Ms:
            model = replace(base, M=M, beta=beta)
            # The ODE runs long enough (1e4 / tau) to show the ~1/t regime at beta = eta.
            t_ode = max(s.t_max_superfluous, 1e4 / s.tau)
            t_eval = np.concatenate([[0.0], np.geomspace(1.0, t_ode, 400)])
            res = superfluous_dynamics(
                model,
                init=initial_order_parameters(model, N=s.N, rng=seed),
                t_max=t_ode,
                t_eval=t_eval,
                sgd_noise=False,
            )
            dynamics[beta, M] = res
            entry = {
                "eps_g_formula": res.eps_g_formula,
                "eps_g_star": res.eps_g_star,
                "ode_final": float(res.trajectory.eps_g[0, -1]),
                "t_conv": res.t_conv,
            }
            if beta == 1.0 and M > 1:
                entry["decay_exponent"] = decay_exponent(
                    res.trajectory.t,
                    res.trajectory.eps_g[0] - res.eps_g_star,
                    t_min=t_ode / 20,
                )
            numbers[f"beta={beta:g},M={M}"] = entry
            if M == 2:
                t_sim = min(s.t_max_superfluous, 8.0 * s.t_max / 3.0)
                runs[beta] = simulate(
                    model, N=s.N, t_max=t_sim, dt=t_sim / 200, n_seeds=s.n_seeds, rng=seed
                )
    vs_M = convergence_vs_latents(
        replace(base, beta=1.5), s.Ms, t_max=s.t_max_superfluous, N=s.N, rng=seed, sgd_noise=False
    )
    numbers["convergence_vs_M"] = vs_M.as_dict()
    return Computed({"superfluous": numbers}, {"dynamics": dynamics, "runs": runs, "vs_M": vs_M})


def draw_superfluous(computed: Computed, ctx: Context) -> Figure:
    s, data = ctx.settings, computed.data
    fig, axes = new_figure(2, 2, size=(10, 7))
    for col, beta in enumerate(_BETAS):
        ax = axes[0, col]
        for k, M in enumerate(s.Ms):
            res = data["dynamics"][beta, M]
            # eps_g = rho - 2 sqrt(rho) m + Q cancels O(1) terms: below EPS_G_FLOOR (ten
            # times the solver's relative tolerance) what remains is round-off, not drawn.
            eps = res.trajectory.eps_g[0]
            ax.plot(
                res.trajectory.t,
                np.where(eps > EPS_G_FLOOR, eps, np.nan),
                color=f"C{k}",
                label=f"ODE $M = {M}$" + (" (to 0)" if res.eps_g_formula <= EPS_G_FLOOR else ""),
            )
            if res.eps_g_formula > EPS_G_FLOOR:
                ax.axhline(res.eps_g_formula, color=f"C{k}", ls=":", lw=1)
            if M == 2:
                run = data["runs"][beta]
                mean = run.mean("eps_g")
                ax.plot(run.t[1:], mean[1:], color=f"C{k}", lw=0.8, alpha=0.6, label="SGD, $M = 2$")
                if beta == 0.5:
                    _draw_share(axes[1, 0], res, beta)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS["t"])
        ax.set_ylabel(LABELS["eps_g"])
        title = "noise fitting" if beta < 1 else r"$\beta = \eta$: algebraic ($\sim 1/t$)"
        ax.set_title(rf"$\beta = {beta:g}$, $N = {s.N}$: {title}")
        ax.legend(frameon=False, fontsize=7)
    vs_M = data["vs_M"]
    ax = axes[1, 1]
    ax.plot(vs_M.Ms, vs_M.t_conv, "o-", label=f"{LABELS['t_conv']} (tol 1e-3)")
    ax.plot(vs_M.Ms, vs_M.t_disentangle, "s--", label="disentangling time")
    ax.set_xticks(np.asarray(vs_M.Ms))  # M is a whole number
    ax.set_xlabel(LABELS["M"])
    ax.set_ylabel("time")
    ax.set_title(r"convergence against $M$ ($\beta = 1.5$, $M^* = 1$)")
    ax.legend(frameon=False)
    fig.suptitle(rf"superfluous latents, $M^* = 1$: {base_text(ctx.base)}")
    return fig


def _draw_share(ax, res, beta: float) -> None:
    """Which latent carries the factor over time (M = 2)."""
    for i in range(res.share.shape[1]):
        ax.plot(res.trajectory.t, res.share[:, i], label=f"latent {i + 1}")
    ax.set_xscale("log")
    ax.set_xlabel(LABELS["t"])
    ax.set_ylabel(r"share of the factor $m_i^2 / \sum_j m_j^2$")
    ax.set_title(rf"entangled $\to$ disentangled, $\beta = {beta:g}$")
    ax.legend(frameon=False)
