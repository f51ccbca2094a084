import json
import subprocess
import sys

import numpy as np

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
