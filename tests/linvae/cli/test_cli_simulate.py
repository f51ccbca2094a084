import json
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from linvae.cli import main


def test_simulate_writes_npz_and_plot(tmp_path, capsys):
    out, fig = tmp_path / "run.npz", tmp_path / "fig.png"
    code = main(
        ["simulate", "--N", "100", "--t-max", "20", "--dt", "2", "--seeds", "3", "--tau", "0.1",
         "--anneal", "tanh", "--gamma", "0.05", "--out", str(out), "--plot", str(fig), "--quiet"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["out"] == str(out)
    with np.load(out) as data:
        for name in ("t", "m", "d", "Q", "E", "R", "D", "eps_g"):
            assert name in data
        assert data["eps_g"].shape == (3, 11)  # seed axis first
        meta = json.loads(str(data["metadata"]))
    assert meta["model"]["beta"] == {"kind": "tanh", "beta_final": 1.0, "gamma": 0.05}
    assert meta["N"] == 100 and meta["meta"]["n_seeds"] == 3
    assert fig.stat().st_size > 10_000


def test_simulate_bad_value_names_parameter(tmp_path, capsys):
    code = main(["simulate", "--tau", "-1", "--out", str(tmp_path / "x.npz"), "--quiet"])
    assert code == 2
    assert "`tau`" in capsys.readouterr().err


def test_simulate_divergence_exit_code_and_partial_file(tmp_path, capsys):
    out = tmp_path / "x.npz"
    code = main(["simulate", "--tau", "5", "--N", "50", "--t-max", "20", "--out", str(out),
                 "--quiet"])  # fmt: skip
    assert code == 1
    assert "diverged" in capsys.readouterr().err
    assert out.exists()


def test_python_dash_m_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "linvae", "--help"], capture_output=True, text=True, check=True
    )
    assert "simulate" in proc.stdout


def _start_and_signal(tmp_path, argv, signum, *, started_module, started_name):
    """Run ``linvae ARGV`` in a process, send ``signum`` once ``started_module.started_name``
    has been called (a marker file tells), and return the finished process."""
    marker = tmp_path / "started"
    code = (
        "import sys, pathlib, importlib\n"
        f"mod = importlib.import_module({started_module!r})\n"
        f"orig = getattr(mod, {started_name!r})\n"
        "def wrapped(*a, **k):\n"
        "    out = orig(*a, **k)\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n"
        "    return out\n"
        "wrapped.signatures = getattr(orig, 'signatures', [])\n"
        f"setattr(mod, {started_name!r}, wrapped)\n"
        "from linvae.cli import main\n"
        f"sys.exit(main({argv!r}))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.3)  # well inside the work
    os.kill(proc.pid, signum)
    proc.wait(timeout=60)
    return proc


@pytest.mark.parametrize(("signame", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_simulate_saves_the_partial_run_on_sigint_and_sigterm(tmp_path, signame, code):
    """Cluster schedulers send SIGTERM, a terminal SIGINT: both keep what was recorded."""
    out = tmp_path / "run.npz"
    argv = ["simulate", "--N", "100", "--t-max", "1e6", "--dt", "10", "--seeds", "1",
            "--threads", "1", "--out", str(out), "--quiet"]  # fmt: skip
    # The marker goes down once the first chunk of SGD steps has been handed to the kernel.
    proc = _start_and_signal(
        tmp_path,
        argv,
        getattr(signal, signame),
        started_module="linvae.sgd.simulator",
        started_name="run_chunk_serial",
    )
    err = proc.stderr.read()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "interrupted at t = " in err
    from linvae import Trajectory

    run = Trajectory.load(out)
    assert 1 <= run.t.size < 100_001  # something, not everything
    assert run.meta["interrupted_at_step"] > 0


def test_outputs_are_written_0644_under_umask_022(tmp_path):
    """Run files and figures alike get the permissions of any new file (0666 & ~umask)."""
    old = os.umask(0o022)
    try:
        out, fig = tmp_path / "run.npz", tmp_path / "fig.png"
        argv = ["simulate", "--N", "20", "--t-max", "2", "--seeds", "2", "--quiet",
                "--out", str(out), "--plot", str(fig)]  # fmt: skip
        assert main(argv) == 0
        for path in (out, fig):
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    finally:
        os.umask(old)
