"""Scaling curves for the suite's figures (``benchmarks/run_suite.py``).

* (The SGD-vs-RNG-floor curve for N = 1e2 ... 1e6 is ``test_bench_simulate.py``.)
* 2NN ID + information imbalance (two representations, both directions) vs number of points and
  vs width. Accuracy: each timing is checked against a float64 brute force on its first 300
  points (``extra_info['max_id_error']``, imbalances identical).

Run: ``pytest benchmarks/test_bench_scaling.py --benchmark-only`` (or the whole suite with
``python benchmarks/run_suite.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_bench_simulate import best_seconds


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
