"""The compiled DOP853 (linvae.theory.integrate) against scipy.integrate.solve_ivp.

Same algorithm as scipy's DOP853: the same steps, so the solutions agree to round-off; against
the implicit solvers on a stiff case and LSODA on the usual one, to the solver tolerances.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from linvae import (
    Constant,
    LinearRamp,
    Model,
    OrderParameters,
    StepSchedule,
    Tabulated,
    TanhAnneal,
)
from linvae.observables import pack_state
from linvae.schedules import COMPILED_KINDS, CallableSchedule, Shifted
from linvae.theory import solve_ode
from linvae.theory.drift import Drift
from linvae.theory.initial import initial_ensemble
from linvae.theory.integrate import (
    beta_function,
    excess_error_integrals,
    measure_code,
    schedule_arrays,
    schedule_code,
)


def scalar_init(m=0.01, d=0.12, Q=1.1, E=0.86, R=-0.1, D=1.0):
    return OrderParameters(
        m=np.array([[m]]),
        d=np.array([[d]]),
        Q=np.array([[Q]]),
        E=np.array([[E]]),
        R=np.array([[R]]),
        D=np.array([D]),
    )


def test_tableau_is_scipys():
    from scipy.integrate._ivp import dop853_coefficients as ref

    from linvae.theory import dop853_tableau as tab

    for name in ("A", "B", "C", "D", "E3", "E5"):
        np.testing.assert_array_equal(getattr(tab, name), getattr(ref, name))
    assert tab.N_STAGES == ref.N_STAGES


SCHEDULES = {
    "constant": 1.0,
    "tanh": TanhAnneal(beta_final=1.0, gamma=0.02),
    "linear": LinearRamp(beta_final=1.2, t_ramp=150.0),
    "step": StepSchedule(beta_final=1.0, t_switch=120.0, beta_initial=0.2),
}


@pytest.mark.parametrize("schedule", list(SCHEDULES), ids=list(SCHEDULES))
def test_same_steps_as_scipy_dop853(schedule):
    """Same coefficients, initial step, error norm and step control as scipy's DOP853 (and the
    same restarts at kinks and jumps): the solutions agree to round-off accumulated over ~100
    steps (1e-10 on eps_g ~ 1), and the evaluation counts within the few that scipy counts
    differently (its first step selection)."""
    model = Model(rho=1.0, eta=1.0, beta=SCHEDULES[schedule], lam=0.05, tau=0.05)
    kw = dict(t_max=400.0, dt=5.0, init=scalar_init(), rtol=1e-10, atol=1e-12)
    ref = solve_ode(model, method="DOP853", **kw)
    sol = solve_ode(model, method="DOP853-numba", **kw)
    np.testing.assert_allclose(sol.eps_g, ref.eps_g, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sol.D, ref.D, rtol=0, atol=1e-10)
    assert abs(sol.meta["nfev"] - ref.meta["nfev"]) <= 8
    assert sol.meta["method"] == "DOP853-numba" and sol.meta["success"]


def test_agrees_with_lsoda_at_the_benchmark_tolerance():
    """The benchmark's case (tau = 0.01, t to 3000, rtol 1e-8): both solvers keep the local
    error below 1e-8 relative; over ~100-500 steps the solutions differ by less than 1e-6."""
    model = Model(beta=1.0, tau=0.01)
    kw = dict(t_max=3000.0, dt=1.0, init=scalar_init(), rtol=1e-8, atol=1e-10)
    ref = solve_ode(model, method="LSODA", **kw)
    sol = solve_ode(model, method="DOP853-numba", **kw)
    np.testing.assert_allclose(sol.eps_g, ref.eps_g, rtol=0, atol=1e-6)


def test_stiff_start_against_radau():
    """beta(t) = beta_f tanh(gamma t) starts at 0: D relaxes at tau beta / (2 D^2), large while
    beta is small (stiff). The explicit method stays stable by shrinking its steps, and agrees
    with Radau (implicit, derived Jacobian) at rtol 1e-10 to 1e-7."""
    model = Model(beta=TanhAnneal(beta_final=0.05, gamma=0.5), tau=0.5)
    kw = dict(t_max=200.0, dt=1.0, init=scalar_init(D=0.05), rtol=1e-10, atol=1e-12)
    ref = solve_ode(model, method="Radau", **kw)
    sol = solve_ode(model, method="DOP853-numba", **kw)
    np.testing.assert_allclose(sol.D, ref.D, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(sol.eps_g, ref.eps_g, rtol=0, atol=1e-7)


def test_errors_name_the_fix():
    # beta = 0: D falls at rate tau Q / 2 and crosses zero in finite time.
    model = Model(rho=1.0, eta=1.0, beta=Constant(beta=0.0), tau=0.5)
    with pytest.raises(ValueError, match=r"left the valid region at t = .*Reduce `tau`"):
        solve_ode(model, t_max=50.0, init=scalar_init(Q=5.0, D=0.5), method="DOP853-numba")
    callable_beta = Model(beta=CallableSchedule(func=lambda t: 0.5 + 0 * np.asarray(t)))
    with pytest.raises(ValueError, match=r"method='DOP853' .* instead"):
        solve_ode(callable_beta, t_max=5.0, init=scalar_init(), method="DOP853-numba")


def test_schedule_codes_match_the_schedules():
    """beta(t) in compiled code equals the schedule's own value: bit for bit for the schedules
    of arithmetic only (the same floating-point operations; a table exactly at its knots too),
    to 2 ulp where numba's libm and numpy's exp or tanh may differ in the last bits. Every
    compiled class is checked through its example."""
    beta_at = beta_function()
    rng = np.random.default_rng(1)
    t = np.concatenate([[0.0, 10.0, 119.9, 120.0, 150.0, 400.0], rng.uniform(-10, 600, 200)])
    table = Tabulated(times=[0.0, 35.0, 120.0, 300.0], values=[0.1, 0.4, 1.3, 1.2])
    schedules = [Constant(beta=0.7), *list(SCHEDULES.values())[1:], table]
    schedules += [cls.example() for cls in COMPILED_KINDS]
    schedules += [s.shifted(33.3) for s in schedules]
    arithmetic = (Constant, LinearRamp, StepSchedule, Tabulated)
    for schedule in schedules:
        code = schedule_code(schedule)
        got = np.array([beta_at(code.kind, code.values, float(x)) for x in t])
        inner = schedule.schedule if isinstance(schedule, Shifted) else schedule
        if isinstance(inner, arithmetic):
            np.testing.assert_array_equal(got, schedule(t))
        else:
            np.testing.assert_array_max_ulp(got, schedule(t), maxulp=2)
    knots = np.array(table.times)
    code = schedule_code(table)
    at_knots = [beta_at(code.kind, code.values, float(x)) for x in knots]
    assert at_knots == list(table.values)
    assert schedule_code(CallableSchedule(func=np.cos)) is None


def _batch(model, schedules, ens, tols, t_max, rates=None):
    drift = Drift(model)
    kinds, values, breakpoints = schedule_arrays([schedule_code(s) for s in schedules])
    y0 = pack_state(ens)
    n_s, n_i = len(schedules), y0.shape[0]
    idx = np.repeat(np.arange(n_s), n_i)
    target = 0.0
    return excess_error_integrals(
        drift.compiled,
        np.tile(y0, (n_s, 1)),
        np.tile(drift.at_beta(0.0).parameters, (n_s * n_i, 1)),
        beta_index=drift.compiled.layout.beta,
        n_D=model.M,
        kinds=kinds[idx],
        values=values[idx],
        breakpoints=breakpoints[idx],
        t_max=np.full(n_s * n_i, t_max),
        targets=np.full(n_s * n_i, target),
        tols=np.asarray(tols),
        measure=measure_code(model),
        rtol=1e-8,
        atol=1e-11,
        rates=rates,
    )


def test_batch_integrals_equal_dense_output_quadrature():
    """The integral of min(1, |eps_g - target| / tol) carried by the batch equals the trapezoid
    rule on the dense output of the single-trajectory solver (20,001 points: trapezoid error
    ~1e-5 relative where the integrand has kinks); the end states agree to the solver tolerance.
    """
    model = Model(beta=1.0, tau=0.05)
    schedules = [Constant(beta=1.0), TanhAnneal(beta_final=1.0, gamma=0.02)]
    ens = initial_ensemble(model, 3, N=200, rng=1)
    tols = [0.3, 0.05]
    res = _batch(model, schedules, ens, tols, 400.0)
    assert np.all(res.status == 0)
    t = np.linspace(0.0, 400.0, 20001)
    k = 0
    for schedule in schedules:
        for i in range(3):
            init = OrderParameters(**{name: v[i] for name, v in ens.as_dict().items()})
            sol = solve_ode(replace_beta(model, schedule), t_max=400.0, t_eval=t, init=init,
                            method="DOP853-numba", rtol=1e-10, atol=1e-12)  # fmt: skip
            for q, tol in enumerate(tols):
                w = np.minimum(1.0, np.abs(sol.eps_g[0]) / tol)
                trapezoid = float(np.sum(np.diff(t) * (w[1:] + w[:-1]) / 2))
                assert res.z[k, q] == pytest.approx(trapezoid, rel=1e-4)
            assert res.e_end[k] == pytest.approx(abs(sol.eps_g[0, -1]), abs=1e-7)
            k += 1


def replace_beta(model, schedule):
    from dataclasses import replace

    return replace(model, beta=schedule)


def test_batch_is_bitwise_reproducible_across_thread_counts():
    model = Model(beta=1.5, tau=0.05)
    schedules = [TanhAnneal(beta_final=1.5, gamma=g) for g in (0.005, 0.02, 0.08)]
    ens = initial_ensemble(model, 4, N=200, rng=0)
    rates = np.full(12, 0.01)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _batch(model, schedules, ens, [1e-3], 2000.0, rates)
        numba.set_num_threads(before)
        many = _batch(model, schedules, ens, [1e-3], 2000.0, rates)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.z, many.z)
    np.testing.assert_array_equal(one.t_stop, many.t_stop)
