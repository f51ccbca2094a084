"""Optimal annealing protocols (linvae.analysis.protocol).

A small problem (tau = 0.05, beta_f = 1, 4 initial states, 10 control intervals) keeps the
optimization to seconds; the Done-when problem of the issue (beta_f = 1.8, tau = 0.01, 64
states) is marked slow.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from linvae import Model
from linvae.analysis.convergence import convergence_times
from linvae.analysis.protocol import OptimalProtocol, optimal_protocol
from linvae.schedules import Tabulated
from linvae.theory.initial import initial_ensemble

SMALL = Model(beta=1.0, tau=0.05)
BOUNDS = dict(beta_min=0.2, beta_max=2.0)


@pytest.fixture(scope="module")
def small() -> OptimalProtocol:
    return optimal_protocol(SMALL, **BOUNDS, n_init=4, n_intervals=10, max_iter=25)


def test_the_protocol_is_a_tabulated_schedule_within_the_bounds_ending_at_beta_f(small):
    s = small.schedule
    assert isinstance(s, Tabulated)
    assert len(s.times) == small.n_intervals + 1
    assert s.final == 1.0 and s(1e9) == 1.0
    assert min(s.values) >= 0.2 and max(s.values) <= 2.0
    assert small.model.schedule is s


def test_reported_value_is_the_package_measure_of_the_schedule(small):
    """The objective is re-measured by convergence_times on the same ensemble: same numbers."""
    ensemble = initial_ensemble(SMALL, 4, N=200, rng=0)
    again = convergence_times(SMALL, [small.schedule], init=ensemble, target=small.target)[0]
    np.testing.assert_array_equal(again, small.values)
    assert small.value == pytest.approx(float(np.mean(again)), rel=1e-15)
    assert small.speedup == pytest.approx(small.constant_value / small.value, rel=1e-15)
    assert small.time_saved == pytest.approx(small.constant_value - small.value, rel=1e-12)


def test_the_protocol_beats_the_best_step_linear_ramp_and_tanh(small):
    # The optimizer starts from the best step schedule, so it cannot end worse than it in
    # the surrogate; the re-measured value must be better too (here by ~8 %).
    assert small.surrogate_value < small.surrogate_start
    for name in ("step", "linear", "tanh"):
        assert small.speedup > small.baselines[name].speedup, name
    assert small.best_tanh_speedup == small.baselines["tanh"].speedup > 1.0


def test_perturbing_the_optimum_does_not_improve_the_measured_objective(small):
    """Random perturbations of the knot values (within the bounds) of size 0.05: none improves
    the re-measured mean by more than 0.5 % (the surrogate's smoothing and RK4 step shift the
    optimum of the exact measure slightly; a real improvement direction would gain several %
    at this size)."""
    ensemble = initial_ensemble(SMALL, 4, N=200, rng=0)
    rng = np.random.default_rng(1)
    times, values = np.array(small.schedule.times), np.array(small.schedule.values)
    perturbed = []
    for _ in range(6):
        v = values.copy()
        v[:-1] = np.clip(v[:-1] + 0.05 * rng.choice([-1.0, 1.0], v.size - 1), 0.2, 2.0)
        perturbed.append(Tabulated(times=times, values=v))
    T = convergence_times(SMALL, perturbed, init=ensemble, target=small.target).mean(axis=1)
    assert np.all(T > small.value * (1 - 5e-3)), (T, small.value)


def test_final_error_objective_lowers_eps_g_at_the_horizon():
    res = optimal_protocol(
        SMALL, **BOUNDS, objective="final-error", horizon=150.0, n_init=2, n_intervals=6,
        max_iter=15,
    )  # fmt: skip
    assert res.objective == "final-error" and res.time_saved is None
    assert res.schedule.times[-1] == 150.0 and res.schedule.final == 1.0
    assert res.value < res.baselines["step"].value <= res.constant_value
    assert res.speedup == pytest.approx(res.constant_value / res.value)


def test_as_dict_is_strict_json_with_the_documented_keys(small):
    d = json.loads(json.dumps(small.as_dict(), allow_nan=False))
    for key in ("speedup", "best_tanh_speedup", "time_saved", "schedule", "wall_time_s"):
        assert key in d
    assert d["schedule"]["kind"] == "tabulated"
    assert set(d["baselines"]) == {"tanh", "step", "linear"}
    assert d["n_init"] == 4 and d["N"] == 200 and d["wall_time_s"] > 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(beta_min=0.0, beta_max=2.0), "`beta_min` parameter of optimal_protocol"),
        (dict(beta_min=1.5, beta_max=1.2), "`beta_max` parameter"),
        (dict(beta_min=1.2, beta_max=2.0), "must lie within [beta_min, beta_max]"),
        (dict(beta_min=0.2, beta_max=0.8), "must lie within [beta_min, beta_max]"),
        (dict(beta_min=0.2, beta_max=2.0, objective="speed"), "`objective` parameter"),
        (dict(beta_min=0.2, beta_max=2.0, objective="final-error"), "`horizon` parameter"),
        (dict(beta_min=0.2, beta_max=2.0, n_intervals=1), "`n_intervals` parameter"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_parameter(kwargs, words):
    with pytest.raises(ValueError) as err:
        optimal_protocol(SMALL, **kwargs)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_done_when_problem_beats_the_best_step_and_reports_tanh():
    """The issue's problem: beta_f = 1.8, rho = eta = 1, tau = 0.01, beta in [0.2, 3.6], 64
    states at N = 200, tol 1e-3. The best tanh's speed-up is about 1.63 (within the grid
    search's 3 % of linvae anneal's); the protocol must beat the best step."""
    res = optimal_protocol(Model(rho=1.0, eta=1.0, beta=1.8, tau=0.01), beta_min=0.2,
                           beta_max=3.6)  # fmt: skip
    assert res.speedup >= res.baselines["step"].speedup
    assert math.isclose(res.best_tanh_speedup, 1.63, rel_tol=0.03)
    assert res.speedup > 3.0  # measured 3.87
