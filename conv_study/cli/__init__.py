"""The ``conv-study`` command-line program (also ``python -m conv_study``).

Subcommands: ``train``, ``sweep``, ``download`` (training pipeline) and ``id``, ``ii``,
``analyze``, ``figures`` (analysis). The command modules import torch inside their command
functions, so ``conv-study --help``, ``id`` and ``ii`` work without the ``conv`` extra.
"""

from __future__ import annotations

import argparse
import sys

from conv_study import __version__
from linvae.cli.frame import build_hub_parser, run_hub

_SUBCOMMAND_MODULES = ("conv_study.train_cli", "conv_study.analysis_cli")


def build_parser() -> argparse.ArgumentParser:
    return build_hub_parser(
        "conv-study",
        "Conv-VAE study: training, intrinsic dimension, information imbalance.",
        _SUBCOMMAND_MODULES,
        version=__version__,
    )


def main(argv: list[str] | None = None) -> int:
    return run_hub(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
