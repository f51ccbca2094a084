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


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LINVAE_CACHE_DIR", str(tmp_path_factory.mktemp("linvae_cache")))
    yield
    mp.undo()


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

    page = (Path(__file__).resolve().parents[2] / "docs" / "theory.md").read_text()
    begin = "<!-- BEGIN GENERATED: latex_equations(1, 1) -->\n$$\n"
    start = page.index(begin) + len(begin)
    end = page.index("\n$$\n<!-- END GENERATED -->")
    assert page[start:end] == latex_equations(1, 1), (
        "Regenerate the block with linvae.theory.derive.latex_equations(1, 1)."
    )
