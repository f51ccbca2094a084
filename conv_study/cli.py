"""The ``conv-study`` command-line program.

Each feature module contributes its subcommands through an ``add_subcommands(subparsers)``
function listed in ``_SUBCOMMAND_MODULES``; each subcommand sets ``func`` (taking the parsed
namespace, returning an exit code) with ``parser.set_defaults(func=...)``. Modules are imported
lazily so that ``conv-study --help`` works without torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Owned by the training pipeline ("train", "sweep", "download") and by the analysis
# pipeline ("id", "ii", "analyze", "figures").
_SUBCOMMAND_MODULES = ("conv_study.train_cli", "conv_study.analysis_cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conv-study",
        description="Conv-VAE study: training, intrinsic dimension, information imbalance.",
    )
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
