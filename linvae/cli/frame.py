"""The shared frame of the ``linvae`` and ``conv-study`` programs.

A program is a list of feature modules; each contributes subcommands through
``add_subcommands(subparsers)``, and each subcommand sets ``func`` (parsed namespace -> exit
code) with ``parser.set_defaults(func=...)``. Modules are imported when the parser is built,
so a module's heavy imports (numba, sympy, matplotlib, torch, dask) belong inside its command
functions. ``conv-study`` uses this frame too: it is public.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["build_hub_parser", "report_error", "run_hub"]


def build_hub_parser(
    prog: str, description: str, modules: Sequence[str], *, version: str | None = None
) -> argparse.ArgumentParser:
    """An argument parser whose subcommands come from ``modules``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if version is not None:
        parser.add_argument("--version", action="version", version=f"{prog} {version}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).add_subcommands(subparsers)
    return parser


def report_error(where: str, err: Exception) -> int:
    """Print ``"<where>: error: <message>"`` on stderr; return exit code 2 (bad input)."""
    print(f"{where}: error: {err}", file=sys.stderr)
    return 2


def run_hub(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the chosen subcommand; help and exit code 2 without one.

    Bad input (``ValueError``, whose messages name the parameter, or ``FileNotFoundError``) is
    reported as one line on stderr with exit code 2, for every subcommand alike.
    """
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        return report_error(f"{parser.prog} {args.command}", err)
