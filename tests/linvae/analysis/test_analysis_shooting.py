"""The discretised protocol objective (linvae.analysis.shooting): its gradient and its
agreement with the package's exact convergence measure."""

from __future__ import annotations

import numpy as np
import pytest

from linvae import Model
from linvae.analysis.attractors import attractor
from linvae.analysis.convergence import convergence_times, critical_rate
from linvae.analysis.protocol import _start
from linvae.analysis.shooting import ShootingObjective
from linvae.observables import pack_state
from linvae.schedules import StepSchedule
from linvae.theory.initial import initial_ensemble

SMALL = Model(beta=1.0, tau=0.05)


def _surrogate(objective="convergence-time", jit=False):
    ensemble = initial_ensemble(SMALL, 2, N=200, rng=0)
    states = pack_state(ensemble).reshape(2, -1)
    target = attractor(SMALL, start=states).point
    rate = abs(critical_rate(SMALL, point=target).J_max)
    return ShootingObjective(
        SMALL, states, objective=objective, n_intervals=6, horizon=400.0,
        control_time_max=200.0, target=target.eps_g, rate=rate, tol=1e-3, sgd_noise=True,
        jit=jit,
    )  # fmt: skip


@pytest.mark.parametrize("objective", ["convergence-time", "final-error"])
def test_gradient_matches_central_finite_differences(objective):
    """CasADi's reverse-mode gradient against central differences with h = 1e-5: the
    difference is O(h^2 f''') ~ 1e-8 relative plus round-off 1e-16 f / h ~ 1e-11 relative;
    1e-5 relative to the largest component leaves a wide margin."""
    s = _surrogate(objective)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 1.5, s.n_variables)
    if objective == "convergence-time":
        x[-1] = 0.8  # T_c = 0.8 * time_scale
    _, g = s(x)
    h = 1e-5
    fd = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        fd[i] = (float(s.value(x + e)) - float(s.value(x - e))) / (2 * h)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-5 * np.max(np.abs(fd)))


def test_surrogate_at_a_step_start_agrees_with_the_exact_measure():
    """The smoothed, RK4-discretised objective at the step start is within 2 % of the
    exact measure of that step (the step is a one-interval ramp on the knots: shifted by
    at most one interval, 200 / 6 / 2 in t, ~3 % of T_conv at most; the smoothing adds < 1 %)."""
    s = _surrogate()
    step = StepSchedule(beta_final=1.0, beta_initial=0.2, t_switch=100.0)
    x = np.append(_start(step, 6, 200.0), 200.0 / s.time_scale)
    ensemble = initial_ensemble(SMALL, 2, N=200, rng=0)
    exact = convergence_times(SMALL, [s.schedule(x, 400.0)], init=ensemble).mean()
    assert float(s.value(x)) == pytest.approx(exact, rel=0.02)


def test_compiled_objective_equals_the_interpreted_one_and_leaves_no_files(tmp_path, monkeypatch):
    """The C-compiled graph (jit) computes the same arithmetic as CasADi's virtual machine:
    equal to 1e-12 relative (the C compiler may reorder nothing at -O1 but fuse multiply-adds;
    round-off over ~1e3 RK4 steps stays far below that). CasADi writes its generated files
    in a private folder, not in the working directory."""
    monkeypatch.chdir(tmp_path)
    try:
        compiled = _surrogate(jit=True)
    except RuntimeError as exc:  # no C compiler on this machine
        pytest.skip(f"CasADi could not compile: {exc}")
    x = np.random.default_rng(1).uniform(0.3, 1.5, compiled.n_variables)
    x[-1] = 0.8
    value, grad = compiled(x)
    ref_value, ref_grad = _surrogate(jit=False)(x)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-12 * np.max(np.abs(ref_grad)))
    assert list(tmp_path.iterdir()) == []
