"""``conv-study train``, ``conv-study sweep`` and ``conv-study download``.

Examples::

    conv-study train --dataset fashion-mnist --K 16 --epochs 200 --out runs/fmnist-K16
    conv-study train --dataset mnist --data-dir ~/data/mnist --K 8 --out runs/mnist-K8
    conv-study train --dataset cifar10 --data-dir ~/data --K 128 --amp --out runs/cifar-K128
    conv-study train --dataset npz --data images.npz --K 4 --out runs/mine-K4
    conv-study sweep --dataset fashion-mnist,mnist --data-dir mnist=~/data/mnist \\
        --K 2,4,8,16,32,64,128 --out runs/
    conv-study download --dataset cifar10 --data-dir ~/data
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from conv_study.config import TrainConfig
from conv_study.constants import (
    DATASET_NAMES,
    DOWNLOADABLE_DATASETS,
    PAPER_CHECKPOINT_EPOCHS,
    PAPER_LATENT_DIMS,
    PAPER_N_EVAL,
    PAPER_TRAIN_FRACTION,
)
from linvae.utils.cli import KindName, ListOption, print_json, report_error
from linvae.utils.paths import Output, check_outputs

__all__ = ["add_subcommands"]

# The recipe's defaults, read from TrainConfig itself (torch-free) rather than restated.
_RECIPE = TrainConfig()


def _add_data_arguments(parser: argparse.ArgumentParser, *, many: bool) -> None:
    group = parser.add_argument_group("data")
    if many:
        group.add_argument(
            "--dataset",
            action=ListOption,
            item=KindName(DATASET_NAMES),
            choices=DATASET_NAMES,
            required=True,
            metavar="NAME",
            help=f"one or more of {', '.join(DATASET_NAMES)} (mnist,cifar10 or mnist cifar10)",
        )
        group.add_argument(
            "--data-dir",
            nargs="*",
            default=[],
            metavar="[NAME=]DIR",
            help="data directory for all datasets, or NAME=DIR per dataset (space-separated: "
            "a path may hold a comma)",
        )
    else:
        group.add_argument(
            "--dataset", type=KindName(DATASET_NAMES), required=True, choices=DATASET_NAMES
        )
        group.add_argument(
            "--data-dir",
            help="directory with the MNIST IDX files, or the CIFAR-10 python batches "
            "(cifar-10-batches-py/, or cifar-10-python.tar.gz as downloaded)",
        )
    group.add_argument("--data", help="the .npz file for --dataset npz")
    group.add_argument(
        "--train-fraction",
        type=float,
        default=PAPER_TRAIN_FRACTION,
        help=f"default: {PAPER_TRAIN_FRACTION}",
    )
    group.add_argument(
        "--n-eval", type=int, default=PAPER_N_EVAL, help=f"evaluation images ({PAPER_N_EVAL})"
    )
    group.add_argument("--split-seed", type=int, default=0)
    group.add_argument("--max-train", type=int, help="cap the training images (quick runs)")


def _add_train_arguments(parser: argparse.ArgumentParser, *, many: bool) -> None:
    group = parser.add_argument_group("training (defaults: the paper's recipe)")
    if many:
        group.add_argument(
            "--K",
            "--latent-dims",
            action=ListOption,
            item=int,
            default=list(PAPER_LATENT_DIMS),
            dest="latent_dims",
            metavar="K",
            help="bottleneck dimensions: 2,4,8 or 2 4 8",
        )
    else:
        group.add_argument(
            "--K",
            "--latent-dim",
            type=int,
            default=_RECIPE.latent_dim,
            dest="latent_dim",
            help="bottleneck K",
        )
    group.add_argument("--epochs", type=int, default=_RECIPE.epochs)
    group.add_argument("--batch-size", type=int, default=_RECIPE.batch_size)
    group.add_argument("--lr", type=float, default=_RECIPE.lr)
    group.add_argument("--weight-decay", type=float, default=_RECIPE.weight_decay)
    group.add_argument("--beta", type=float, default=_RECIPE.beta)
    group.add_argument(
        "--checkpoints",
        action=ListOption,
        item=int,
        metavar="EPOCH",
        help=f"checkpoint epochs (default: {','.join(map(str, PAPER_CHECKPOINT_EPOCHS))})",
    )
    group.add_argument("--seed", type=int, default=_RECIPE.seed)
    group.add_argument(
        "--device", default=_RECIPE.device, help="auto (cuda, mps, cpu), cpu, cuda:0 ..."
    )
    group.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision: bfloat16 on CPUs that have it (AVX-512 BF16, AMX) and on CUDA",
    )
    group.add_argument(
        "--no-channels-last",
        dest="channels_last",
        action="store_false",
        help="keep the NCHW memory layout (channels-last is faster on CPUs)",
    )
    group.add_argument(
        "--no-deterministic",
        dest="deterministic",
        action="store_false",
        help="allow non-deterministic CPU kernels",
    )
    group.add_argument(
        "--threads", "--num-threads", type=int, dest="num_threads", help="torch CPU threads"
    )
    parser.add_argument("--out", required=True, help="run directory (sweep: parent directory)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train``, ``sweep`` and ``download`` on the ``conv-study`` parser."""
    train = subparsers.add_parser(
        "train",
        help="train one conv VAE (resumes an existing run directory)",
        description="Train one conv VAE with the paper's recipe; rerunning on the same --out "
        "resumes from the last checkpoint.",
    )
    _add_data_arguments(train, many=False)
    _add_train_arguments(train, many=False)
    train.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="fail instead of resuming when --out already holds a run",
    )
    monitor = train.add_argument_group("live geometry (conv_study.monitor)")
    monitor.add_argument(
        "--monitor-every",
        type=int,
        default=0,
        metavar="STEPS",
        help="measure the ID and imbalances of l0..l10 every STEPS minibatches, into "
        "metrics.jsonl (default 0: off)",
    )
    monitor.add_argument(
        "--monitor-points",
        type=int,
        default=500,
        metavar="N",
        help="probe subset: the first N evaluation images (default 500)",
    )
    train.set_defaults(func=_run_train)

    sweep = subparsers.add_parser(
        "sweep",
        help="train one run per dataset and K, skipping finished runs",
        description="Train <out>/<dataset>-K<K> for every dataset and K; finished runs are "
        "skipped and interrupted ones resumed.",
    )
    _add_data_arguments(sweep, many=True)
    _add_train_arguments(sweep, many=True)
    sweep.set_defaults(func=_run_sweep)

    download = subparsers.add_parser(
        "download",
        help="download MNIST / Fashion-MNIST / CIFAR-10 and verify checksums",
    )
    download.add_argument(
        "--dataset",
        type=KindName(DOWNLOADABLE_DATASETS),
        required=True,
        choices=DOWNLOADABLE_DATASETS,
    )
    download.add_argument("--data-dir", required=True, help="target directory")
    download.add_argument("--mirror", help="base URL to use instead of the official hosts")
    download.add_argument("--timeout", type=float, default=60.0, help="socket timeout (s)")
    download.set_defaults(func=_run_download)


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _data_config(args: argparse.Namespace, dataset: str, data_dir: str | None):
    from conv_study.data import DataConfig  # loaded when a command runs: --help stays fast

    return DataConfig(
        dataset=dataset,
        data_dir=str(Path(data_dir).expanduser()) if data_dir else None,
        path=str(Path(args.data).expanduser()) if args.data else None,
        train_fraction=args.train_fraction,
        n_eval=args.n_eval,
        split_seed=args.split_seed,
        max_train=args.max_train,
    )


def _train_config(args: argparse.Namespace, latent_dim: int) -> TrainConfig:
    return TrainConfig(
        latent_dim=latent_dim,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        beta=args.beta,
        checkpoint_epochs=tuple(args.checkpoints or _RECIPE.checkpoint_epochs),
        seed=args.seed,
        device=args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        deterministic=args.deterministic,
        num_threads=args.num_threads,
    )


def _run_files() -> tuple[str, ...]:
    """What training writes in a run directory (`conv_study.runs.RunFolder.FILES`)."""
    from conv_study.runs import RunFolder  # torch-free, but kept off the --help path

    return RunFolder.FILES


def _run_train(args: argparse.Namespace) -> int:
    _setup_logging(args.quiet)
    check_outputs(
        [Output(name="--out", path=args.out, folder=True, writes=_run_files())],
        inputs={"--data": args.data, "--data-dir": args.data_dir},
    )
    for flag, value, low in (
        ("--monitor-every", args.monitor_every, 0),
        ("--monitor-points", args.monitor_points, 3),
    ):
        if value < low:
            raise ValueError(
                f"The `{flag}` option of conv-study train must be >= {low}. Got {value}."
            )
    from conv_study.taps import study_monitor  # torch, numba: loaded when training
    from conv_study.train import DivergenceError, train  # torch: loaded when training

    data = _data_config(args, args.dataset, args.data_dir)
    config = _train_config(args, args.latent_dim)
    monitor = None
    if args.monitor_every:
        monitor = study_monitor(every=args.monitor_every, points=args.monitor_points)
    try:
        result = train(
            args.out,
            data=data,
            config=config,
            resume=args.resume,
            progress=not args.quiet,
            monitor=monitor,
        )
    except DivergenceError as err:
        report_error("conv-study train", err)  # one line, as for bad input; the run stays valid
        return 1
    print_json(
        {
            "run_dir": str(result.run_dir),
            "resumed_from": result.resumed_from,
            "epochs_trained": result.epochs_trained,
            "device": result.device,
            "seconds": round(result.seconds, 3),
            "last": result.metrics[-1] if result.metrics else None,
        }
    )
    return 0


def _split_data_dirs(entries: list[str], datasets: list[str]) -> dict[str, str | None]:
    shared = [e for e in entries if "=" not in e or e.split("=", 1)[0] not in DATASET_NAMES]
    named = dict(e.split("=", 1) for e in entries if e not in shared)
    if len(shared) > 1:
        raise ValueError(
            "The `--data-dir` option takes one shared DIR or NAME=DIR pairs. "
            f"Got {' '.join(entries)}."
        )
    return {name: named.get(name, shared[0] if shared else None) for name in datasets}


def _run_sweep(args: argparse.Namespace) -> int:
    _setup_logging(args.quiet)
    dirs = _split_data_dirs(args.data_dir, args.dataset)
    inputs = {"--data": args.data}
    inputs.update({f"--data-dir {name}": path for name, path in dirs.items()})
    # One run directory per dataset and K, named like fashion-mnist-K16.
    check_outputs(
        [Output(name="--out", path=args.out, folder=True, writes=("*-K*",))], inputs=inputs
    )
    from conv_study.train import sweep  # torch: loaded when training

    datasets = [_data_config(args, name, dirs[name]) for name in args.dataset]
    config = _train_config(args, args.latent_dims[0])
    entries = sweep(
        args.out,
        datasets=datasets,
        latent_dims=args.latent_dims,
        config=config,
        progress=not args.quiet,
    )
    runs = [
        {
            "run_dir": str(entry.run_dir),
            "dataset": entry.dataset,
            "K": entry.latent_dim,
            "skipped": entry.skipped,
        }
        for entry in entries
    ]
    print_json({"out": str(args.out), "runs": runs})
    return 0


def _run_download(args: argparse.Namespace) -> int:
    _setup_logging(False)
    check_outputs([Output(name="--data-dir", path=args.data_dir, folder=True)])
    from conv_study.data import download  # loaded when a command runs: --help stays fast

    try:
        target = download(args.dataset, args.data_dir, mirror=args.mirror, timeout=args.timeout)
    except OSError as err:  # network failures; bad input (ValueError) is the frame's
        return report_error("conv-study download", err)
    print_json({"dataset": args.dataset, "data_dir": str(target), "verified": True})
    return 0
