"""Speed of finite-data training and theory: the authors' whole grid in about a minute.

Run: ``pytest benchmarks/test_bench_offline.py --benchmark-only``. Reported figures:

* the authors' protocol: N = 250, alpha = 0.4, 0.8, ..., 5.2 (13 data sets) x 5 seeds, full-batch
  Adam (lr 1e-3) for 15,000 epochs on the summed loss (beta = lam = rho = eta = 1): 65 stacks,
  975,000 epochs, each one pass over a 250 x 250 sample covariance. Compile / disk-cache load
  excluded (a warm-up call first; ``extra_info['compile_s']``); ``cpu_s`` is the process CPU
  time, ``us_per_epoch`` the CPU time per stack and epoch.
* a 200 x 200 (alpha, beta) phase diagram from the theory.

Accuracy paired with them: every Adam run ends at the global minimum of its own data set's
loss (the finite-N theory), eps_g within 2e-3 (``extra_info['max_abs_eps_g_vs_theory']``,
also asserted in ``tests/linvae/offline/test_offline_train.py``, slow); the diagram's
beta_c(alpha) equals the local-stability formula where the onset is continuous.
"""

from __future__ import annotations

import time

import numpy as np

from linvae.offline.phase import offline_phase_diagram
from linvae.offline.train import Adam, make_datasets, train_offline

ALPHAS = np.round(np.arange(0.4, 5.21, 0.4), 10)


def test_authors_grid(benchmark):
    start = time.perf_counter()
    warm = make_datasets(8, [1.0], n_seeds=1, rng=0)
    train_offline(warm, method=Adam(epochs=10, record_every=10, chunk=10))
    compile_s = time.perf_counter() - start
    data = make_datasets(250, ALPHAS, n_seeds=5, rng=0)

    def run():
        cpu = time.process_time()
        result = train_offline(data, beta=1.0, lam=1.0, method=Adam())
        return result, time.process_time() - cpu

    run_, cpu_s = benchmark.pedantic(run, rounds=1, iterations=1)
    gap = float(np.max(np.abs(run_.eps_g - run_.theory.eps_g)))
    benchmark.extra_info.update(
        compile_s=round(compile_s, 2),
        wall_time_s=round(run_.wall_time_s, 2),
        cpu_s=round(cpu_s, 2),
        us_per_epoch=round(1e6 * cpu_s / (data.n_stacks * 15_000), 2),
        max_abs_eps_g_vs_theory=gap,
    )
    print(
        f"\nauthors' grid: {run_.wall_time_s:.1f} s wall, {cpu_s:.1f} s CPU for 65 x 15,000 "
        f"epochs (+ {compile_s:.1f} s compile); max |eps_g - finite-N theory| = {gap:.1e}"
    )
    assert gap < 2e-3


def test_phase_diagram_200x200(benchmark):
    alphas, betas = np.geomspace(0.05, 100.0, 200), np.linspace(0.01, 3.5, 200)
    diagram = benchmark(offline_phase_diagram, alphas, betas, lam=1.0)
    s = np.where(alphas > 1, 2 * (1 + 1 / alphas), (1 + alphas**-0.5) ** 2)
    lp = 1.0 / alphas
    continuous = alphas > 1.5  # no first-order region at lam = 1 there
    formula = s / (1 + lp) - lp / s
    err = float(np.max(np.abs(diagram.boundary["beta_c"] - formula)[continuous]))
    benchmark.extra_info.update(wall_time_s=round(diagram.wall_time_s, 3), beta_c_error=err)
    assert err < 1e-10
