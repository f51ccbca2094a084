"""The ``linvae`` command-line program (also ``python -m linvae``).

Subcommands: ``simulate`` (SGD), ``ode`` / ``compare`` (theory), ``threshold``,
``fixed-points``, ``anneal``, ``phase-diagram``, ``reproduce`` (analysis), ``sweep``,
``offline`` (finite data). Each module below contributes its subcommands to the shared frame
(`linvae.utils.cli`); the model options they share are defined once in
`linvae.cli.options`.

Building the parser (``linvae --help``, ``linvae <command> --help``) loads none of numba,
sympy, matplotlib, torch or dask: the command modules import those inside their command
functions.
"""

from __future__ import annotations

import argparse
import sys

from linvae.utils.cli import build_program_parser, run_program
from linvae.utils.version import __version__

__all__ = ["build_parser", "main"]

_SUBCOMMAND_MODULES = (
    "linvae.cli.simulate",
    "linvae.cli.theory",
    "linvae.cli.analysis",
    "linvae.cli.sweep",
    "linvae.cli.offline",
    "linvae.cli.protocol",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``linvae`` argument parser with every subcommand."""
    return build_program_parser(
        "linvae",
        "Linear VAE learning dynamics: one-pass SGD simulation, ODE theory, analysis.",
        _SUBCOMMAND_MODULES,
        version=__version__,
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``linvae`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    return run_program(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
