"""``linvae protocol``: strict JSON on stdout, --out and --plot files, one-line errors."""

from __future__ import annotations

import json

import pytest

from linvae.cli import main
from linvae.schedules import read_schedule

SMALL = "protocol --beta-final 1 --tau 0.05 --beta-min 0.2 --beta-max 2 --n-init 2".split()


def test_protocol_prints_the_documented_keys_and_writes_its_files(capsys, tmp_path):
    out_json, plot = tmp_path / "protocol.json", tmp_path / "protocol.png"
    argv = [*SMALL, "--n-intervals", "6", "--max-iter", "8", "--out", str(out_json),
            "--plot", str(plot)]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    for key in ("speedup", "best_tanh_speedup", "time_saved", "schedule", "wall_time_s"):
        assert key in out
    assert out["speedup"] > out["baselines"]["step"]["speedup"] > 1.0
    assert out["n_init"] == 2 and out["N"] == 200 and out["tol"] == 1e-3
    assert "Optimal protocol: speed-up" in captured.err
    assert json.loads(out_json.read_text())["speedup"] == out["speedup"]
    assert plot.stat().st_size > 10_000
    # The schedule is a JSON schedule description, usable as --schedule FILE.json.
    schedule_file = tmp_path / "schedule.json"
    schedule_file.write_text(json.dumps(out["schedule"]))
    schedule = read_schedule(schedule_file)
    assert schedule.final == 1.0 and len(schedule.times) == 7


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--beta-min", "2", "--beta-max", "1"], "--beta-min must be > 0 and below --beta-max"),
        (["--beta-min", "0"], "--beta-min must be > 0"),
        (["--beta-max", "0.5"], "--beta-final (1) must lie within"),
        (["--objective", "final-error"], "--objective final-error needs --horizon"),
        (["--plot", "figure.xyz"], "xyz"),
    ],
)
def test_bad_input_is_one_line_on_stderr_before_any_work(capsys, tmp_path, extra, words):
    argv = [*SMALL, *extra]
    argv = [str(tmp_path / a) if a.endswith(".xyz") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
