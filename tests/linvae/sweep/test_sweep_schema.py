"""The sweep file and its schema: the whole input is checked before any work, in one line.

Every malformed file is refused by ``linvae sweep`` with exit code 2 and one line naming the
file, the key at fault and the fix (never a traceback), before the output folder is touched;
grids are counted, not enumerated; a corrupt sweep directory names its file.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from linvae import Model, TanhAnneal
from linvae.cli import main as cli_main
from linvae.sweep import MAX_POINTS, Sweep, load_sweep, run_sweep
from linvae.sweep.schema import check_description, read_sweep_toml

GRID = "[grid]\nN = [50]\n"

#: (file content, words the one-line error must hold besides the file name).
BAD_FILES = {
    "empty": ("", ["is empty", "[grid]"]),
    "model_number": ("model = 5\n" + GRID, ["`model` must be a table", "the integer 5"]),
    "tanh_without_gamma": (
        '[model]\nbeta = { kind = "tanh", beta_final = 1.0 }\n' + GRID,
        ["`model.beta`", "Add gamma"],
    ),
    "schedule_typo": (
        '[model]\nbeta = { kind = "tanh", beta_final = 1.0, gama = 0.1 }\n' + GRID,
        ["'gama' is not one", "Did you mean 'gamma'?"],
    ),
    "schedule_kind": (
        '[model]\nbeta = { kind = "tahn", beta_final = 1.0 }\n' + GRID,
        ["`model.beta`", "Did you mean 'tanh'?"],
    ),
    "observables_string": (
        'observables = "eps_g"\n' + GRID,
        ["observables` must be a list of names, got the string 'eps_g'", '["eps_g"]'],
    ),
    "observable_unknown": ('observables = ["eps"]\n' + GRID, ["'eps' is not one"]),
    "ode_method": ('[ode]\nmethod = "bogus"\n' + GRID, ["`ode.method` must be one of", "LSODA"]),
    "ode_rtol_string": ('[ode]\nrtol = "x"\n' + GRID, ["`ode.rtol` must be a real number"]),
    "ode_rtol_zero": ("[ode]\nrtol = 0\n" + GRID, ["`ode.rtol` must be a real number in (0"]),
    "ode_unknown": ("[ode]\nrtl = 1e-6\n" + GRID, ["unknown key `ode.rtl`", "'rtol'"]),
    "ode_compiled_matrix_form": (
        '[ode]\nmethod = "DOP853-numba"\nrhs = "matrix-form"\n' + GRID,
        ["DOP853-numba", "matrix-form"],
    ),
    "top_level_typo": ("t_mx = 5.0\n" + GRID, ["unknown key `t_mx`", "Did you mean 't_max'?"]),
    "kind": ('kind = "odes"\n' + GRID, ["`kind` must be one of", "Did you mean 'ode'?"]),
    "t_max_negative": ("t_max = -1.0\n" + GRID, ["`t_max` must be a real number in (0"]),
    "seeds_float": ("n_seeds = 2.5\n" + GRID, ["`n_seeds` must be an integer >= 1"]),
    "model_unknown": ("[model]\ntaux = 0.1\n" + GRID, ["unknown key `model.taux`", "'tau'"]),
    "model_range": ("[model]\ntau = -0.1\n" + GRID, ["`model.tau` must be a real number in (0"]),
    "grid_typo": ("[grid]\nbta = [1.0]\n", ["`grid.bta`", "Did you mean 'beta'?"]),
    "grid_value": ('[grid]\nN = [50, "many"]\n', ["`grid.N[1]` must be an integer"]),
    "grid_empty_axis": ("[grid]\nN = []\n", ["`grid.N` must be a non-empty list"]),
    "grid_missing": ("t_max = 2.0\n", ["has no [grid] table"]),
    "grid_and_finite_size": (
        "[finite_size]\nN = [50, 100]\n" + GRID,
        ["both [grid] and [finite_size]"],
    ),
    "finite_size_sizes": ("[finite_size]\nN = [50]\n", ["at least two distinct integers"]),
    "finite_size_key": ("[finite_size]\nN = [50, 100]\nobservabl = 'm'\n", ["'observable'"]),
    "not_toml": ("kind = = 3\n", ["is not a TOML file"]),
    # What the schema cannot see alone, Sweep checks: the point names its parameters.
    "point_M_above_N": ("[model]\nM = 3\n[grid]\nN = [2, 50]\n", ["Sweep point 0", "N=2"]),
    "finite_size_point": ("[model]\nM = 60\n[finite_size]\nN = [50, 100]\n", ["Sweep point 0"]),
    # The records of one point come back to this process: 8e15 of them cannot.
    "memory": ("t_max = 1e15\n" + GRID, ["The largest point of the sweep", "of memory"]),
    "schedule_parameter_without_schedule": (
        "[grid]\ngamma = [0.1, 1.0]\n",
        ["sweeps ['gamma']", "Constant"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_sweep_file_one_line_before_any_work(case, tmp_path, capsys):
    text, words = BAD_FILES[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    out = tmp_path / "out"
    code = cli_main(["sweep", str(path), "--out", str(out), "--serial", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith("linvae sweep: error: ") and str(path) in err, err
    for word in words:
        assert word in err, (word, err)
    assert not out.exists()  # refused before the output folder is touched


def test_bad_ode_option_refused_before_any_point_runs(tmp_path, capsys):
    """A wrong [ode] option used to fail after every SGD point had run."""
    path = tmp_path / "grid.toml"
    path.write_text('kind = "both"\nt_max = 1.0\n[ode]\natol = -1e-9\n[grid]\nN = [40, 60]\n')
    code = cli_main(["sweep", str(path), "--out", str(tmp_path / "o"), "--serial"])
    assert code == 2
    assert "`ode.atol` must be a real number in (0, inf), got the number -1e-09" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("threads", ["0", "100000"])
def test_threads_per_point_checked_up_front(threads, tmp_path, capsys):
    path = tmp_path / "grid.toml"
    path.write_text("t_max = 1.0\n" + GRID)
    argv = ["sweep", str(path), "--out", str(tmp_path / "o"), "--threads-per-point", threads]
    assert cli_main(argv) == 2
    assert "--threads-per-point must be an integer in [1, " in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_api_shares_the_schema():
    with pytest.raises(ValueError, match=r"`ode` parameter of Sweep is invalid: .*ode\.rtol"):
        Sweep(grid={"N": [50]}, ode={"rtol": "tight"})
    with pytest.raises(ValueError, match=r"Did you mean 'method'\?"):
        Sweep(grid={"N": [50]}, ode={"methd": "RK45"})
    with pytest.raises(ValueError, match="must be a list of names, got the string 'eps_g'"):
        Sweep(grid={"N": [50]}, observables="eps_g")
    with pytest.raises(ValueError, match=r"my\.json: unknown key `sed`.*'seed'"):
        Sweep.from_description({"grid": {"N": [50]}, "sed": 1}, where="my.json")
    desc = Sweep(grid={"N": [50, 60]}, model=Model(rho=(1.0, 2.0), M_star=2)).describe()
    assert check_description(desc)["grid"] == {"N": [50, 60]}  # describe() fits the schema
    assert Sweep.from_description(desc) == Sweep.from_description(json.loads(json.dumps(desc)))


def test_schedules_can_be_swept(tmp_path):
    """A beta axis of schedule tables (as TOML and sweep.json write them) builds schedules."""
    path = tmp_path / "g.toml"
    path.write_text(
        't_max = 1.0\n[grid]\nbeta = [{ kind = "tanh", beta_final = 1.0, gamma = 0.1 }, 2.0]\n'
    )
    sweep = Sweep.from_toml(path)
    assert sweep.settings(0)["model"]["beta"] == {"kind": "tanh", "beta_final": 1.0, "gamma": 0.1}
    assert sweep.settings(1)["model"]["beta"] == {"kind": "constant", "beta": 2.0}
    python = Sweep(grid={"beta": [TanhAnneal(beta_final=1.0, gamma=0.1), 2.0]}, t_max=1.0)
    assert python.settings(0) == sweep.settings(0)


def test_read_sweep_toml_normalizes(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('n_seeds = 2.0\nW_star = "ones"\n[grid]\nN = 50\nrho = [1.0, [1.0, 2.0]]\n')
    desc = read_sweep_toml(path)
    assert desc["n_seeds"] == 2 and isinstance(desc["n_seeds"], int)
    assert desc["grid"] == {"N": [50], "rho": [1.0, [1.0, 2.0]]}
    with pytest.raises(FileNotFoundError, match="No sweep file at"):
        read_sweep_toml(tmp_path / "missing.toml")


def test_a_huge_grid_is_counted_not_enumerated():
    """10^7 points: validated in milliseconds (each coupled group's combinations, each other
    axis's values), and refused by run_sweep before anything is written."""
    ten = list(range(1, 11))
    grid = {
        "N": [50 * n for n in ten],
        "tau": [0.01 * n for n in ten],
        "eta": [float(n) for n in ten],
        "lam": [float(n) for n in ten],
        "rho": [float(n) for n in ten],
        "replicate": ten,
        "gamma": [float(n) for n in ten],
    }
    model = Model(beta=TanhAnneal(beta_final=1.0, gamma=0.1))
    started = time.perf_counter()
    sweep = Sweep(grid=grid, model=model, t_max=1.0)
    seconds = time.perf_counter() - started
    assert sweep.size == 10**7
    # Checked points: (N, rho) 100 + gamma 10 + tau, eta, lam, replicate 10 each, less the
    # shared first point: about 150, so a fraction of a second even on a loaded machine (a
    # 1-second bound leaves a margin of more than 10x over the ~30 ms measured).
    assert seconds < 1.0, seconds
    with pytest.raises(ValueError, match=r"10,000,000 points, more than MAX_POINTS = 1,000,000"):
        run_sweep(sweep, "/nonexistent/never/written", scheduler="serial")
    assert MAX_POINTS == 10**6


def test_a_bad_point_deep_in_a_large_grid_is_found():
    """The invalid combination is the last of its group, far from point 0."""
    grid = {"M": [1, 2, 3], "replicate": list(range(1000)), "N": [50, 2]}
    with pytest.raises(ValueError, match=r"Sweep point \d+ \(M=3, replicate=0, N=2\)"):
        Sweep(grid=grid, t_max=1.0)
    with pytest.raises(ValueError, match=r"beta_final"):
        Sweep(grid={"beta": [1.0, 2.0], "beta_final": [0.5]}, t_max=1.0)


def test_cli_refuses_a_huge_grid_without_allow_large(tmp_path, capsys):
    axes = "\n".join(
        f"{n} = [{', '.join(str(0.1 * (k + 1)) for k in range(10))}]"
        for n in ("tau", "eta", "lam", "rho")
    )
    path = tmp_path / "huge.toml"
    path.write_text(
        f"t_max = 1.0\n[grid]\n{axes}\nreplicate = {list(range(10))}\n"
        f"n_seeds = {list(range(1, 11))}\nN = {list(range(50, 60))}\n"
    )
    code = cli_main(["sweep", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "10,000,000 points" in err and "--allow-large" in err, err
    assert not (tmp_path / "o").exists()


def test_corrupt_sweep_directory_names_the_file(tmp_path, caplog):
    sweep = Sweep(grid={"N": [20]}, model=Model(tau=0.1), t_max=1.0)
    run_sweep(sweep, tmp_path, scheduler="serial", progress=False)
    index = tmp_path / "index.json"
    index.write_text(index.read_text()[:40])  # truncated mid-write by a full disk, say
    with caplog.at_level(logging.WARNING, logger="linvae.sweep"):
        result = load_sweep(tmp_path)
    assert result.complete  # the point files are the truth
    assert str(index) in caplog.text and "rewritten by the next run" in caplog.text
    description = tmp_path / "sweep.json"
    description.write_text(description.read_text()[:60])
    with pytest.raises(ValueError, match=r"sweep\.json is not a readable sweep description"):
        load_sweep(tmp_path)
    with pytest.raises(ValueError, match=r"delete it and rerun the sweep"):
        run_sweep(sweep, tmp_path, scheduler="serial", progress=False)
    assert np.isfinite(result["sgd_eps_g"]).all()
