"""solve_ode: agreement with the plain-numpy matrix forms, schedules, initial conditions, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from linvae import (
    CallableSchedule,
    LinearRamp,
    Model,
    OrderParameters,
    StepSchedule,
    TanhAnneal,
    Trajectory,
    compare,
)
from linvae.theory import Drift, initial_conditions_from, solve_ode


# The tests here generate and compile the drift into a private cache; they pin
# method="LSODA" where the integrator is not the point, so as not to compile the DOP853
# kernels there too (test_theory_integrate and test_theory_schedule_forms test "auto").
@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LINVAE_CACHE_DIR", str(tmp_path_factory.mktemp("linvae_cache")))
    yield
    mp.undo()


def scalar_init(m=0.01, d=0.12, Q=1.1, E=0.86, R=-0.1, D=1.0):
    return OrderParameters(
        m=np.array([[m]]),
        d=np.array([[d]]),
        Q=np.array([[Q]]),
        E=np.array([[E]]),
        R=np.array([[R]]),
        D=np.array([D]),
    )


def matrix_init(M, M_star, rng):
    A = rng.normal(size=(M, M))
    B = rng.normal(size=(M, M))
    return OrderParameters(
        m=0.1 * rng.normal(size=(M, M_star)),
        d=0.1 * rng.normal(size=(M, M_star)),
        Q=np.eye(M) + 0.1 * (A @ A.T),
        E=np.eye(M) + 0.1 * (B @ B.T),
        R=0.1 * rng.normal(size=(M, M)),
        D=np.ones(M),
    )


SCHEDULES = {
    "constant": 1.0,
    "tanh": TanhAnneal(beta_final=1.0, gamma=0.02),
    "linear": LinearRamp(beta_final=1.2, t_ramp=150.0),
    "step": StepSchedule(beta_final=1.0, t_switch=120.0, beta_initial=0.2),
    "callable": CallableSchedule(func=lambda t: 0.5 + 0.5 * np.exp(-t / 50.0)),
}


@pytest.mark.parametrize("schedule", list(SCHEDULES), ids=list(SCHEDULES))
def test_derived_solution_equals_matrix_form_solution(schedule):
    model = Model(rho=1.0, eta=1.0, beta=SCHEDULES[schedule], lam=0.05, tau=0.05)
    kw = dict(t_max=400.0, dt=5.0, init=scalar_init(), rtol=1e-10, atol=1e-12, method="RK45")
    fast = solve_ode(model, **kw)
    slow = solve_ode(model, rhs="matrix-form", **kw)
    # Same method, same tolerances, right-hand sides equal to round-off: the step sequences
    # coincide and the solutions agree far below the solver tolerance.
    np.testing.assert_allclose(fast.eps_g, slow.eps_g, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.Q, slow.Q, rtol=0, atol=1e-9)
    assert fast.source == "ode" and fast.eps_g.shape == (1, 81)
    assert fast.meta["nfev"] > 0 and fast.meta["success"]


@pytest.mark.parametrize(
    ("method", "shape"),
    [("LSODA", (1, 1)), ("BDF", (1, 1)), ("Radau", (1, 1)), ("LSODA", (2, 1)), ("DOP853", (2, 1))],
)
def test_methods_agree(method, shape):
    M, M_star = shape
    rng = np.random.default_rng(0)
    rho = 1.5 if M_star == 1 else (1.5, 0.7)
    model = Model(M=M, M_star=M_star, rho=rho, eta=1.0, beta=0.6, lam=0.0, tau=0.05)
    init = matrix_init(M, M_star, rng)
    kw = dict(t_max=300.0, dt=10.0, init=init)
    ref = solve_ode(model, **kw, method="RK45", rtol=1e-11, atol=1e-13)
    # The derived Jacobian for M = 1 (compiled in a second); for M = 2 the solver's own
    # finite differences keep the test's compile time small.
    sol = solve_ode(model, **kw, method=method, rtol=1e-9, atol=1e-11, jacobian=M == 1)
    # rtol 1e-9 per step accumulates over ~1e2-1e3 steps: 1e-6 is a loose bound on eps_g ~ 1.
    np.testing.assert_allclose(sol.eps_g, ref.eps_g, rtol=0, atol=1e-6)


def test_reaches_the_learned_fixed_point_without_noise():
    """m^2 = Q = nu - beta, d = m / nu, E = d^2, R = m d, D = beta / nu (docs/results.md,
    section "Fixed points and their stability")."""
    rho, eta, beta = 1.0, 1.0, 0.5
    nu = rho + eta
    model = Model(rho=rho, eta=eta, beta=beta, tau=0.1)
    sol = solve_ode(
        model, t_max=3000.0, dt=100.0, init=scalar_init(), sgd_noise=False, method="LSODA"
    )
    m, d = abs(sol.m[0, -1, 0, 0]), abs(sol.d[0, -1, 0, 0])
    # Convergence rate ~ tau * O(0.1): after t = 3000 the distance is far below 1e-8.
    assert m == pytest.approx(math.sqrt(nu - beta), abs=1e-8)
    assert d == pytest.approx(m / nu, abs=1e-8)
    assert sol.Q[0, -1, 0, 0] == pytest.approx(nu - beta, abs=1e-8)
    assert sol.E[0, -1, 0, 0] == pytest.approx(d**2, abs=1e-8)
    assert sol.D[0, -1, 0] == pytest.approx(beta / nu, abs=1e-8)
    assert sol.eps_g[0, -1] == pytest.approx((math.sqrt(rho) - math.sqrt(nu - beta)) ** 2, abs=1e-8)


def test_noise_keeps_D_equal_beta_over_Q_plus_beta():
    """At finite tau D = beta / (Q + beta) still holds at the fixed point (dD/dt has no tau^2
    term)."""
    model = Model(rho=1.0, eta=1.0, beta=0.5, tau=0.1)
    sol = solve_ode(model, t_max=3000.0, dt=100.0, init=scalar_init(), method="LSODA")
    Q, D = sol.Q[0, -1, 0, 0], sol.D[0, -1, 0]
    assert D == pytest.approx(0.5 / (Q + 0.5), abs=1e-8)
    assert Q > sol.m[0, -1, 0, 0] ** 2  # noise orthogonal to W_star


def test_invariant_manifold_warns_and_stays():
    model = Model(rho=1.0, eta=1.0, beta=0.5, tau=0.1)
    with pytest.warns(UserWarning, match="invariant manifold m = d = 0"):
        sol = solve_ode(model, t_max=200.0, init=scalar_init(m=0.0, d=0.0), method="LSODA")
    assert np.all(sol.m == 0) and np.all(sol.d == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve_ode(model, t_max=10.0, init=scalar_init(), method="LSODA")


def fake_run(M=1, M_star=1, S=3, n_t=4, seed=0):
    rng = np.random.default_rng(seed)
    op = OrderParameters(
        m=rng.normal(size=(S, n_t, M, M_star)),
        d=rng.normal(size=(S, n_t, M, M_star)),
        Q=np.broadcast_to(np.eye(M), (S, n_t, M, M)) + 0.01 * rng.normal(size=(S, n_t, M, M)),
        E=np.broadcast_to(np.eye(M), (S, n_t, M, M)).copy(),
        R=rng.normal(size=(S, n_t, M, M)),
        D=np.ones((S, n_t, M)),
    )
    model = Model(M=M, M_star=M_star, rho=1.0, eta=1.0, beta=0.5, tau=0.1)
    return Trajectory.from_order_parameters(
        np.arange(n_t, dtype=float), op, model=model, source="sgd", N=100
    )


def test_compare_matches_times_that_differ_by_round_off():
    # A run records at step / N, an ODE at k * dt: the same times, not always the same floats.
    N, n_t = 10, 31
    fake = fake_run(n_t=n_t)
    t_run = np.arange(n_t) / N
    run = Trajectory.from_order_parameters(
        t_run, fake.order_parameters(), model=fake.model, source="sgd", N=N
    )
    ode_op = fake_run(S=1, n_t=n_t, seed=1).order_parameters()
    k_dt = np.arange(n_t) * 0.1
    assert np.any(k_dt != t_run)  # e.g. 3 * 0.1 != 3 / 10
    for t_ode in (k_dt, t_run + 1e-13):
        ode = Trajectory.from_order_parameters(t_ode, ode_op, model=fake.model, source="ode")
        c = compare(run, ode, "m")
        assert np.array_equal(c.t, t_run)
        assert np.array_equal(c.ode, ode.m[0])
        assert np.array_equal(c.sgd_mean, run.m.mean(axis=0))
        assert np.array_equal(c.sgd_std, run.m.std(axis=0, ddof=1))
        assert c.n_seeds == 3
    midpoints = fake_run(S=1, n_t=n_t - 1, seed=2).order_parameters()
    between = Trajectory.from_order_parameters(
        t_run[:-1] + 0.05, midpoints, model=fake.model, source="ode"
    )
    with pytest.raises(ValueError, match="share no time point"):
        compare(run, between)


def test_sign_alignment_before_averaging():
    run = fake_run(M=2, M_star=1, S=4)
    init = initial_conditions_from(run)
    raw = initial_conditions_from(run, align_signs=False)
    assert np.all(init.m >= 0)
    np.testing.assert_allclose(init.m, np.abs(run.m[:, 0]).mean(0))
    # Diagonals of Q, E, R and D do not change sign under W_k, V_k -> -W_k, -V_k.
    for name in ("Q", "E", "R"):
        np.testing.assert_allclose(
            np.diagonal(getattr(init, name)), np.diagonal(getattr(raw, name))
        )
    np.testing.assert_allclose(init.D, raw.D)
    s = np.sign(run.m[:, 0, :, 0])  # (S, M)
    np.testing.assert_allclose(init.R[0, 1], np.mean(s[:, 0] * s[:, 1] * run.R[:, 0, 0, 1]))


def test_initial_conditions_are_the_seed_mean_at_t0():
    run = fake_run(M=2, M_star=1)
    init = initial_conditions_from(run, align_signs=False)
    np.testing.assert_allclose(init.m, run.m[:, 0].mean(0))
    np.testing.assert_allclose(init.R, run.R[:, 0].mean(0))
    np.testing.assert_allclose(init.Q, init.Q.T)
    np.testing.assert_allclose(init.Q, 0.5 * (run.Q[:, 0].mean(0) + run.Q[:, 0].mean(0).T))
    sol = solve_ode(run.model, t_max=3.0, init=run, t_eval=run.t, method="LSODA")
    np.testing.assert_allclose(sol.t, run.t)
    np.testing.assert_allclose(sol.m[0, 0], initial_conditions_from(run).m)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(t_max=-1.0), "`t_max` parameter of solve_ode"),
        (dict(t_max=10.0, method="Euler"), "`method` parameter of solve_ode"),
        (dict(t_max=10.0, rtol=0.0), "`rtol` parameter of solve_ode"),
        (dict(t_max=10.0, t_eval=[1.0, 2.0]), "`t_eval` parameter of solve_ode"),
        (dict(t_max=10.0, t_eval=[0.0, 20.0]), "must not go beyond t_max"),
        (dict(t_max=10.0, rhs="sympy"), "`rhs` parameter of solve_ode"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_ode(Model(), init=scalar_init(), **kwargs)


def test_init_of_the_wrong_shape_names_the_fix():
    with pytest.raises(ValueError, match=r"`init.m` parameter of solve_ode .* M = 2"):
        solve_ode(Model(M=2), t_max=1.0, init=scalar_init())
    with pytest.raises(ValueError, match=r"`init\.D` parameter of solve_ode must be positive"):
        solve_ode(Model(), t_max=1.0, init=scalar_init(D=-1.0))


def test_divergence_is_reported_with_time_and_fix():
    # D -> 0 is repelled by beta / D only when beta > 0; with beta = 0 the variance falls at
    # rate tau Q / 2 and crosses zero in finite time.
    zero = CallableSchedule(func=lambda t: 0.0 * np.asarray(t), name="zero")
    model = Model(rho=1.0, eta=1.0, beta=zero, tau=0.5)
    with pytest.raises(ValueError, match=r"left the valid region at t = .*Reduce `tau`"):
        solve_ode(model, t_max=50.0, init=scalar_init(Q=5.0, D=0.5), method="RK45")


def test_save_load_roundtrip(tmp_path):
    sol = solve_ode(Model(tau=0.1), t_max=20.0, init=scalar_init(), method="LSODA")
    path = sol.save(tmp_path / "ode.npz")
    back = Trajectory.load(path)
    np.testing.assert_array_equal(back.eps_g, sol.eps_g)
    assert back.source == "ode" and back.meta["method"] == "LSODA"


# ----------------------------------------------------------------------------- the drift
def test_drift_is_the_one_right_hand_side():
    """Drift(model)(t, y) writes beta(t) and evaluates the compiled drift; the matrix-form drift
    gives the same numbers (the derived and matrix forms agree to round-off, 1e-12 on O(1)
    values); at_beta and the batched jacobians give exactly what the time-dependent drift gives
    at the same beta (same compiled function, same parameters)."""
    schedule = TanhAnneal(beta_final=1.0, gamma=0.1)
    model = Model(M=2, rho=1.3, eta=0.8, lam=0.1, tau=0.05, beta=schedule)
    y = np.concatenate(
        [
            np.array([0.2, -0.1, 0.15, 0.05]),  # m, d
            (np.eye(2) + 0.1).ravel(),  # Q
            (np.eye(2) + 0.05).ravel(),  # E
            np.array([0.1, 0.0, 0.02, 0.1]),  # R
            np.array([0.9, 1.1]),  # D
        ]
    )
    drift = Drift(model)
    reference = Drift(model, rhs="matrix-form")
    t = 3.0
    beta_t = math.tanh(0.1 * t)
    assert drift.beta(t) == beta_t
    np.testing.assert_allclose(drift(t, y), reference(t, y), rtol=0, atol=1e-12)
    assert np.array_equal(drift(t, y), drift.at_beta(beta_t)(y))
    frozen = drift.at_beta(drift.beta(t))
    assert np.array_equal(frozen.jacobian(y), drift.jacobian(t, y))
    assert not frozen.parameters.flags.writeable
    # The compiled functions only ever see writable parameter arrays: a read-only one is
    # another numba type and would cost a second compilation.
    for dispatcher in (drift.compiled.rhs, drift.compiled.jac):
        assert all(arg.mutable for signature in dispatcher.signatures for arg in signature)
    batched = drift.jacobians(np.stack([y, 2 * y]), beta=np.array([beta_t, 0.5]))
    assert np.array_equal(batched[0], drift.jacobian(t, y))
    assert np.array_equal(batched[1], drift.at_beta(0.5).jacobian(2 * y))
    assert drift.has_jacobian and not reference.has_jacobian
    with pytest.raises(ValueError, match="has no Jacobian"):
        reference.jacobian(t, y)
    with pytest.raises(ValueError, match="The `rhs` parameter of Drift"):
        Drift(model, rhs="numeric")
