"""Regenerate the figures of the hysteresis page (docs/hysteresis.md).

Run from the repository root::

    python docs/figures/hysteresis_figures.py          # ODE figures, about 2 min on two cores
    python docs/figures/hysteresis_figures.py --sgd    # and the SGD runs first (N = 10^4,
                                                       # about 20-40 min on one core)

Writes ``docs/figures/hysteresis-*.png`` and prints the numbers the page quotes as JSON. The SGD
runs are summarized in ``docs/figures/hysteresis-sgd.json`` (order parameters on a coarse
grid, with their ODE twins), from which the SGD figure is drawn without running them again;
``--runs DIR`` keeps the full runs (``.npz``) there.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from linvae import LinearRamp, Model, Trajectory
from linvae.analysis.attractors import attractor
from linvae.analysis.hysteresis import basin_diagram, beta_sweep, transition_lines
from linvae.analysis.phase import stability_diagram
from linvae.offline.phase import offline_phase_diagram
from linvae.plot.offline import plot_offline_phase_diagram
from linvae.plot.phase import plot_hysteresis, plot_phase_diagram
from linvae.theory import solve_ode
from linvae.theory.initial import initial_ensemble

HERE = Path(__file__).resolve().parent
DPI = 150
LAM = 1.5  # rho = eta = 1: beta* = 0.05, spinodal 0.0856, equal loss 0.0810
STRIP = Model(rho=1.0, eta=1.0, lam=LAM, tau=0.01)
# The SGD confirmation: N = 10^4 and tau = 0.4, so that a ramp fits in t = 450 (the tau -> 0
# dynamics depend on tau t; the O(tau^2) noise terms are kept in its ODE twin).
SGD_N, SGD_TAU = 10_000, 0.4
SGD_RAMP = LinearRamp(beta_initial=0.005, beta_final=0.072, t_ramp=300.0)
SGD_SEGMENTS = (  # name, beta, t_max, start (None: fresh), data seed
    ("ramp", SGD_RAMP, 450.0, None, 0),
    ("constant", 0.072, 100.0, None, 0),
    ("up_0.2", 0.2, 80.0, "ramp", 1),
    ("down_0.072", 0.072, 100.0, "up_0.2", 2),
)


def phase_figures(numbers: dict) -> None:
    """beta-lam and beta-rho (online) and alpha-beta (offline) with the first-order strip."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.0), constrained_layout=True)
    lam_pd = stability_diagram(
        Model(), betas=np.linspace(0.002, 0.3, 200), values=np.linspace(1.2, 2.05, 160), axis="lam"
    )
    plot_phase_diagram(lam_pd, ax=axes[0])
    rho_pd = stability_diagram(
        Model(lam=LAM), betas=np.linspace(0.002, 0.4, 200), values=np.linspace(0.6, 1.6, 160),
        axis="rho",
    )  # fmt: skip
    plot_phase_diagram(rho_pd, ax=axes[1])
    fig.savefig(HERE / "hysteresis-phase.png", dpi=DPI)
    plt.close(fig)
    off = offline_phase_diagram(
        np.geomspace(1.5, 12.0, 240), np.linspace(5e-4, 0.12, 240), lam=10.0
    )
    ax = plot_offline_phase_diagram(off)
    ax.figure.savefig(HERE / "hysteresis-offline.png", dpi=DPI)
    plt.close(ax.figure)
    first = off.boundary["beta_spinodal"] > off.boundary["beta_star"]
    numbers["offline_lam10_first_order_alpha"] = [
        float(off.x[first].min()),
        float(off.x[first].max()),
    ]
    numbers["strip_lam_range"] = [
        float(lam_pd.y[lam_pd.boundary["beta_spinodal"] > lam_pd.boundary["beta_star"]].min()),
        float(lam_pd.y[lam_pd.boundary["beta_spinodal"] > lam_pd.boundary["beta_star"]].max()),
    ]
    for lam in (1.5, 1.8):
        lines = transition_lines(Model(lam=lam))
        numbers[f"lines_lam{lam:g}"] = {k: _plain(v) for k, v in lines.items()}


def sweep_figure(numbers: dict, sgd: dict | None) -> None:
    """The adiabatic sweep up and down at lam = 1.5 (ODE, tau -> 0), SGD end points on it."""
    betas = np.round(np.linspace(0.01, 0.13, 25), 4)
    start = time.perf_counter()
    h = beta_sweep(STRIP, betas, N=10_000)
    numbers["sweep"] = {
        "betas": betas.tolist(),
        "beta_jump_up": h.beta_jump_up,
        "beta_jump_down": h.beta_jump_down,
        "hysteretic_betas": h.hysteretic_betas.tolist(),
        "converged": h.converged,
        "wall_time_s": time.perf_counter() - start,
    }
    points = None
    if sgd is not None:  # SGD's end eps_g: from below (ramp) and from above (after beta = 0.2)
        points = {
            rf"SGD $N = 10^4$, $\tau = {SGD_TAU:g}$: from below (ramp)": (
                [0.072], [sgd["ramp"]["eps_g_sgd"][-1]],
            ),
            r"SGD: from above (after $\beta = 0.2$)": (
                [0.072], [sgd["down_0.072"]["eps_g_sgd"][-1]],
            ),
        }  # fmt: skip
    ax = plot_hysteresis(h, points=points)
    ax.figure.savefig(HERE / "hysteresis-sweep.png", dpi=DPI)
    plt.close(ax.figure)


def basin_figure(numbers: dict) -> None:
    """Share of 16 fresh starts (N = 200) that end learned at constant beta, over beta x lam."""
    start = time.perf_counter()
    pd = basin_diagram(
        Model(tau=0.01), betas=np.linspace(0.004, 0.14, 35), values=np.linspace(1.3, 1.7, 17),
        n_init=16, N=200, rng=0, progress=True,
    )  # fmt: skip
    numbers["basins"] = {
        "wall_time_s": time.perf_counter() - start,
        "lam1.5": dict(
            zip(np.round(pd.x, 4).tolist(), pd.values["learned_fraction"][8].tolist(), strict=True)
        ),
    }
    ax = plot_phase_diagram(pd)
    ax.set_title(r"Share of 16 fresh starts ($N = 200$) that end learned at constant $\beta$"
                 "\n" r"$\rho = \eta = 1$, $\tau = 0.01$, noiseless ODE", fontsize=10)  # fmt: skip
    ax.figure.savefig(HERE / "hysteresis-basins.png", dpi=DPI)
    plt.close(ax.figure)


def anneal_figure(numbers: dict, sgd: dict | None) -> None:
    """lam = 1.5, beta_f = 0.072: constant beta from scratch collapses, a ramp ends learned."""
    ens = initial_ensemble(STRIP, 4, N=200, rng=0)
    ramp = LinearRamp(beta_initial=0.025, beta_final=0.072, t_ramp=20_000.0)
    ode = {}
    runs = (
        ("constant 0.072", r"constant $\beta = 0.072$", 0.072),
        ("ramp 0.025 -> 0.072", r"ramp $\beta: 0.025 \to 0.072$", ramp),
    )
    for key, name, beta in runs:
        res = attractor(replace(STRIP, beta=beta), start=ens, sgd_noise=False)
        numbers[f"anneal_ode_{key}"] = res.as_dict()
        model = replace(STRIP, beta=beta)
        t = np.linspace(0.0, 40_000.0, 400)
        ode[name] = [
            solve_ode(
                model,
                t_max=t[-1],
                init=_state(ens, i),
                t_eval=t,
                sgd_noise=False,
                method="DOP853-numba",
            ).eps_g[0]
            for i in range(4)
        ]
    fig, axes = plt.subplots(1, 2 if sgd else 1, figsize=(11 if sgd else 5.8, 4.0),
                             constrained_layout=True, squeeze=False)  # fmt: skip
    ax = axes[0, 0]
    for k, (name, curves) in enumerate(ode.items()):
        for i, e in enumerate(curves):
            ax.plot(t, e, color=f"C{k}", lw=1.2, label=name if i == 0 else None)
    ax.set_xlabel("$t$")
    ax.set_ylabel(r"$\varepsilon_g$")
    ax.set_title(r"ODE ($\tau = 0.01$, 4 fresh starts at $N = 200$), $\lambda = 1.5$, "
                 r"$\rho = \eta = 1$", fontsize=9)  # fmt: skip
    ax.legend(fontsize=8)
    if sgd:
        ax = axes[0, 1]
        for k, name in enumerate(("constant", "ramp")):
            run = sgd[name]
            text = _segment_label(name)
            ax.plot(run["t"], run["eps_g_sgd"], "o", ms=2.5, color=f"C{k}", label=f"SGD, {text}")
            ax.plot(run["t"], run["eps_g_ode"], "-", lw=1.2, color=f"C{k}", label="its ODE twin")
        ax.set_xlabel("$t$")
        ax.set_ylabel(r"$\varepsilon_g$")
        ax.set_title(rf"SGD at $N = 10^4$, $\tau = {SGD_TAU:g}$, one seed, $\lambda = 1.5$, "
                     r"$\rho = \eta = 1$",
                     fontsize=9)  # fmt: skip
        ax.legend(fontsize=8)
    fig.savefig(HERE / "hysteresis-anneal.png", dpi=DPI)
    plt.close(fig)


def sgd_figure(sgd: dict) -> None:
    """Every SGD segment at N = 10^4: the ramp to 0.072 then beta = 0.2 then back to 0.072
    (one after another), and constant 0.072 from the same fresh start. Q on a log axis, so
    that a collapse (Q decaying to 0) is told apart from a small learned Q."""
    fig, ax = plt.subplots(figsize=(8.6, 4.2), constrained_layout=True)
    chain = [name for name, *_ in SGD_SEGMENTS if name != "constant"]
    missing = [name for name, *_ in SGD_SEGMENTS if name not in sgd]
    if missing:
        raise ValueError(f"hysteresis-sgd.json lacks the segments {missing}: rerun with --sgd.")
    offset = 0.0
    for k, (name, _, _, start, _) in enumerate(SGD_SEGMENTS):
        run = sgd[name]
        t = np.asarray(run["t"]) + (offset if name in chain else 0.0)
        where = "from a fresh start" if start is None else "from the last state"
        style = {"color": f"C{k}", "ls": ":" if name not in chain else "-"}
        ax.plot(t, run["Q_sgd"], "o", ms=2.5, color=f"C{k}",
                label=f"SGD, {_segment_label(name)}, {where}")  # fmt: skip
        ax.plot(t, run["Q_ode"], lw=1.2, **style)
        if name in chain:
            if offset > 0:  # where this segment takes over from the last one
                ax.axvline(offset, color="0.7", lw=0.8, zorder=0)
            offset = t[-1]
    ax.plot([], [], "-", color="0.3", lw=1.2, label="lines: ODE twin of each segment")
    ax.set_yscale("log")
    ax.set_xlabel("$t$ (chained segments one after another; the fresh constant run from 0)")
    ax.set_ylabel("$Q$")
    ax.set_title(
        rf"SGD ($N = 10^4$, $\tau = {SGD_TAU:g}$, $\lambda = {LAM:g}$, $\rho = \eta = 1$), "
        "one seed\n"
        r"at $\beta = 0.072$: learned after the ramp, collapsed from a fresh start and from above",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              frameon=False)  # fmt: skip
    fig.savefig(HERE / "hysteresis-sgd.png", dpi=DPI)
    plt.close(fig)


def _segment_label(name: str) -> str:
    """An SGD segment's schedule in symbols (mathtext)."""
    beta = dict((n, b) for n, b, *_ in SGD_SEGMENTS)[name]
    if isinstance(beta, LinearRamp):
        return rf"ramp $\beta: {beta.beta_initial:g} \to {beta.beta_final:g}$"
    return rf"constant $\beta = {beta:g}$"


def run_sgd(runs: Path) -> dict:
    """The SGD segments (each from the last one's final weights), saved to ``runs``."""
    # the simulator loads numba: imported only when the SGD runs are asked for
    from linvae.sgd.simulator import simulate

    runs.mkdir(parents=True, exist_ok=True)
    base = Model(rho=1.0, eta=1.0, lam=LAM, tau=SGD_TAU)
    done: dict[str, Trajectory] = {}
    for name, beta, t_max, start, seed in SGD_SEGMENTS:
        init = "gaussian" if start is None else done[start].weights
        run = simulate(
            replace(base, beta=beta), N=SGD_N, t_max=t_max, dt=t_max / 90, init=init, rng=seed,
            n_seeds=1, n_threads=1, return_weights=True, progress=True,
        )  # fmt: skip
        run.save(runs / f"{name}.npz")
        done[name] = run
    return summarize(runs)


def summarize(runs: Path) -> dict:
    """Each saved segment with its ODE twin (from the run's measured initial state)."""
    out = {}
    for name, *_ in SGD_SEGMENTS:
        run = Trajectory.load(runs / f"{name}.npz")
        twin = solve_ode(run.model, t_max=float(run.t[-1]), init=run, t_eval=run.t,
                         method="DOP853-numba")  # fmt: skip
        out[name] = {
            "N": run.N,
            "tau": run.model.tau,
            "schedule": run.model.schedule.describe(),
            "t": run.t.tolist(),
            "Q_sgd": run.Q[0, :, 0, 0].tolist(),
            "Q_ode": twin.Q[0, :, 0, 0].tolist(),
            "eps_g_sgd": run.eps_g[0].tolist(),
            "eps_g_ode": twin.eps_g[0].tolist(),
        }
    (HERE / "hysteresis-sgd.json").write_text(json.dumps(out, indent=None))
    return out


def _state(ens, i):
    from linvae.observables import OrderParameters

    return OrderParameters(**{k: v[i] for k, v in ens.as_dict().items()})


def _plain(v):
    return v.tolist() if isinstance(v, np.ndarray) else v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sgd", action="store_true", help="run the SGD segments first")
    parser.add_argument("--runs", type=Path, help="folder of the SGD runs (.npz)")
    args = parser.parse_args()
    numbers: dict = {}
    sgd = None
    if args.sgd:
        sgd = run_sgd(args.runs or Path("hysteresis-sgd-runs"))
    elif args.runs is not None:
        sgd = summarize(args.runs)
    elif (HERE / "hysteresis-sgd.json").exists():
        sgd = json.loads((HERE / "hysteresis-sgd.json").read_text())
    phase_figures(numbers)
    sweep_figure(numbers, sgd)
    basin_figure(numbers)
    anneal_figure(numbers, sgd)
    if sgd is not None:
        sgd_figure(sgd)
        numbers["sgd_end"] = {
            name: {"Q_sgd": run["Q_sgd"][-1], "Q_ode": run["Q_ode"][-1],
                   "eps_g_sgd": run["eps_g_sgd"][-1], "eps_g_ode": run["eps_g_ode"][-1]}
            for name, run in sgd.items()
        }  # fmt: skip
    print(json.dumps(numbers, indent=1, default=float))


if __name__ == "__main__":
    main()
