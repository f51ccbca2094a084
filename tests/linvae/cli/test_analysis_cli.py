"""The analysis commands: JSON on stdout, figures to files; ``linvae reproduce --quick``."""

from __future__ import annotations

import json
import math

import pytest

from linvae.cli import main


def _run(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_threshold(capsys):
    out = _run(capsys, ["threshold", "--rho", "1", "--eta", "1"])
    assert out["beta_star"] == 2.0
    assert abs(out["beta_star_numerical"] - 2.0) < 1e-8
    out = _run(capsys, ["threshold", "--rho", "1", "--eta", "1", "--lam", "0.1"])
    assert out["beta_star"] == pytest.approx(2 / 1.1 - 0.1 / 2, abs=1e-14)
    out = _run(capsys, ["threshold", "--rho", "0.5,2", "--eta", "1", "--method", "analytic"])
    assert out["per_factor"] == [1.5, 3.0]
    assert out["transition"] == "continuous" and out["beta_spinodal"] == 3.0


def test_threshold_first_order(capsys):
    """rho = eta = 1, lam = 1.8: first order, spinodal 0.010937, coexistence 0.007319."""
    assert main(["threshold", "--rho", "1", "--eta", "1", "--lam", "1.8"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["transition"] == "first-order"
    assert out["beta_star"] == pytest.approx(2 / 2.8 - 0.9, abs=1e-14)
    assert out["beta_spinodal"] == pytest.approx(0.0109373, abs=1e-7)
    assert out["beta_coexistence"] == pytest.approx(0.0073188, abs=1e-7)
    keys = {"transition", "beta_star", "beta_spinodal", "beta_coexistence"}
    assert set(out["factors"][0]) == keys and set(out["spare_latent_transition"]) == keys
    assert out["spare_latent_transition"]["transition"] == "continuous"
    assert "first-order transition" in captured.err


def test_fixed_points(capsys):
    argv = "fixed-points --M 1 --M-star 1 --rho 1 --eta 1 --beta 1 --lam 0 --tau 0.01".split()
    out = _run(capsys, argv)
    # At finite tau the noise point exists at beta = eta (SGD noise shifts its threshold).
    assert [p["name"] for p in out] == ["learned", "noise", "collapsed"]
    assert out[0]["stability"] == "stable" and out[2]["stability"] == "saddle"
    assert set(out[0]) >= {"state", "eps_g", "eigenvalues_real", "stability", "branches"}
    out = _run(capsys, [*argv, "--no-sgd-noise"])
    assert [p["name"] for p in out] == ["learned", "collapsed"]
    assert out[0]["top_eigenvalue"] == pytest.approx(-0.01 * (3 - math.sqrt(5)) / 2, rel=1e-12)
    # The first-order strip: the learned point, its saddle (lower branch) and collapse.
    strip = "fixed-points --M 1 --M-star 1 --lam 1.8 --beta 0.009 --no-sgd-noise".split()
    out = _run(capsys, strip)
    assert [(p["name"], p["stability"]) for p in out] == [
        ("learned", "stable"),
        ("learned(lower)", "saddle"),
        ("collapsed", "stable"),
    ]
    assert [p["branches"] for p in out] == [["upper"], ["lower"], [None]]


def test_anneal(capsys):
    argv = "anneal --rho 1 --eta 1 --beta-final 1 --tau 0.05 --n-grid 4".split()
    out = _run(capsys, argv)
    assert set(out) >= {"J_max", "gamma_c", "gamma_opt", "T_conv_constant", "T_conv_opt"}
    assert out["gamma_c"] == pytest.approx(-out["J_max"] / 2)


def test_phase_diagram(capsys, tmp_path):
    fig = tmp_path / "pd.png"
    data = tmp_path / "pd.json"
    argv = ["phase-diagram", "beta-rho", "--nx", "20", "--ny", "10", "--out", str(fig)]
    out = _run(capsys, [*argv, "--data", str(data)])
    assert out["shape"] == [10, 20] and fig.stat().st_size > 1000
    assert json.loads(data.read_text())["maps"]["phase"][0][0] == "learned"
    out = _run(capsys, ["phase-diagram", "M-beta", "--out", str(tmp_path / "m.png")])
    assert out["kind"] == "M-beta"


def test_errors_go_to_stderr(capsys):
    assert main(["fixed-points", "--beta", "-1"]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.slow
def test_reproduce_quick(tmp_path, capsys):
    """The CI variant of the figure set: every figure as PNG and PDF, and the manifest."""
    out = _run(capsys, ["reproduce", "--out", str(tmp_path), "--quick", "--quiet"])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    # 18 of the online figure set + 8 of the finite-data stage (offline-*).
    assert out["figures"] == len(manifest["figures"]) == 26
    for name in manifest["figures"]:
        assert (tmp_path / name).stat().st_size > 1000
    numbers = manifest["numbers"]
    assert numbers["threshold"]["beta_star_analytic"] == 2.0
    assert abs(numbers["threshold"]["beta_star_numerical"] - 2.0) < 1e-8
    assert numbers["J_max_example"]["J_max_over_tau"] == pytest.approx(
        numbers["J_max_example"]["expected"], rel=1e-12
    )
    # beta = 2.5 > beta*: SGD and ODE end collapsed (eps_g = rho = 1; N = 100 fluctuations).
    assert abs(numbers["learning_curves"]["2.5"]["sgd_final_mean"] - 1.0) < 0.05
    assert numbers["superfluous"]["beta=1,M=2"]["decay_exponent"] == pytest.approx(-1, abs=0.1)
    # Finite data: beta_c -> rho + eta as alpha -> infinity, = s(alpha) for lam = 0.
    assert numbers["offline"]["beta_c"]["lam=1"]["inf"] == 2.0
    assert numbers["offline"]["beta_c"]["lam=0"]["1"] == 4.0
