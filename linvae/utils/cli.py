"""The command-line frame shared by the ``linvae`` and ``conv-study`` programs.

A program is a list of feature modules; each contributes subcommands through
``add_subcommands(subparsers)``, and each subcommand sets ``func`` (parsed namespace -> exit
code) with ``parser.set_defaults(func=...)``. Modules are imported when the parser is built,
so a module's heavy imports (numba, sympy, matplotlib, torch, dask) belong inside its command
functions. ``conv-study`` uses this frame too: it is public.

What every subcommand gets from the frame:

* help that shows each option's default (`HelpFormatter`), descriptions reflowed by
  paragraph (indented examples kept as written);
* bad input (``ValueError``, ``OSError`` such as a missing file) reported as one line
  ``"<prog> <command>: error: <message>"`` on stderr with exit code 2, never a traceback;
* warnings of the library as one line ``"<prog> <command>: warning: <message>"``;
* SIGINT (Ctrl-C) and SIGTERM (what cluster schedulers send) recorded, not raised where they
  land (`linvae.utils.process.deferred_interrupts`): the command's long loops call
  `linvae.utils.process.check_interrupt` at safe points, which raises ``KeyboardInterrupt``
  there; the command saves what is finished and the program exits with
  `interrupted_exit_code` (130 for SIGINT, 143 for SIGTERM: 128 + the signal number). A
  command that ends after a signal never exits 0; a second signal raises at once;
* `print_json`: strict JSON on stdout (``null``, with a reason, for NaN and inf), on one
  line, or pretty with the ``--indent N`` option the frame gives every subcommand.

What every module uses to declare its options alike:

* `ListOption`: a list option that takes its values comma- or space-separated, or both
  (``--K 2,4,8``, ``--K 2 4 8``, ``--K 2,4 8``), each value converted and checked, an error
  naming the option;
* `KindName`: the ``type`` of an option whose values are kind names written with hyphens
  (``gamma-beta-f``), that also accepts them written with underscores (``gamma_beta_f``).
"""

from __future__ import annotations

import argparse
import contextvars
import copy
import importlib
import os
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from linvae.utils.io import dumps_json
from linvae.utils.process import (
    Terminated,
    deferred_interrupts,
    interrupt_signal,
    interrupted_exit_code,
)

__all__ = [
    "HelpFormatter",
    "KindName",
    "ListOption",
    "Terminated",
    "build_program_parser",
    "interrupted_exit_code",
    "print_json",
    "report_error",
    "run_program",
]


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions reflowed by paragraph; every option's help ends with its default.

    A description's paragraphs (separated by blank lines) are wrapped to the terminal; a
    paragraph with an indented line (an example, a table) is kept as written. The default is
    added as ``(default: X)`` unless the help already mentions one, or the option has none
    (``None``) or is a switch (``--quiet``).
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for block in text.strip("\n").split("\n\n"):
            lines = block.splitlines()
            if any(line[:1].isspace() for line in lines):
                blocks.append("\n".join(indent + line for line in lines))
            else:
                blocks.append(
                    textwrap.fill(
                        " ".join(lines), width, initial_indent=indent, subsequent_indent=indent
                    )
                )
        return "\n\n".join(blocks)

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._shows_default(action):
            action = copy.copy(action)  # an option without help still shows its default
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    @staticmethod
    def _shows_default(action: argparse.Action) -> bool:
        return not (
            action.default is None
            or action.default is False
            or action.default is argparse.SUPPRESS
            or not action.option_strings
            or action.nargs == 0  # a switch (store_true, store_false): its flag says it
        )

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not self._shows_default(action):
            return text
        if isinstance(action.default, list | tuple):  # as the option takes it: 2,4,8
            shown = ",".join(map(str, action.default)).replace("%", "%%")
            return f"{text} (default: {shown})"
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every subcommand's parser: the shared `HelpFormatter` unless one is given."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


class KindName:
    """The ``type`` of an option whose values are kind names, one spelling with both accepted.

    The names are written with hyphens (``gamma-beta-f``, ``to-input``); the same name
    written with underscores (``gamma_beta_f``) or mixed (``gamma-beta_f``) is read as it.
    An unknown name is returned unchanged, for argparse's ``choices`` to refuse with the list.

    Examples
    --------
    >>> kind = KindName(["beta-rho", "gamma-beta-f"])
    >>> kind("gamma_beta_f"), kind("beta-rho"), kind("other")
    ('gamma-beta-f', 'beta-rho', 'other')
    """

    def __init__(self, names: Sequence[str]):
        self.names = tuple(names)
        self._by_key = {self._key(name): name for name in self.names}
        self.__name__ = "kind name"  # argparse's word for the value in its messages

    @staticmethod
    def _key(text: str) -> str:
        return text.replace("_", "-")

    def __call__(self, text: str) -> str:
        return self._by_key.get(self._key(text), text)

    def __repr__(self) -> str:
        return f"KindName({list(self.names)!r})"


class ListOption(argparse.Action):
    """An option that takes a list, comma- or space-separated or both.

    ``parser.add_argument("--K", action=ListOption, item=int)`` reads ``--K 2,4,8``,
    ``--K 2 4 8`` and ``--K 2,4 8`` alike as ``[2, 4, 8]``. Each value is converted by
    ``item`` and checked against ``choices``; a value that fails is a usage error naming the
    option (``argument --K: invalid int value: 'x'``), exit code 2. Given twice, the option's
    last list counts, as for every argparse option.

    Parameters
    ----------
    item : callable, default str
        Converts one value: ``int``, ``float``, ``str``, a `KindName`, or any function that
        raises ``ValueError``, ``TypeError`` or ``argparse.ArgumentTypeError`` on bad text.
    choices : sequence, optional
        The values allowed (after ``item``); say them in the help.
    scalar : bool, default False
        Store one value as itself and several as a tuple (``--rho 1`` -> ``1.0``,
        ``--rho 1,2.5`` -> ``(1.0, 2.5)``): for options where one value means something of
        its own (one signal strength for every factor).
    nargs : {"+", "*"}, default "+"
        ``"*"`` lets the option be given with no value (an empty list).
    **kwargs
        The other arguments of ``add_argument`` (``default``, ``help``, ``metavar``, ...).

    Notes
    -----
    Since the option takes every value up to the next option, a positional argument goes
    before it (``linvae compare run.npz --observables eps_g m``), or after ``--``.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument("--K", action=ListOption, item=int)
    >>> parser.parse_args(["--K", "2,4", "8"]).K
    [2, 4, 8]
    """

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        *,
        item: Callable[[str], Any] = str,
        choices: Sequence[Any] | None = None,
        scalar: bool = False,
        nargs: str = "+",
        metavar: str | None = None,
        **kwargs,
    ):
        if nargs not in ("+", "*"):
            raise ValueError(f"ListOption takes nargs '+' or '*'. Got {nargs!r}.")
        self.item = item
        self.allowed = None if choices is None else tuple(choices)
        self.scalar = scalar
        super().__init__(option_strings, dest, nargs=nargs, metavar=metavar, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, self.convert(values))

    def convert(self, texts: Sequence[str]) -> Any:
        """The values of ``texts`` (the words given after the option), split at commas and
        converted; ``argparse.ArgumentError`` naming the option on a bad one."""
        pieces = [piece.strip() for text in texts for piece in text.split(",")]
        pieces = [piece for piece in pieces if piece]
        if not pieces and self.nargs == "+":
            raise argparse.ArgumentError(self, "expected at least one value (e.g. 2,4,8 or 2 4 8)")
        try:
            values = [self._one(piece) for piece in pieces]
        except argparse.ArgumentError as err:
            # A word after the list that is no value of it: most likely a positional
            # argument written after the option, which takes every word up to the next option.
            last = texts[-1].strip() if texts else ""
            if len(texts) > 1 and "," not in last and f"{last!r}" in str(err):
                flag = self.option_strings[0] if self.option_strings else self.dest
                raise argparse.ArgumentError(
                    self,
                    f"{err.message} (if {last!r} is a positional argument, write it before "
                    f"{flag}, or after --)",
                ) from None
            raise
        if not self.scalar:
            return values
        return values[0] if len(values) == 1 else tuple(values)

    def _one(self, text: str) -> Any:
        try:
            value = self.item(text)
        except argparse.ArgumentTypeError as err:
            raise argparse.ArgumentError(self, str(err)) from None
        except (TypeError, ValueError):
            name = getattr(self.item, "__name__", repr(self.item))
            raise argparse.ArgumentError(self, f"invalid {name} value: {text!r}") from None
        if self.allowed is not None and value not in self.allowed:
            choices = ", ".join(map(str, self.allowed))
            raise argparse.ArgumentError(self, f"invalid choice: {text!r} (choose from {choices})")
        return value


def _indent(text: str) -> int:
    """The value of ``--indent``: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0 (spaces). Got {text!r}.")
    return value


# The ``--indent`` of the running command, read by `print_json`.
_INDENT: contextvars.ContextVar[int | None] = contextvars.ContextVar("indent", default=None)


def _add_indent_option(parser: argparse.ArgumentParser) -> None:
    if "--indent" in parser._option_string_actions:
        return
    parser.add_argument(
        "--indent",
        type=_indent,
        metavar="N",
        help="pretty-print the JSON on stdout, indented by N spaces (default: one line)",
    )


def build_program_parser(
    prog: str, description: str, modules: Sequence[str], *, version: str | None = None
) -> argparse.ArgumentParser:
    """An argument parser whose subcommands come from ``modules``.

    Each module's ``add_subcommands(subparsers)`` registers its subcommands; the frame then
    gives every subcommand the ``--indent N`` option (`print_json`).
    """
    parser = _Parser(prog=prog, description=description)
    if version is not None:
        parser.add_argument("--version", action="version", version=f"{prog} {version}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in modules:
        importlib.import_module(name).add_subcommands(subparsers)
    for sub in subparsers.choices.values():
        _add_indent_option(sub)
    return parser


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def report_error(where: str, err: Exception | str) -> int:
    """Print ``"<where>: error: <message>"`` (one line) on stderr; return exit code 2."""
    print(f"{where}: error: {_one_line(err)}", file=sys.stderr)
    return 2


def print_json(obj, *, indent: int | None = None, reasons: dict | None = None) -> None:
    """Print ``obj`` as strict JSON on stdout (`linvae.utils.io.dumps_json`).

    On one line unless ``indent`` is given or the running command was given ``--indent N``.

    Examples
    --------
    >>> print_json({"a": [1, 2], "b": float("inf")})
    {"a": [1, 2], "b": null, "null_reasons": {"b": "infinite (inf)"}}
    """
    indent = _INDENT.get() if indent is None else indent
    print(dumps_json(obj, indent=indent, reasons=reasons))


def run_program(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the chosen subcommand; help and exit code 2 without one.

    Bad input (``ValueError``, whose messages name the parameter, or an ``OSError`` such as a
    missing file) is reported as one line on stderr with exit code 2, for every subcommand
    alike. SIGINT and SIGTERM are recorded and raised as ``KeyboardInterrupt`` at the
    command's safe points (`linvae.utils.process.check_interrupt`); one that reaches this
    frame, or a command that returns after a signal, ends the program with 130 (SIGINT) or
    143 (SIGTERM), never 0.
    """
    args, extras = parser.parse_known_args(argv)
    if extras:  # reported by the subcommand's parser: "prog command: error: ..."
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        command = getattr(args, "command", None)
        sub = subparsers[0].choices.get(command, parser) if subparsers and command else parser
        sub.error(f"unrecognized arguments: {' '.join(extras)}")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    where = f"{parser.prog} {args.command}"
    show = warnings.showwarning

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{where}: warning: {_one_line(message)}", file=sys.stderr)

    warnings.showwarning = one_line_warning
    try:
        notice = (
            f"{where}: {{signal}} received; stopping at the next safe point, after saving what "
            "is finished (a second signal stops at once)"
        )
        indent = _INDENT.set(getattr(args, "indent", None))
        try:
            with deferred_interrupts(notice=notice):
                code = int(args.func(args) or 0)
        finally:
            _INDENT.reset(indent)
        # (Signals are deferred in the main thread only: elsewhere none is recorded here.)
        in_main = threading.current_thread() is threading.main_thread()
        if in_main and interrupt_signal() is not None and code == 0:
            # The signal came after the command's last safe point: it still counts.
            print(f"{where}: interrupted", file=sys.stderr)
            return interrupted_exit_code()
        return code
    except BrokenPipeError:
        # The reader of stdout went away (``linvae ... | head``): not an error of the input.
        # Point stdout at /dev/null so that the interpreter's final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, OSError) as err:
        return report_error(where, err)
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return interrupted_exit_code()
    finally:
        warnings.showwarning = show
