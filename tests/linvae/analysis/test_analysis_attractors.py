"""Which fixed point training reaches (linvae.analysis.attractors; docs/hysteresis.md).

The first-order strip used here: rho = eta = 1 (nu = 2), lam = 1.5, where beta* = 0.05 and a
stable learned point coexists with the stable collapsed one up to the spinodal (0.0856).
The tau -> 0 drift depends on tau t only, so tau = 0.05 gives the dynamics of tau = 0.01 five
times sooner.
"""

from __future__ import annotations

import numpy as np
import pytest

from linvae import LinearRamp, Model, OrderParameters, Trajectory
from linvae.analysis.annealing import optimal_annealing_rate
from linvae.analysis.attractors import attractor, schedule_horizon
from linvae.analysis.convergence import critical_rate
from linvae.observables import unpack_state
from linvae.schedules import Constant, TanhAnneal

STRIP = {"rho": 1.0, "eta": 1.0, "lam": 1.5, "tau": 0.05}


def test_lam0_every_fresh_start_is_learned():
    """Below beta* with lam = 0 the learned point is the only stable one: fraction exactly 1,
    and the end states lie within xtol of it."""
    res = attractor(Model(beta=1.0, tau=0.05), n_init=6, N=200, rng=1)
    assert res.unanimous and res.point.name == "learned"
    assert res.fractions.tolist() == [1.0]
    assert res.learned_fraction == 1.0 and res.success
    assert np.all(res.distance < res.xtol)
    assert res.as_dict()["points"][0]["count"] == 6


def test_strip_fresh_starts_split_and_fractions_add_up(block_cubic_roots):
    """lam = 1.5, beta = 0.062 (tau -> 0): fresh starts at N = 200 split between the two
    stable points (measured: 1 of 4 learned for this seed; the count is deterministic given the
    seed, the split itself is the basin structure). Fractions are counts / n_init."""
    model = Model(beta=0.062, **STRIP)
    res = attractor(model, n_init=4, N=200, rng=0, sgd_noise=False)
    names = {p.name for p in res.points}
    assert names == {"learned", "collapsed"}
    assert res.counts.sum() == 4 and np.isclose(res.fractions.sum(), 1.0, rtol=0, atol=1e-15)
    assert res.learned_fraction == 0.25
    assert res.point.name == "collapsed"  # the majority first
    learned = next(p for p in res.points if p.name == "learned")
    assert learned.state.Q[0, 0] == pytest.approx(
        block_cubic_roots(2.0, 0.062, 1.5)[-1] - 0.062, abs=1e-9
    )
    # the same seed gives bit-for-bit the same end states
    again = attractor(model, n_init=4, N=200, rng=0, sgd_noise=False)
    assert np.array_equal(res.y_end, again.y_end)


def test_strip_annealing_keeps_what_constant_beta_loses(block_cubic_roots):
    """lam = 1.5, beta_f = 0.072 > beta* = 0.05: constant beta from 4 fresh states ends
    collapsed; a linear ramp from 0.025 ends learned from the same states (the learned Q is the
    cubic's largest root, to the solver's xtol); restarting at constant beta from the learned
    end states stays learned (hysteresis)."""
    model = Model(beta=0.072, **STRIP)
    constant = attractor(model, n_init=4, N=200, rng=0, sgd_noise=False)
    assert constant.learned_fraction == 0.0
    ramp = LinearRamp(beta_initial=0.025, beta_final=0.072, t_ramp=4000.0)
    annealed = attractor(Model(beta=ramp, **STRIP), n_init=4, N=200, rng=0, sgd_noise=False)
    assert annealed.learned_fraction == 1.0
    assert np.array_equal(annealed.y0, constant.y0)
    q = block_cubic_roots(2.0, 0.072, 1.5)[-1] - 0.072  # the largest root
    assert annealed.point.state.Q[0, 0] == pytest.approx(q, abs=1e-9)
    stay = attractor(model, start=annealed.y_end, sgd_noise=False)
    assert stay.start == "given" and stay.learned_fraction == 1.0


def test_given_state_and_run_starts():
    """A given OrderParameters, a flat array and each seed of a run (initial or final state)."""
    model = Model(beta=0.072, **STRIP)
    ramp = LinearRamp(beta_initial=0.025, beta_final=0.072, t_ramp=4000.0)
    point = attractor(Model(beta=ramp, **STRIP), n_init=1, sgd_noise=False).point
    assert point.name == "learned"
    near = unpack_state(point.y * 1.01, 1, 1)
    res = attractor(model, start=near, sgd_noise=False)
    assert res.n_init == 1 and res.point.name == "learned" and res.N is None
    collapsed_ish = OrderParameters(
        m=np.array([[1e-3]]), d=np.array([[1e-3]]), Q=np.eye(1), E=np.eye(1),
        R=np.zeros((1, 1)), D=np.ones(1),
    )  # fmt: skip
    assert attractor(model, start=collapsed_ish, sgd_noise=False).point.name == "collapsed"
    # a two-seed "run" whose first state is near collapse and last state near the learned point
    op = OrderParameters(
        m=np.array([[[[1e-3]], [[point.state.m[0, 0]]]]] * 2),
        d=np.array([[[[1e-3]], [[point.state.d[0, 0]]]]] * 2),
        Q=np.array([[[[1.0]], [[point.state.Q[0, 0]]]]] * 2),
        E=np.array([[[[1.0]], [[point.state.E[0, 0]]]]] * 2),
        R=np.array([[[[0.0]], [[point.state.R[0, 0]]]]] * 2),
        D=np.array([[[1.0], [point.state.D[0]]]] * 2),
    )
    run = Trajectory.from_order_parameters(np.array([0.0, 1.0]), op, model=model, source="sgd")
    first = attractor(model, start=run, run_state="initial", sgd_noise=False)
    last = attractor(model, start=run, run_state="final", sgd_noise=False)
    assert first.start == "run initial" and first.n_init == 2 and first.learned_fraction == 0.0
    assert last.start == "run final" and last.learned_fraction == 1.0


def test_bad_input():
    model = Model(beta=1.0, tau=0.05)
    with pytest.raises(ValueError, match="`start` parameter of attractor"):
        attractor(model, start="warm")
    with pytest.raises(ValueError, match="`start` parameter of attractor must hold states"):
        attractor(model, start=np.zeros(3))
    with pytest.raises(ValueError, match="`run_state` parameter"):
        run = Trajectory.from_order_parameters(
            np.zeros(1), unpack_state(np.ones((1, 1, 6)), 1, 1), model=model, source="sgd"
        )
        attractor(model, start=run, run_state="middle")
    assert schedule_horizon(Constant(beta=1.0)) == 0.0
    assert schedule_horizon(TanhAnneal(beta_final=1.0, gamma=0.1)) == pytest.approx(100.0)


def test_annealing_targets_the_reached_point():
    """optimal_annealing_rate targets where the ensemble ends at constant beta_f; in the strip,
    where fresh starts split, it asks for an explicit target."""
    model = Model(beta=1.0, tau=0.05)
    opt = optimal_annealing_rate(model, n_grid=3, n_init=2, refine=False)
    assert opt.target.name == "learned" and opt.reached.unanimous
    assert opt.J_max == pytest.approx(critical_rate(model).J_max, rel=1e-12)
    with pytest.raises(ValueError, match="end at different points"):
        optimal_annealing_rate(Model(beta=0.062, **STRIP), n_init=4, sgd_noise=False, N=200)
