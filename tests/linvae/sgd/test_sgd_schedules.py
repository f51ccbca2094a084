"""The simulator runs every schedule alike: beta once per chunk of steps from the schedule's
own vectorized value. A table or a shifted schedule gives bitwise the run of a Python function
with the same values, and a run file keeps the schedule itself."""

from __future__ import annotations

import numpy as np

from linvae import Model, Trajectory, simulate
from linvae.schedules import CallableSchedule, LinearRamp, Tabulated

KW = dict(N=200, t_max=6.0, dt=1.0, n_seeds=2, rng=7, progress=False)


def _same_run(a, b):
    for name in ("m", "d", "Q", "E", "R", "D", "eps_g"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_a_table_runs_as_the_function_of_its_values(tmp_path):
    table = Tabulated(times=[0.0, 2.0, 4.5], values=[0.1, 1.2, 0.8])
    run = simulate(Model(beta=table, tau=0.05), **KW)
    same = simulate(Model(beta=CallableSchedule(func=table), tau=0.05), **KW)
    _same_run(run, same)
    back = Trajectory.load(run.save(tmp_path / "run.npz"))
    assert back.model.schedule == table


def test_a_shifted_schedule_runs_as_the_function_from_a_later_start(tmp_path):
    ramp = LinearRamp(beta_final=1.5, t_ramp=8.0, beta_initial=0.2)
    shifted = ramp.shifted(3.0)
    run = simulate(Model(beta=shifted, tau=0.05), **KW)
    wrapped = CallableSchedule(func=lambda t: ramp(np.asarray(t) + 3.0), final_value=1.5)
    _same_run(run, simulate(Model(beta=wrapped, tau=0.05), **KW))
    assert Trajectory.load(run.save(tmp_path / "run.npz")).model.schedule == shifted
