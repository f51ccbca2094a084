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
* `print_json`: strict JSON on stdout (``null``, with a reason, for NaN and inf).
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import sys
import textwrap
import threading
import warnings
from collections.abc import Sequence

from linvae.utils.io import dumps_json
from linvae.utils.process import (
    Terminated,
    deferred_interrupts,
    interrupt_signal,
    interrupted_exit_code,
)

__all__ = [
    "HelpFormatter",
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
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every subcommand's parser: the shared `HelpFormatter` unless one is given."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_program_parser(
    prog: str, description: str, modules: Sequence[str], *, version: str | None = None
) -> argparse.ArgumentParser:
    """An argument parser whose subcommands come from ``modules``."""
    parser = _Parser(prog=prog, description=description)
    if version is not None:
        parser.add_argument("--version", action="version", version=f"{prog} {version}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in modules:
        importlib.import_module(name).add_subcommands(subparsers)
    return parser


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def report_error(where: str, err: Exception | str) -> int:
    """Print ``"<where>: error: <message>"`` (one line) on stderr; return exit code 2."""
    print(f"{where}: error: {_one_line(err)}", file=sys.stderr)
    return 2


def print_json(obj, *, indent: int | None = None, reasons: dict | None = None) -> None:
    """Print ``obj`` as strict JSON on stdout (`linvae.utils.io.dumps_json`)."""
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
        with deferred_interrupts(notice=notice):
            code = int(args.func(args) or 0)
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
