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

from conv_study.cli import main
from linvae.utils.process import LOCK_NAME


def test_sigterm_keeps_the_finished_measurements(tmp_path):
    out = tmp_path / "figs"
    # Sizes where one time's estimates take a moment, so that the signal lands mid-run.
    cmd = [
        sys.executable, "-m", "conv_study", "linear", "--N", "100", "--beta", "0.5",
        "--tau", "0.1", "--times", "0", "5", "10", "15", "20", "25", "30", "35",
        "--points", "1000", "--repeats", "3", "--seed", "3", "--out", str(out),
    ]  # fmt: skip
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 180
        while "time 1/8 done" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no time was measured in 180 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=120)
    stderr = log.read_text()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "interrupted: kept" in stderr
    printed = json.loads(stdout)  # strict JSON, the finished times only
    saved = json.loads((out / "geometry.json").read_text())
    assert printed == saved
    assert saved["complete"] is False
    times = [entry["t"] for entry in saved["times"]]
    assert 1 <= len(times) < 8
    assert times == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0][: len(times)]
    assert all("measured" in e and "predicted" in e for e in saved["times"])
    assert sorted(p.name for p in out.iterdir()) == ["geometry.json"]  # no tmp, no lock
    assert not (out / LOCK_NAME).exists()


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
