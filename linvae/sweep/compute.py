"""One point of a sweep: its SGD run, its ODE solution, or both on the same time grid.

`compute_point` is what every execution strategy calls, in this process or on a worker:
it takes the JSON-able `Sweep.settings` of one point and
returns its arrays, or its error as data, so that every strategy reports failures alike.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np

from linvae.observables import OrderParameters
from linvae.params import Model
from linvae.theory.solve import solve_ode
from linvae.trajectory import time_grid
from linvae.utils.version import __version__

__all__ = ["compute_point"]


def compute_point(settings: Mapping[str, Any], threads: int | None = 1) -> dict[str, Any]:
    """Compute one sweep point from `Sweep.settings`.

    Never raises for a failing run: the error is returned as data, so that every execution
    strategy reports failures the same way.

    Parameters
    ----------
    settings : mapping
        The point's settings (model description, run and ODE options, seed, kind, observables).
    threads : int, optional
        numba threads of the seed-parallel loop; the numbers do not depend on it.

    Returns
    -------
    dict
        ``{"arrays": {"sgd/t": ..., "ode/eps_g": ...}, "info": {...}}``, or
        ``{"error": message, "traceback": text, "info": {...}}``. ``info`` holds the point's
        index, parameters, seed, host and wall time, and on success the run metadata and the
        linvae version.

    Examples
    --------
    >>> from linvae import Model
    >>> from linvae.sweep import Sweep
    >>> sweep = Sweep(grid={"beta": [0.5]}, model=Model(tau=0.1), N=50, t_max=2.0)
    >>> outcome = compute_point(sweep.settings(0))
    >>> outcome["arrays"]["sgd/eps_g"].shape  # (seed, time)
    (1, 3)
    """
    started = time.perf_counter()
    info = {
        "index": settings["index"],
        "parameters": settings["parameters"],
        "seed": settings["seed"],
        "host": os.uname().nodename if hasattr(os, "uname") else "",
    }
    try:
        arrays, metas = _compute(settings, threads)
    except Exception as err:  # one point failing must not end the sweep
        info["wall_s"] = time.perf_counter() - started
        return {
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
            "info": info,
        }
    info.update(metas, wall_s=time.perf_counter() - started, linvae_version=__version__)
    return {"arrays": arrays, "info": info}


def _compute(settings: Mapping[str, Any], threads: int | None):
    # Heavy (numba): the simulator is imported when a point is computed, so that defining,
    # reading and plotting sweeps stays light.
    from linvae.sgd.simulator import simulate

    model = Model.from_description(settings["model"])
    run = settings["run"]
    seed = np.random.SeedSequence(
        settings["seed"]["entropy"], spawn_key=tuple(settings["seed"]["spawn_key"])
    )
    kind = settings["kind"]
    observables = settings["observables"]
    common = {
        "N": run["N"],
        "t_max": run["t_max"],
        "n_seeds": run["n_seeds"],
        "rng": seed,
        "W_star": run["W_star"],
        "tau_D": run["tau_D"],
        "n_threads": threads,
    }
    arrays: dict[str, np.ndarray] = {}
    metas: dict[str, Any] = {}
    if kind == "ode":
        # Only the initialization: zero SGD steps, the t = 0 order parameters of every seed.
        sgd = simulate(model, t_eval=np.zeros(1), **common)
        t_grid = time_grid(run["t_max"], run["dt"], N=run["N"])
    else:
        sgd = simulate(model, dt=run["dt"], **common)
        t_grid = sgd.t
        arrays["sgd/t"] = sgd.t
        arrays.update({f"sgd/{name}": getattr(sgd, name) for name in observables})
        metas["sgd_meta"] = sgd.meta
    if kind in ("ode", "both"):
        start = sgd.at(0)
        solutions = []
        for s in range(sgd.n_seeds):
            init = OrderParameters(**{k: v[s] for k, v in start.as_dict().items()})
            solutions.append(
                solve_ode(
                    model,
                    t_max=float(t_grid[-1]),
                    init=init,
                    t_eval=t_grid,
                    T=sgd.T_matrix,
                    **settings["ode"],
                )
            )
        arrays["ode/t"] = solutions[0].t
        for name in observables:
            arrays[f"ode/{name}"] = np.concatenate([getattr(sol, name) for sol in solutions])
        metas["ode_meta"] = [sol.meta for sol in solutions]
    return arrays, metas
