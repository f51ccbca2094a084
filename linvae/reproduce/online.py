"""The online figures at M = M* = 1: learning curves, order parameters, eps_g* against beta.

Each figure is a pair: ``<name>(context) -> Computed`` (its numbers) and
``draw_<name>(computed, context) -> Figure``, registered in `linvae.reproduce.run`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from matplotlib.figure import Figure

from linvae.analysis.annealing import critical_rate
from linvae.analysis.convergence import stable_point
from linvae.analysis.superfluous import superfluous_error
from linvae.analysis.threshold import collapse_threshold
from linvae.comparison import compare
from linvae.plot.phase import plot_error_vs_beta
from linvae.plot.trajectory import plot_observable, shared_legend
from linvae.reproduce.context import Computed, Context
from linvae.reproduce.panels import base_text, new_figure
from linvae.sgd.simulator import simulate
from linvae.theory import solve_ode
from linvae.trajectory import Trajectory

__all__ = [
    "draw_eps_g_vs_beta",
    "draw_learning_curves",
    "draw_order_parameters",
    "eps_g_vs_beta",
    "learning_curves",
    "order_parameters",
    "tail_mean",
]


def tail_mean(traj: Trajectory, frac: float = 0.1) -> tuple[float, float]:
    """Mean and std over seeds of eps_g averaged over the last ``frac`` of the run."""
    n = max(1, int(frac * traj.t.size))
    per_seed = traj.eps_g[:, -n:].mean(axis=1)
    return float(per_seed.mean()), float(per_seed.std(ddof=1)) if per_seed.size > 1 else 0.0


def learning_curves(ctx: Context) -> Computed:
    """eps_g(t) by SGD (N, seeds of the settings) and by the ODE from the same start, per beta.

    Numbers, per beta: the SGD end value (mean and std over seeds of the last tenth), the ODE
    end value, and the largest gap between the SGD mean and the ODE.
    """
    s = ctx.settings
    runs, odes, curves = {}, {}, {}
    for beta in s.betas:
        model = replace(ctx.base, beta=beta)
        run = simulate(
            model, N=s.N, t_max=s.t_max, dt=s.t_max / 300, n_seeds=s.n_seeds, rng=ctx.seed
        )
        ode = solve_ode(model, t_max=s.t_max, init=run, t_eval=run.t)
        runs[beta], odes[beta] = run, ode
        sgd_mean, sgd_std = tail_mean(run)
        curves[f"{beta:g}"] = {
            "sgd_final_mean": sgd_mean,
            "sgd_final_std": sgd_std,
            "ode_final": float(ode.eps_g[0, -1]),
            "max_abs_sgd_minus_ode": compare(run, ode, "eps_g").max_abs_gap,
        }
    return Computed({"learning_curves": curves}, {"runs": runs, "odes": odes})


def draw_learning_curves(computed: Computed, ctx: Context) -> Figure:
    s = ctx.settings
    fig, axes = new_figure(size=(6.5, 4.2))
    ax = axes[0, 0]
    for k, beta in enumerate(s.betas):
        plot_observable(
            [computed.data["runs"][beta], computed.data["odes"][beta]],
            "eps_g",
            ax=ax,
            labels=[rf"SGD mean, $\beta = {beta:g}$", rf"ODE, $\beta = {beta:g}$"],
            logy=True,
        )
        # plot_observable colours by position: recolour this pair.
        for line in ax.lines[-2:]:
            line.set_color(f"C{k}")
        for coll in ax.collections[-1:]:
            coll.set_color(f"C{k}")
    ax.set_title(
        rf"learning curves, $N = {s.N}$, {s.n_seeds} seeds; {base_text(ctx.base)}", fontsize=9
    )
    ax.legend(frameon=False, fontsize=7, ncol=2)
    return fig


def order_parameters(ctx: Context) -> Computed:
    """m, d, Q, E, R, D of the learning-curve run at beta = 1 (or the first beta) and its ODE."""
    beta = 1.0 if 1.0 in ctx.settings.betas else ctx.settings.betas[0]
    curves = ctx.results["learning_curves"].data
    return Computed({}, {"beta": beta, "run": curves["runs"][beta], "ode": curves["odes"][beta]})


def draw_order_parameters(computed: Computed, ctx: Context) -> Figure:
    s, data = ctx.settings, computed.data
    fig, axes = new_figure(2, 3, size=(10, 5.5))
    for ax, name in zip(axes.ravel(), ("m", "d", "Q", "E", "R", "D"), strict=True):
        plot_observable([data["run"], data["ode"]], name, ax=ax, labels=["SGD mean", "ODE"])
    shared_legend(fig, axes.ravel())
    fig.suptitle(
        rf"order parameters, $\beta = {data['beta']:g}$, $N = {s.N}$, {s.n_seeds} seeds; "
        rf"{base_text(ctx.base)} ($|m|$, $|d|$: sign symmetry)"
    )
    return fig


def eps_g_vs_beta(ctx: Context) -> Computed:
    """eps_g* against beta: the tau -> 0 closed form, the finite-tau stable fixed point, and
    the SGD and ODE end values of the learning curves.

    Numbers: ``threshold`` (beta* analytic and numerical, the spare-latent threshold, the
    beta of the smallest closed-form eps_g*) and ``J_max_example``, the worked example of the
    results page (docs/results.md, "Fixed points and their stability"):
    J_max = -tau (3 - sqrt 5) / 2 at rho = eta = beta = 1, lam = 0.
    """
    base, s = ctx.base, ctx.settings
    th = collapse_threshold(base)
    th_num = collapse_threshold(base, method="numerical")
    grid = np.linspace(0.02, 3.0, 150)
    closed = superfluous_error(1, grid)
    finite = []
    for beta in grid:
        try:
            finite.append(stable_point(replace(base, beta=float(beta))).eps_g)
        except RuntimeError:  # none stable or marginal (at a grid point on the threshold)
            finite.append(math.nan)
    rate = critical_rate(base, sgd_noise=False)
    numbers = {
        "threshold": {
            "beta_star_analytic": th.beta_star,
            "beta_star_numerical": th_num.beta_star,
            "spare_latent_threshold": th.spare_latent,
            "eps_g_star_min_beta": float(grid[int(np.argmin(closed))]),
        },
        "J_max_example": {
            "J_max_over_tau": rate.J_max / s.tau,
            "expected": -(3 - math.sqrt(5)) / 2,
        },
    }
    curves = ctx.results["learning_curves"].numbers["learning_curves"]
    ends = [curves[f"{b:g}"] for b in s.betas]
    data = {
        "grid": grid,
        "closed": closed,
        "finite": np.array(finite),
        "beta_star": th.beta_star,
        "sgd": ([e["sgd_final_mean"] for e in ends], [e["sgd_final_std"] for e in ends]),
        "ode": [e["ode_final"] for e in ends],
    }
    return Computed(numbers, data)


def draw_eps_g_vs_beta(computed: Computed, ctx: Context) -> Figure:
    base, s, data = ctx.base, ctx.settings, computed.data
    betas = np.array(s.betas)
    fig, axes = new_figure(size=(6, 4))
    plot_error_vs_beta(
        data["grid"],
        {
            r"$\tau \to 0$ (closed form)": data["closed"],
            rf"fixed point, $\tau = {s.tau:g}$": data["finite"],
        },
        eta=base.eta,
        beta_star=data["beta_star"],
        points={
            "SGD (end)": (betas, *data["sgd"]),
            "ODE (end)": (betas, data["ode"], None),
        },
        ax=axes[0, 0],
    )
    axes[0, 0].set_title(
        rf"$M = M^* = 1$, {base_text(base)}; SGD and ODE at $t = {s.t_max:g}$, $N = {s.N}$, "
        f"{s.n_seeds} seeds",
        fontsize=9,
    )
    return fig
