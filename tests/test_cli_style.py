"""One command-line style for ``linvae`` and ``conv-study``.

Checked on every subcommand of both programs (enumerated from their parsers, so that a new one
is covered by itself): lists are taken comma- or space-separated (`linvae.utils.cli.ListOption`),
kind names with hyphens or underscores (`linvae.utils.cli.KindName`), JSON on stdout on one
line unless ``--indent N`` asks for it pretty; then a few commands end to end.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import conv_study.cli
import linvae.cli
from linvae.utils.cli import KindName, ListOption

PROGRAMS = {"linvae": linvae.cli, "conv-study": conv_study.cli}

# Lists of paths stay space-separated: a path may hold a comma.
PATH_LISTS = {("conv-study", "sweep", "--data-dir")}


def _subcommands() -> list[tuple[str, str, argparse.ArgumentParser]]:
    found = []
    for prog, module in PROGRAMS.items():
        parser = module.build_parser()
        (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        found += [(prog, name, sub) for name, sub in action.choices.items()]
    return found


SUBCOMMANDS = _subcommands()
IDS = [f"{prog}-{name}" for prog, name, _ in SUBCOMMANDS]


@pytest.mark.parametrize(("prog", "name", "sub"), SUBCOMMANDS, ids=IDS)
def test_every_list_option_takes_commas_and_spaces(prog, name, sub):
    for action in sub._actions:
        flag = (action.option_strings or [action.dest])[-1]
        if action.nargs in ("+", "*") and (prog, name, flag) not in PATH_LISTS:
            assert isinstance(action, ListOption), (
                f"{prog} {name} {flag} takes a list: declare it with action=ListOption "
                "(linvae.utils.cli; docs/development.md, Command-line conventions)"
            )


@pytest.mark.parametrize(("prog", "name", "sub"), SUBCOMMANDS, ids=IDS)
def test_every_kind_name_is_read_with_underscores_too(prog, name, sub):
    for action in sub._actions:
        choices = action.choices or getattr(action, "allowed", None) or ()
        hyphenated = [c for c in choices if isinstance(c, str) and "-" in c]
        if not hyphenated:
            continue
        convert = getattr(action, "item", None) or action.type
        assert isinstance(convert, KindName), (
            f"{prog} {name} {action.dest} has hyphenated choices: give it "
            "type=KindName(choices) (linvae.utils.cli), so that underscores are read too"
        )
        for choice in hyphenated:
            assert convert(choice.replace("-", "_")) == choice


@pytest.mark.parametrize(("prog", "name", "sub"), SUBCOMMANDS, ids=IDS)
def test_every_subcommand_takes_indent(prog, name, sub):
    assert "--indent" in sub._option_string_actions, f"{prog} {name} has no --indent"


def _parse(prog: str, argv: list[str]) -> argparse.Namespace:
    return PROGRAMS[prog].build_parser().parse_args(argv)


@pytest.mark.parametrize(
    ("prog", "spaces", "commas", "dest", "value"),
    [
        (
            "linvae",
            ["simulate", "--rho", "1", "2.5"],
            ["simulate", "--rho", "1,2.5"],
            "rho",
            (1.0, 2.5),
        ),
        (
            "linvae",
            ["offline", "--alpha", "0.4", "2"],
            ["offline", "--alpha", "0.4,2"],
            "alpha",
            (0.4, 2.0),
        ),
        (
            "linvae",
            ["compare", "run.npz", "--observables", "eps_g", "m"],
            ["compare", "run.npz", "--observables", "eps_g,m"],
            "observables",
            ["eps_g", "m"],
        ),
        (
            "conv-study",
            ["sweep", "--dataset", "mnist", "fashion_mnist", "--K", "2", "4", "8", "--out", "o"],
            ["sweep", "--dataset", "mnist,fashion-mnist", "--K", "2,4,8", "--out", "o"],
            "latent_dims",
            [2, 4, 8],
        ),
        (
            "conv-study",
            ["linear", "--times", "0", "100"],
            ["linear", "--times", "0,100"],
            "times",
            [0.0, 100.0],
        ),
        (
            "conv-study",
            ["probe", "m:f", "--dataset", "sklearn_digits", "--input-shape", "1", "8", "8"],
            ["probe", "m:f", "--dataset", "sklearn-digits", "--input-shape", "1,8,8"],
            "input_shape",
            [1, 8, 8],
        ),
    ],
    ids=[
        "simulate-rho",
        "offline-alpha",
        "compare-observables",
        "sweep-K",
        "linear-times",
        "probe-shape",
    ],
)
def test_both_programs_read_both_list_spellings_alike(prog, spaces, commas, dest, value):
    a, b = _parse(prog, spaces), _parse(prog, commas)
    assert getattr(a, dest) == getattr(b, dest) == value
    assert vars(a) == vars(b)


@pytest.mark.parametrize(
    ("prog", "argv", "options", "dest"),
    [
        ("linvae", ["simulate"], ("--n-seeds", "--seeds"), "n_seeds"),
        ("linvae", ["offline", "--alpha", "1"], ("--n-seeds", "--seeds"), "n_seeds"),
        ("linvae", ["simulate"], ("--threads", "--n-threads"), "threads"),
        ("conv-study", ["linear"], ("--points", "--n-points"), "points"),
        ("conv-study", ["probe", "m:f", "--inputs", "x.npy"], ("--points", "--n-points"), "points"),
        (
            "conv-study",
            ["train", "--dataset", "npz", "--out", "o"],
            ("--K", "--latent-dim"),
            "latent_dim",
        ),
        (
            "conv-study",
            ["train", "--dataset", "npz", "--out", "o"],
            ("--threads", "--num-threads"),
            "num_threads",
        ),
        (
            "conv-study",
            ["study", "--preset", "smoke", "--out", "o"],
            ("--threads", "--num-threads"),
            "threads",
        ),
    ],
)
def test_an_option_takes_the_api_name_beside_its_short_one(prog, argv, options, dest):
    for option in options:
        assert getattr(_parse(prog, [*argv, option, "3"]), dest) == 3


@pytest.mark.parametrize("spelling", ["gamma-beta-f", "gamma_beta_f", "gamma-beta_f"])
def test_the_annealing_diagram_kind_in_any_spelling(spelling):
    assert _parse("linvae", ["phase-diagram", spelling]).kind == "gamma-beta-f"


# ------------------------------------------------------------------------------ end to end
def _run(prog: str, argv: list[str], capsys) -> str:
    assert PROGRAMS[prog].main(argv) == 0
    return capsys.readouterr().out


def test_threshold_reads_rho_in_both_spellings_and_prints_one_line(capsys):
    spaces = _run("linvae", ["threshold", "--rho", "1", "2.5", "--method", "analytic"], capsys)
    commas = _run("linvae", ["threshold", "--rho", "1,2.5", "--method", "analytic"], capsys)
    assert spaces == commas and spaces.count("\n") == 1
    assert json.loads(spaces)["per_factor"] == [2.0, 3.5]  # beta*_k = rho_k + eta


def test_conv_study_prints_one_line_unless_indent(tmp_path, capsys):
    X = np.random.default_rng(0).normal(size=(200, 3))
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "b.npy", X[:, :2])
    compact = _run("conv-study", ["ii", str(tmp_path / "a.npy"), str(tmp_path / "b.npy")], capsys)
    pretty = _run(
        "conv-study",
        ["ii", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--indent", "2"],
        capsys,
    )
    assert compact.count("\n") == 1 and pretty.count("\n") > 5
    assert json.loads(compact) == json.loads(pretty)
