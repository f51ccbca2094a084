"""Sweeps: the same numbers serially, on the local pool and on Dask (whichever execution
strategy runs them); resuming after a kill; finite-size scaling."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from linvae import Model, TanhAnneal
from linvae.analysis.finite_size import finite_size_scaling, fit_power_law
from linvae.cli import main as cli_main
from linvae.sweep import (
    Dask,
    Execution,
    ProcessPool,
    Serial,
    Sweep,
    SweepResult,
    load_sweep,
    run_sweep,
)
from linvae.sweep.execution import execution_from


def small_sweep(**kw) -> Sweep:
    """4 points of SGD + ODE, 2 seeds each: a fraction of a second per point."""
    options = {
        "grid": {"gamma": [0.2, 2.0], "N": [40, 80]},
        "model": Model(tau=0.1, beta=TanhAnneal(beta_final=1.0, gamma=1.0)),
        "kind": "both",
        "t_max": 3.0,
        "dt": 1.0,
        "n_seeds": 2,
        "seed": 7,
    }
    options.update(kw)
    return Sweep(**options)


def assert_identical(a: SweepResult, b: SweepResult) -> None:
    """Bit for bit: same keys, same shapes, same bytes (NaN padding in the same places)."""
    assert a.data.keys() == b.data.keys()
    for name in a.data:
        np.testing.assert_array_equal(a.data[name], b.data[name], err_msg=name, strict=True)
    np.testing.assert_array_equal(a.status, b.status)


@pytest.fixture(scope="module")
def serial_result(tmp_path_factory) -> SweepResult:
    out = tmp_path_factory.mktemp("serial")
    return run_sweep(small_sweep(), out, scheduler="serial", progress=False)


def test_serial_sweep_layout(serial_result):
    sweep = serial_result.sweep
    assert serial_result.complete
    assert serial_result["sgd_eps_g"].shape == (2, 2, 2, 4)  # gamma, N, seed, time
    assert serial_result["ode_m"].shape == (2, 2, 2, 4, 1, 1)
    assert serial_result.dims["sgd_Q"] == ("gamma", "N", "seed", "time", "latent", "latent_2")
    np.testing.assert_array_equal(serial_result.coords["N"], [40, 80])
    np.testing.assert_array_equal(serial_result.coords["time"], [0.0, 1.0, 2.0, 3.0])
    assert not np.any(np.isnan(serial_result["sgd_eps_g"]))
    # The ODE starts where each seed's SGD starts (the solver's output at t = 0 is its initial
    # state up to float64 round-off of its interpolant).
    np.testing.assert_allclose(
        serial_result["ode_m"][..., 0, :, :], serial_result["sgd_m"][..., 0, :, :], rtol=1e-12
    )
    # Files: the description, one file per point, the index, the gathered arrays.
    directory = serial_result.directory
    assert json.loads((directory / "sweep.json").read_text()) == sweep.describe()
    assert sorted(p.name for p in (directory / "points").iterdir()) == [
        f"p{i:06d}.npz" for i in range(4)
    ]
    index = json.loads((directory / "index.json").read_text())
    assert [e["status"] for e in index["points"]] == ["done"] * 4
    assert index["points"][3]["parameters"] == {"gamma": 2.0, "N": 80}
    assert_identical(SweepResult.load(directory / "results.npz"), serial_result)
    assert_identical(load_sweep(directory), serial_result)


def test_point_seed_is_the_sweep_seeds_child(serial_result):
    """Point i runs with SeedSequence(seed).spawn(...)[i], whatever runs it: rerunning
    simulate by hand with that seed gives the point's numbers."""
    from linvae import simulate

    sweep = serial_result.sweep
    child = np.random.SeedSequence(sweep.seed).spawn(4)[3]
    run = simulate(
        Model(tau=0.1, beta=TanhAnneal(beta_final=1.0, gamma=2.0)),
        N=80,
        t_max=3.0,
        dt=1.0,
        n_seeds=2,
        rng=child,
    )
    np.testing.assert_array_equal(run.eps_g, serial_result["sgd_eps_g"][1, 1])


@pytest.mark.parametrize(
    "where", [{"workers": 2}, {"scheduler": ProcessPool(workers=2)}], ids=["by-name", "object"]
)
def test_local_pool_is_bit_identical(serial_result, tmp_path, where):
    result = run_sweep(small_sweep(), tmp_path, progress=False, **where)
    assert_identical(result, serial_result)


class _Backwards(Execution):
    """A strategy of one's own: the last point first, recording what it was given."""

    def __init__(self):
        self.indices = []

    def run(self, compute, jobs, on_outcome):
        for index, settings in reversed(jobs):
            self.indices.append(index)
            on_outcome(index, compute(settings))


def test_strategies_share_one_interface(serial_result, tmp_path):
    """Any Execution, the library's or one's own, is given (index, settings) jobs and a
    compute function, and the numbers do not depend on the order in which points finish."""
    assert_identical(
        run_sweep(small_sweep(), tmp_path / "serial", scheduler=Serial(), progress=False),
        serial_result,
    )
    backwards = _Backwards()
    result = run_sweep(small_sweep(), tmp_path / "own", scheduler=backwards, progress=False)
    assert backwards.indices == [3, 2, 1, 0]
    assert_identical(result, serial_result)


def test_scheduler_names_map_to_strategies():
    assert execution_from("serial") == Serial()
    assert execution_from("processes", workers=3) == ProcessPool(workers=3)
    assert execution_from("tcp://host:8786") == Dask("tcp://host:8786")
    mine = ProcessPool(workers=1)
    assert execution_from(mine, workers=5) is mine
    with pytest.raises(ValueError, match="The `scheduler` parameter of run_sweep must be"):
        run_sweep(small_sweep(), "unused", scheduler=42)
    with pytest.raises(ValueError, match="The `workers` parameter of ProcessPool"):
        ProcessPool(workers=0)


def test_import_is_light():
    """Defining a sweep and reading one load neither numba, sympy, matplotlib nor dask; numba
    comes with the first point computed."""
    code = (
        "import sys; import linvae.sweep as s; from linvae import Model;"
        "s.Sweep(grid={'beta': [0.5, 1.0]}, model=Model(tau=0.1), N=50);"
        "s.run_sweep, s.load_sweep, s.SweepResult, s.Serial, s.ProcessPool, s.Dask;"
        "heavy = ('numba', 'sympy', 'matplotlib', 'dask', 'distributed');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dask_local_cluster_is_bit_identical(serial_result, tmp_path):
    distributed = pytest.importorskip("distributed")
    # Worker processes (not threads): each point owns its numba thread pool.
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = run_sweep(small_sweep(), tmp_path / "client", scheduler=client, progress=False)
        assert_identical(result, serial_result)
        by_address = run_sweep(
            small_sweep(), tmp_path / "address", scheduler=cluster.scheduler_address, progress=False
        )
        assert_identical(by_address, serial_result)


class _Stop(Exception):
    pass


def test_interrupted_sweep_resumes_without_recomputing(serial_result, tmp_path):
    def stop_after_two(done, total):
        if done >= 2:
            raise _Stop

    with pytest.raises(_Stop):
        run_sweep(small_sweep(), tmp_path, scheduler="serial", progress=stop_after_two)
    files = sorted((tmp_path / "points").glob("*.npz"))
    assert len(files) == 2
    partial = load_sweep(tmp_path)
    assert sorted(partial.status.ravel().tolist()) == ["done", "done", "pending", "pending"]
    stamps = {p.name: p.stat().st_mtime_ns for p in files}

    calls = []
    result = run_sweep(
        small_sweep(), tmp_path, scheduler="serial", progress=lambda d, t: calls.append(d)
    )
    assert calls == [2, 3, 4]  # starts from the two points on disk
    assert {p.name: p.stat().st_mtime_ns for p in files} == stamps  # not rewritten
    assert_identical(result, serial_result)


@pytest.mark.slow
def test_killed_sweep_process_resumes_identically(serial_result, tmp_path):
    """SIGKILL the sweep's process midway (no cleanup at all), then rerun the same command."""
    config = tmp_path / "sweep.toml"
    config.write_text(
        'kind = "both"\nt_max = 3.0\ndt = 1.0\nn_seeds = 2\nseed = 7\n'
        '[model]\ntau = 0.1\nbeta = { kind = "tanh", beta_final = 1.0, gamma = 1.0 }\n'
        "[grid]\ngamma = [0.2, 2.0]\nN = [40, 80]\n"
    )
    out = tmp_path / "out"
    # A slow point first would make the kill land mid-point; a pause after each point does that
    # deterministically without changing any number.
    code = (
        "import sys, time; from linvae.cli import main; import linvae.sweep.store as s;"
        "orig = s.write_point;"
        "s.write_point = lambda *a: (orig(*a), time.sleep(3));"
        f"sys.exit(main(['sweep', {str(config)!r}, '--out', {str(out)!r}, '--serial',"
        " '--no-progress']))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(out.glob("points/*.npz"))) < 1:
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    n_before = len(list(out.glob("points/*.npz")))
    assert 1 <= n_before < 4
    assert cli_main(["sweep", str(config), "--out", str(out), "--serial", "--no-progress"]) == 0
    assert_identical(load_sweep(out), serial_result)


def test_failing_point_is_reported_not_fatal(tmp_path, caplog):
    # tau = 5 makes SGD diverge at once; tau = 0.1 is fine.
    sweep = Sweep(grid={"tau": [0.1, 5.0]}, model=Model(), N=50, t_max=2.0, kind="sgd")
    with pytest.warns(UserWarning, match="1 of 2 sweep points failed"):
        result = run_sweep(sweep, tmp_path, scheduler="serial", progress=False)
    assert result.status.tolist() == ["done", "failed"]
    (failure,) = result.failures
    assert failure["index"] == 1
    assert failure["parameters"] == {"tau": 5.0}
    assert "SimulationDiverged" in failure["error"]
    assert "tau=5.0" in caplog.text
    assert np.all(np.isnan(result["sgd_eps_g"][1]))
    assert not np.any(np.isnan(result["sgd_eps_g"][0]))
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["points"][1]["status"] == "failed"
    # Not retried when asked so: the failure stays recorded, nothing runs.
    with pytest.warns(UserWarning, match="failed"):
        again = run_sweep(sweep, tmp_path, scheduler="serial", retry_failed=False, progress=False)
    assert again.status.tolist() == ["done", "failed"]


def test_directory_of_another_sweep_is_refused(serial_result):
    with pytest.raises(ValueError, match="describes a different sweep"):
        run_sweep(small_sweep(seed=8), serial_result.directory, scheduler="serial")


def test_unequal_points_are_padded_with_nan(tmp_path):
    sweep = Sweep(grid={"n_seeds": [1, 2], "t_max": [1.0, 2.0]}, model=Model(tau=0.1), N=30)
    result = run_sweep(sweep, tmp_path, scheduler="serial", progress=False)
    eps = result["sgd_eps_g"]  # (n_seeds, t_max, seed, time)
    assert eps.shape == (2, 2, 2, 3)
    assert np.isnan(eps[0, 1, 1]).all() and not np.isnan(eps[0, 1, 0]).any()
    assert np.isnan(eps[1, 0, :, 2]).all() and not np.isnan(eps[1, 1]).any()
    assert "time" not in result.coords  # the grids differ


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"grid": {"temperature": [1.0]}}, "The `grid` parameter of Sweep must name"),
        ({"grid": {"beta": []}}, r"The `grid\['beta'\]` parameter of Sweep must hold"),
        ({"grid": {"gamma": [0.1]}}, "the schedule Constant does not have"),
        ({"grid": {"tau": [-1.0]}}, r"Sweep point 0 \(tau=-1.0\) is invalid: The `tau`"),
        ({"grid": {"N": [1]}, "model": Model(M=2)}, "The `N` parameter of Sweep must be >= M"),
        ({"grid": {"N": [10]}, "kind": "sde"}, "The `kind` parameter of Sweep must be"),
        ({"grid": {"N": [10]}, "model": Model(beta=lambda t: 1.0)}, "a callable cannot be sent"),
    ],
)
def test_validation_messages(kw, match):
    with pytest.raises(ValueError, match=match):
        Sweep(**kw)


def test_description_round_trip():
    sweep = small_sweep(ode={"rtol": 1e-9}, observables=("eps_g", "m"))
    assert Sweep.from_description(json.loads(json.dumps(sweep.describe()))) == sweep


def test_cli_sweep_from_toml(tmp_path, capsys):
    config = tmp_path / "grid.toml"
    config.write_text(
        'kind = "sgd"\nN = 40\nt_max = 2.0\nobservables = ["eps_g"]\n'
        "[model]\ntau = 0.1\nrho = 2.0\n[grid]\nbeta = [0.5, 4.0]\nreplicate = [0, 1]\n"
    )
    assert cli_main(["sweep", str(config), "--out", str(tmp_path / "o"), "--serial"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["points"], printed["done"], printed["failed"]) == (4, 4, [])
    assert printed["results"] == str(tmp_path / "o" / "results.npz")
    result = SweepResult.load(tmp_path / "o" / "results.npz")
    assert result["sgd_eps_g"].shape == (2, 2, 1, 3)
    assert set(result.data) == {"sgd_eps_g", "t"}
    # Replicates are independent runs (their own seeds).
    assert not np.array_equal(result["sgd_eps_g"][:, 0], result["sgd_eps_g"][:, 1])


def test_power_law_fit_recovers_a_known_exponent():
    N = np.array([100.0, 400.0, 1600.0, 6400.0])
    y = 0.3 * N**-0.5
    b, b_err, amplitude, chi2 = fit_power_law(N, y, 0.05 * y)
    assert b == pytest.approx(-0.5, abs=1e-12)  # exact data: float64 round-off only
    assert amplitude == pytest.approx(0.3, rel=1e-12)
    # sigma(log y) = 0.05 at each of 4 points spanning log N over 2 ln 64: textbook formula.
    x = np.log(N)
    assert b_err == pytest.approx(0.05 / np.sqrt(np.sum((x - x.mean()) ** 2)), rel=1e-9)
    assert chi2 == pytest.approx(0.0, abs=1e-20)


@pytest.mark.slow
def test_finite_size_scaling_exponent_is_minus_one_half(tmp_path):
    """SGD fluctuates around the ODE by O(N^-1/2). 8 seeds at 4 sizes over a factor 64 give
    the exponent to about +-0.05; the test allows 4 standard errors plus 0.05 for the O(1/N)
    corrections at the smallest N."""
    fss = finite_size_scaling(
        Model(tau=0.1),
        N=[100, 400, 1600, 6400],
        t_max=10.0,
        n_seeds=8,
        out_dir=tmp_path,
        workers=2,
        progress=False,
    )
    assert abs(fss.exponent + 0.5) < 4 * fss.exponent_err + 0.05
    assert fss.exponent_err < 0.15
    saved = json.loads((tmp_path / "finite_size.json").read_text())
    assert saved["exponent"] == fss.exponent


def test_finite_size_scaling_cli_and_figure(tmp_path, capsys):
    config = tmp_path / "fss.toml"
    config.write_text(
        "t_max = 2.0\nn_seeds = 2\n[model]\ntau = 0.1\n[finite_size]\nN = [40, 160]\n"
    )
    out = tmp_path / "out"
    assert cli_main(["sweep", str(config), "--out", str(out), "--serial", "--no-progress"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (out / "finite_size.png").stat().st_size > 0
    summary = json.loads((out / "finite_size.json").read_text())
    assert printed["exponent"] == summary["exponent"] and printed["N"] == [40, 160]
    assert summary["N"] == [40, 160] and np.isfinite(summary["exponent"])


def test_finite_size_names_moved_to_analysis_with_a_deprecation_warning():
    import linvae.analysis.finite_size as home
    import linvae.sweep

    for name in ("FiniteSizeScaling", "finite_size_scaling", "fit_power_law"):
        with pytest.warns(DeprecationWarning, match=f"linvae.analysis.finite_size.{name}"):
            assert getattr(linvae.sweep, name) is getattr(home, name)


@pytest.mark.parametrize(
    ("signame", "code", "where"),
    [("SIGINT", 130, "--serial"), ("SIGTERM", 143, "--workers=1")],
)
def test_sigint_and_sigterm_keep_the_finished_points(tmp_path, signame, code, where):
    """Ctrl-C and a scheduler's SIGTERM: the finished points stay, the index is written, the
    exit code is 128 + the signal, and a rerun computes only the rest."""
    import os
    import signal

    config = tmp_path / "sweep.toml"
    config.write_text(
        'kind = "sgd"\nN = 40\nt_max = 2.0\nobservables = ["eps_g"]\n'
        "[model]\ntau = 0.1\n[grid]\nbeta = [0.5, 1.0, 2.0, 4.0]\n"
    )
    out = tmp_path / "out"
    marker = tmp_path / "first-point-written"
    # After each point is written the sweep pauses (no number changes), so the signal lands
    # between points, after the first.
    code_text = (
        "import sys, time, pathlib; from linvae.cli import main; import linvae.sweep.store as s;"
        "orig = s.write_point;"
        f"s.write_point = lambda *a: (orig(*a), pathlib.Path({str(marker)!r}).touch(),"
        " time.sleep(2));"
        f"sys.exit(main(['sweep', {str(config)!r}, '--out', {str(out)!r}, {where!r},"
        " '--no-progress']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code_text], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, getattr(signal, signame))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "run the same command again" in err
    index = json.loads((out / "index.json").read_text())
    done = [p for p in index["points"] if p["status"] == "done"]
    assert 1 <= len(done) < 4
    assert len(list((out / "points").glob("*.npz"))) == len(done)
    assert cli_main(["sweep", str(config), "--out", str(out), "--serial", "--no-progress"]) == 0
    assert load_sweep(out).complete


def test_index_is_not_rewritten_after_every_point(tmp_path, monkeypatch):
    """One index rewrite costs O(n): after each of n points it cost O(n^2). It is written at
    the start, at most every few seconds, and at the end (complete)."""
    import linvae.sweep.run as run_module
    from linvae.sweep import store

    writes = []
    original = store.write_index
    monkeypatch.setattr(run_module, "_INDEX_INTERVAL", 1e9)  # no timed rewrite in this test
    monkeypatch.setattr(
        store, "write_index", lambda *a: (writes.append(len(a[2])), original(*a))[1]
    )
    run_sweep(small_sweep(), tmp_path, scheduler="serial", progress=False)
    assert writes == [0, 4]  # at the start (nothing done) and at the end (all four)
    index = json.loads((tmp_path / "index.json").read_text())
    assert [p["status"] for p in index["points"]] == ["done"] * 4
