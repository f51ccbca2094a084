"""The engines run every schedule through the schedule's own methods (breakpoints, compiled
form, final rate): the results of the library schedules are bitwise those of the engines that
switched on the schedule's type, and a table runs compiled like any other schedule."""

from __future__ import annotations

import numpy as np
import pytest

from linvae import (
    CallableSchedule,
    Constant,
    LinearRamp,
    Model,
    OrderParameters,
    StepSchedule,
    Tabulated,
    TanhAnneal,
)
from linvae.analysis.convergence import convergence_times
from linvae.theory import initial_conditions_from, solve_ode
from linvae.theory.initial import initial_ensemble

SCHEDULES = {
    "constant": Constant(beta=1.3),
    "tanh": TanhAnneal(beta_final=1.8, gamma=0.004),
    "linear": LinearRamp(beta_final=1.8, t_ramp=700.0, beta_initial=0.2),
    "step": StepSchedule(beta_final=1.8, t_switch=400.0, beta_initial=0.3),
}

# eps_g at t = 0, 250, ..., 1500 (solve_ode) and the excess times of `convergence_times`
# (3 schedules and a constant beta_f, 4 initial states, tol 1e-3 and 1e-2), as float.hex,
# computed by the engines before schedules became strategy objects (commit b2cb296) in the
# environment of `RECORDED_WITH`. Tolerance 0 there: the same floating-point operations in the
# same order. Elsewhere (another libm, LLVM or numpy) the last bits of tanh, exp and the compiled
# code may differ, and the runs are compared to 1e-9 instead (round-off over a few hundred
# steps at rtol 1e-8, far below the solver tolerance).
RECORDED_WITH = {"numba": "0.68.1", "numpy": "2.4.6", "scipy": "1.17.1", "machine": "x86_64",
                 "libc": "glibc 2.36"}  # fmt: skip
REFERENCE = {
    "constant/DOP853-numba": [
        "0x1.0a3d70a3d70a4p+1",
        "0x1.f6137cdbaac4dp-1",
        "0x1.79f7cfc2e51cbp-1",
        "0x1.c00ef170be479p-2",
        "0x1.9781e9c12e3e4p-3",
        "0x1.834c7b116b96cp-4",
        "0x1.c5e75ede43340p-5",
    ],
    "constant/LSODA": [
        "0x1.0a3d70a3d70a4p+1",
        "0x1.f6137cec80813p-1",
        "0x1.79f7cfb01b544p-1",
        "0x1.c00ef16c65064p-2",
        "0x1.9781ea4358ec0p-3",
        "0x1.834c7b6f18908p-4",
        "0x1.c5e7612b9ac30p-5",
    ],
    "tanh/DOP853-numba": [
        "0x1.0a3d70a3d70a4p+1",
        "0x1.c614006651850p-1",
        "0x1.36dbf26b67731p-1",
        "0x1.fa6b07ea3379cp-2",
        "0x1.c4fb0ccfaef08p-2",
        "0x1.a1d12f9b904d1p-2",
        "0x1.875f4c76ebeafp-2",
    ],
    "tanh/LSODA": [
        "0x1.0a3d70a3d70a4p+1",
        "0x1.c6140065a114ep-1",
        "0x1.36dbf26d99591p-1",
        "0x1.fa6b07e3551d3p-2",
        "0x1.c4fb0ce870b47p-2",
        "0x1.a1d12faca0222p-2",
        "0x1.875f4c76ffd08p-2",
    ],
    "linear/DOP853-numba": [
        "0x1.0a3d70a3d70a4p+1",
        "0x1.b5e5ccda6b4f4p-1",
        "0x1.88d4a7b132aa0p-2",
        "0x1.c54aa4b60febap-3",
        "0x1.da1c88c64c516p-3",
        "0x1.01ebbf00bf46fp-2",
        "0x1.12419ebee432ap-2",
    ],
    "linear/LSODA": [
        "0x1.0a3d70a3d70a4p+1",
        "0x1.b5e5ccd810a31p-1",
        "0x1.88d4a7e35b17bp-2",
        "0x1.c54aa4cfffcaep-3",
        "0x1.da1c88be7f3ccp-3",
        "0x1.01ebbf104cfbbp-2",
        "0x1.12419ebfd03a8p-2",
    ],
    "step/DOP853-numba": [
        "0x1.0a3d70a3d70a4p+1",
        "0x1.9e93e379e58f8p-1",
        "0x1.467dc180d2280p-2",
        "0x1.c7b644610e570p-3",
        "0x1.dfb348774f710p-3",
        "0x1.041fdb3b00808p-2",
        "0x1.13d290d21ebfdp-2",
    ],
    "step/LSODA": [
        "0x1.0a3d70a3d70a4p+1",
        "0x1.9e93e331e4475p-1",
        "0x1.467dc18cb999ap-2",
        "0x1.c7b644c908326p-3",
        "0x1.dfb348bbcacf6p-3",
        "0x1.041fdb4251c94p-2",
        "0x1.13d290d18daa7p-2",
    ],
    "convergence_times": [
        "0x1.97117dcee23c5p+12",
        "0x1.2ad06f2e43a73p+12",
        "0x1.46e1dd03bed8bp+12",
        "0x1.b541925999f72p+11",
        "0x1.965fac01cf104p+12",
        "0x1.2a1e9edb5f5a6p+12",
        "0x1.282d382c532b5p+12",
        "0x1.77d855cf0dff4p+11",
        "0x1.420f3906b9052p+12",
        "0x1.ab9c5bcce66bcp+11",
        "0x1.dcc15517423e6p+11",
        "0x1.034152d820b16p+11",
        "0x1.462be01ac2dd2p+12",
        "0x1.b3d5a86b20b0ep+11",
        "0x1.0aa82952245bdp+12",
        "0x1.3cdeab0930bf0p+11",
        "0x1.3998372de16dcp+12",
        "0x1.9aae42635561ep+11",
        "0x1.dfefeaa38326cp+11",
        "0x1.062619e455ff0p+11",
        "0x1.40f3d56ac5542p+12",
        "0x1.a9659878e6af6p+11",
        "0x1.088f2d485e31cp+12",
        "0x1.386f90548ec7cp+11",
        "0x1.15d308f86f137p+13",
        "0x1.bf6502be15802p+12",
        "0x1.b8efc00acaaf6p+12",
        "0x1.4caeb0cc53d7dp+12",
        "0x1.1b80ffb5c60fdp+13",
        "0x1.cac0e145bd7b7p+12",
        "0x1.89b7a87d3d670p+12",
        "0x1.1d769a10720aap+12",
    ],
}


def _environment():
    import platform

    import numba
    import scipy

    return {"numba": numba.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "machine": platform.machine(), "libc": " ".join(platform.libc_ver())}  # fmt: skip


def _same_as_recorded(got, key):
    """Bitwise in the recorded environment, to 1e-9 elsewhere (see REFERENCE)."""
    if _environment() == RECORDED_WITH:
        assert [float(x).hex() for x in got] == REFERENCE[key]
    else:
        expected = [float.fromhex(x) for x in REFERENCE[key]]
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def _init():
    return OrderParameters(
        m=np.array([[0.01]]),
        d=np.array([[0.12]]),
        Q=np.array([[1.1]]),
        E=np.array([[0.86]]),
        R=np.array([[-0.1]]),
        D=np.array([1.0]),
    )


@pytest.mark.parametrize("method", ["DOP853-numba", "LSODA"])
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_library_schedules_give_bitwise_the_same_solutions(name, method):
    model = Model(beta=SCHEDULES[name], tau=0.01)
    sol = solve_ode(model, t_max=1500.0, dt=250.0, init=_init(), method=method)
    _same_as_recorded(sol.eps_g[0], f"{name}/{method}")


def test_library_schedules_give_bitwise_the_same_convergence_times():
    model = Model(beta=1.8, tau=0.01)
    ens = initial_ensemble(model, 4, N=200, rng=0)
    schedules = [*list(SCHEDULES.values())[1:], Constant(beta=1.8)]
    T = convergence_times(model, schedules, init=ens, tol=[1e-3, 1e-2])
    _same_as_recorded(np.ravel(T), "convergence_times")


def test_a_table_runs_compiled_and_matches_scipy_with_its_kinks():
    """A tabulated ramp through the knots of a linear ramp is that ramp: the compiled run
    restarts at its knots like the ramp's, so both give the same eps_g to round-off (1e-12 on
    eps_g ~ 0.3 after ~100 steps); scipy's DOP853 with the same restarts agrees to the
    accumulated round-off of the two implementations (1e-10, as for the library schedules)."""
    ramp = LinearRamp(beta_final=1.8, t_ramp=700.0, beta_initial=0.2)
    table = Tabulated(times=[0.0, 700.0], values=[0.2, 1.8])
    kw = dict(t_max=1500.0, dt=50.0, init=_init(), rtol=1e-10, atol=1e-12)
    a = solve_ode(Model(beta=ramp, tau=0.01), method="DOP853-numba", **kw)
    b = solve_ode(Model(beta=table, tau=0.01), method="DOP853-numba", **kw)
    c = solve_ode(Model(beta=table, tau=0.01), method="DOP853", **kw)
    np.testing.assert_allclose(b.eps_g, a.eps_g, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.eps_g, c.eps_g, rtol=0, atol=1e-10)
    # a table with many knots: one restart per kink, the same answer as scipy's DOP853
    t_knots = np.linspace(0.0, 1200.0, 25)
    wiggle = Tabulated(times=t_knots, values=1.0 + 0.5 * np.sin(t_knots / 90.0))
    d = solve_ode(Model(beta=wiggle, tau=0.01), method="DOP853-numba", **kw)
    e = solve_ode(Model(beta=wiggle, tau=0.01), method="DOP853", **kw)
    np.testing.assert_allclose(d.eps_g, e.eps_g, rtol=0, atol=1e-10)
    assert d.meta["method"] == "DOP853-numba"


def test_a_shifted_schedule_is_the_restarted_run():
    """Solving from the state at t0 with the schedule shifted by t0 continues the run: equal
    to the solver tolerance (rtol 1e-10 on values ~ 1, over a few hundred steps: 1e-8)."""
    model = Model(beta=SCHEDULES["step"], tau=0.01)
    kw = dict(rtol=1e-10, atol=1e-12, method="DOP853-numba")
    full = solve_ode(model, t_max=1200.0, dt=100.0, init=_init(), **kw)
    later = Model(beta=model.schedule.shifted(300.0), tau=0.01)
    rest = solve_ode(
        later,
        t_max=900.0,
        dt=100.0,
        init=initial_conditions_from(full, index=3, align_signs=False),
        **kw,
    )
    np.testing.assert_allclose(rest.eps_g[0], full.eps_g[0, 3:], rtol=0, atol=1e-8)


def test_auto_picks_the_compiled_integrator_and_says_when_it_falls_back():
    """method="auto" (the default) runs the compiled DOP853 wherever it applies, with the
    answer of LSODA to the tolerances (rtol 1e-8: both keep the local error below 1e-8
    relative; 1e-6 on eps_g after a few hundred steps); a Python callable or the matrix-form
    drift fall back to LSODA, and the metadata says why."""
    init = _init()
    ramp = Model(beta=LinearRamp(beta_final=1.5, t_ramp=300.0), tau=0.01)
    auto = solve_ode(ramp, t_max=1000.0, dt=10.0, init=init)
    lsoda = solve_ode(ramp, t_max=1000.0, dt=10.0, init=init, method="LSODA")
    assert auto.meta["method"] == "DOP853-numba" and "compiled" in auto.meta["method_note"]
    np.testing.assert_allclose(auto.eps_g, lsoda.eps_g, rtol=0, atol=1e-6)
    assert lsoda.meta["method"] == "LSODA" and lsoda.meta["method_note"] == "requested"
    ramp_fn = ramp.schedule
    wrapped = Model(beta=CallableSchedule(func=ramp_fn, name="ramp"), tau=0.01)
    fallback = solve_ode(wrapped, t_max=1000.0, dt=10.0, init=init)
    assert fallback.meta["method"] == "LSODA"
    assert (
        "fell back" in fallback.meta["method_note"]
        and "no compiled form" in (fallback.meta["method_note"])
    )
    np.testing.assert_allclose(fallback.eps_g, auto.eps_g, rtol=0, atol=1e-5)
    matrix = solve_ode(ramp, t_max=50.0, dt=10.0, init=init, rhs="matrix-form")
    assert matrix.meta["method"] == "LSODA" and "matrix-form" in matrix.meta["method_note"]
