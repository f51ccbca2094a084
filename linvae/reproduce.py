"""The paper's figure set, theory and simulation overlaid: the ``linvae reproduce`` application.

An application on top of the library: it runs the simulator (`linvae.sgd`), the ODEs
(`linvae.theory`) and the analysis (`linvae.analysis`), and draws with
`linvae.plot`; nothing in the library imports it. What each figure shows, and the symbols
(beta* = rho + eta, J_max, gamma_c = -J_max / 2, eps_g*), are explained on the results page
(docs/results.md).

Figures (each as PNG and PDF), with the numbers behind them in ``manifest.json``:

1. ``learning_curves``: eps_g(t), SGD (mean and band over seeds) vs ODE, several beta.
2. ``order_parameters``: m, d, Q, E, R, D over time at beta = 1, SGD vs ODE.
3. ``eps_g_vs_beta``: eps_g* against beta (tau -> 0 closed form, finite-tau fixed point, SGD and
   ODE end values): optimum at beta = eta, collapse at beta*.
4. ``superfluous``: M > M_star: noise fitting (beta < eta), algebraic convergence (beta = eta),
   the carrier of the factor over time, convergence time against M.
5. ``annealing``: eps_g(t) for several gamma around gamma_c (ODE, and SGD for two), and
   T_conv(gamma) with the gamma_c marker.
6. ``phase_*``: the (beta, rho), (beta, lam), (gamma, beta_f) and (M, beta) diagrams.
7. ``offline-*``: finite data (docs/offline.md): eps_g against alpha (theory and the authors'
   Adam protocol), the (alpha, beta) phase diagrams, rate-distortion curves, one pass against
   many passes (`OfflineSettings`).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from linvae.analysis.annealing import critical_rate, optimal_annealing_rate
from linvae.analysis.convergence import stable_point
from linvae.analysis.phase import annealing_diagram, penalty_diagram, stability_diagram
from linvae.analysis.superfluous import (
    convergence_vs_latents,
    decay_exponent,
    superfluous_dynamics,
    superfluous_error,
)
from linvae.analysis.threshold import collapse_threshold
from linvae.comparison import compare
from linvae.offline.phase import offline_phase_diagram
from linvae.offline.spectrum import bbp_threshold
from linvae.offline.theory import collapse_threshold as offline_threshold
from linvae.offline.theory import gaussian_bound, plateau_end, solve_offline
from linvae.offline.train import Adam, MinibatchSGD, make_datasets, train_offline
from linvae.params import Model
from linvae.plot.labels import LABELS
from linvae.plot.offline import (
    plot_eps_g_vs_alpha,
    plot_offline_phase_diagram,
    plot_rate_distortion,
)
from linvae.plot.phase import plot_error_vs_beta, plot_phase_diagram
from linvae.plot.trajectory import plot_observable, save_figure, shared_legend
from linvae.schedules import TanhAnneal
from linvae.sgd.simulator import simulate
from linvae.theory import solve_ode
from linvae.theory.initial import initial_order_parameters
from linvae.utils.io import atomic_write_json, to_jsonable
from linvae.utils.paths import check_writable
from linvae.utils.process import check_interrupt, deferred_interrupts, folder_lock
from linvae.utils.version import __version__

__all__ = ["OfflineSettings", "ReproduceSettings", "reproduce"]

# Smallest eps_g drawn on the log axes of the ODE curves: ten times the relative tolerance
# (1e-9) of the superfluous-latent solves; below it eps_g is round-off.
_EPS_G_FLOOR = 1e-8


@dataclass(frozen=True, kw_only=True)
class ReproduceSettings:
    """Sizes of the figure set; `default` ~10 min on 2 cores, `quick` ~1 min.

    Attributes
    ----------
    tau : float
        Learning rate of every run.
    N, n_seeds : int
        Simulation size.
    t_max : float
        Length of the learning-curve runs.
    betas : tuple of float
        KL weights of the learning curves.
    Ms : tuple of int
        Latent dimensions of the superfluous-latent runs.
    t_max_superfluous : float
    gamma_factors : tuple of float
        Annealing rates of the curves, in units of gamma_c.
    n_grid_anneal : int
        Grid of the T_conv(gamma) minimization.
    phase_n : int
        Grid size of the stability diagrams (phase_n x phase_n).
    anneal_grid : tuple of int
        (n_gamma, n_beta_f) of the annealing diagram.
    """

    tau: float
    N: int
    n_seeds: int
    t_max: float
    betas: tuple[float, ...]
    Ms: tuple[int, ...]
    t_max_superfluous: float
    gamma_factors: tuple[float, ...]
    n_grid_anneal: int
    phase_n: int
    anneal_grid: tuple[int, int]

    @classmethod
    def default(cls) -> ReproduceSettings:
        return cls(
            tau=0.01,
            N=500,
            n_seeds=5,
            t_max=3000.0,
            betas=(0.5, 1.0, 1.5, 2.5),
            Ms=(1, 2, 3),
            t_max_superfluous=20000.0,
            gamma_factors=(0.25, 0.5, 1.0, 2.0, 4.0),
            n_grid_anneal=12,
            phase_n=100,
            anneal_grid=(16, 10),
        )

    @classmethod
    def quick(cls) -> ReproduceSettings:
        return cls(
            tau=0.05,
            N=100,
            n_seeds=2,
            t_max=600.0,
            betas=(0.5, 1.0, 2.5),
            Ms=(1, 2),
            t_max_superfluous=4000.0,
            gamma_factors=(0.5, 1.0, 2.0),
            n_grid_anneal=5,
            phase_n=30,
            anneal_grid=(5, 3),
        )


class _Stages:
    """Progress: one line per stage on stderr, with elapsed time."""

    def __init__(self, names: list[str], enabled: bool):
        self.names, self.enabled, self.k = names, enabled, 0
        self.start = time.perf_counter()

    def __call__(self, name: str) -> None:
        check_interrupt()  # a safe point: every earlier stage is saved
        self.k += 1
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            sys.stderr.write(f"[{self.k}/{len(self.names)}] {name} ({elapsed:5.1f} s elapsed)\n")
            sys.stderr.flush()


def _figure(nrows=1, ncols=1, size=(6.0, 4.0)):
    # A plain Figure, outside pyplot's global state: nothing to close, nothing shown.
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig, out: Path, name: str, figures: list) -> None:
    for suffix in ("png", "pdf"):
        path = save_figure(fig, out / f"{name}.{suffix}", dpi=150)
        figures.append(str(path.relative_to(out)))
    check_interrupt()  # a safe point: this figure is on disk


def _base_text(model) -> str:
    """The fixed parameters of the figure set in symbols, for titles (mathtext)."""
    return (
        rf"$\rho = {model.rho:g}$, $\eta = {model.eta:g}$, $\lambda = {model.lam:g}$, "
        rf"$\tau = {model.tau:g}$"
    )


def _tail_mean(traj, frac: float = 0.1):
    """Mean and std over seeds of eps_g averaged over the last ``frac`` of the run."""
    n = max(1, int(frac * traj.t.size))
    per_seed = traj.eps_g[:, -n:].mean(axis=1)
    return float(per_seed.mean()), float(per_seed.std(ddof=1)) if per_seed.size > 1 else 0.0


def reproduce(out_dir: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Write the figure set (PNG + PDF) and ``manifest.json`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Created if needed.
    quick : bool
        `ReproduceSettings.quick` (about a minute) instead of the default (about ten).
    progress : bool
        One line per stage on stderr.

    Returns
    -------
    dict
        The manifest: ``out``, ``quick``, ``complete``, ``settings``, ``figures`` (relative
        paths), ``numbers`` (the values behind the figures), ``wall_time_s``,
        ``linvae_version``.

    Raises
    ------
    linvae.utils.process.FolderLocked
        (a ValueError) If another process is writing ``out_dir``.
    KeyboardInterrupt
        On Ctrl-C or SIGTERM, at the next figure or stage (the signals are deferred while
        it runs: `linvae.utils.process.deferred_interrupts`): ``manifest.json`` is written
        first, with ``"complete": false`` and the figures and numbers finished so far.
    """
    start = time.perf_counter()
    s = ReproduceSettings.quick() if quick else ReproduceSettings.default()
    out = Path(out_dir)
    figures: list[str] = []
    numbers: dict = {}
    stage = _Stages(
        [
            "learning curves",
            "order parameters",
            "eps_g* vs beta",
            "superfluous latents",
            "annealing",
            "phase diagrams",
            "offline (finite data)",
        ],
        progress,
    )

    def manifest(complete: bool) -> dict:
        written = {
            "out": str(out),
            "quick": quick,
            "complete": complete,
            "settings": s.__dict__,
            "figures": figures,
            "numbers": numbers,
            "wall_time_s": time.perf_counter() - start,
            "linvae_version": __version__,
        }
        written = to_jsonable(written)  # plain JSON: numpy to Python, inf and NaN to None
        atomic_write_json(out / "manifest.json", written, indent=1)
        return written

    check_writable(out, "The `out_dir` folder of reproduce", directory=True)
    # Signals are recorded and acted upon between figures and stages: a KeyboardInterrupt
    # raised inside one of matplotlib's garbage-collection callbacks would be lost.
    with folder_lock(out, "The `out_dir` folder of reproduce"), deferred_interrupts():
        try:
            _draw(out, s, quick, figures, numbers, stage)
        except KeyboardInterrupt:
            # Keep what is finished: the figures on disk and the numbers behind them.
            manifest(complete=False)
            if progress:
                sys.stderr.write(f"interrupted: {len(figures)} files kept in {out}\n")
            raise
        result = manifest(complete=True)
    if progress:
        sys.stderr.write(f"done: {len(figures)} files in {result['wall_time_s']:.1f} s\n")
    return result


def _draw(
    out: Path, s: ReproduceSettings, quick: bool, figures: list, numbers: dict, stage: _Stages
) -> None:
    """Draw every figure into ``out``; append to ``figures`` and ``numbers`` as each is done."""
    base = Model(rho=1.0, eta=1.0, beta=1.0, lam=0.0, tau=s.tau)
    seed = 2024

    # 1. learning curves -------------------------------------------------------------------
    stage("learning curves: SGD and ODE for several beta")
    runs, odes = {}, {}
    fig, axes = _figure(size=(6.5, 4.2))
    ax = axes[0, 0]
    curves = {}
    for k, beta in enumerate(s.betas):
        model = replace(base, beta=beta)
        run = simulate(model, N=s.N, t_max=s.t_max, dt=s.t_max / 300, n_seeds=s.n_seeds, rng=seed)
        ode = solve_ode(model, t_max=s.t_max, init=run, t_eval=run.t)
        runs[beta], odes[beta] = run, ode
        plot_observable(
            [run, ode],
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
        sgd_mean, sgd_std = _tail_mean(run)
        curves[f"{beta:g}"] = {
            "sgd_final_mean": sgd_mean,
            "sgd_final_std": sgd_std,
            "ode_final": float(ode.eps_g[0, -1]),
            "max_abs_sgd_minus_ode": compare(run, ode, "eps_g").max_abs_gap,
        }
    ax.set_title(
        rf"learning curves, $N = {s.N}$, {s.n_seeds} seeds; {_base_text(base)}", fontsize=9
    )
    ax.legend(frameon=False, fontsize=7, ncol=2)
    _save(fig, out, "learning_curves", figures)
    numbers["learning_curves"] = curves

    # 2. order parameters -----------------------------------------------------------------
    stage("order parameters at beta = 1")
    beta_op = 1.0 if 1.0 in runs else s.betas[0]
    fig, axes = _figure(2, 3, size=(10, 5.5))
    for ax, name in zip(axes.ravel(), ("m", "d", "Q", "E", "R", "D"), strict=True):
        plot_observable([runs[beta_op], odes[beta_op]], name, ax=ax, labels=["SGD mean", "ODE"])
    shared_legend(fig, axes.ravel())
    fig.suptitle(
        rf"order parameters, $\beta = {beta_op:g}$, $N = {s.N}$, {s.n_seeds} seeds; "
        rf"{_base_text(base)} ($|m|$, $|d|$: sign symmetry)"
    )
    _save(fig, out, "order_parameters", figures)

    # 3. eps_g* vs beta -------------------------------------------------------------------
    stage("eps_g* vs beta: closed form, finite tau, SGD, ODE")
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
    betas = np.array(s.betas)
    fig, axes = _figure(size=(6, 4))
    plot_error_vs_beta(
        grid,
        {
            r"$\tau \to 0$ (closed form)": closed,
            rf"fixed point, $\tau = {s.tau:g}$": np.array(finite),
        },
        eta=base.eta,
        beta_star=th.beta_star,
        points={
            "SGD (end)": (
                betas,
                [curves[f"{b:g}"]["sgd_final_mean"] for b in s.betas],
                [curves[f"{b:g}"]["sgd_final_std"] for b in s.betas],
            ),
            "ODE (end)": (betas, [curves[f"{b:g}"]["ode_final"] for b in s.betas], None),
        },
        ax=axes[0, 0],
    )
    axes[0, 0].set_title(
        rf"$M = M^* = 1$, {_base_text(base)}; SGD and ODE at $t = {s.t_max:g}$, $N = {s.N}$, "
        f"{s.n_seeds} seeds",
        fontsize=9,
    )
    _save(fig, out, "eps_g_vs_beta", figures)
    numbers["threshold"] = {
        "beta_star_analytic": th.beta_star,
        "beta_star_numerical": th_num.beta_star,
        "spare_latent_threshold": th.spare_latent,
        "eps_g_star_min_beta": float(grid[int(np.argmin(closed))]),
    }
    # The worked example of the results page (docs/results.md, "Fixed points and their
    # stability"): J_max = -tau (3 - sqrt 5) / 2 at rho = eta = beta = 1, lam = 0.
    rate = critical_rate(base, sgd_noise=False)
    numbers["J_max_example"] = {
        "J_max_over_tau": rate.J_max / s.tau,
        "expected": -(3 - math.sqrt(5)) / 2,
    }

    # 4. superfluous latents --------------------------------------------------------------
    stage("superfluous latents: noise fitting, 1/t at beta = eta, convergence vs M")
    fig, axes = _figure(2, 2, size=(10, 7))
    sup_numbers: dict = {}
    for col, beta in enumerate((0.5, 1.0)):
        ax = axes[0, col]
        for k, M in enumerate(s.Ms):
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
            # eps_g = rho - 2 sqrt(rho) m + Q cancels O(1) terms: below _EPS_G_FLOOR (ten
            # times the solver's relative tolerance) what remains is round-off, not drawn.
            eps = res.trajectory.eps_g[0]
            ax.plot(
                res.trajectory.t,
                np.where(eps > _EPS_G_FLOOR, eps, np.nan),
                color=f"C{k}",
                label=f"ODE $M = {M}$" + (" (to 0)" if res.eps_g_formula <= _EPS_G_FLOOR else ""),
            )
            if res.eps_g_formula > _EPS_G_FLOOR:
                ax.axhline(res.eps_g_formula, color=f"C{k}", ls=":", lw=1)
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
            sup_numbers[f"beta={beta:g},M={M}"] = entry
            if M == 2:
                sim_model = replace(model, tau=s.tau)
                t_sim = min(s.t_max_superfluous, 8.0 * s.t_max / 3.0)
                run = simulate(
                    sim_model, N=s.N, t_max=t_sim, dt=t_sim / 200, n_seeds=s.n_seeds, rng=seed
                )
                mean = run.mean("eps_g")
                ax.plot(run.t[1:], mean[1:], color=f"C{k}", lw=0.8, alpha=0.6, label="SGD, $M = 2$")
                if beta == 0.5:
                    share_ax = axes[1, 0]
                    for i in range(M):
                        share_ax.plot(res.trajectory.t, res.share[:, i], label=f"latent {i + 1}")
                    share_ax.set_xscale("log")
                    share_ax.set_xlabel(LABELS["t"])
                    share_ax.set_ylabel(r"share of the factor $m_i^2 / \sum_j m_j^2$")
                    share_ax.set_title(rf"entangled $\to$ disentangled, $\beta = {beta:g}$")
                    share_ax.legend(frameon=False)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(LABELS["t"])
        ax.set_ylabel(LABELS["eps_g"])
        title = "noise fitting" if beta < 1 else r"$\beta = \eta$: algebraic ($\sim 1/t$)"
        ax.set_title(rf"$\beta = {beta:g}$, $N = {s.N}$: {title}")
        ax.legend(frameon=False, fontsize=7)
    vs_M = convergence_vs_latents(
        replace(base, beta=1.5), s.Ms, t_max=s.t_max_superfluous, N=s.N, rng=seed, sgd_noise=False
    )
    ax = axes[1, 1]
    ax.plot(vs_M.Ms, vs_M.t_conv, "o-", label=f"{LABELS['t_conv']} (tol 1e-3)")
    ax.plot(vs_M.Ms, vs_M.t_disentangle, "s--", label="disentangling time")
    ax.set_xticks(np.asarray(vs_M.Ms))  # M is a whole number
    ax.set_xlabel(LABELS["M"])
    ax.set_ylabel("time")
    ax.set_title(r"convergence against $M$ ($\beta = 1.5$, $M^* = 1$)")
    ax.legend(frameon=False)
    fig.suptitle(rf"superfluous latents, $M^* = 1$: {_base_text(base)}")
    _save(fig, out, "superfluous", figures)
    sup_numbers["convergence_vs_M"] = vs_M.as_dict()
    numbers["superfluous"] = sup_numbers

    # 5. annealing ------------------------------------------------------------------------
    stage("annealing: curves around gamma_c, T_conv(gamma), optimum")
    fig, axes = _figure(1, 2, size=(11, 4.2))
    ann_numbers = {}
    beta_f = 1.0
    model = replace(base, beta=beta_f)
    init = initial_order_parameters(model, N=s.N, rng=seed)
    # Every answer is a statistic over random initial states at the simulations' N.
    opt = optimal_annealing_rate(model, n_grid=s.n_grid_anneal, N=s.N, rng=seed)
    ann_numbers["beta_f=1"] = opt.as_dict()
    ax = axes[0, 0]
    t_max = min(opt.t_max, 4 * opt.t_conv_constant) if math.isfinite(opt.t_conv_constant) else None
    t_max = t_max or opt.t_max
    const = solve_ode(model, t_max=t_max, init=init, dt=t_max / 500)
    target = critical_rate(model).attractor.eps_g
    ax.plot(const.t, np.abs(const.eps_g[0] - target), "k", label=r"constant $\beta$")
    for k, f in enumerate(s.gamma_factors):
        gamma = f * opt.gamma_c
        sol = solve_ode(
            replace(model, beta=TanhAnneal(beta_final=beta_f, gamma=gamma)),
            t_max=t_max,
            init=init,
            dt=t_max / 500,
        )
        ax.plot(
            sol.t,
            np.abs(sol.eps_g[0] - target),
            color=f"C{k}",
            label=rf"$\gamma = {f:g}\,\gamma_c$",
        )
        if f in (s.gamma_factors[0], s.gamma_factors[-1]):
            sim = replace(model, beta=TanhAnneal(beta_final=beta_f, gamma=gamma))
            run = simulate(sim, N=s.N, t_max=t_max, dt=t_max / 200, n_seeds=s.n_seeds, rng=seed)
            ax.plot(run.t, np.abs(run.mean("eps_g") - target), color=f"C{k}", lw=0.7, alpha=0.6)
    ax.set_yscale("log")
    ax.set_xlabel(LABELS["t"])
    ax.set_ylabel(r"$|\varepsilon_g - \varepsilon_g^*|$ (thin: SGD)")
    ax.set_title(rf"KL annealing $\beta_f \tanh(\gamma t)$, $\beta_f = {beta_f:g}$")
    ax.legend(frameon=False, fontsize=7)
    ax = axes[0, 1]
    for beta_f2, marker in ((1.0, "o"), (1.8, "s")):
        if beta_f2 == 1.0:
            o = opt
        else:
            m2 = replace(base, beta=beta_f2)
            o = optimal_annealing_rate(m2, n_grid=s.n_grid_anneal, N=s.N, rng=seed)
            ann_numbers["beta_f=1.8"] = o.as_dict()
        ok = np.all(np.isfinite(o.t_conv_all), axis=1)
        x = o.gammas[ok] / o.gamma_c
        (line,) = ax.plot(
            x,
            o.t_conv[ok],
            marker + "-",
            ms=3,
            label=rf"$\beta_f={beta_f2:g}$: speed-up {o.speedup:.2f} "
            rf"({o.speedup_range[0]:.2f}-{o.speedup_range[1]:.2f})",
        )
        low, high = np.percentile(o.t_conv_all[ok], [16.0, 84.0], axis=1)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, lw=0)
        ax.axhline(o.t_conv_constant, color=line.get_color(), ls=":", lw=1)
        ax.plot(o.gamma_opt / o.gamma_c, o.t_conv_opt, "*", color=line.get_color(), ms=10)
    ax.axvline(1.0, color="r", ls="--", label=r"$\gamma_c = -J_{max}/2$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\gamma / \gamma_c$")
    ax.set_ylabel(f"mean {LABELS['t_conv']}, 16-84 % band (dotted: constant {LABELS['beta_f']})")
    ax.set_title(f"{opt.n_init} random initial states at $N = {s.N}$; star: optimum")
    ax.legend(frameon=False, fontsize=8)
    fig.suptitle(rf"KL annealing, $M = M^* = 1$: {_base_text(base)}")
    _save(fig, out, "annealing", figures)
    numbers["annealing"] = ann_numbers

    # 6. phase diagrams -------------------------------------------------------------------
    stage("phase diagrams")
    n = s.phase_n
    diagrams = {
        "phase_beta_rho": stability_diagram(
            base, betas=np.linspace(0.02, 4.0, n), values=np.linspace(0.05, 3.0, n), axis="rho"
        ),
        "phase_beta_lam": stability_diagram(
            base, betas=np.linspace(0.02, 3.0, n), values=np.linspace(0.0, 1.0, n), axis="lam"
        ),
        "phase_gamma_beta_f": annealing_diagram(
            base,
            gammas=np.geomspace(0.05, 10.0, s.anneal_grid[0]) * opt.gamma_c,
            beta_finals=np.linspace(0.3, 1.9, s.anneal_grid[1]),
        ),
        "phase_M_beta": penalty_diagram(base, Ms=np.arange(1, 7), betas=np.linspace(0.02, 2.5, n)),
    }
    numbers["phase_diagrams"] = {}
    for name, diagram in diagrams.items():
        fig, axes = _figure(size=(5.8, 4.4))
        plot_phase_diagram(diagram, ax=axes[0, 0])
        _save(fig, out, name, figures)
        numbers["phase_diagrams"][name] = diagram.as_dict(arrays=name == "phase_gamma_beta_f")

    # 7. finite data ----------------------------------------------------------------------
    stage("offline: finite data (theory, the authors' Adam protocol, one vs many passes)")
    numbers["offline"] = _offline_stage(out, quick, figures, seed)


@dataclass(frozen=True, kw_only=True)
class OfflineSettings:
    """Sizes of the finite-data figures (docs/offline.md); `default` is the authors'
    protocol (N = 250, alpha = 0.4, 0.8, ..., 5.2, 5 seeds, Adam for 15,000 epochs).

    Attributes
    ----------
    N, n_seeds : int
        Finite-N training.
    alphas : tuple of float
        Training-set sizes of the simulations, in samples per dimension.
    epochs : int
        Full-batch Adam epochs (lr 1e-3).
    sgd_epochs : int
        Epochs of the multi-pass minibatch SGD.
    phase_n : int
        Grid size of the (alpha, beta) diagrams (phase_n x phase_n).
    """

    N: int
    n_seeds: int
    alphas: tuple[float, ...]
    epochs: int
    sgd_epochs: int
    phase_n: int

    @classmethod
    def default(cls) -> OfflineSettings:
        alphas = tuple(round(0.4 * k, 10) for k in range(1, 14))
        return cls(N=250, n_seeds=5, alphas=alphas, epochs=15_000, sgd_epochs=100, phase_n=240)

    @classmethod
    def quick(cls) -> OfflineSettings:
        return cls(
            N=60, n_seeds=2, alphas=(0.4, 1.6, 3.2, 5.2), epochs=3000, sgd_epochs=20, phase_n=60
        )


def _offline_stage(out: Path, quick: bool, figures: list, seed: int) -> dict:
    """The finite-data figures (``offline-*``) and their numbers (docs/offline.md)."""
    o = OfflineSettings.quick() if quick else OfflineSettings.default()
    rho = eta = 1.0
    nu = rho + eta
    numbers: dict = {"settings": o.__dict__}
    grid = np.geomspace(0.2, 20.0, 400)
    alphas = np.array(o.alphas)
    data = make_datasets(o.N, alphas, rho=rho, eta=eta, n_seeds=o.n_seeds, rng=seed)

    # eps_g against alpha: the plateau (lam = 1, beta near rho + eta), the peak at alpha_BBP.
    fig, axes = _figure(1, 2, size=(11, 4.2))
    betas = (0.5, 1.0, 1.5, 1.9)
    runs = {}
    for panel, lam in enumerate((1.0, 0.0)):
        theory = {
            rf"$\beta={b:g}$": solve_offline(grid, rho=rho, eta=eta, beta=b, lam=lam).eps_g
            for b in betas
        }
        points = {}
        if lam > 0:
            for b in (1.0, 1.9):
                run = train_offline(data, beta=b, lam=lam, method=Adam(epochs=o.epochs))
                runs[b] = run
                summ = run.summary()
                points[rf"$\beta={b:g}$"] = (
                    summ["alpha"],
                    summ["mean"]["eps_g"],
                    summ["std"]["eps_g"],
                )
        ax = axes[0, panel]
        plot_eps_g_vs_alpha(
            grid,
            theory,
            points=points,
            rho=rho,
            ax=ax,
            points_label=f"Adam, N = {o.N}, {o.n_seeds} seeds",
        )
        ax.axvline(bbp_threshold(rho, eta), color="k", ls=":", lw=1)
        ax.set_xscale("log")
        if not lam:  # Q = s - beta overfits the bulk: eps_g grows like 1/alpha as alpha -> 0
            ax.set_yscale("log")
        ax.set_title(
            rf"$\lambda = {lam:g}$"
            + (": collapsed plateau, peak at $\\alpha_{BBP}$" if lam else ": no plateau, no peak")
        )
    fig.suptitle(rf"finite data: $\rho = {rho:g}$, $\eta = {eta:g}$, $M = M^* = 1$")
    _save(fig, out, "offline-eps_g_vs_alpha", figures)
    authors = runs[1.0]
    summ = authors.summary()
    limit = solve_offline(np.array(summ["alpha"]), rho=rho, eta=eta, beta=1.0, lam=1.0)
    numbers["authors_protocol"] = {
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
    }
    plateau = runs[1.9].summary()
    numbers["plateau_beta_1.9"] = {
        "alpha": plateau["alpha"],
        "eps_g_mean": plateau["mean"]["eps_g"],
        "eps_g_std": plateau["std"]["eps_g"],
        "alpha_c_theory": plateau_end(1.9, rho=rho, eta=eta, lam=1.0),
    }
    peak = solve_offline(grid, rho=rho, eta=eta, beta=0.5, lam=1.0).eps_g
    numbers["eps_g_peak_alpha"] = float(grid[np.argmax(peak)])

    # The (alpha, beta) phase diagrams and the thresholds.
    fig, axes = _figure(1, 2, size=(12, 4.6))
    for panel, lam in enumerate((1.0, 4.0)):
        diagram = offline_phase_diagram(
            np.geomspace(0.05, 100.0, o.phase_n),
            np.linspace(0.01, 3.0, o.phase_n),
            rho=rho,
            eta=eta,
            lam=lam,
        )
        plot_offline_phase_diagram(diagram, ax=axes[0, panel])
    _save(fig, out, "offline-phase_alpha_beta", figures)
    table_alphas = np.array([0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0, np.inf])
    numbers["beta_c"] = {
        f"lam={lam:g}": dict(
            zip(
                [f"{a:g}" for a in table_alphas],
                np.atleast_1d(offline_threshold(table_alphas, rho=rho, eta=eta, lam=lam)).tolist(),
                strict=True,
            )
        )
        for lam in (0.0, 1.0, 4.0)
    }
    plateau_betas = np.array([1.75, 1.8, 1.9, 1.95, 1.99])
    numbers["plateau_end_lam=1"] = dict(
        zip(
            [f"{b:g}" for b in plateau_betas],
            np.atleast_1d(plateau_end(plateau_betas, rho=rho, eta=eta, lam=1.0)).tolist(),
            strict=True,
        )
    )

    # Rate-distortion curves, traced by beta, against the Gaussian bound.
    fig, axes = _figure(1, 2, size=(11, 4.2))
    rd_betas = np.geomspace(0.02, nu, 300)[:-1]
    rd_numbers = {}
    for panel, lam in enumerate((0.0, 1.0)):
        test, train = {}, {}
        for a in (0.5, 1.0, 2.0, 5.0, 20.0, np.inf):
            sol = solve_offline(a, rho=rho, eta=eta, beta=rd_betas, lam=lam)
            ok = ~np.asarray(sol.collapsed)
            label = rf"$\alpha = {a:g}$" if np.isfinite(a) else r"$\alpha \to \infty$"
            test[label] = (sol.rate[ok], sol.distortion[ok])
            train[label] = (sol.rate_train[ok], sol.distortion_train[ok])
            rd_numbers[f"lam={lam:g},alpha={a:g}"] = {
                "max_rate": float(sol.rate[ok].max()) if ok.any() else 0.0,
                "max_gap_to_bound": float(
                    np.max(sol.distortion[ok] - gaussian_bound(sol.rate[ok], nu))
                )
                if ok.any()
                else None,
            }
        ax = axes[0, panel]
        plot_rate_distortion(test, nu=nu, train=train, ax=ax)
        ax.set_ylim(0.0, nu + 0.2)
        ax.set_title(rf"$\lambda = {lam:g}$: test (solid), training (dashed)")
    fig.suptitle(rf"rate-distortion: $\rho = {rho:g}$, $\eta = {eta:g}$")
    _save(fig, out, "offline-rate_distortion", figures)
    numbers["rate_distortion"] = rd_numbers

    # What does reusing data buy? One pass (t = alpha) against many passes on alpha N samples.
    fig, axes = _figure(size=(6.4, 4.4))
    ax = axes[0, 0]
    beta = 1.0
    ax.plot(
        grid,
        solve_offline(grid, rho=rho, eta=eta, beta=beta).eps_g,
        "k-",
        lw=1.8,
        label="offline optimum (theory)",
    )
    one = {}
    for k, tau in enumerate((0.1, 0.5)):
        model = Model(rho=rho, eta=eta, beta=beta, tau=tau)
        ode = solve_ode(
            model,
            t_max=float(grid.max()),
            t_eval=np.concatenate([[0.0], grid]),
            init=initial_order_parameters(model, N=o.N, rng=seed),
        )
        ax.plot(
            grid,
            ode.eps_g[0, 1:],
            color=f"C{k}",
            ls="--",
            label=rf"one pass, ODE at $t = \alpha$, $\tau = {tau:g}$",
        )
        run = train_offline(data, beta=beta, method=MinibatchSGD(tau=tau, epochs=1))
        s1 = run.summary()
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
        one[f"tau={tau:g}"] = {
            "sgd_mean": s1["mean"]["eps_g"],
            "ode": np.interp(s1["alpha"], grid, ode.eps_g[0, 1:]).tolist(),
        }
    multi = train_offline(data, beta=beta, method=MinibatchSGD(tau=0.1, epochs=o.sgd_epochs))
    sm = multi.summary()
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
    ax.axhline(rho, color="0.5", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_ylim(0.0, 3.0)
    ax.set_xlabel(r"samples per dimension $\alpha = n/N$ (one pass: $t = \alpha$)")
    ax.set_ylabel(LABELS["eps_g"])
    ax.set_title(
        rf"reusing data: $\rho = {rho:g}$, $\eta = {eta:g}$, $\beta = {beta:g}$, $\lambda = 0$, "
        rf"$N = {o.N}$",
        fontsize=10,
    )
    ax.legend(frameon=False, fontsize=7)
    _save(fig, out, "offline-one_pass_vs_offline", figures)
    numbers["one_pass_vs_offline"] = {
        "alpha": sm["alpha"],
        "offline_theory": solve_offline(np.array(sm["alpha"]), beta=beta).eps_g,
        "multi_pass_sgd_mean": sm["mean"]["eps_g"],
        "one_pass": one,
    }
    return numbers
