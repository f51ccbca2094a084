"""Speed of `fixed_points` for M = M_star = 8: every point in seconds (it took 85 s at M = 3).

Run: ``pytest benchmarks/test_bench_fixed_points.py --benchmark-only``. Reported figures:

* M = M_star = 8, equal rho_k (45 points up to latent permutation and factor relabelling) and
  distinct rho_k (1,280 points), SGD noise on, beta = 0.5; the first call (sympy elimination,
  numba compile or disk-cache load of the one- and two-latent drifts) is timed apart
  (``extra_info['first_call_s']``); each timed call clears the one-latent cache, so the
  polynomial elimination is part of the figure.

Accuracy paired with these figures: the largest one-latent residual |dy/dt| of the listed
points (``extra_info['max_residual']``, round-off: below 1e-15), and the learned point's
stability (stable for distinct rho_k; marginal for equal rho_k, whose factors can rotate
into one another).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from linvae import Model
from linvae.analysis.one_latent import one_latent_points
from linvae.analysis.stability import fixed_points

TARGET_S = 10.0


def _fresh(model):
    one_latent_points.cache_clear()
    return fixed_points(model, sgd_noise=True)


@pytest.mark.parametrize(
    "rho, n_points, label",
    [(1.0, 45, "marginal"), (tuple(np.linspace(0.5, 1.9, 8)), 1280, "stable")],
    ids=["equal-rho", "distinct-rho"],
)
def test_fixed_points_M8(benchmark, rho, n_points, label):
    model = Model(M=8, M_star=8, rho=rho, eta=1.0, beta=0.5, tau=0.01)
    start = time.perf_counter()
    _fresh(model)
    first_call_s = time.perf_counter() - start

    points = benchmark.pedantic(_fresh, args=(model,), rounds=3, iterations=1)

    max_residual = max(p.residual for p in points)
    benchmark.extra_info.update(
        first_call_s=round(first_call_s, 3), n_points=len(points), max_residual=max_residual
    )
    # No stats under --benchmark-disable (CI's smoke run): the body ran once, untimed.
    seconds = benchmark.stats.stats.mean if benchmark.stats is not None else float("nan")
    print(
        f"\nfixed_points M = M_star = 8 ({len(points)} points): "
        f"{seconds:.2f} s (+ first call {first_call_s:.2f} s); "
        f"max residual {max_residual:.1e}"
    )
    assert len(points) == n_points
    assert points[0].stability.value == label
    assert max_residual < 1e-15
    if benchmark.stats is not None:
        assert seconds < TARGET_S
