"""The KL-annealing figure: eps_g(t) around the critical rate gamma_c and T_conv(gamma).

Registered in `linvae.reproduce.run`; its optimum also sets the gamma axis of the
(gamma, beta_f) phase diagram (`linvae.reproduce.phase`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from matplotlib.figure import Figure

from linvae.analysis.annealing import critical_rate, optimal_annealing_rate
from linvae.plot.labels import LABELS
from linvae.reproduce.context import Computed, Context
from linvae.reproduce.panels import base_text, new_figure
from linvae.schedules import TanhAnneal
from linvae.sgd.simulator import simulate
from linvae.theory import solve_ode
from linvae.theory.initial import initial_order_parameters

__all__ = ["annealing", "draw_annealing"]

# Final KL weights of the T_conv(gamma) panel; the curves of the first panel use the first.
_BETA_FINALS = (1.0, 1.8)


def annealing(ctx: Context) -> Computed:
    """The optimal annealing rate at beta_f = 1 and 1.8 (random initial states at the
    simulations' N), and eps_g(t) for the rates ``gamma_factors`` x gamma_c at beta_f = 1 (ODE,
    and SGD for the slowest and the fastest rate).

    Numbers: ``annealing``, the `AnnealingOptimum` of each beta_f as a dict.
    """
    s, base, seed = ctx.settings, ctx.base, ctx.seed
    optima = {
        beta_f: optimal_annealing_rate(
            replace(base, beta=beta_f), n_grid=s.n_grid_anneal, N=s.N, rng=seed
        )
        for beta_f in _BETA_FINALS
    }
    beta_f = _BETA_FINALS[0]
    opt, model = optima[beta_f], replace(base, beta=beta_f)
    init = initial_order_parameters(model, N=s.N, rng=seed)
    t_max = min(opt.t_max, 4 * opt.t_conv_constant) if math.isfinite(opt.t_conv_constant) else None
    t_max = t_max or opt.t_max
    constant = solve_ode(model, t_max=t_max, init=init, dt=t_max / 500)
    curves, runs = {}, {}
    for f in s.gamma_factors:
        annealed = replace(model, beta=TanhAnneal(beta_final=beta_f, gamma=f * opt.gamma_c))
        curves[f] = solve_ode(annealed, t_max=t_max, init=init, dt=t_max / 500)
        if f in (s.gamma_factors[0], s.gamma_factors[-1]):
            runs[f] = simulate(
                annealed, N=s.N, t_max=t_max, dt=t_max / 200, n_seeds=s.n_seeds, rng=seed
            )
    numbers = {f"beta_f={b:g}": o.as_dict() for b, o in optima.items()}
    data = {
        "optima": optima,
        "constant": constant,
        "curves": curves,
        "runs": runs,
        "target": critical_rate(model).attractor.eps_g,
    }
    return Computed({"annealing": numbers}, data)


def draw_annealing(computed: Computed, ctx: Context) -> Figure:
    s, data = ctx.settings, computed.data
    optima, target = data["optima"], data["target"]
    fig, axes = new_figure(1, 2, size=(11, 4.2))
    ax = axes[0, 0]
    constant = data["constant"]
    ax.plot(constant.t, np.abs(constant.eps_g[0] - target), "k", label=r"constant $\beta$")
    for k, f in enumerate(s.gamma_factors):
        sol = data["curves"][f]
        ax.plot(
            sol.t,
            np.abs(sol.eps_g[0] - target),
            color=f"C{k}",
            label=rf"$\gamma = {f:g}\,\gamma_c$",
        )
        if f in data["runs"]:
            run = data["runs"][f]
            ax.plot(run.t, np.abs(run.mean("eps_g") - target), color=f"C{k}", lw=0.7, alpha=0.6)
    ax.set_yscale("log")
    ax.set_xlabel(LABELS["t"])
    ax.set_ylabel(r"$|\varepsilon_g - \varepsilon_g^*|$ (thin: SGD)")
    ax.set_title(rf"KL annealing $\beta_f \tanh(\gamma t)$, $\beta_f = {_BETA_FINALS[0]:g}$")
    ax.legend(frameon=False, fontsize=7)
    ax = axes[0, 1]
    for (beta_f, o), marker in zip(optima.items(), ("o", "s"), strict=True):
        ok = np.all(np.isfinite(o.t_conv_all), axis=1)
        x = o.gammas[ok] / o.gamma_c
        (line,) = ax.plot(
            x,
            o.t_conv[ok],
            marker + "-",
            ms=3,
            label=rf"$\beta_f={beta_f:g}$: speed-up {o.speedup:.2f} "
            rf"({o.speedup_range[0]:.2f}-{o.speedup_range[1]:.2f})",
        )
        low, high = np.percentile(o.t_conv_all[ok], [16.0, 84.0], axis=1)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, lw=0)
        ax.axhline(o.t_conv_constant, color=line.get_color(), ls=":", lw=1)
        ax.plot(o.gamma_opt / o.gamma_c, o.t_conv_opt, "*", color=line.get_color(), ms=10)
    ax.axvline(1.0, color="r", ls="--", label=r"$\gamma_c = -J_{\max}/2$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\gamma / \gamma_c$")
    ax.set_ylabel(f"mean {LABELS['t_conv']}, 16-84 % band (dotted: constant {LABELS['beta_f']})")
    opt = optima[_BETA_FINALS[0]]
    ax.set_title(f"{opt.n_init} random initial states at $N = {s.N}$; star: optimum")
    ax.legend(frameon=False, fontsize=8)
    fig.suptitle(rf"KL annealing, $M = M^* = 1$: {base_text(ctx.base)}")
    return fig
