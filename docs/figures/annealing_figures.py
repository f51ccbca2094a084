"""Regenerate the annealing figures of the results page (docs/results.md, "Claim 2").

Run from the repository root (about 15 s on two cores)::

    python docs/figures/annealing_figures.py

Writes ``docs/figures/annealing-measure.png`` (the two convergence measures on a fine grid of
rates, and the ensemble of initial states) and ``docs/figures/annealing-logN.png`` (the time
to leave the plateau grows like ln N), and prints the numbers the page quotes as JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from linvae import Model, TanhAnneal
from linvae.analysis.convergence import (
    convergence_times,
    critical_rate,
    default_t_max,
    settling_time,
)
from linvae.theory import solve_ode
from linvae.theory.initial import initial_ensemble

HERE = Path(__file__).resolve().parent
BETA_F, TAU, SEED = 1.8, 0.01, 2024  # as linvae reproduce
DPI = 150  # readable when zoomed or printed


def escape_rate(beta: float, rho: float = 1.0, eta: float = 1.0, tau: float = TAU) -> float:
    """Growth rate of (m, d) at the collapsed point: top eigenvalue of its 2 x 2 block."""
    nu = rho + eta
    return tau * (-(1 + nu * beta) + math.sqrt((1 - nu * beta) ** 2 + 4 * nu**2)) / 2


def _plain_log_ticks(ax) -> None:
    """Label the log-scale rate axis at 0.5, 1, 2, 3, 4 rather than 5 x 10^-1, 10^0, ..."""
    ax.set_xticks([0.5, 1, 2, 3, 4])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _jumps(T: np.ndarray) -> np.ndarray:
    """Relative change between neighbouring rates, along the first axis."""
    return np.abs(np.diff(T, axis=0)) / T[:-1]


def main() -> dict:
    model = Model(rho=1.0, eta=1.0, beta=BETA_F, tau=TAU)
    gamma_c = critical_rate(model).gamma_c
    factors = np.geomspace(0.5, 4.0, 60)
    numbers: dict = {"beta_f": BETA_F, "tau": TAU, "gamma_c": gamma_c, "tol": 1e-3}
    # Both measures for every (rate, initial state): 60 rates x 32 states at N = 500.
    ens = initial_ensemble(model, 32, N=500, rng=SEED)
    schedules = [TanhAnneal(beta_final=BETA_F, gamma=f * gamma_c) for f in factors]
    excess = convergence_times(model, schedules, init=ens, tol=1e-3)
    t_max = default_t_max(model, 1e-3)
    t_eval = np.linspace(0.0, t_max, 4000)
    target = critical_rate(model).attractor.eps_g
    band = np.empty_like(excess)
    for i, schedule in enumerate(schedules):
        run = Model(rho=1.0, eta=1.0, beta=schedule, tau=TAU)
        for j in range(32):
            state = type(ens)(**{name: v[j] for name, v in ens.as_dict().items()})
            sol = solve_ode(run, t_max=t_max, init=state, t_eval=t_eval, method="DOP853-numba")
            band[i, j] = settling_time(sol.t, sol.eps_g[0], target, 1e-3)
    jb, je = _jumps(band), _jumps(excess)
    numbers["single_state"] = {
        "largest_jump_band": float(jb.max()),
        "largest_jump_excess": float(je.max()),
        "neighbour_pairs_over_10pc_band": int((jb > 0.1).sum()),
        "neighbour_pairs_over_10pc_excess": int((je > 0.1).sum()),
        "pairs": int(jb.size),
    }
    numbers["ensemble_mean"] = {
        "largest_jump_band": float(_jumps(band.mean(axis=1)).max()),
        "largest_jump_excess": float(_jumps(excess.mean(axis=1)).max()),
    }
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    ax = axes[0]
    # the state whose band curve jumps most where the excess curve does not
    j = int(np.argmax((jb - je).max(axis=0)))
    k = 0 if j != 0 else 1
    for col, style in ((j, "-"), (k, "--")):
        ax.plot(factors, band[:, col], style, color="0.55", lw=2.5,
                label=f"state {col}: band, last exit")  # fmt: skip
        ax.plot(factors, excess[:, col], style, color="C0", label=f"state {col}: excess")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\gamma / \gamma_c$")
    _plain_log_ticks(ax)
    ax.set_ylabel(r"$T_{\rm conv}$ (tol $10^{-3}$)")
    ax.set_title(rf"single initial states ($N = 500$), $\beta_f = {BETA_F:g}$, 60 rates")
    ax.legend(frameon=False, fontsize=8)

    ax = axes[1]
    for T, color, name in ((band, "0.55", "band"), (excess, "C0", "excess")):
        mean = T.mean(axis=1)
        ax.plot(factors, mean, color=color, label=f"{name}: mean over 32 states")
        if name == "excess":
            low, high = np.percentile(T, [16.0, 84.0], axis=1)
            ax.fill_between(factors, low, high, color=color, alpha=0.2, lw=0,
                            label="excess: 16-84 % of states")  # fmt: skip
    constant = convergence_times(model, [model.schedule], init=ens)[0].mean()
    ax.axhline(constant, color="k", ls=":", lw=1, label=r"constant $\beta_f$ (mean)")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\gamma / \gamma_c$")
    _plain_log_ticks(ax)
    ax.set_ylabel(r"$T_{\rm conv}$")
    ax.set_title(r"ensemble of 32 random initial states, $N = 500$")
    ax.legend(frameon=False, fontsize=8)
    fig.savefig(HERE / "annealing-measure.png", dpi=DPI)

    fig, ax = plt.subplots(figsize=(5.8, 4.2), layout="constrained")
    Ns = np.array([50, 100, 200, 500, 1000, 2000, 5000, 20000, 100000])
    # name in the printed numbers -> (legend label, schedule)
    rows = {
        "constant": (r"constant $\beta_f$", model.schedule),
        "tanh, 3 gamma_c": (
            r"$\beta_f\,\tanh(3\gamma_c t)$",
            TanhAnneal(beta_final=BETA_F, gamma=3.0 * gamma_c),
        ),
    }
    for k, (name, (label, schedule)) in enumerate(rows.items()):
        means = np.array([
            convergence_times(model, [schedule],
                              init=initial_ensemble(model, 32, N=int(N), rng=SEED))[0].mean()
            for N in Ns
        ])  # fmt: skip
        slope = float(np.polyfit(np.log(Ns), means, 1)[0])
        ax.plot(Ns, means, "o-", color=f"C{k}", label=f"{label}: slope {slope:.0f} per $e$-fold")
        numbers[f"lnN_slope_{name}"] = slope
    predicted = 1.0 / (2.0 * escape_rate(BETA_F))
    numbers["lnN_slope_predicted_constant"] = predicted
    ax.set_xscale("log")
    ax.set_xlabel(r"$N$ (initial overlaps $m, d \sim N^{-1/2}$)")
    ax.set_ylabel(r"mean $T_{\rm conv}$ over 32 initial states")
    ax.set_title(rf"$\beta_f = {BETA_F:g}$; constant $\beta$: $1/(2\lambda) = {predicted:.0f}$")
    ax.legend(frameon=False, fontsize=8)
    fig.savefig(HERE / "annealing-logN.png", dpi=DPI)
    return numbers


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
