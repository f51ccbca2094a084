"""SIGTERM (a cluster scheduler's stop) during ``conv-study linear`` keeps the measured times.

A real process gets the signal, as it would from a scheduler; the wait for the first measured
time is bounded by a deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from conv_study.cli import main
from linvae.utils.process import LOCK_NAME


def _interrupted(tmp_path) -> tuple[list[str], dict]:
    """``conv-study linear`` stopped by SIGTERM after its first time: its argv and JSON."""
    out = tmp_path / "figs"
    # Sizes where one time's estimates take a moment, so that the signal lands mid-run.
    argv = [
        "linear", "--N", "100", "--beta", "0.5", "--tau", "0.1",
        "--times", "0", "5", "10", "15", "20", "25",
        "--points", "600", "--repeats", "3", "--seed", "3", "--out", str(out),
    ]  # fmt: skip
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conv_study", *argv],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        deadline = time.monotonic() + 180
        while "1/6 times" not in log.read_text():  # the progress bar's first time
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no time was measured in 180 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=120)
    stderr = log.read_text()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "interrupted: kept" in stderr
    printed = json.loads(stdout)  # strict JSON: a summary of the file
    saved = json.loads((out / "geometry.json").read_text())
    assert printed["complete"] is False and printed["json"] == str(out / "geometry.json")
    assert printed["t"] == [entry["t"] for entry in saved["times"]]
    return argv, saved


def test_sigterm_keeps_the_finished_measurements(tmp_path):
    _, saved = _interrupted(tmp_path)
    assert saved["complete"] is False
    times = [entry["t"] for entry in saved["times"]]
    assert 1 <= len(times) < 6
    assert times == [0.0, 5.0, 10.0, 15.0, 20.0][: len(times)]
    assert all("measured" in e and "predicted" in e for e in saved["times"])
    out = tmp_path / "figs"
    assert sorted(p.name for p in out.iterdir()) == ["geometry.json"]  # no tmp, no lock
    assert not (out / LOCK_NAME).exists()


@pytest.mark.slow
def test_the_same_command_again_measures_only_the_other_times(tmp_path):
    argv, saved = _interrupted(tmp_path)
    assert main(argv) == 0
    resumed = json.loads((tmp_path / "figs" / "geometry.json").read_text())
    assert resumed["complete"] is True
    assert [entry["t"] for entry in resumed["times"]] == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
    assert resumed["times"][: len(saved["times"])] == saved["times"]


def test_known_times_are_read_back_not_recomputed():
    """A run resumed from the JSON of its first times is identical to an uninterrupted one:
    every time's estimates have their own seeds, and JSON keeps every float exactly."""
    from conv_study.linear import linear_geometry
    from linvae import Model

    kw = dict(N=60, times=[0, 5, 10], n_points=60, repeats=2, ode=False, rng=1)
    model = Model(beta=0.5, tau=0.1)
    full = linear_geometry(model, **kw).to_json()
    known = json.loads(json.dumps(full["times"][:2]))
    assert linear_geometry(model, known=known, **kw).to_json() == full
    with pytest.raises(ValueError, match=r"its entry 1 has t = 5\.0 where t = 7 is asked"):
        linear_geometry(model, known=known, **{**kw, "times": [0, 7, 10]})


def test_points_beyond_memory_are_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LINVAE_MEMORY_LIMIT", "64M")  # a small machine
    # 10^5 points: the estimators' 10^5 x 10^5 distances alone are 80 GB.
    argv = ["linear", "--N", "100", "--points", "100000", "--out", str(tmp_path / "figs")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("conv-study linear: error: --N 100 --points 100000 with 6 times needs")
    assert "this machine has" in err and "Lower --points or --N" in err
    assert list(tmp_path.iterdir()) == []
