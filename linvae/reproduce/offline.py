"""The finite-data figures (``offline-*``, docs/offline.md), at rho = eta = 1.

eps_g against alpha (theory and the authors' Adam protocol), the (alpha, beta) phase diagrams,
rate-distortion curves, and one pass against many passes over the same data. Registered in
`linvae.reproduce.run`, under the ``offline`` section of the manifest's numbers; the sizes are
`OfflineSettings`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from linvae.offline.phase import offline_phase_diagram
from linvae.offline.spectrum import bbp_threshold
from linvae.offline.theory import collapse_threshold as offline_threshold
from linvae.offline.theory import gaussian_bound, plateau_end, solve_offline
from linvae.offline.train import Adam, MinibatchSGD, train_offline
from linvae.params import Model
from linvae.plot.labels import LABELS
from linvae.plot.offline import (
    plot_eps_g_vs_alpha,
    plot_offline_phase_diagram,
    plot_rate_distortion,
)
from linvae.reproduce.context import Computed, Context
from linvae.reproduce.panels import new_figure
from linvae.theory import solve_ode
from linvae.theory.initial import initial_order_parameters

__all__ = [
    "draw_eps_g_vs_alpha",
    "draw_offline_phase",
    "draw_one_pass_vs_offline",
    "draw_rate_distortion",
    "offline_eps_g_vs_alpha",
    "offline_phase",
    "offline_rate_distortion",
    "one_pass_vs_offline",
]

RHO = ETA = 1.0
NU = RHO + ETA
# The theory's alpha axis, shared by the figures.
_GRID = np.geomspace(0.2, 20.0, 400)
# The KL weights of the eps_g(alpha) theory curves.
_BETAS = (0.5, 1.0, 1.5, 1.9)


def offline_eps_g_vs_alpha(ctx: Context) -> Computed:
    """eps_g against alpha at lam = 1 (collapsed plateau, peak at alpha_BBP) and lam = 0, with
    full-batch Adam at beta = 1 (the authors' protocol) and beta = 1.9 (the plateau).

    Numbers: ``authors_protocol`` (Adam against the finite-N and N -> infinity theory),
    ``plateau_beta_1.9`` (with the theory's plateau end alpha_c), ``eps_g_peak_alpha``.
    """
    o, data = ctx.offline, ctx.offline_data
    theory = {
        lam: {
            rf"$\beta={b:g}$": solve_offline(_GRID, rho=RHO, eta=ETA, beta=b, lam=lam).eps_g
            for b in _BETAS
        }
        for lam in (1.0, 0.0)
    }
    runs = {
        b: train_offline(data, beta=b, lam=1.0, method=Adam(epochs=o.epochs)) for b in (1.0, 1.9)
    }
    authors = runs[1.0]
    summ = authors.summary()
    limit = solve_offline(np.array(summ["alpha"]), rho=RHO, eta=ETA, beta=1.0, lam=1.0)
    plateau = runs[1.9].summary()
    peak = solve_offline(_GRID, rho=RHO, eta=ETA, beta=0.5, lam=1.0).eps_g
    numbers = {
        "authors_protocol": {
            "beta": 1.0,
            "lam": 1.0,
            "alpha": summ["alpha"],
            "eps_g_mean": summ["mean"]["eps_g"],
            "eps_g_std": summ["std"]["eps_g"],
            "eps_g_theory_finite_N_mean": summ["theory_sample_mean"]["eps_g"],
            "eps_g_theory_N_infinity": limit.eps_g,
            "max_abs_adam_minus_finite_N_theory": float(
                np.max(np.abs(authors.eps_g - authors.theory.eps_g))
            ),
            "wall_time_s": authors.wall_time_s,
        },
        "plateau_beta_1.9": {
            "alpha": plateau["alpha"],
            "eps_g_mean": plateau["mean"]["eps_g"],
            "eps_g_std": plateau["std"]["eps_g"],
            "alpha_c_theory": plateau_end(1.9, rho=RHO, eta=ETA, lam=1.0),
        },
        "eps_g_peak_alpha": float(_GRID[np.argmax(peak)]),
    }
    return Computed(numbers, {"theory": theory, "runs": runs})


def draw_eps_g_vs_alpha(computed: Computed, ctx: Context) -> Figure:
    o = ctx.offline
    fig, axes = new_figure(1, 2, size=(11, 4.2))
    for panel, (lam, theory) in enumerate(computed.data["theory"].items()):
        points = {}
        if lam > 0:
            for b, run in computed.data["runs"].items():
                summ = run.summary()
                points[rf"$\beta={b:g}$"] = (
                    summ["alpha"],
                    summ["mean"]["eps_g"],
                    summ["std"]["eps_g"],
                )
        ax = axes[0, panel]
        plot_eps_g_vs_alpha(
            _GRID,
            theory,
            points=points,
            rho=RHO,
            ax=ax,
            points_label=rf"Adam, $N = {o.N}$, {o.n_seeds} seeds",
        )
        ax.axvline(bbp_threshold(RHO, ETA), color="k", ls=":", lw=1)
        ax.set_xscale("log")
        if not lam:  # Q = s - beta overfits the bulk: eps_g grows like 1/alpha as alpha -> 0
            ax.set_yscale("log")
        ax.set_title(
            rf"$\lambda = {lam:g}$"
            + (": collapsed plateau, peak at $\\alpha_{BBP}$" if lam else ": no plateau, no peak")
        )
    fig.suptitle(rf"finite data: $\rho = {RHO:g}$, $\eta = {ETA:g}$, $M = M^* = 1$")
    return fig


def offline_phase(ctx: Context) -> Computed:
    """The (alpha, beta) phase diagrams at lam = 1 and 4, and the thresholds.

    Numbers: ``beta_c`` (the collapse threshold at a table of alpha, for lam = 0, 1, 4) and
    ``plateau_end_lam=1`` (alpha_c at a table of beta).
    """
    n = ctx.offline.phase_n
    diagrams = [
        offline_phase_diagram(
            np.geomspace(0.05, 100.0, n), np.linspace(0.01, 3.0, n), rho=RHO, eta=ETA, lam=lam
        )
        for lam in (1.0, 4.0)
    ]
    table_alphas = np.array([0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0, np.inf])
    plateau_betas = np.array([1.75, 1.8, 1.9, 1.95, 1.99])
    numbers = {
        "beta_c": {
            f"lam={lam:g}": dict(
                zip(
                    [f"{a:g}" for a in table_alphas],
                    np.atleast_1d(
                        offline_threshold(table_alphas, rho=RHO, eta=ETA, lam=lam)
                    ).tolist(),
                    strict=True,
                )
            )
            for lam in (0.0, 1.0, 4.0)
        },
        "plateau_end_lam=1": dict(
            zip(
                [f"{b:g}" for b in plateau_betas],
                np.atleast_1d(plateau_end(plateau_betas, rho=RHO, eta=ETA, lam=1.0)).tolist(),
                strict=True,
            )
        ),
    }
    return Computed(numbers, {"diagrams": diagrams})


def draw_offline_phase(computed: Computed, ctx: Context) -> Figure:
    fig, axes = new_figure(1, 2, size=(12, 4.6))
    for panel, diagram in enumerate(computed.data["diagrams"]):
        plot_offline_phase_diagram(diagram, ax=axes[0, panel])
    return fig


def offline_rate_distortion(ctx: Context) -> Computed:
    """Rate-distortion curves traced by beta, test and training, at lam = 0 and 1, for several
    alpha, against the Gaussian bound D = nu exp(-2 R).

    Numbers, per (lam, alpha): the largest rate and the largest gap to the bound.
    """
    betas = np.geomspace(0.02, NU, 300)[:-1]
    numbers, curves = {}, {}
    for lam in (0.0, 1.0):
        test, train = {}, {}
        for a in (0.5, 1.0, 2.0, 5.0, 20.0, np.inf):
            sol = solve_offline(a, rho=RHO, eta=ETA, beta=betas, lam=lam)
            ok = ~np.asarray(sol.collapsed)
            label = rf"$\alpha = {a:g}$" if np.isfinite(a) else r"$\alpha \to \infty$"
            test[label] = (sol.rate[ok], sol.distortion[ok])
            train[label] = (sol.rate_train[ok], sol.distortion_train[ok])
            numbers[f"lam={lam:g},alpha={a:g}"] = {
                "max_rate": float(sol.rate[ok].max()) if ok.any() else 0.0,
                "max_gap_to_bound": float(
                    np.max(sol.distortion[ok] - gaussian_bound(sol.rate[ok], NU))
                )
                if ok.any()
                else None,
            }
        curves[lam] = (test, train)
    return Computed({"rate_distortion": numbers}, {"curves": curves})


def draw_rate_distortion(computed: Computed, ctx: Context) -> Figure:
    fig, axes = new_figure(1, 2, size=(11, 4.2))
    for panel, (lam, (test, train)) in enumerate(computed.data["curves"].items()):
        ax = axes[0, panel]
        plot_rate_distortion(test, nu=NU, train=train, ax=ax)
        ax.set_ylim(0.0, NU + 0.2)
        ax.set_title(rf"$\lambda = {lam:g}$: test (solid), training (dashed)")
    fig.suptitle(rf"rate-distortion: $\rho = {RHO:g}$, $\eta = {ETA:g}$")
    return fig


def one_pass_vs_offline(ctx: Context) -> Computed:
    """What reusing data buys at beta = 1, lam = 0: one pass of SGD (t = alpha; its ODE and
    simulations at tau = 0.1, 0.5) against many passes over alpha N samples and the offline
    optimum.

    Numbers: ``one_pass_vs_offline`` (alpha, the offline theory, the multi-pass SGD mean, and
    per tau the one-pass SGD mean and its ODE).
    """
    o, data, beta = ctx.offline, ctx.offline_data, 1.0
    odes, singles, one = {}, {}, {}
    for tau in (0.1, 0.5):
        model = Model(rho=RHO, eta=ETA, beta=beta, tau=tau)
        ode = solve_ode(
            model,
            t_max=float(_GRID.max()),
            t_eval=np.concatenate([[0.0], _GRID]),
            init=initial_order_parameters(model, N=o.N, rng=ctx.seed),
        )
        s1 = train_offline(data, beta=beta, method=MinibatchSGD(tau=tau, epochs=1)).summary()
        odes[tau], singles[tau] = ode, s1
        one[f"tau={tau:g}"] = {
            "sgd_mean": s1["mean"]["eps_g"],
            "ode": np.interp(s1["alpha"], _GRID, ode.eps_g[0, 1:]).tolist(),
        }
    multi = train_offline(data, beta=beta, method=MinibatchSGD(tau=0.1, epochs=o.sgd_epochs))
    sm = multi.summary()
    numbers = {
        "one_pass_vs_offline": {
            "alpha": sm["alpha"],
            "offline_theory": solve_offline(np.array(sm["alpha"]), beta=beta).eps_g,
            "multi_pass_sgd_mean": sm["mean"]["eps_g"],
            "one_pass": one,
        }
    }
    optimum = solve_offline(_GRID, rho=RHO, eta=ETA, beta=beta).eps_g
    return Computed(
        numbers, {"beta": beta, "optimum": optimum, "odes": odes, "singles": singles, "multi": sm}
    )


def draw_one_pass_vs_offline(computed: Computed, ctx: Context) -> Figure:
    o, data = ctx.offline, computed.data
    fig, axes = new_figure(size=(6.4, 4.4))
    ax = axes[0, 0]
    ax.plot(_GRID, data["optimum"], "k-", lw=1.8, label="offline optimum (theory)")
    for k, (tau, ode) in enumerate(data["odes"].items()):
        ax.plot(
            _GRID,
            ode.eps_g[0, 1:],
            color=f"C{k}",
            ls="--",
            label=rf"one pass, ODE at $t = \alpha$, $\tau = {tau:g}$",
        )
        s1 = data["singles"][tau]
        ax.errorbar(
            s1["alpha"],
            s1["mean"]["eps_g"],
            yerr=s1["std"]["eps_g"],
            fmt="s",
            ms=3,
            capsize=2,
            color=f"C{k}",
            label=rf"one pass, SGD, $\tau = {tau:g}$",
        )
    sm = data["multi"]
    ax.errorbar(
        sm["alpha"],
        sm["mean"]["eps_g"],
        yerr=sm["std"]["eps_g"],
        fmt="o",
        ms=4,
        capsize=2,
        color="C2",
        label=rf"{o.sgd_epochs} passes, SGD, $\tau = 0.1$",
    )
    ax.axhline(RHO, color="0.5", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_ylim(0.0, 3.0)
    ax.set_xlabel(r"samples per dimension $\alpha = n/N$ (one pass: $t = \alpha$)")
    ax.set_ylabel(LABELS["eps_g"])
    ax.set_title(
        rf"reusing data: $\rho = {RHO:g}$, $\eta = {ETA:g}$, $\beta = {data['beta']:g}$, "
        rf"$\lambda = 0$, $N = {o.N}$",
        fontsize=10,
    )
    ax.legend(frameon=False, fontsize=7)
    return fig
