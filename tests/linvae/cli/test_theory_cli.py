"""``linvae ode`` and ``linvae compare``."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

from linvae import Model, OrderParameters, Trajectory
from linvae.cli import main
from linvae.cli.theory import parse_init_values

matplotlib.use("Agg")


def test_parse_scalar_and_matrix_forms():
    op = parse_init_values("m=0.01,d=0.12,Q=1.1,E=0.86,R=-0.1,D=1", 1, 1)
    assert op.m.shape == (1, 1) and op.R[0, 0] == -0.1 and op.D.shape == (1,)
    op = parse_init_values("m=0.01 -0.02;d=0.1 0.05;Q=1 0.1 0.1 1;E=1;R=0/0/0/0;D=1 2", 2, 1)
    np.testing.assert_array_equal(op.m, [[0.01], [-0.02]])
    np.testing.assert_array_equal(op.Q, [[1, 0.1], [0.1, 1]])
    np.testing.assert_array_equal(op.E, np.eye(2))
    np.testing.assert_array_equal(op.D, [1, 2])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("m=0.1,d=0.1,Q=1,E=1,R=0", r"missing \['D'\]"),
        ("m=0.1,d=0.1,Q=1,E=1,R=0,D=1,x=3", "unknown order parameter 'x'"),
        ("m=0.1 0.2 0.3;d=0.1;Q=1;E=1;R=0;D=1", "m needs 2 values"),
    ],
)
def test_parse_errors_name_the_entry(text, match):
    with pytest.raises(ValueError, match=match):
        parse_init_values(text, 2, 1)


def test_ode_command_writes_a_trajectory(tmp_path, capsys):
    out = tmp_path / "ode.npz"
    args = "ode --tau 0.1 --t-max 50 --dt 1 --anneal tanh --gamma 0.05 --out".split()
    rc = main([*args, str(out), "--init-values", "m=0.01,d=0.12,Q=1.1,E=0.86,R=-0.1,D=1"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    sol = Trajectory.load(out)
    assert sol.source == "ode" and sol.t.shape == (51,)
    assert summary["eps_g_final"] == pytest.approx(sol.eps_g[0, -1])
    assert sol.model.schedule.describe()["kind"] == "tanh"


def test_ode_command_warns_on_the_invariant_manifold(tmp_path, capsys):
    values = "m=0,d=0,Q=1,E=1,R=0,D=1"
    rc = main(["ode", "--t-max", "5", "--out", str(tmp_path / "o.npz"), "--init-values", values])
    assert rc == 0
    assert "invariant manifold" in capsys.readouterr().err


def test_ode_command_reports_bad_input(tmp_path, capsys):
    rc = main(["ode", "--init-values", "m=1", "--out", str(tmp_path / "o.npz")])
    assert rc == 2
    assert "missing" in capsys.readouterr().err


def fake_run(path, *, S=3, n_t=21):
    """A small 'simulation' file: the ODE plus seed-dependent noise (no SGD needed here)."""
    rng = np.random.default_rng(0)
    model = Model(tau=0.1, beta=0.5)
    op = OrderParameters(
        m=0.1 + 0.01 * rng.normal(size=(S, n_t, 1, 1)),
        d=0.1 + 0.01 * rng.normal(size=(S, n_t, 1, 1)),
        Q=1.0 + 0.01 * rng.normal(size=(S, n_t, 1, 1)),
        E=np.ones((S, n_t, 1, 1)),
        R=np.zeros((S, n_t, 1, 1)),
        D=np.ones((S, n_t, 1)),
    )
    run = Trajectory.from_order_parameters(
        np.linspace(0, 20, n_t), op, model=model, source="sgd", N=100
    )
    return run.save(path)


def test_compare_solves_the_ode_and_draws(tmp_path, capsys):
    run = fake_run(tmp_path / "run.npz")
    fig = tmp_path / "fig.png"
    ode_path = tmp_path / "ode.npz"
    rc = main(["compare", str(run), "--out", str(fig), "--save-ode", str(ode_path)])
    assert rc == 0
    assert fig.stat().st_size > 1000
    summary = json.loads(capsys.readouterr().out)
    assert summary["max_abs_eps_g_gap"] >= 0
    np.testing.assert_allclose(Trajectory.load(ode_path).t, Trajectory.load(run).t)
    rc = main(["compare", str(run), "--ode", str(ode_path), "--out", str(tmp_path / "g.png")])
    assert rc == 0


def test_docs_print_the_derived_equations():
    """docs/theory.md holds the output of latex_equations(1, 1) verbatim."""
    from pathlib import Path

    from linvae.theory.derive import latex_equations

    page = (Path(__file__).resolve().parents[3] / "docs" / "theory.md").read_text()
    begin = "<!-- BEGIN GENERATED: latex_equations(1, 1) -->\n$$\n"
    start = page.index(begin) + len(begin)
    end = page.index("\n$$\n<!-- END GENERATED -->")
    assert page[start:end] == latex_equations(1, 1), (
        "Regenerate the block with linvae.theory.derive.latex_equations(1, 1)."
    )


def _annealed_run(path):
    """A fake run of a non-default model: rho = 2, tanh annealing, tau = 0.05."""
    from linvae import TanhAnneal

    rng = np.random.default_rng(1)
    S, n_t = 2, 11
    op = OrderParameters(
        m=0.1 + 0.01 * rng.normal(size=(S, n_t, 1, 1)),
        d=0.1 + 0.01 * rng.normal(size=(S, n_t, 1, 1)),
        Q=np.ones((S, n_t, 1, 1)),
        E=np.ones((S, n_t, 1, 1)),
        R=np.zeros((S, n_t, 1, 1)),
        D=np.ones((S, n_t, 1)),
    )
    model = Model(rho=2.0, tau=0.05, beta=TanhAnneal(beta_final=0.8, gamma=0.05))
    run = Trajectory.from_order_parameters(
        np.linspace(0, 10, n_t), op, model=model, source="sgd", N=50
    )
    return run.save(path)


def test_ode_from_a_run_uses_the_runs_model_schedule_and_grid(tmp_path, capsys):
    """`linvae ode --init run.npz` integrates the run's model (rho = 2, tanh annealing, tau),
    not the defaults, on the run's times; nothing is overridden."""
    run_path = _annealed_run(tmp_path / "run.npz")
    out = tmp_path / "ode.npz"
    assert main(["ode", "--init", str(run_path), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    run, sol = Trajectory.load(run_path), Trajectory.load(out)
    assert sol.model == run.model
    np.testing.assert_array_equal(sol.t, run.t)
    assert summary["overrides"] == {} and sol.meta["overrides"] == {}
    assert sol.meta["init_file"] == str(run_path)
    # ... so compare accepts it (same model) and finds a gap.
    assert (
        main(["compare", str(run_path), "--ode", str(out), "--out", str(tmp_path / "c.png")]) == 0
    )
    assert json.loads(capsys.readouterr().out)["max_abs_eps_g_gap"] >= 0


def test_an_explicit_option_overrides_the_run_and_is_recorded(tmp_path, capsys):
    run_path = _annealed_run(tmp_path / "run.npz")
    out = tmp_path / "ode.npz"
    assert main(["ode", "--init", str(run_path), "--rho", "3", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "rho = 3.0 given; the run" in captured.err
    expected = {"rho": {"run": 2.0, "given": 3.0}}
    assert json.loads(captured.out)["overrides"] == expected
    sol = Trajectory.load(out)
    assert sol.meta["overrides"] == expected
    assert sol.model.schedule.describe() == {"kind": "tanh", "beta_final": 0.8, "gamma": 0.05}
    # compare refuses to measure a run against the ODE of another model ...
    fig = str(tmp_path / "c.png")
    assert main(["compare", str(run_path), "--ode", str(out), "--out", fig]) == 2
    err = capsys.readouterr().err
    assert "different models (rho: run 2.0, ODE 3.0)" in err and "--allow-model-mismatch" in err
    # ... unless asked, and then warns.
    argv = ["compare", str(run_path), "--ode", str(out), "--out", fig, "--allow-model-mismatch"]
    assert main(argv) == 0
    assert "warning: different models" in capsys.readouterr().err


def test_schedule_options_over_a_run(tmp_path, capsys):
    """--gamma changes the run's tanh rate only; --anneal none keeps its final beta."""
    run_path = _annealed_run(tmp_path / "run.npz")
    out = tmp_path / "ode.npz"
    assert main(["ode", "--init", str(run_path), "--gamma", "0.5", "--out", str(out)]) == 0
    assert Trajectory.load(out).model.schedule.describe()["gamma"] == 0.5
    assert main(["ode", "--init", str(run_path), "--anneal", "none", "--out", str(out)]) == 0
    assert Trajectory.load(out).model.schedule.describe() == {"kind": "constant", "beta": 0.8}
    capsys.readouterr()
    assert main(["ode", "--init", str(run_path), "--t-ramp", "4", "--out", str(out)]) == 2
    assert "--t-ramp belongs to --anneal linear or step" in capsys.readouterr().err


def test_compare_api_warns_when_the_models_differ():
    from linvae import compare
    from linvae.comparison import ModelMismatchWarning

    a = Trajectory.from_order_parameters(
        np.zeros(1), OrderParameters(**_op1()), model=Model(), source="sgd", N=10
    )
    b = Trajectory.from_order_parameters(
        np.zeros(1), OrderParameters(**_op1()), model=Model(rho=2.0), source="ode"
    )
    with pytest.warns(ModelMismatchWarning, match=r"rho: 1.0 vs 2.0"):
        compare(a, b)


def _op1():
    return {
        "m": np.full((1, 1, 1, 1), 0.1),
        "d": np.full((1, 1, 1, 1), 0.1),
        "Q": np.ones((1, 1, 1, 1)),
        "E": np.ones((1, 1, 1, 1)),
        "R": np.zeros((1, 1, 1, 1)),
        "D": np.ones((1, 1, 1)),
    }


def test_ode_help_is_plain_text_with_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["ode", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text
    assert "(default: 0.01; with --init: the run's)" in text  # --tau
    assert "LSODA" in text.split("--method")[-1]
