"""Validating a sweep before it runs: a grid of 10^7 points, counted rather than enumerated.

`linvae.sweep.Sweep` checks its points group by group (the parameters that constrain one
another together, every other axis value by value), so the cost grows with the sum of the
groups' sizes, not with the number of points. Before, every point was built and checked: about
0.36 ms each on the project's 2-core machine, an hour for 10^7 points, with no output.
Next to the time, the benchmark records how many points were checked (``extra_info``): 145 of
the 10^7. Measured on the 2-core machine (shared with other jobs): 58 ms mean, 43 ms best.

Run with ``pytest benchmarks/test_bench_sweep_validation.py --benchmark-only``.
"""

from __future__ import annotations

from linvae import Model, TanhAnneal
from linvae.sweep import Sweep

TEN = list(range(1, 11))
GRID = {
    "N": [50 * n for n in TEN],
    "tau": [0.01 * n for n in TEN],
    "eta": [float(n) for n in TEN],
    "lam": [float(n) for n in TEN],
    "rho": [float(n) for n in TEN],
    "replicate": TEN,
    "gamma": [float(n) for n in TEN],
}


def test_validate_ten_million_points(benchmark, monkeypatch):
    model = Model(beta=TanhAnneal(beta_final=1.0, gamma=0.1))
    sweep = benchmark(Sweep, grid=GRID, model=model, t_max=1.0)
    checked = []
    settings = Sweep.settings

    def counting(self, index):
        checked.append(index)
        return settings(self, index)

    monkeypatch.setattr(Sweep, "settings", counting)
    Sweep(grid=GRID, model=model, t_max=1.0)
    benchmark.extra_info.update(points=sweep.size, checked_points=len(checked))
    assert sweep.size == 10**7
    # (N, rho) together: 100; gamma: 10; tau, eta, lam, replicate: 10 each; point 0 shared.
    assert len(checked) == 100 + 10 + 4 * 10 - 5
