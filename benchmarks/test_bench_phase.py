"""Speed of the phase diagrams: 100 x 100 fixed points + Jacobian eigenvalues in under 5 s.

Run: ``pytest benchmarks/test_bench_phase.py --benchmark-only``. Reported figures:

* a 100 x 100 (beta, rho) stability diagram, M = 1: 20,000 closed-form fixed points (learned
  and collapsed at every grid point), their derived Jacobians, and one batched eigenvalue call,
  compile / disk-cache load excluded (a warm-up call first; ``extra_info['compile_s']``);
* the same for M = 2 (10 x 10 reduced Jacobians, (beta, lam) plane).

Accuracy paired with these figures: the diagram's learned/collapsed labels, read from the
eigenvalues, equal the analytic boundary beta < beta* at every grid point away from it
(``extra_info['label_mismatches']``, also asserted in
``tests/linvae/analysis/test_analysis_phase.py``), and the paper's example
J_max = -tau (3 - sqrt 5)/2 holds to 1e-12.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from linvae import Model
from linvae.analysis.phase import stability_diagram

TARGET_S = 5.0


@pytest.mark.parametrize(
    "M, axis, span",
    [(1, "rho", (0.05, 3.0)), (2, "lam", (0.0, 1.0))],
    ids=["M1-beta-rho", "M2-beta-lam"],
)
def test_stability_diagram_100x100(benchmark, M, axis, span):
    model = Model(M=M, rho=1.0, eta=1.0, tau=0.01)
    values = np.linspace(*span, 100)
    betas = np.linspace(0.013, 4.0, 100)  # avoids grid points exactly on beta*
    start = time.perf_counter()
    stability_diagram(model, betas=betas[:2], values=values[:2], axis=axis)
    compile_s = time.perf_counter() - start

    diagram = benchmark(stability_diagram, model, betas=betas, values=values, axis=axis)

    learned = diagram.values["phase"] == "learned"
    expected = betas[None, :] < diagram.boundary["beta_star"][:, None]
    mismatches = int(np.sum(learned != expected))
    benchmark.extra_info.update(
        compile_s=round(compile_s, 3),
        wall_time_s=round(diagram.wall_time_s, 4),
        n_jacobians=diagram.meta["n_jacobians"],
        label_mismatches=mismatches,
    )
    print(
        f"\n{diagram.kind} M={M}: {diagram.wall_time_s:.3f} s for {diagram.meta['n_jacobians']} "
        f"Jacobians (+ {compile_s:.2f} s first call); label mismatches vs beta*: {mismatches}"
    )
    assert mismatches == 0
    assert diagram.wall_time_s < TARGET_S
