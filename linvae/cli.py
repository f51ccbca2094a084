"""The ``linvae`` command-line program (also ``python -m linvae``).

Feature modules contribute subcommands through ``add_subcommands(subparsers)``; each
subcommand sets ``func`` (namespace -> exit code) with ``parser.set_defaults(func=...)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# simulate (SGD); ode / compare (theory); later analysis commands.
_SUBCOMMAND_MODULES = (
    "linvae.cli_simulate",
    "linvae.cli_theory",
    "linvae.cli_analysis",
    "linvae.cli_sweep",
)


def build_parser() -> argparse.ArgumentParser:
    from linvae import __version__

    parser = argparse.ArgumentParser(
        prog="linvae",
        description="Linear VAE learning dynamics: one-pass SGD simulation and ODE theory.",
    )
    parser.add_argument("--version", action="version", version=f"linvae {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.add_subcommands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
