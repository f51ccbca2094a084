"""The simulator's public behaviour: sampler statistics, physics, reproducibility, errors."""

import functools
import importlib
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from linvae import (
    Constant,
    LinearRamp,
    Model,
    SimulationDiverged,
    SimulationInterrupted,
    StepSchedule,
    TanhAnneal,
    Trajectory,
    make_teacher,
    sample_inputs,
    simulate,
)
from linvae.schedules import schedule_from_description
from linvae.trajectory import time_grid
from linvae.utils.progress import ProgressBar

# The module itself (``linvae.simulate`` is the function), to replace its progress reporter.
simulate_module = importlib.import_module("linvae.sgd.simulator")


@pytest.mark.parametrize(("M_star", "rho"), [(1, 1.0), (2, (1.0, 3.0)), (3, 2.0)])
def test_sampler_covariance(M_star, rho):
    N, n = 40, 100_000
    model = Model(M=1, M_star=M_star, rho=rho, eta=0.5)
    W_star = make_teacher(N, M_star, rng=1)
    x = sample_inputs(model, N=N, n_samples=n, W_star=W_star, rng=2)
    rho_vec = model.rho_vector
    sigma = (W_star * rho_vec) @ W_star.T / N + model.eta * np.eye(N)
    emp = x.T @ x / n  # the mean is zero by construction
    # Var of the (i, j) entry of a Gaussian sample covariance: (S_ii S_jj + S_ij^2) / n.
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / n)
    assert np.all(np.abs(emp - sigma) < 6 * se)  # 6 sigma, 820 entries: passes for any seed
    # Spike eigenvalues rho_k + eta (T = I), bulk eta. A sample eigenvalue's standard error
    # is lambda sqrt(2 / n); the bulk adds a bias of order eta N / n.
    eig = np.sort(np.linalg.eigvalsh(emp))[::-1]
    expected = np.sort(rho_vec + model.eta)[::-1]
    tol = 6 * expected * math.sqrt(2 / n) + 4 * model.eta * N / n
    np.testing.assert_array_less(np.abs(eig[:M_star] - expected), tol)


def test_teacher_columns_orthogonal_norm_sqrt_n():
    W = make_teacher(64, 3, rng=0)
    np.testing.assert_allclose(W.T @ W / 64, np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(make_teacher(10), np.ones((10, 1)))


def test_learned_below_threshold_collapse_above():
    """rho = eta = 1 so beta* = 2: beta = 1 learns (eps_g* = 0 as tau -> 0), beta = 3 collapses."""
    N, tau = 400, 0.05
    learned = simulate(Model(beta=1.0, tau=tau), N=N, t_max=400, dt=50, n_seeds=2, rng=0)
    # eps_g starts near rho + 1 = 2 and must fall well below rho = 1; at finite tau and N the
    # fixed point sits O(tau) + O(1/sqrt N) above 0 (measured ~0.03 here).
    assert np.all(learned.eps_g[:, 0] > 1.5)
    assert np.all(learned.eps_g[:, -1] < 0.15)
    collapsed = simulate(Model(beta=3.0, tau=tau), N=N, t_max=400, dt=50, n_seeds=2, rng=0)
    # m -> 0 up to finite-N fluctuations O(N^-1/2) = 0.05; D -> 1 up to O(tau).
    assert np.all(np.abs(collapsed.m[:, -1]) < 4 / math.sqrt(N))
    np.testing.assert_allclose(collapsed.D[:, -1], 1.0, atol=0.05)
    assert np.all(np.abs(collapsed.eps_g[:, -1] - 1.0) < 0.25)


def test_same_seed_bit_identical_whatever_threads():
    model = Model(M=2, beta=0.5, tau=0.1)
    kw = dict(N=120, t_max=30, dt=5, n_seeds=3, rng=42)
    a = simulate(model, n_threads=1, **kw)
    b = simulate(model, n_threads=2, **kw)
    for name in ("m", "d", "Q", "E", "R", "D", "eps_g"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # Seed j does not depend on how many seeds run beside it.
    c = simulate(model, **{**kw, "n_seeds": 1})
    np.testing.assert_array_equal(a.Q[:1], c.Q)
    d = simulate(model, **{**kw, "rng": 43})
    assert not np.array_equal(a.Q, d.Q)


def test_schedule_forms_agree():
    kw = dict(N=100, t_max=20, dt=2, n_seeds=1, rng=1)
    a = simulate(Model(beta=TanhAnneal(beta_final=1.5, gamma=0.1), tau=0.1), **kw)
    b = simulate(Model(beta=lambda t: 1.5 * np.tanh(0.1 * t), tau=0.1), **kw)
    np.testing.assert_array_equal(a.eps_g, b.eps_g)
    ramp = simulate(Model(beta=LinearRamp(beta_final=1.0, t_ramp=10), tau=0.1), **kw)
    const = simulate(Model(beta=Constant(beta=1.0), tau=0.1), **kw)
    assert not np.array_equal(ramp.eps_g, const.eps_g)
    # Before anything was updated the state is the same initialization.
    np.testing.assert_array_equal(ramp.Q[:, 0], const.Q[:, 0])


def test_grid_and_shapes():
    run = simulate(Model(M=3, M_star=2, tau=0.1), N=50, t_max=7, dt=2, n_seeds=2, rng=0)
    np.testing.assert_allclose(run.t, [0, 2, 4, 6, 7])
    assert run.m.shape == (2, 5, 3, 2) and run.Q.shape == (2, 5, 3, 3)
    assert run.D.shape == (2, 5, 3) and run.eps_g.shape == (2, 5)
    np.testing.assert_array_equal(run.D[:, 0], 1.0)
    # Authors' initialization: Q(0) ~ I, m(0) = O(N^-1/2), eps_g(0) ~ rho + M.
    assert np.all(np.abs(np.diagonal(run.Q[:, 0], axis1=-2, axis2=-1) - 1) < 6 * math.sqrt(2 / 50))


def test_divergence_reports_time_and_fix():
    with pytest.raises(SimulationDiverged, match=r"at t = .*lower `tau`") as info:
        simulate(Model(tau=5.0), N=100, t_max=50, dt=1, rng=0)
    err = info.value
    assert 0 <= err.t < 50
    assert len(err.partial.t) <= int(err.t) + 1
    assert np.all(np.isfinite(err.partial.eps_g))


def test_interrupt_keeps_what_was_recorded():
    calls = []

    def progress(done, total):
        calls.append(done)
        raise KeyboardInterrupt

    with pytest.raises(SimulationInterrupted) as info:
        simulate(Model(tau=0.1), N=2000, t_max=50, dt=1, rng=0, progress=progress)
    partial = info.value.partial
    assert 0 < len(partial.t) < 51
    assert np.all(np.isfinite(partial.eps_g))
    full = simulate(Model(tau=0.1), N=2000, t_max=50, dt=1, rng=0)
    np.testing.assert_array_equal(partial.eps_g, full.eps_g[:, : len(partial.t)])


def test_progress_bar_on_stderr_and_silence_by_default(capsys):
    simulate(Model(tau=0.1), N=50, t_max=4, dt=1, rng=0)
    assert capsys.readouterr() == ("", "")  # progress=False: nothing at all
    simulate(Model(tau=0.1), N=50, t_max=4, dt=1, rng=0, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "SGD N=50 M=1 seeds=1" in err and "100%" in err and "200/200" in err


def test_progress_callable_gets_steps_done_and_total():
    calls = []
    simulate(Model(tau=0.1), N=50, t_max=4, dt=1, rng=0, progress=lambda *a: calls.append(a))
    assert calls and all(total == 200 for _, total in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == 200


@pytest.mark.parametrize("ending", ["finished", "diverged", "interrupted"])
def test_progress_bar_closed_however_the_run_ends(monkeypatch, capsys, ending):
    bars = []

    class SpyBar(ProgressBar):
        closed = False

        def __call__(self, done):
            super().__call__(done)
            if ending == "interrupted":
                raise KeyboardInterrupt

        def close(self):
            super().close()
            self.closed = True

    def make_spy(progress, total, label, **options):
        bars.append(SpyBar(total, label, **options))
        return bars[-1]

    monkeypatch.setattr(simulate_module, "make_progress", make_spy)
    run = functools.partial(simulate, N=100, t_max=50, dt=1, rng=0, progress=True)
    if ending == "finished":
        run(Model(tau=0.1))
    elif ending == "diverged":
        with pytest.raises(SimulationDiverged):
            run(Model(tau=5.0))
    else:
        with pytest.raises(SimulationInterrupted):
            run(Model(tau=0.1))
    assert len(bars) == 1 and bars[0].closed
    assert "SGD N=100" in capsys.readouterr().err


def test_time_grid_is_the_recording_grid():
    run = simulate(Model(tau=0.1), N=30, t_max=2, dt=0.3, rng=0)
    np.testing.assert_array_equal(run.t, time_grid(2, 0.3, N=30))
    np.testing.assert_allclose(time_grid(2, 0.3), [0, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.0])
    with pytest.raises(ValueError, match="`dt` parameter of time_grid"):
        time_grid(2, 0.01, N=30)


def test_given_initialization_and_final_weights():
    N, M = 80, 2
    gen = np.random.default_rng(0)
    init = {"W": gen.standard_normal((N, M)), "V": gen.standard_normal((N, M)), "D": [0.5, 2]}
    run = simulate(Model(M=M, tau=0.1), N=N, t_max=5, dt=5, init=init, return_weights=True)
    np.testing.assert_allclose(run.Q[0, 0], init["W"].T @ init["W"] / N, atol=1e-12)
    np.testing.assert_array_equal(run.D[0, 0], [0.5, 2])
    resumed = simulate(Model(M=M, tau=0.1), N=N, t_max=1, dt=1, init=run.weights)
    np.testing.assert_allclose(resumed.Q[0, 0], run.Q[0, -1], atol=1e-12)


def test_save_load_roundtrip(tmp_path):
    run = simulate(Model(M=2, M_star=2, rho=(1, 2), tau=0.1), N=60, t_max=4, dt=1, n_seeds=2)
    path = run.save(tmp_path / "run.npz")
    # Written atomically: nothing else left in the folder; the usual permissions of a new file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    back = Trajectory.load(path)
    for name in ("t", "m", "d", "Q", "E", "R", "D", "eps_g"):
        np.testing.assert_array_equal(getattr(back, name), getattr(run, name))
    assert back.model == run.model and back.N == 60 and back.meta["n_seeds"] == 2


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"N": 0}, "N"),
        ({"N": 2.5}, "N"),
        ({"t_max": -1}, "t_max"),
        ({"t_max": float("nan")}, "t_max"),
        ({"dt": 0}, "dt"),
        ({"dt": 1e-4}, "dt"),
        ({"n_seeds": 0}, "n_seeds"),
        ({"tau_D": -1.0}, "tau_D"),
        ({"rng": -3}, "rng"),
        ({"W_star": np.ones((10, 1))}, "W_star"),
        ({"W_star": "hexagonal"}, "W_star"),
        ({"init": {"W": np.ones((5, 1))}}, "init"),
        ({"init": "zeros"}, "init"),
        ({"t_eval": [0, 2, 1]}, "t_eval"),
        ({"n_threads": 0}, "n_threads"),
    ],
)
def test_simulate_rejects_bad_values(kwargs, name):
    base = dict(N=50, t_max=2, dt=1)
    with pytest.raises(ValueError, match=f"`{name}"):
        simulate(Model(), **{**base, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"M": 0}, "M"),
        ({"M": 1.5}, "M"),
        ({"M_star": -1}, "M_star"),
        ({"rho": -1.0}, "rho"),
        ({"rho": float("nan")}, "rho"),
        ({"rho": (1.0, 2.0)}, "rho"),
        ({"eta": 0.0}, "eta"),
        ({"beta": -0.5}, "beta"),
        ({"beta": "big"}, "beta"),
        ({"lam": -0.1}, "lam"),
        ({"tau": 0.0}, "tau"),
        ({"tau": float("inf")}, "tau"),
    ],
)
def test_model_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}"):
        Model(**kwargs)


def test_m_star_larger_than_n_rejected():
    with pytest.raises(ValueError, match=r"`M_star`.*<= N"):
        simulate(Model(M_star=5), N=4, t_max=1)


def test_no_allocation_per_step():
    """The jitted loop allocates per chunk, never per step (numba runtime statistics, which
    must be switched on before numba loads: hence a subprocess)."""
    script = """
from numba.core.runtime import rtsys
from linvae import Model, simulate
model = Model(tau=0.1)
simulate(model, N=100, t_max=1, dt=1)
def allocations(t_max):
    before = rtsys.get_allocation_stats().alloc
    simulate(model, N=100, t_max=t_max, t_eval=[0.0, t_max])
    return rtsys.get_allocation_stats().alloc - before
# 1,000 and 50,000 steps both fit in one chunk (_CHUNK_WORK / (N (M + M_star)) = 1e5).
print(allocations(10.0), allocations(500.0))
"""
    env = {**os.environ, "NUMBA_NRT_STATS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    short, long = map(int, out.stdout.split())
    assert short == long


def test_schedules_accept_zero_beta_and_reject_negative():
    assert Model(beta=0.0).schedule(3.0) == 0.0  # beta = 0: a plain (non-variational) AE
    with pytest.raises(ValueError, match="`beta`"):
        Constant(beta=-1.0)
    with pytest.raises(ValueError, match="`gamma`"):
        TanhAnneal(beta_final=1.0, gamma=-0.1)
    with pytest.raises(ValueError, match="`t_ramp`"):
        LinearRamp(beta_final=1.0, t_ramp=0.0)


def test_callable_schedule_survives_save_load_with_warning(tmp_path):
    run = simulate(Model(beta=lambda t: 0.5 + 0 * t, tau=0.1), N=40, t_max=2, dt=1)
    run.save(tmp_path / "c.npz")
    with pytest.warns(UserWarning, match="cannot be rebuilt"):
        back = Trajectory.load(tmp_path / "c.npz")
    assert back.model.schedule(10.0) == 0.5


@pytest.mark.parametrize(
    "schedule",
    [
        Constant(beta=0.7),
        TanhAnneal(beta_final=1.0, gamma=0.1),
        LinearRamp(beta_final=2.0, t_ramp=3.0, beta_initial=0.5),
        StepSchedule(beta_final=1.5, t_switch=2.0),
    ],
)
def test_schedule_description_round_trip(schedule):
    desc = schedule.describe()
    assert desc["kind"] == schedule.kind
    assert schedule_from_description(desc) == schedule


def test_progress_estimate_excludes_the_warmup(capsys):
    """While numba compiles the bar says so, with no estimate; the rate's clock starts at the
    first report (a 2 s run once showed 81 s left, its compile time taken for work)."""
    bar = ProgressBar(100, "SGD", unit="steps", warmup="compiling", mininterval=0)
    first = capsys.readouterr().err
    assert "SGD: compiling" in first
    assert "<" not in first and "nan" not in first and "?" not in first  # no estimate
    time.sleep(0.3)  # the "compile"
    bar(10)
    # Elapsed time restarts at the first report: far below the 0.3 s of warm-up.
    assert bar._bar.format_dict["elapsed"] < 0.2
    assert bar._bar.format_dict["initial"] == 10
    bar(20)
    bar.close()
    assert "nan" not in capsys.readouterr().err


def test_first_progress_line_of_a_sweep_has_no_nan(capsys):
    bar = ProgressBar(4, "sweep", unit="points", warmup="starting", mininterval=0)
    bar(0)  # a fresh sweep reports its 0 points done first
    bar(1)
    bar.close()
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    first = next(line for line in lines if line.strip())
    assert "sweep: starting" in first
    assert not any("nan" in line for line in lines)
