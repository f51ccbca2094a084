"""Scaling curves for the suite's figures (``benchmarks/run_suite.py``).

* SGD ns per (step x N) for N = 1e2 ... 1e6 and M in {1, 4}, each next to numpy's
  ``Generator.standard_normal(N)`` at the same N (the machine's RNG floor), measured in the same
  process. Accuracy: ``tests/linvae/test_kernel.py`` (jitted step == numpy reference) and
  ``tests/linvae/test_rng.py`` (sampler statistics), run by the suite next to the timings.
* 2NN ID + information imbalance (two representations, both directions) vs number of points and
  vs width. Accuracy: each timing is checked against a float64 brute force on its first 300
  points (``extra_info['max_id_error']``, imbalances identical).

Run: ``pytest benchmarks/test_bench_scaling.py --benchmark-only`` (or the whole suite with
``python benchmarks/run_suite.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_bench_simulate import _kernel_state, best_seconds, run_steps

LARGE_N = [100, 1_000, 10_000, 100_000, 1_000_000]


def _steps(N: int, M: int) -> int:
    # About 1e7 element updates per round, at least 10 steps: ~0.05-0.5 s per round.
    return max(10, int(1e7 / (N * (M + 1))))


@pytest.mark.parametrize("M", [1, 4])
@pytest.mark.parametrize("N", LARGE_N)
def test_sgd_ns_per_step_N(benchmark, N, M):
    state = _kernel_state(N, M)
    run_steps(N, M, 2, state)  # compile (or load the cache) outside the timing
    n_steps = _steps(N, M)
    benchmark.pedantic(run_steps, args=(N, M, n_steps, state), rounds=5, warmup_rounds=1)
    per_step = best_seconds(benchmark) / n_steps
    benchmark.extra_info.update(N=N, M=M, ns_per_step_N=per_step / N * 1e9, steps_per_round=n_steps)


@pytest.mark.parametrize("N", LARGE_N)
def test_numpy_rng_floor(benchmark, N):
    gen = np.random.default_rng(0)
    reps = max(5, int(1e7 / N))

    def draw():
        for _ in range(reps):
            gen.standard_normal(N)

    benchmark.pedantic(draw, rounds=5, warmup_rounds=1)
    benchmark.extra_info.update(N=N, ns_per_normal=best_seconds(benchmark) / reps / N * 1e9)


def _brute_force(reps):
    """float64 exact distances: 2NN IDs and the imbalance 0 -> 1 (minimum-rank ties)."""
    from conv_study.estimators import twonn_from_mu

    d2 = []
    for X in reps:
        X = X.astype(np.float64)
        D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(D, np.inf)
        d2.append(D)
    ids = []
    for D in d2:
        two = np.sort(D, axis=1)[:, :2]
        ids.append(twonn_from_mu(np.sqrt(two[:, 1] / two[:, 0])))
    n = d2[0].shape[0]
    nn = np.argmin(d2[0], axis=1)
    t = d2[1][np.arange(n), nn]
    imbalance = 2.0 * np.mean(1 + (d2[1] < t[:, None]).sum(1)) / n
    return np.array(ids), imbalance


ESTIMATOR_CASES = [(n, 256) for n in (250, 500, 1000, 2000, 4000)] + [
    (1000, w) for w in (16, 64, 1024, 4096)
]


@pytest.mark.parametrize(("n_points", "width"), ESTIMATOR_CASES)
def test_id_ii_time(benchmark, n_points, width):
    estimators = pytest.importorskip("conv_study.estimators")
    gen = np.random.default_rng(0)
    reps = [gen.standard_normal((n_points, width), dtype=np.float32) for _ in range(2)]
    reps[1][:, : width // 2] = reps[0][:, : width // 2]  # related spaces: a non-trivial imbalance
    estimators.layer_geometry([r[:50] for r in reps], pairs="all")  # compile outside the timing
    geo = benchmark.pedantic(
        estimators.layer_geometry, args=(reps,), kwargs={"pairs": "all"}, rounds=3
    )
    sub = [r[:300] for r in reps]
    ref_ids, ref_imb = _brute_force(sub)
    geo_sub = estimators.layer_geometry(sub, pairs="all")
    benchmark.extra_info.update(
        n_points=n_points,
        width=width,
        seconds=best_seconds(benchmark),
        id=geo.id.tolist(),
        max_id_error=float(np.max(np.abs(geo_sub.id - ref_ids))),
        imbalance_matches=bool(geo_sub.imbalance[0, 1] == ref_imb),
    )
    np.testing.assert_allclose(geo_sub.id, ref_ids, rtol=1e-9)
    assert geo_sub.imbalance[0, 1] == ref_imb
