"""The ``conv-study`` command-line program (also ``python -m conv_study``).

Subcommands: ``train``, ``sweep``, ``download`` (`conv_study.cli.train`, the training
pipeline), ``id``, ``ii``, ``analyze``, ``figures`` (`conv_study.cli.analysis`) and
``study`` (`conv_study.cli.study`, train + analyze + figures from a preset) and
``linear`` (`conv_study.cli.linear`, the linear VAE through the study's lens) and ``probe``
(`conv_study.cli.probe`, the layer geometry of any torch network). The
program is built on linvae's public CLI frame (`linvae.utils.cli`). The command modules
import torch, numba and matplotlib inside their command functions, so ``conv-study --help``
and every ``--help`` start without them, and ``id`` and ``ii`` work without the ``conv`` extra.
"""

from __future__ import annotations

import argparse
import sys

from linvae.utils.cli import build_program_parser, run_program
from linvae.utils.version import __version__

__all__ = ["build_parser", "main"]

_SUBCOMMAND_MODULES = (
    "conv_study.cli.train",
    "conv_study.cli.analysis",
    "conv_study.cli.study",
    "conv_study.cli.linear",
    "conv_study.cli.probe",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``conv-study`` parser with every subcommand."""
    return build_program_parser(
        "conv-study",
        "Conv-VAE study: training, intrinsic dimension, information imbalance.",
        _SUBCOMMAND_MODULES,
        version=__version__,
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``conv-study`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    return run_program(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
