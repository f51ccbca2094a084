"""Bad input to both programs: one line ``prog command: error: ...``, exit code 2, never a
traceback.

``test_every_subcommand_refuses_bad_input`` runs every subcommand of ``linvae`` and
``conv-study`` (enumerated from their parsers, so a new subcommand is covered by itself) with
generic bad input built from its parser: a missing input file, an out-of-range number, an
output that cannot be written, a value of the wrong kind. The other tests cover one class of
bad input each, on the commands where it arises, and through the Python API.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

import conv_study.cli
import linvae.cli
from linvae import Model, Trajectory
from linvae.utils.io import check_writable, load_npy, load_npz

PROGRAMS = {"linvae": linvae.cli, "conv-study": conv_study.cli}
# An output path no process can write: a folder inside a character device.
UNWRITABLE = "/dev/null/sub/out"


def _subcommands(prog: str) -> dict[str, argparse.ArgumentParser]:
    parser = PROGRAMS[prog].build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(sub: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in sub._actions if a.option_strings and a.help != argparse.SUPPRESS]


def _positionals(sub: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in sub._actions if not a.option_strings]


def _required_groups(sub: argparse.ArgumentParser) -> list[list[argparse.Action]]:
    return [g._group_actions for g in sub._mutually_exclusive_groups if g.required]


def _numeric(action: argparse.Action) -> bool:
    return action.type in (int, float) or getattr(action, "item", None) in (int, float)


def _choices(action: argparse.Action):
    """The values an option allows: argparse's ``choices``, or those of a `ListOption`."""
    return action.choices or getattr(action, "allowed", None)


def _required(sub, tmp_path, *, out: str | None = None) -> tuple[list[str], bool]:
    """argv filling the required arguments: choices get their first value, inputs a file
    that does not exist, outputs a writable path (or ``out``); and whether an input is
    missing."""
    argv, missing_input = [], False
    missing = str(tmp_path / "missing" / "input.npz")
    for action in _positionals(sub):
        if action.choices:
            argv.append(str(next(iter(action.choices))))
        else:
            argv.append(missing)
            missing_input = True
    for action in _options(sub):
        if not action.required:
            continue
        flag = action.option_strings[-1]
        if _choices(action):
            argv += [flag, str(next(iter(_choices(action))))]
        elif action.dest == "out" and out is not None:
            argv += [flag, out]
        elif action.dest in ("out", "data_dir"):
            argv += [flag, str(tmp_path / "output" / action.dest)]
        else:
            argv += [flag, missing]
            missing_input = True
    for group in _required_groups(sub):
        argv += [group[0].option_strings[-1], missing]
        missing_input = True
    return argv, missing_input


def bad_argv(sub: argparse.ArgumentParser, kind: str, tmp_path) -> list[str]:
    """Generic bad input of ``kind`` for the subcommand ``sub``.

    * ``"input"``: a missing input file where the subcommand reads one; otherwise the first
      number whose default is positive, set to -1; otherwise an output that cannot be written;
    * ``"output"``: ``--out`` somewhere that cannot be written (inputs missing, if any);
    * ``"value"``: a value of the wrong kind (an unknown choice, or text for a number).
    """
    options = _options(sub)
    if kind == "input":
        argv, missing_input = _required(sub, tmp_path)
        if missing_input:
            return argv
        for action in options:
            default = action.default
            if _numeric(action) and isinstance(default, int | float) and default > 0:
                return [*argv, action.option_strings[-1], "-1"]
        kind = "output"
    if kind == "output":
        (action,) = (a for a in options if a.dest == "out")
        unwritable = UNWRITABLE + os.path.splitext(str(action.default or ""))[1]
        argv, _ = _required(sub, tmp_path, out=unwritable)
        return argv if action.required else [*argv, action.option_strings[-1], unwritable]
    argv, _ = _required(sub, tmp_path)
    for action in options:
        if _choices(action):
            return [*argv, action.option_strings[-1], "no-such-choice"]
    for action in options:
        if _numeric(action):
            return [*argv, action.option_strings[-1], "not-a-number"]
    return [*argv, "--no-such-option"]


# Cases known to fail, in files of other areas: not run (each would run the whole command),
# listed here so that removing the entry is all it takes once the command is fixed.
KNOWN_GAPS: dict[tuple[str, str, str], str] = {}


def _cases():
    for prog in PROGRAMS:
        for name, sub in _subcommands(prog).items():
            kinds = ["input", "value"]
            if any(a.dest == "out" for a in _options(sub)):
                kinds.append("output")
            for kind in kinds:
                gap = KNOWN_GAPS.get((prog, name, kind))
                marks = [pytest.mark.xfail(strict=False, run=False, reason=gap)] if gap else []
                yield pytest.param(prog, name, kind, id=f"{prog}-{name}-{kind}", marks=marks)


def run_main(prog: str, argv: list[str], capsys) -> tuple[int, str]:
    """Run ``prog`` in this process; return its exit code and stderr."""
    try:
        code = PROGRAMS[prog].main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    return code, capsys.readouterr().err


def assert_one_line_error(prog: str, name: str, code: int, err: str) -> str:
    """Exit code 2 and stderr ending in the one line ``prog name: error: ...``."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if ": error: " in line]
    assert code == 2, err
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert errors[0].startswith(f"{prog} {name}: error: "), err
    return errors[0]


# Bad input is refused before any work: seconds, even for commands that train or simulate.
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("prog", "name", "kind"), list(_cases()))
def test_every_subcommand_refuses_bad_input(prog, name, kind, tmp_path, capsys):
    sub = _subcommands(prog)[name]
    argv = bad_argv(sub, kind, tmp_path)
    code, err = run_main(prog, [name, *argv], capsys)
    assert_one_line_error(prog, name, code, err)


def test_every_subcommand_is_covered():
    """The enumeration finds the subcommands (a broken enumeration would test nothing)."""
    assert {"simulate", "ode", "compare", "phase-diagram", "sweep"} <= set(_subcommands("linvae"))
    assert {"train", "id", "ii", "analyze"} <= set(_subcommands("conv-study"))


# --------------------------------------------------------------------------- files
def _text_file(path):
    path.write_text("not numpy\n")
    return path


def _truncated_run(tmp_path):
    run = Trajectory.from_order_parameters(
        np.linspace(0, 1, 3),
        _ops(3),
        model=Model(),
        source="sgd",
        N=10,
    )
    path = run.save(tmp_path / "run.npz")
    full = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(full[: len(full) // 2])
    return cut


def _ops(n_t, S=2):
    from linvae import OrderParameters

    return OrderParameters(
        m=np.full((S, n_t, 1, 1), 0.1),
        d=np.full((S, n_t, 1, 1), 0.1),
        Q=np.ones((S, n_t, 1, 1)),
        E=np.ones((S, n_t, 1, 1)),
        R=np.zeros((S, n_t, 1, 1)),
        D=np.ones((S, n_t, 1)),
    )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "absent.npz", "No such file"),
        (_truncated_run, "damaged or truncated zip archive"),
        (lambda p: _text_file(p / "text.npz"), "not a NumPy file"),
        (lambda p: (np.save(p / "one.npy", np.ones(3)), p / "one.npy")[1], "single .npy array"),
        (lambda p: (np.savez(p / "other.npz", x=np.ones(3)), p / "other.npz")[1], "missing"),
        (lambda p: p, "is a directory"),
    ],
    ids=["missing", "truncated", "text", "npy", "foreign-npz", "directory"],
)
def test_run_files_bad_in_cli_and_api(make, match, tmp_path, capsys):
    path = make(tmp_path)
    for argv in (["compare", str(path)], ["ode", "--init", str(path)]):
        code, err = run_main("linvae", argv, capsys)
        line = assert_one_line_error("linvae", argv[0], code, err)
        assert match in line and str(path) in line
    # The API raises the documented types with the same message.
    expected = FileNotFoundError if match == "No such file" else ValueError
    with pytest.raises(expected, match=match):
        Trajectory.load(path)


def test_run_file_with_arrays_of_the_wrong_shape(tmp_path):
    run = Trajectory.from_order_parameters(
        np.linspace(0, 1, 3), _ops(3), model=Model(), source="sgd", N=10
    )
    path = run.save(tmp_path / "run.npz")
    arrays = load_npz(path)
    arrays["Q"] = arrays["Q"][:, :2]  # two times instead of three
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"'Q' has shape \(2, 2, 1, 1\)"):
        Trajectory.load(path)


def test_old_run_file_without_some_model_fields_loads_with_a_warning(tmp_path):
    """Run files of an older layout, missing model fields: defaults, and a warning naming them."""
    import json

    run = Trajectory.from_order_parameters(
        np.linspace(0, 1, 3), _ops(3), model=Model(lam=0.0), source="sgd", N=10
    )
    path = run.save(tmp_path / "run.npz")
    arrays = load_npz(path)
    meta = json.loads(str(arrays["metadata"]))
    del meta["model"]["lam"]
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    with pytest.warns(UserWarning, match=r"without the model fields \['lam'\]"):
        assert Trajectory.load(path).model.lam == 0.0
    del meta["model"]
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="records no model"):
        Trajectory.load(path)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.ones((10, 2, 2, 2)), "shape (10, 2, 2, 2); expected one point per row"),
        (np.ones((10, 2), dtype=complex), "dtype complex128"),
        (np.array([[1.0, np.nan]] * 5), "NaN or inf"),
        (np.array([1, "a"], dtype=object), "Python objects"),
    ],
    ids=["4-D", "complex", "nan", "object"],
)
def test_conv_study_points_of_the_wrong_shape_or_dtype(array, match, tmp_path, capsys):
    path = tmp_path / "points.npy"
    np.save(path, array, allow_pickle=True)
    for argv in (["id", str(path)], ["ii", str(path), str(path)]):
        code, err = run_main("conv-study", argv, capsys)
        assert match in assert_one_line_error("conv-study", argv[0], code, err)


def test_load_npy_and_load_npz_refuse_each_other(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    np.savez(tmp_path / "b.npz", x=np.ones(3))
    with pytest.raises(ValueError, match=r"b.npz is an .npz archive \(arrays x\)"):
        load_npy(tmp_path / "b.npz")
    with pytest.raises(ValueError, match=r"a\.npy is a single \.npy array"):
        load_npz(tmp_path / "a.npy")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        load_npz(tmp_path / "empty.npz")


# --------------------------------------------------------------------------- names, ranges
@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["compare", "RUN", "--observables", "eps_g,foo"], "--observables: invalid choice: 'foo'"),
        (["phase-diagram", "beta-rho", "--x-min", "3", "--x-max", "1"], "--x-min must be below"),
        (["phase-diagram", "M-beta", "--y-min", "4", "--y-max", "2"], "--y-min must be below"),
        (["phase-diagram", "beta-rho", "--nx", "1"], "--nx must be at least 2"),
        (["simulate", "--tau", "-1"], "`tau`"),
        (["simulate", "--gamma", "0.1"], "--gamma is the rate of --anneal tanh"),
        (["simulate", "--t-ramp", "3", "--anneal", "tanh", "--gamma", "1"], "--t-ramp belongs"),
        (["simulate", "--anneal", "tanh"], "needs --gamma"),
        (["ode", "--init-values", "m=1"], "missing"),
        (["threshold", "--eta", "nan"], "`eta`"),
    ],
)
def test_names_and_ranges(argv, match, tmp_path, capsys):
    run = Trajectory.from_order_parameters(
        np.linspace(0, 1, 3), _ops(3), model=Model(), source="sgd", N=10
    ).save(tmp_path / "run.npz")
    argv = [str(run) if a == "RUN" else a for a in argv]
    code, err = run_main("linvae", argv, capsys)
    assert match in assert_one_line_error("linvae", argv[0], code, err)


def test_plot_compare_names_unknown_observables():
    pytest.importorskip("matplotlib")
    from linvae.plot.compare import plot_compare

    run = Trajectory.from_order_parameters(
        np.linspace(0, 1, 3), _ops(3), model=Model(), source="sgd", N=10
    )
    with pytest.raises(ValueError, match="Got \\('eps_g', 'foo'\\)"):
        plot_compare(run, run, names=("eps_g", "foo"))


# --------------------------------------------------------------------------- outputs
@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["simulate", "--out", UNWRITABLE + ".npz"], "/dev/null is not a folder"),
        (["simulate", "--out", "."], "is a folder, not a file"),
        (["simulate", "--plot", "fig.xyz"], "'.xyz' is not a figure format"),
        (["phase-diagram", "beta-rho", "--out", UNWRITABLE + ".png"], "not a folder"),
        (["phase-diagram", "beta-rho", "--data", UNWRITABLE + ".json"], "not a folder"),
        (["reproduce", "--out", UNWRITABLE], "not a folder"),
    ],
)
def test_outputs_are_checked_before_any_work(argv, match, capsys, monkeypatch):
    """The commands refuse an output they cannot write before computing anything."""
    import linvae.analysis.phase
    import linvae.reproduce
    import linvae.sgd.simulator

    def no_work(*args, **kwargs):
        raise AssertionError("the command started working before checking its outputs")

    monkeypatch.setattr(linvae.sgd.simulator, "simulate", no_work)
    monkeypatch.setattr(linvae.analysis.phase, "stability_diagram", no_work)
    monkeypatch.setattr(linvae.reproduce, "reproduce", no_work)
    code, err = run_main("linvae", argv, capsys)
    assert match in assert_one_line_error("linvae", argv[0], code, err)


def test_missing_output_folders_are_created(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "run.npz"
    argv = ["simulate", "--N", "20", "--t-max", "2", "--seeds", "1", "--quiet", "--out", str(out)]
    code, _ = run_main("linvae", argv, capsys)
    assert code == 0 and out.is_file()
    assert check_writable(tmp_path / "x" / "y.npz", "--out") == tmp_path / "x" / "y.npz"


# --------------------------------------------------------------------------- the output contract
@dataclass(frozen=True)
class Paths:
    """How a subcommand is called for the output-contract cases.

    ``base``: argv that fills its required arguments (``IN`` is replaced by an existing input
    file); ``out``: the option naming its output (a folder, or a file with ``suffix``);
    ``clash``: argv in which an output is an input or another output (``X`` is replaced by
    one existing path), with the two names the error must give; None where the subcommand
    has a single output and no input file.
    """

    out: str = "--out"
    base: tuple[str, ...] = ()
    folder: bool = False
    suffix: str = ""
    clash: tuple[tuple[str, ...], tuple[str, str]] | None = None
    clash_folder: bool = False  # the path ``X`` of ``clash`` is a folder


PATHS: dict[tuple[str, str], Paths | None] = {
    ("linvae", "simulate"): Paths(
        suffix=".npz", clash=(("--out", "X", "--plot", "X"), ("--out", "--plot"))
    ),
    ("linvae", "ode"): Paths(
        base=("--init", "IN"),
        suffix=".npz",
        clash=(("--init", "X", "--out", "X"), ("--out", "--init")),
    ),
    ("linvae", "compare"): Paths(
        base=("IN",), suffix=".png", clash=(("X", "--out", "X"), ("--out", "the input RUN"))
    ),
    ("linvae", "phase-diagram"): Paths(
        base=("beta-rho",),
        suffix=".png",
        clash=(("beta-rho", "--out", "X", "--data", "X"), ("--out", "--data")),
    ),
    ("linvae", "protocol"): Paths(
        base=("--beta-min", "0.1", "--beta-max", "2"),
        suffix=".json",
        clash=(
            ("--beta-min", "0.1", "--beta-max", "2", "--out", "X", "--plot", "X"),
            ("--out", "--plot"),
        ),
    ),
    ("linvae", "reproduce"): Paths(folder=True),
    ("linvae", "hysteresis"): Paths(suffix=".png"),
    ("linvae", "sweep"): Paths(
        base=("IN",), folder=True, clash=(("X", "--out", "X"), ("--out", "the input CONFIG"))
    ),
    ("conv-study", "train"): Paths(
        base=("--dataset", "npz", "--data", "IN"),
        folder=True,
        clash=(("--dataset", "npz", "--data", "X", "--out", "X"), ("--out", "--data")),
    ),
    ("conv-study", "sweep"): Paths(
        base=("--dataset", "npz", "--data", "IN"),
        folder=True,
        clash=(("--dataset", "npz", "--data", "X", "--out", "X"), ("--out", "--data")),
    ),
    ("conv-study", "download"): Paths(out="--data-dir", base=("--dataset", "mnist"), folder=True),
    ("conv-study", "figures"): Paths(
        base=("IN",),
        folder=True,
        clash=(("X", "--out", "X"), ("--out", "the input RUNS_DIR")),
        clash_folder=True,
    ),
    ("conv-study", "study"): Paths(
        base=("--preset", "smoke"),
        folder=True,
        clash=(("--preset", "smoke", "--data-dir", "X", "--out", "X"), ("--out", "--data-dir")),
        clash_folder=True,
    ),
    ("conv-study", "linear"): Paths(folder=True),
    ("conv-study", "probe"): Paths(
        base=("torch.nn:Identity", "--inputs", "IN"),
        folder=True,
        clash=(("torch.nn:Identity", "--inputs", "X", "--out", "X"), ("--out", "--inputs")),
    ),
    # No output file: results go to stdout.
    ("linvae", "threshold"): None,
    ("linvae", "fixed-points"): None,
    ("linvae", "anneal"): None,
    ("linvae", "offline"): None,
    ("linvae", "attractor"): None,
    ("conv-study", "id"): None,
    ("conv-study", "ii"): None,
    # Writes RUN_DIR/analysis.json: test_analyze_checks_its_analysis_file.
    ("conv-study", "analyze"): None,
}

# The functions that do each command's work: replaced by `_no_work` in the contract cases, so
# a case passes only if the command refused before starting.
WORK = (
    "linvae.sgd.simulator.simulate",
    "linvae.theory.solve.solve_ode",
    "linvae.analysis.phase.stability_diagram",
    "linvae.reproduce.reproduce",
    "linvae.analysis.hysteresis.beta_sweep",
    "linvae.analysis.protocol.optimal_protocol",
    "linvae.sweep.run.run_sweep",
    "conv_study.linear.study.linear_geometry",
    "conv_study.figures.find_analyses",
    "conv_study.data.remote.download",
)
TORCH_WORK = (
    "conv_study.train.train",
    "conv_study.train.sweep",
    "conv_study.study.run_study",
    "conv_study.probe.probe",
)


@pytest.fixture
def no_work(monkeypatch):
    """Every command's work replaced by a function that fails the test if called."""

    def _no_work(*args, **kwargs):
        raise AssertionError("the command started working before checking its outputs")

    import importlib.util

    names = WORK + (TORCH_WORK if importlib.util.find_spec("torch") else ())
    for name in names:
        module, attr = name.rsplit(".", 1)
        monkeypatch.setattr(importlib.import_module(module), attr, _no_work)


def test_every_subcommand_has_its_paths_declared():
    """A new subcommand must say here how its outputs are tested (or that it has none)."""
    found = {(prog, name) for prog in PROGRAMS for name in _subcommands(prog)}
    assert found == set(PATHS)
    for (prog, name), paths in PATHS.items():
        if paths is not None:
            flags = {f for a in _options(_subcommands(prog)[name]) for f in a.option_strings}
            assert paths.out in flags, (prog, name)


def _contract_cases(kinds):
    for (prog, name), paths in PATHS.items():
        if paths is None:
            continue
        for kind in kinds:
            if kind == "clash" and paths.clash is None:
                continue
            yield pytest.param(prog, name, kind, id=f"{prog}-{name}-{kind}")


def _argv(paths: Paths, out, tmp_path) -> list[str]:
    given = tmp_path / "input.npz"
    given.write_bytes(b"")
    argv = [str(given) if a == "IN" else a for a in paths.base]
    if paths.out in argv:  # the output is a required argument of the base argv
        argv[argv.index(paths.out) + 1] = str(out)
        return argv
    return [*argv, paths.out, str(out)]


def _read_only(tmp_path, paths: Paths):
    if paths.folder:
        target = tmp_path / "read-only"
        target.mkdir()
        target.chmod(0o555)
    else:
        target = tmp_path / f"read-only{paths.suffix}"
        target.write_bytes(b"precious")
        target.chmod(0o444)
    return target, "read-only"


def _below_a_file(tmp_path, paths: Paths):
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "sub" / f"out{paths.suffix}", "file is a file, not a folder"


def _wrong_kind(tmp_path, paths: Paths):
    """A regular file where a folder is needed, a folder where a file is."""
    if paths.folder:
        (tmp_path / "file").write_text("x")
        return tmp_path / "file", "is a file, not a folder"
    (tmp_path / "folder").mkdir()
    return tmp_path / "folder", "is a folder, not a file"


# Where each kind of bad output points, and what the one-line error must say.
BAD_OUTPUTS = {
    "wrong-kind": _wrong_kind,
    "below-a-file": _below_a_file,
    "proc": lambda p, paths: (
        f"/proc/linvae-test/sub/out{paths.suffix}",
        "cannot create the folder /proc/linvae-test (the file system does not permit it)",
    ),
    "read-only": _read_only,
}


@pytest.mark.parametrize(("prog", "name", "kind"), list(_contract_cases(BAD_OUTPUTS)))
def test_every_output_is_checked_before_any_work(prog, name, kind, tmp_path, capsys, no_work):
    """An output that cannot be written is refused in one line naming the option, first."""
    paths = PATHS[prog, name]
    out, words = BAD_OUTPUTS[kind](tmp_path, paths)
    code, err = run_main(prog, [name, *_argv(paths, out, tmp_path)], capsys)
    line = assert_one_line_error(prog, name, code, err)
    assert f"{paths.out} {out}" in line and words in line, line
    assert "Errno" not in line, line
    if kind == "read-only":
        if paths.folder:
            assert list(out.iterdir()) == []
        else:
            assert out.read_bytes() == b"precious"


@pytest.mark.parametrize(("prog", "name", "kind"), list(_contract_cases(["clash", "symlink"])))
def test_no_output_replaces_an_input_or_another_output(prog, name, kind, tmp_path, capsys, no_work):
    """An output equal to an input or to another output is refused naming both.

    ``symlink``: the output is a symlink to the input (or, for a command with one output and
    no input, to a folder below a regular file): the check sees through it.
    """
    paths = PATHS[prog, name]
    shared = tmp_path / f"shared{paths.suffix}"
    if paths.clash_folder:
        shared.mkdir()
    else:
        shared.write_bytes(b"precious")
    if kind == "clash":
        clash_argv, names = paths.clash
        argv = [str(shared) if a == "X" else a for a in clash_argv]
    else:
        link = tmp_path / f"link{paths.suffix}"
        if paths.clash is None:
            (tmp_path / "file").write_text("x")
            os.symlink(tmp_path / "file" / "sub", link)
            names = None
            argv = _argv(paths, link, tmp_path)
        else:
            os.symlink(shared, link)
            clash_argv, names = paths.clash
            argv = [str(shared) if a == "X" else a for a in clash_argv]
            argv[len(argv) - 1 - argv[::-1].index(str(shared))] = str(link)  # the last: an output
    code, err = run_main(prog, [name, *argv], capsys)
    line = assert_one_line_error(prog, name, code, err)
    if names is None:
        assert f"{tmp_path / 'file'} is a file, not a folder" in line, line
    else:
        assert f"{names[0]} and {names[1]} are the same" in line, line
        assert str(shared.resolve()) in line, line
    if shared.is_file():
        assert shared.read_bytes() == b"precious"


def test_a_folder_output_holding_an_input_it_would_overwrite(tmp_path, capsys, no_work):
    """A sweep file kept in --out is fine, unless the sweep writes a file of that name."""
    (tmp_path / "sweep.json").write_text("x")
    code, err = run_main(
        "linvae", ["sweep", str(tmp_path / "sweep.json"), "--out", str(tmp_path)], capsys
    )
    line = assert_one_line_error("linvae", "sweep", code, err)
    assert "would overwrite the input CONFIG" in line and "sweep.json" in line


@pytest.mark.parametrize(("prog", "argv"), [("linvae", ["reproduce"]), ("linvae", ["sweep", "IN"])])
def test_a_read_only_file_the_folder_command_writes_is_refused(
    prog, argv, tmp_path, capsys, no_work
):
    out = tmp_path / "out"
    out.mkdir()
    name = "manifest.json" if argv[0] == "reproduce" else "index.json"
    (out / name).write_text("{}")
    (out / name).chmod(0o444)
    (tmp_path / "in.toml").write_text("")
    argv = [str(tmp_path / "in.toml") if a == "IN" else a for a in argv]
    code, err = run_main(prog, [*argv, "--out", str(out)], capsys)
    line = assert_one_line_error(prog, argv[0], code, err)
    assert f"{out / name}, which the command writes, is read-only (mode 0444)" in line


def test_api_folders_are_checked_first(tmp_path):
    """The Python API's folder writers name their parameter, not '[Errno 17] File exists'."""
    from linvae.reproduce import reproduce
    from linvae.sweep import Sweep, run_sweep

    regular = tmp_path / "file"
    regular.write_text("x")
    sweep = Sweep.from_description({"kind": "ode", "t_max": 1, "grid": {"beta": [1.0]}})
    with pytest.raises(ValueError, match=r"`out_dir` parameter of run_sweep .* is a file, not a"):
        run_sweep(sweep, regular, scheduler="serial", progress=False)
    with pytest.raises(ValueError, match=r"`out_dir` folder of reproduce .* is a file, not a"):
        reproduce(regular, quick=True, progress=False)


def test_analyze_checks_its_analysis_file(tmp_path, capsys, no_work):
    (tmp_path / "analysis.json").write_text("{}")
    (tmp_path / "analysis.json").chmod(0o444)
    code, err = run_main("conv-study", ["analyze", str(tmp_path)], capsys)
    line = assert_one_line_error("conv-study", "analyze", code, err)
    assert "analysis.json is read-only (mode 0444)" in line and "--force" not in line


def test_a_file_output_given_as_a_folder(tmp_path, capsys):
    """``--out newdir/`` means a folder: refused where a file is needed, never a file newdir."""
    code, err = run_main(
        "linvae", ["ode", "--init-values", "m=1", "--out", f"{tmp_path}/new/"], capsys
    )
    assert "is a folder, not a file" in assert_one_line_error("linvae", "ode", code, err)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--N", "20", "--t-max", "2", "--seeds", "1", "--quiet", "--out", "LINK.npz"],
        ["phase-diagram", "beta-rho", "--nx", "2", "--ny", "2", "--out", "LINK.png"],
        [
            "ode",
            "--init-values",
            "m=0.1,d=0.1,Q=1,E=1,R=0,D=1",
            "--t-max",
            "2",
            "--out",
            "LINK.npz",
        ],
    ],
    ids=["simulate", "phase-diagram", "ode"],
)
def test_a_symlinked_output_is_written_to_its_target(argv, tmp_path, capsys):
    """The link stays a link; its target gets the content and keeps its permissions."""
    suffix = argv[-1].split(".")[-1]
    target = tmp_path / "real" / f"target.{suffix}"
    target.parent.mkdir()
    target.write_bytes(b"old")
    target.chmod(0o640)
    link = tmp_path / f"link.{suffix}"
    os.symlink(target, link)
    argv = [str(link) if a.startswith("LINK") else a for a in argv]
    code, _ = run_main("linvae", argv, capsys)
    assert code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() != b"old" and target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temp file


def test_a_symlinked_output_folder_is_written_through(tmp_path, capsys):
    """A sweep into a symlink to a folder: the files land in the folder, the link stays."""
    config = tmp_path / "s.toml"
    config.write_text('kind = "ode"\nt_max = 2\n[grid]\nbeta = [1.0]\n')
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    argv = ["sweep", str(config), "--out", str(tmp_path / "link"), "--serial", "--no-progress"]
    assert run_main("linvae", argv, capsys)[0] == 0
    assert (tmp_path / "link").is_symlink()
    assert {"sweep.json", "results.npz", "points"} <= set(os.listdir(tmp_path / "real"))


def test_force_replaces_a_read_only_output(tmp_path, capsys):
    out = tmp_path / "run.npz"
    out.write_bytes(b"old")
    out.chmod(0o444)
    argv = ["simulate", "--N", "20", "--t-max", "2", "--seeds", "1", "--quiet", "--out", str(out)]
    code, err = run_main("linvae", argv, capsys)
    assert "pass --force" in assert_one_line_error("linvae", "simulate", code, err)
    assert run_main("linvae", [*argv, "--force"], capsys)[0] == 0
    assert Trajectory.load(out).N == 20 and out.stat().st_mode & 0o777 == 0o444


# --------------------------------------------------------------------------- real processes
@pytest.mark.parametrize(
    "make_argv",
    [
        lambda p: ["linvae", "compare", str(_truncated_run(p))],
        lambda p: ["linvae", "ode", "--init", str(_text_file(p / "t.npz"))],
        lambda p: ["linvae", "phase-diagram", "beta-rho", "--x-min", "3", "--x-max", "1"],
        lambda p: ["conv-study", "id", str(_4d(p))],
        lambda p: [
            "linvae",
            "ode",
            "--init",
            str(_text_file(p / "r.npz")),
            "--out",
            str(p / "r.npz"),
        ],
    ],
    ids=["truncated", "text-npz", "range", "4-D", "output-is-input"],
)
def test_no_traceback_in_a_real_process(make_argv, tmp_path):
    prog, *argv = make_argv(tmp_path)
    module = {"linvae": "linvae", "conv-study": "conv_study"}[prog]
    proc = subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=120
    )
    assert_one_line_error(prog, argv[0], proc.returncode, proc.stderr)


def _4d(path):
    np.save(path / "x.npy", np.ones((5, 2, 2, 2)))
    return path / "x.npy"


# --------------------------------------------------------------------------- help
def _help_cases():
    for prog in PROGRAMS:
        for name in _subcommands(prog):
            yield pytest.param(prog, name, id=f"{prog}-{name}")


@pytest.mark.parametrize(("prog", "name"), list(_help_cases()))
def test_help_is_plain_text_and_shows_defaults(prog, name, capsys):
    """No reStructuredText in --help; every option with a default says what it is."""
    with pytest.raises(SystemExit) as exit_info:
        PROGRAMS[prog].main([name, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for markup in ("``", ":func:", ":mod:", ":class:", ":meth:", "\n.. "):
        assert markup not in text, f"{prog} {name} --help shows {markup!r}"
    sub = _subcommands(prog)[name]
    for action in _options(sub):
        if action.default in (None, argparse.SUPPRESS) or action.nargs == 0:
            continue  # nothing to show: no default, or a switch
        shown = " ".join(sub._get_formatter()._format_action(action).split())
        assert "default" in shown, f"{prog} {name}: {shown!r} does not show its default"


# --------------------------------------------------------------------------- strict JSON
def _strict(text: str):
    """Parse ``text`` as strict JSON: NaN, Infinity and -Infinity are refused."""
    import json

    def refuse(token):
        raise AssertionError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_on_stdout_is_strict_with_reasons_for_null(tmp_path, capsys):
    lattice = tmp_path / "lattice.npy"
    np.save(lattice, np.array([[i, j] for i in range(10) for j in range(10)], dtype=float))
    assert PROGRAMS["conv-study"].main(["id", str(lattice)]) == 0
    out = _strict(capsys.readouterr().out)
    assert out["id"] is None and "regular lattice" in out["null_reasons"]["id"]


def test_dumps_json_maps_every_non_finite_value():
    from linvae.utils.io import dumps_json

    text = dumps_json(
        {"a": [1.0, np.inf], "b": {"c": np.float64(np.nan)}, "d": np.array([-np.inf])}
    )
    out = _strict(text)
    assert out["a"] == [1.0, None] and out["b"] == {"c": None} and out["d"] == [None]
    assert out["null_reasons"] == {
        "a": "infinite (inf)",
        "b.c": "not a number (NaN: undefined)",
        "d": "minus infinity (-inf)",
    }


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["truncated", "npy"])
def test_conv_study_training_data_file_truncated_or_npy(kind, tmp_path, capsys):
    if kind == "truncated":
        np.savez(tmp_path / "full.npz", x_train=np.zeros((4, 28, 28), dtype=np.uint8))
        data = tmp_path / "data.npz"
        data.write_bytes((tmp_path / "full.npz").read_bytes()[:100])
    else:
        data = tmp_path / "data.npy"
        np.save(data, np.zeros((4, 28, 28), dtype=np.uint8))
    argv = ["train", "--dataset", "npz", "--data", str(data), "--out", str(tmp_path / "run")]
    code, err = run_main("conv-study", argv, capsys)
    assert str(data) in assert_one_line_error("conv-study", "train", code, err)
