"""``--schedule FILE.json``: a KL schedule from a file drives ``simulate``, ``ode``, ``sweep``
and ``anneal`` (through `linvae.schedules.read_schedule`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from linvae import Model, Trajectory
from linvae.cli import main
from linvae.schedules import Constant, Tabulated
from linvae.sgd.simulator import simulate
from linvae.theory import solve_ode

# beta held at 0.2, then raised to 1.5 between t = 2 and t = 4 (a kink at each knot).
TABULATED = {"kind": "tabulated", "times": [0, 2, 4], "values": [0.2, 0.2, 1.5]}
# The solver named on both sides, so that the CLI and the API solve alike.
SOLVER = {"method": "LSODA", "rtol": 1e-8, "atol": 1e-10}
SIZES = ["--N", "40", "--t-max", "4", "--dt", "0.5", "--tau", "0.1", "--rho", "2"]


@pytest.fixture
def schedule_file(tmp_path):
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(TABULATED))
    return path


def _run(argv: list[str], capsys) -> dict:
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_a_tabulated_schedule_file_drives_simulate_and_ode(schedule_file, tmp_path, capsys):
    schedule = Tabulated(times=TABULATED["times"], values=TABULATED["values"])
    run_path, ode_path = tmp_path / "run.npz", tmp_path / "ode.npz"
    argv = ["simulate", *SIZES, "--n-seeds", "2", "--seed", "3", "--quiet"]
    _run([*argv, "--schedule", str(schedule_file), "--out", str(run_path)], capsys)
    run = Trajectory.load(run_path)
    assert run.model.schedule == schedule
    # The same run as the API's with the same model and seed: bitwise.
    model = Model(rho=2.0, tau=0.1, beta=schedule)
    api = simulate(model, N=40, t_max=4.0, dt=0.5, n_seeds=2, rng=3, progress=False)
    np.testing.assert_array_equal(run.eps_g, api.eps_g)

    _run(
        [
            "ode",
            "--init",
            str(run_path),
            "--schedule",
            str(schedule_file),
            "--out",
            str(ode_path),
            "--method",
            "LSODA",
            "--rtol",
            "1e-8",
            "--atol",
            "1e-10",
        ],
        capsys,
    )
    ode = Trajectory.load(ode_path)
    assert ode.model.schedule == schedule
    api_ode = solve_ode(model, t_max=4.0, t_eval=run.t, init=run, **SOLVER)
    np.testing.assert_array_equal(ode.eps_g, api_ode.eps_g)
    # The schedule matters: at constant beta = 0.2 the ODE ends elsewhere (beta(4) = 1.5 here).
    constant = solve_ode(
        Model(rho=2.0, tau=0.1, beta=Constant(beta=0.2)),
        t_max=4.0,
        t_eval=run.t,
        init=run,
        **SOLVER,
    )
    assert abs(constant.eps_g[0, -1] - ode.eps_g[0, -1]) > 1e-3


def test_sweep_takes_the_schedule_file_for_every_point(schedule_file, tmp_path, capsys):
    config = tmp_path / "grid.toml"
    config.write_text(
        'kind = "ode"\nN = 40\nt_max = 2.0\nobservables = ["eps_g"]\n'
        "[model]\nrho = 2.0\n[grid]\ntau = [0.05, 0.1]\n"
    )
    out = tmp_path / "sweep"
    argv = ["sweep", str(config), "--out", str(out), "--serial", "--no-progress"]
    printed = _run([*argv, "--schedule", str(schedule_file)], capsys)
    assert (printed["points"], printed["done"]) == (2, 2)
    assert json.loads((out / "sweep.json").read_text())["model"]["beta"] == TABULATED | {
        "times": [0.0, 2.0, 4.0],
        "values": [0.2, 0.2, 1.5],
    }


def _one_line_error(argv: list[str], capsys) -> str:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "readable JSON file"),
        ("{not json", "is not valid JSON"),
        ('{"kind": "tabulated", "times": [0, 1], "values": [1]}', "one value per time"),
        ('{"kind": "wobble"}', "must be one of"),
    ],
    ids=["missing", "not-json", "bad-description", "unknown-kind"],
)
@pytest.mark.parametrize("command", ["simulate", "ode", "anneal", "sweep"])
def test_a_bad_schedule_file_is_one_line_naming_the_option(
    command, content, words, tmp_path, capsys
):
    path = tmp_path / "schedule.json"
    if content is not None:
        path.write_text(content)
    argv = {
        "simulate": ["simulate", "--out", str(tmp_path / "run.npz")],
        "ode": [
            "ode",
            "--init-values",
            "m=0.1,d=0.1,Q=1,E=1,R=0.1,D=1",
            "--out",
            str(tmp_path / "o.npz"),
        ],
        "anneal": ["anneal"],
        "sweep": ["sweep", str(tmp_path / "grid.toml"), "--out", str(tmp_path / "sweep")],
    }[command]
    (tmp_path / "grid.toml").write_text('kind = "ode"\n[grid]\ntau = [0.1]\n')
    err = _one_line_error([*argv, "--schedule", str(path)], capsys)
    assert err.startswith(f"linvae {command}: error: ") and "--schedule" in err, err
    if content is not None:  # a missing input may be reported by the output checks first
        assert words in err, err


def test_a_schedule_option_beside_the_file_is_refused(schedule_file, tmp_path, capsys):
    out = str(tmp_path / "run.npz")
    err = _one_line_error(
        ["simulate", "--schedule", str(schedule_file), "--beta", "2", "--out", out], capsys
    )
    assert "--schedule gives the whole KL schedule; --beta would change it" in err
    config = tmp_path / "grid.toml"
    config.write_text('kind = "ode"\n[model]\nbeta = 1.0\n[grid]\ntau = [0.1]\n')
    err = _one_line_error(
        ["sweep", str(config), "--out", str(tmp_path / "s"), "--schedule", str(schedule_file)],
        capsys,
    )
    assert "[model] beta" in err
