"""``linvae offline`` and ``linvae phase-diagram alpha-beta``: strict JSON, one-line errors."""

from __future__ import annotations

import json

import pytest

from linvae.cli import main
from linvae.offline.theory import collapse_threshold, solve_offline


def _run(capsys, argv):
    assert main(argv) == 0
    text = capsys.readouterr().out
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON: {name}"))


def test_offline_theory_json(capsys):
    out = _run(capsys, ["offline", "--alpha", "2", "--beta", "1", "--lam", "1"])
    th = out["theory"]
    sol = solve_offline(2.0, beta=1.0, lam=1.0)
    for name in ("eps_g", "m", "d", "Q", "E", "R", "D", "rate", "distortion"):
        assert th[name] == pytest.approx(getattr(sol, name), rel=1e-15)
    assert th["collapsed"] is False
    assert th["beta_c"] == pytest.approx(collapse_threshold(2.0, lam=1.0))
    assert out["alpha_c"] == pytest.approx(0.1006, abs=1e-4)
    assert out["alpha_bbp"] == 1.0


def test_offline_alpha_list_and_infinity(capsys):
    out = _run(capsys, ["offline", "--alpha", "1,inf", "--beta", "2.5"])
    assert out["theory"]["collapsed"] == [False, True]  # s(1) = 4 > 2.5 >= rho + eta
    assert out["theory"]["alpha"] == [1.0, None]  # inf as null, with a reason
    assert "theory.alpha" in out["null_reasons"]


def test_offline_simulate(capsys):
    argv = ["offline", "--alpha", "1.5", "--simulate", "--N", "30", "--seeds", "2"]
    out = _run(capsys, [*argv, "--method", "gd", "--quiet"])
    sim = out["simulation"]
    assert sim["alpha"] == [1.5] and sim["method"]["method"] == "gd"
    # GD reaches each seed's own global minimum (docs/offline.md): to 1e-8.
    assert sim["mean"]["eps_g"][0] == pytest.approx(
        sim["theory_finite_N_mean"]["eps_g"][0], abs=1e-8
    )
    assert sim["std"]["eps_g"][0] > 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--alpha", "-1"], "--alpha must be > 0"),
        (["--alpha", "2", "--beta", "0"], "`beta` parameter"),
        (["--alpha", "2", "--simulate", "--N", "1"], "--N must be at least 2"),
        (["--alpha", "inf", "--simulate"], "finite --alpha"),
        (["--alpha", "2", "--simulate", "--method", "gd", "--tau", "0.1"], "--method sgd"),
        (["--alpha", "2", "--method", "gd"], "add --simulate"),
    ],
)
def test_offline_bad_input(capsys, argv, needle):
    assert main(["offline", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("linvae offline: error:") and needle in err
    assert len(err.strip().splitlines()) == 1


def test_offline_divergence_is_one_line(capsys):
    argv = ["offline", "--alpha", "2", "--simulate", "--method", "sgd", "--tau", "30"]
    assert main([*argv, "--epochs", "2", "--N", "20", "--seeds", "1", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Lower the learning rate" in err[0]


def test_phase_diagram_alpha_beta(capsys, tmp_path):
    fig = tmp_path / "ab.png"
    argv = ["phase-diagram", "alpha-beta", "--lam", "1", "--nx", "20", "--ny", "15"]
    out = _run(capsys, [*argv, "--out", str(fig), "--data", str(tmp_path / "ab.json")])
    assert out["kind"] == "alpha-beta" and out["shape"] == [15, 20]
    assert fig.stat().st_size > 0
    data = json.loads((tmp_path / "ab.json").read_text())
    assert set(data["maps"]["phase"][0]) <= {"collapsed", "learned", "over-fitting"}
    assert main([*argv, "--x-min", "0", "--out", str(fig)]) == 2
    assert "must be > 0" in capsys.readouterr().err
