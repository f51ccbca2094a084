"""Speed of the ODE solver: the sympy-derived compiled right-hand side against plain numpy.

Run: ``pytest benchmarks/test_bench_ode.py --benchmark-only``. Reported figures:

* one trajectory, t in [0, 3000], dt = 1, tau = 0.01, rho = eta = beta = 1, for M = M_star = 1
  and M = 3, M_star = 1, with the derived compiled drift (``rhs="derived"``) and with the
  plain-numpy matrix forms (docs/theory.md, section "The result"; ``rhs="matrix-form"``), under
  the same solve_ivp settings (method, rtol = 1e-8, atol = 1e-10, and for LSODA no analytic
  Jacobian on either side); a "derived+jac" row adds the derived Jacobian;
* ``test_speedup``: best-of-3 wall times of both right-hand sides in the same process, their
  ratio, and the largest difference of eps_g between the two solutions (the accuracy figure);
* ``test_first_use``: in a fresh process with an empty code cache, the time to derive and
  generate the code (sympy + CSE), to compile the right-hand side (numba), and to compile the
  Jacobian, per shape.

Accuracy paired with these figures: ``tests/linvae/test_theory_derive.py`` (derived drift ==
matrix forms to 1e-12, Jacobian == finite differences) and ``tests/linvae/test_theory_solve.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from linvae import Model, OrderParameters
from linvae.theory import solve_ode
from linvae.theory.rhs import compile_ode

T_MAX = 3000.0
SHAPES = {"M1": (1, 1), "M3": (3, 1)}


def initial_state(M, M_star):
    """Typical measured t = 0 values of a run at N ~ 200 (m, d = O(N^-1/2), Q ~ E ~ I)."""
    rng = np.random.default_rng(0)
    return OrderParameters(
        m=0.07 * rng.standard_normal((M, M_star)),
        d=0.07 * rng.standard_normal((M, M_star)),
        Q=np.eye(M),
        E=np.eye(M),
        R=0.07 * rng.standard_normal((M, M)),
        D=np.ones(M),
    )


def solve(shape, rhs, method, jacobian=False):
    M, M_star = SHAPES[shape]
    model = Model(M=M, M_star=M_star, rho=1.0, eta=1.0, beta=1.0, tau=0.01)
    return solve_ode(
        model,
        t_max=T_MAX,
        dt=1.0,
        init=initial_state(M, M_star),
        method=method,
        rhs=rhs,
        jacobian=jacobian,
    )


@pytest.mark.parametrize("method", ["LSODA", "RK45"])
@pytest.mark.parametrize("rhs", ["derived", "matrix-form", "derived+jac"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_solve(benchmark, shape, rhs, method):
    if rhs == "derived+jac" and method != "LSODA":
        pytest.skip("the Jacobian is used by implicit methods only")
    backend, jac = ("derived", True) if rhs == "derived+jac" else (rhs, False)
    compile_ode(*SHAPES[shape])  # first use (derivation, compilation) is timed apart
    if jac:
        solve(shape, backend, method, jacobian=True)  # compile the Jacobian
    sol = benchmark.pedantic(
        solve, args=(shape, backend, method, jac), rounds=3, iterations=1, warmup_rounds=1
    )
    benchmark.extra_info.update(
        nfev=sol.meta["nfev"], njev=sol.meta["njev"], eps_g_final=float(sol.eps_g[0, -1])
    )


def _best_of(n, func):
    best, out = np.inf, None
    for _ in range(n):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


@pytest.mark.parametrize("method", ["LSODA", "RK45"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_speedup(benchmark, shape, method):
    compile_ode(*SHAPES[shape])
    solve(shape, "derived", method)  # warm up
    fast, fast_sol = _best_of(3, lambda: solve(shape, "derived", method))
    slow, slow_sol = _best_of(3, lambda: solve(shape, "matrix-form", method))
    gap = float(np.abs(fast_sol.eps_g - slow_sol.eps_g).max())
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    benchmark.extra_info.update(
        derived_s=fast,
        matrix_form_s=slow,
        speedup=slow / fast,
        max_abs_eps_g_difference=gap,
        nfev_derived=fast_sol.meta["nfev"],
        nfev_matrix_form=slow_sol.meta["nfev"],
    )
    # Same answer: the two right-hand sides agree to 1e-12, far below rtol = 1e-8.
    assert gap < 1e-6


_FIRST_USE = """
import json, time, numpy as np
t0 = time.perf_counter()
from linvae.theory.rhs import compile_ode
out = {}
for M, M_star in %r:
    c = compile_ode(M, M_star)
    start = time.perf_counter()
    n = len(c.rhs(np.ones(2 * M * M_star + 3 * M * M + M), np.ones(c.layout.size)))
    c.jac(np.ones(n), np.ones(c.layout.size))
    out[f"{M},{M_star}"] = dict(derive_s=c.derivation_seconds, compile_rhs_s=c.compile_seconds,
                                compile_jac_s=time.perf_counter() - start)
print(json.dumps(out))
"""


def test_first_use(benchmark, tmp_path):
    env = dict(os.environ, LINVAE_CACHE_DIR=str(tmp_path / "cache"))
    shapes = list(SHAPES.values())

    def fresh_process():
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_USE % (shapes,)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout)

    result = benchmark.pedantic(fresh_process, rounds=1, iterations=1)
    benchmark.extra_info.update(first_use=result)
    cached = fresh_process()  # the same again, now from the disk cache
    benchmark.extra_info.update(from_disk_cache=cached)
