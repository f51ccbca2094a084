"""The ``linvae`` command-line program (also ``python -m linvae``).

Subcommands: ``simulate`` (SGD), ``ode`` / ``compare`` (theory), ``threshold``,
``fixed-points``, ``anneal``, ``phase-diagram``, ``reproduce`` (analysis), ``sweep``.
"""

from __future__ import annotations

import argparse
import sys

from linvae.cli.frame import build_hub_parser, run_hub

_SUBCOMMAND_MODULES = (
    "linvae.cli.simulate",
    "linvae.cli.theory",
    "linvae.cli.analysis",
    "linvae.cli.sweep",
)


def build_parser() -> argparse.ArgumentParser:
    from linvae import __version__

    return build_hub_parser(
        "linvae",
        "Linear VAE learning dynamics: one-pass SGD simulation, ODE theory, analysis.",
        _SUBCOMMAND_MODULES,
        version=__version__,
    )


def main(argv: list[str] | None = None) -> int:
    return run_hub(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
