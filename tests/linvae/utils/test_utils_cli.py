"""The command-line frame's option types: `ListOption`, `KindName` and ``--indent``."""

from __future__ import annotations

import argparse
import json

import pytest

from linvae.utils.cli import KindName, ListOption, build_program_parser, print_json, run_program


def _parser(**kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prog", exit_on_error=False)
    parser.add_argument("--K", action=ListOption, **kwargs)
    parser.add_argument("--flag", action="store_true")
    return parser


@pytest.mark.parametrize(
    "argv",
    [["--K", "2,4,8"], ["--K", "2", "4", "8"], ["--K", "2,4", "8"], ["--K", "2,", "4,8,"]],
    ids=["commas", "spaces", "mixed", "trailing-commas"],
)
def test_a_list_is_read_alike_with_commas_spaces_or_both(argv):
    args = _parser(item=int).parse_args([*argv, "--flag"])
    assert args.K == [2, 4, 8] and args.flag


def test_scalar_stores_one_value_as_itself_and_several_as_a_tuple():
    parser = _parser(item=float, scalar=True, default=1.0)
    assert parser.parse_args([]).K == 1.0
    assert parser.parse_args(["--K", "2.5"]).K == 2.5
    assert parser.parse_args(["--K", "1", "2.5"]).K == (1.0, 2.5)
    assert parser.parse_args(["--K", "1,2.5"]).K == (1.0, 2.5)


def test_given_twice_the_last_list_counts():
    assert _parser(item=int).parse_args(["--K", "1,2", "--K", "3"]).K == [3]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--K", "2,x"], "argument --K: invalid int value: 'x'"),
        (["--K", ","], "argument --K: expected at least one value"),
        (["--K", "3", "5"], "argument --K: invalid choice: '5' (choose from 2, 3, 4)"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_option(argv, message):
    parser = _parser(item=int, choices=(2, 3, 4))
    with pytest.raises(argparse.ArgumentError) as err:
        parser.parse_args(argv)
    assert message in str(err.value)


def test_a_positional_argument_after_the_list_is_pointed_at():
    parser = argparse.ArgumentParser(prog="prog", exit_on_error=False)
    parser.add_argument("kind")
    parser.add_argument("--K", action=ListOption, item=float)
    assert parser.parse_args(["beta-rho", "--K", "1", "2"]).K == [1.0, 2.0]
    with pytest.raises(argparse.ArgumentError) as err:
        parser.parse_args(["--K", "1", "2", "beta-rho"])
    message = str(err.value)
    assert "invalid float value: 'beta-rho' (if 'beta-rho' is a positional" in message
    assert "write it before --K, or after --)" in message
    assert parser.parse_args(["--K", "1", "2", "--", "beta-rho"]).kind == "beta-rho"


def test_an_item_type_error_message_is_kept():
    def positive(text: str) -> float:
        if float(text) <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0. Got {text}.")
        return float(text)

    with pytest.raises(argparse.ArgumentError, match=r"argument --K: must be > 0\. Got -1\."):
        _parser(item=positive).parse_args(["--K", "1,-1"])


def test_nargs_star_allows_an_empty_list_and_other_nargs_are_refused():
    assert _parser(nargs="*").parse_args(["--K"]).K == []
    with pytest.raises(ValueError, match="nargs"):
        _parser(nargs=2)


def test_kind_names_are_read_with_hyphens_or_underscores():
    kind = KindName(["beta-rho", "gamma-beta-f", "M-beta"])
    assert [kind(t) for t in ("gamma_beta_f", "gamma-beta_f", "M_beta")] == [
        "gamma-beta-f",
        "gamma-beta-f",
        "M-beta",
    ]
    assert kind("m-beta") == "m-beta"  # case is kept: left for choices to refuse
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("kind", type=kind, choices=kind.names)
    assert parser.parse_args(["gamma_beta_f"]).kind == "gamma-beta-f"
    with pytest.raises(argparse.ArgumentError, match="invalid choice: 'other'"):
        parser.parse_args(["other"])


# A program of one module (this file): ``job`` prints a result with print_json.
def add_subcommands(subparsers) -> None:
    job = subparsers.add_parser("job")
    job.set_defaults(func=lambda args: print_json({"a": [1, 2], "b": float("nan")}))


def test_indent_is_given_to_every_subcommand_and_print_json_follows_it(capsys):
    parser = build_program_parser("prog", "a test program", [__name__])
    assert run_program(parser, ["job"]) == 0
    compact = capsys.readouterr().out
    assert compact.count("\n") == 1  # one line
    assert run_program(parser, ["job", "--indent", "2"]) == 0
    pretty = capsys.readouterr().out
    assert pretty.startswith('{\n  "a": [\n    1,') and json.loads(pretty) == json.loads(compact)
    assert json.loads(compact)["null_reasons"] == {"b": "not a number (NaN: undefined)"}
    # The setting ends with the command: a library call afterwards prints one line again.
    print_json({"c": 1})
    assert capsys.readouterr().out == '{"c": 1}\n'


def test_a_negative_indent_is_refused_naming_the_option(capsys):
    parser = build_program_parser("prog", "a test program", [__name__])
    with pytest.raises(SystemExit) as exit_info:
        run_program(parser, ["job", "--indent", "-1"])
    assert exit_info.value.code == 2
    assert "prog job: error: argument --indent: must be an integer >= 0" in capsys.readouterr().err
