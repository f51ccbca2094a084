"""The annealing numbers of the results page over seeds, and what SGD confirms of them.

Run from the repository root::

    python docs/figures/annealing_seeds.py            # both parts (about 10 CPU-minutes)
    python docs/figures/annealing_seeds.py seeds      # only the answers over seeds
    python docs/figures/annealing_seeds.py sgd        # only the SGD check

``seeds``: `optimal_annealing_rate` (what ``linvae anneal --tau 0.01 --beta-final B --N N
--seed S`` prints) for seeds 0-7 at several N, and the tolerance 1e-4 for seeds 0-3; prints the
mean, standard deviation and range over seeds of ``gamma_opt / gamma_c``, the speed-up and the
time saved (docs/results.md, "Answers over random initial states" and the N table).

``sgd``: at N = 200, beta_f = 1.8, tau = 0.01, 8 SGD runs at constant beta_f and annealed with
gamma = 3 gamma_c, and the ODE from each run's own measured initial state: the stationary
standard deviation of eps_g (the noise floor a tolerance must exceed to be seen in one run) and,
per initial state, the ratio of the first-passage times to eps_g* + delta, delta = 0.02, 0.05,
0.1, in SGD and in the ODE. Prints JSON (a level never reached: null).
"""

from __future__ import annotations

import json
import sys

import numpy as np

from linvae import Constant, Model, OrderParameters, TanhAnneal, simulate, solve_ode
from linvae.analysis.annealing import optimal_annealing_rate
from linvae.analysis.convergence import critical_rate
from linvae.observables import ORDER_PARAMETER_NAMES
from linvae.utils.io import to_jsonable

TAU, SEEDS = 0.01, range(8)


def _stats(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)),
        "min": float(v.min()),
        "max": float(v.max()),
        "per_seed": np.round(v, 4).tolist(),
    }


def over_seeds(beta_final: float, N: int, seeds=SEEDS, tol: float = 1e-3) -> dict:
    """The answers of ``linvae anneal`` for each seed, and their statistics over seeds."""
    model = Model(beta=beta_final, tau=TAU)
    runs = [optimal_annealing_rate(model, N=N, rng=s, tol=tol) for s in seeds]
    return {
        "beta_final": beta_final,
        "N": N,
        "tol": tol,
        "seeds": list(seeds),
        "gamma_opt_over_gamma_c": _stats([r.gamma_opt / r.gamma_c for r in runs]),
        "speedup": _stats([r.speedup for r in runs]),
        "time_saved": _stats([r.time_saved for r in runs]),
        "T_conv_constant": _stats([r.t_conv_constant for r in runs]),
        "T_conv_opt": _stats([r.t_conv_opt for r in runs]),
    }


def _first_passage(t: np.ndarray, eps: np.ndarray, level: float) -> np.ndarray:
    below = eps < level
    return np.where(below.any(axis=-1), t[np.argmax(below, axis=-1)], np.inf)


def sgd_check(N: int = 200, beta_final: float = 1.8, n_seeds: int = 8, t_max: float = 30_000.0):
    """SGD noise floor and first-passage ratios against the ODE from the same initial states."""
    gamma_c = critical_rate(Model(beta=beta_final, tau=TAU)).gamma_c
    schedules = {
        "constant": Constant(beta=beta_final),
        "annealed": TanhAnneal(beta_final=beta_final, gamma=3.0 * gamma_c),
    }
    eps = {}
    for name, schedule in schedules.items():
        model = Model(beta=schedule, tau=TAU)
        run = simulate(model, N=N, t_max=t_max, dt=5.0, n_seeds=n_seeds, rng=0)
        ode = []
        for k in range(n_seeds):
            start = OrderParameters(
                **{p: np.asarray(getattr(run, p))[k, 0] for p in ORDER_PARAMETER_NAMES}
            )
            ode.append(solve_ode(model, t_max=t_max, init=start, t_eval=run.t).eps_g[0])
        eps[name] = (run.t, np.asarray(run.eps_g), np.array(ode))
    t, sgd, ode = eps["constant"]
    eps_star = float(ode[:, -1].mean())
    late = t >= t_max / 2
    out = {
        "N": N,
        "beta_final": beta_final,
        "gamma": 3.0 * gamma_c,
        "eps_g_star_ode": eps_star,
        "sgd_late_mean": float(sgd[:, late].mean()),
        "sgd_stationary_std_per_run": np.round(sgd[:, late].std(axis=1), 4).tolist(),
        "sgd_stationary_std": float(sgd[:, late].std(axis=1).mean()),
    }
    for delta in (0.02, 0.05, 0.1):
        level = eps_star + delta
        times = {
            name: (_first_passage(tt, s, level), _first_passage(tt, o, level))
            for name, (tt, s, o) in eps.items()
        }
        ratio_sgd = times["constant"][0] / times["annealed"][0]
        ratio_ode = times["constant"][1] / times["annealed"][1]
        out[f"delta={delta:g}"] = {
            "ratio_sgd": np.round(ratio_sgd, 3).tolist(),
            "ratio_ode": np.round(ratio_ode, 3).tolist(),
            "first_passage_sgd": {k: v[0].tolist() for k, v in times.items()},
            "first_passage_ode": {k: v[1].tolist() for k, v in times.items()},
        }
    return out


def main(parts) -> None:
    result = {}
    if "seeds" in parts:
        result["seeds"] = [over_seeds(1.8, N) for N in (50, 200, 500, 5000, 100_000)]
        result["seeds"] += [over_seeds(1.0, N) for N in (200, 500)]
        result["seeds"].append(over_seeds(1.8, 200, seeds=range(4), tol=1e-4))
    if "sgd" in parts:
        result["sgd"] = sgd_check()
    print(json.dumps(to_jsonable(result), indent=1))  # strict JSON: inf (never reached) as null


if __name__ == "__main__":
    main(sys.argv[1:] or ("seeds", "sgd"))
