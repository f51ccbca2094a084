"""``conv-study id``, ``ii``, ``analyze`` and ``figures``.

Examples::

    conv-study id points.npy                   # JSON: 2NN ID of the rows
    conv-study id points.npy --scaling         # ... and the decimation curve
    conv-study ii A.npy B.npy                  # JSON: Delta(A -> B), Delta(B -> A)
    conv-study analyze runs/fmnist-K16 --points 5000
    conv-study figures runs/ --out figs/

``id`` and ``ii`` read 2-D arrays of real numbers, one point per row (a 1-D array is one
coordinate per point); other shapes are refused rather than guessed at (reshape an image
stack yourself: ``X.reshape(len(X), -1)``). Progress goes to stderr; results of ``id`` and
``ii`` go to stdout as strict JSON (an undefined estimate is ``null``, with its reason in
``null_reasons``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from conv_study.constants import PAPER_N_EVAL, TWONN_METHODS
from linvae.utils.cli import ListOption, print_json
from linvae.utils.io import load_npy
from linvae.utils.paths import Output, check_outputs

__all__ = ["add_subcommands"]


def _setup_logging(verbose: bool, *, quiet: bool = False) -> None:
    """Log lines on stderr: DEBUG with ``-v``, otherwise INFO (WARNING where a progress bar
    shows the progress instead, ``quiet``)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def _load_points(path: str) -> np.ndarray:
    """The points of a .npy file, one per row; ValueError naming the file if it cannot be."""
    arr = load_npy(path)
    if arr.dtype.kind not in "fiu":
        raise ValueError(
            f"{path} holds an array of dtype {arr.dtype}; expected real numbers (float or int)."
        )
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{path} holds an array of shape {arr.shape}; expected one point per row (2-D, "
            "or 1-D for one coordinate). Reshape it first, e.g. X.reshape(len(X), -1) for "
            "images."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{path} holds NaN or inf values; every coordinate must be finite.")
    return arr[:, None] if arr.ndim == 1 else arr


# Why a 2NN estimate can be NaN: what `null_reasons` says in the JSON.
_UNDEFINED_ID = (
    "undefined: the ratios mu = r2 / r1 of second to first neighbour distances carry no "
    "information (all equal to 1 after discarding, as on a regular lattice); the 2NN "
    "estimator needs points in general position"
)


def _cmd_id(args: argparse.Namespace) -> int:
    from conv_study.estimators import twonn_id, twonn_scaling  # numba: loaded when run

    X = _load_points(args.file)
    sc = None
    # On degenerate points (a lattice) the estimate is NaN, reported with its reason below;
    # numpy's 0/0 warnings would only repeat it.
    with np.errstate(invalid="ignore", divide="ignore"):
        if args.scaling:
            # The decimation curve starts with the whole set: its estimate is the one reported.
            sc = twonn_scaling(X, discard=args.discard, method=args.method, rng=args.seed)
            res = sc.full
        else:
            res = twonn_id(X, discard=args.discard, method=args.method)
    out = {
        "file": args.file,
        "id": res.id,
        "method": res.method,
        "discard": res.discard,
        "n_points": res.n_points,
        "n_duplicates": res.n_duplicates,
    }
    if sc is not None:
        out["scaling"] = {
            "n_points": sc.n_points.tolist(),
            "id": sc.id.tolist(),
            "id_err": sc.id_err.tolist(),
            "scale": sc.scale.tolist(),
        }
    reasons = {"id": _UNDEFINED_ID, "scaling.id": _UNDEFINED_ID, "scaling.id_err": _UNDEFINED_ID}
    if not np.isfinite(res.id):  # said on stderr too, not only in the JSON
        print(
            f"conv-study id: warning: the 2NN ID of {args.file} is {_UNDEFINED_ID}.",
            file=sys.stderr,
        )
    print_json(out, reasons=reasons)
    return 0


def _cmd_ii(args: argparse.Namespace) -> int:
    # numba: loaded when the command runs
    from conv_study.estimators import information_imbalance, relative_imbalance_difference

    A, B = _load_points(args.a), _load_points(args.b)
    res = information_imbalance(A, B, k=args.k)
    out = {
        "a": args.a,
        "b": args.b,
        "a_to_b": res.a_to_b,
        "b_to_a": res.b_to_a,
        "relative_difference": relative_imbalance_difference(res.a_to_b, res.b_to_a),
        "k": res.k,
        "n_points": res.n_points,
    }
    print_json(out)
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose, quiet=True)  # a progress bar, the numbers in the JSON
    started = time.perf_counter()
    # numba, torch: loaded when run
    from conv_study.analysis import analyze_run, format_ids, read_profile
    from conv_study.device import select_device
    from conv_study.runs import ANALYSIS_FILE

    # The device is checked before the run is read, so that a wrong one is blamed, not the
    # checkpoint that would fail to load onto it.
    try:
        device = str(select_device(args.device))
    except ValueError as err:
        raise ValueError(f"--device: {err}") from None
    if args.run_dir.is_dir():  # a missing run is the analysis' error to report
        check_outputs([Output(name="RUN_DIR's analysis", path=args.run_dir / ANALYSIS_FILE)])

    res = analyze_run(
        args.run_dir,
        points=args.points,
        epochs=args.epochs,
        k=args.k,
        device=device,
        force=args.force,
        progress=not args.quiet,
    )
    summary = {
        "run_dir": str(args.run_dir),
        "analysis": str(args.run_dir / ANALYSIS_FILE),
        "epochs": [c.epoch for c in res.checkpoints],
    }
    if res.checkpoints:
        last = res.checkpoints[-1]
        reading = read_profile(last.id, latent_dim=res.latent_dim)
        logging.getLogger("conv_study").info(
            "epoch %s: data ID %.1f, K = %d -> %s hunchback (expected %s); peaks at layers %s",
            last.epoch,
            reading.data_id,
            res.latent_dim,
            reading.shape,
            reading.predicted_shape,
            [last.layers[p] for p in reading.peaks],
        )
        logging.getLogger("conv_study").info(
            "epoch %s: ID %s", last.epoch, format_ids(last.layers, last.id, last.id_mu)
        )
        summary["last"] = {
            "epoch": last.epoch,
            "data_id": reading.data_id,
            "shape": reading.shape,
            "predicted_shape": reading.predicted_shape,
            "peaks": [last.layers[p] for p in reading.peaks],
        }
    # Imports and compilation included.
    summary["wall_time_s"] = round(time.perf_counter() - started, 3)
    print_json(summary)
    return 0


def _cmd_figures(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose)
    figures = Output(name="--out", path=args.out, folder=True, writes=("*.png",))
    check_outputs([figures], inputs={"the input RUNS_DIR": args.runs_dir})
    from conv_study.figures import find_analyses, make_figures  # matplotlib: loaded when run

    if not args.runs_dir.is_dir():
        raise ValueError(
            f"RUNS_DIR {args.runs_dir} is not a directory: give a run directory, or the folder "
            "that holds the run directories, each analysed by `conv-study analyze RUN_DIR`."
        )
    analyses = find_analyses(args.runs_dir)
    if not analyses:
        # Bad input like any other: one line, exit code 2 (the frame reports it).
        raise ValueError(
            f"nothing to draw: no analysis.json in {args.runs_dir} or the folders in it. Run "
            "`conv-study analyze RUN_DIR` on each trained run first, then `conv-study figures` "
            "on the folder that holds them."
        )
    from conv_study.analysis import read_profile  # numba: loaded when run

    log = logging.getLogger("conv_study")
    for res in analyses:
        reading = read_profile(res.checkpoints[-1].id, latent_dim=res.latent_dim)
        log.info(
            "%s K=%d (epoch %s): data ID %.1f -> %s hunchback, expected %s",
            res.label,
            res.latent_dim,
            res.checkpoints[-1].epoch,
            reading.data_id,
            reading.shape,
            reading.predicted_shape,
        )
    paths = make_figures(analyses, args.out) + _monitor_figures(analyses, args.out)
    print_json({"out": str(args.out), "figures": [str(p) for p in paths]})
    return 0


def _monitor_figures(analyses, out: Path) -> list[Path]:
    """``geometry_steps_<label>-K<K>.png`` for each run trained with a geometry monitor; their
    paths."""
    from conv_study.probe_figures import monitor_records, plot_monitor  # matplotlib
    from conv_study.runs import load_run

    paths = []
    for res in analyses:
        try:
            records = monitor_records(load_run(res.run_dir).metrics())
        except (OSError, ValueError):  # the run folder moved since its analysis: no records
            continue
        if records:
            path = out / f"geometry_steps_{res.label}-K{res.latent_dim}.png"
            plot_monitor(records, path, title=f"{res.label}, K = {res.latent_dim}")
            paths.append(path)
    return paths


def add_subcommands(subparsers) -> None:
    """Register ``id``, ``ii``, ``analyze`` and ``figures`` on the ``conv-study`` parser."""
    p = subparsers.add_parser("id", help="2NN intrinsic dimension of the rows of a .npy file")
    p.add_argument("file", help=".npy array, one point per row")
    p.add_argument("--discard", type=float, default=0.1, help="fraction of the largest mu left out")
    p.add_argument(
        "--method", choices=TWONN_METHODS, default="base", help="the 2NN fit (base or ml)"
    )
    p.add_argument("--scaling", action="store_true", help="add the decimation curve")
    p.add_argument("--seed", type=int, default=0, help="seed of the decimation subsets")
    p.set_defaults(func=_cmd_id)

    p = subparsers.add_parser("ii", help="information imbalance between two .npy arrays")
    p.add_argument("a", help=".npy array A (N rows)")
    p.add_argument("b", help=".npy array B (the same N points)")
    p.add_argument("--k", type=int, default=1, help="neighbours averaged")
    p.set_defaults(func=_cmd_ii)

    p = subparsers.add_parser(
        "analyze", help="ID and imbalance profiles of a run's checkpoints (cached, incremental)"
    )
    p.add_argument("run_dir", type=Path, help="a run directory written by `conv-study train`")
    p.add_argument(
        "--points",
        type=int,
        default=PAPER_N_EVAL,
        help="evaluation images used",
    )
    p.add_argument(
        "--epochs",
        action=ListOption,
        item=int,
        metavar="EPOCH",
        help="checkpoints: 10,200 or 10 200 (default: all)",
    )
    p.add_argument("--k", type=int, default=1, help="neighbours in the imbalance")
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device for the forward passes (auto, cpu, cuda:N, mps)",
    )
    p.add_argument("--force", action="store_true", help="recompute cached checkpoints")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="a log line per checkpoint and estimator"
    )
    p.set_defaults(func=_cmd_analyze)

    p = subparsers.add_parser("figures", help="the study's figures from analysed runs")
    p.add_argument("runs_dir", type=Path, help="a directory of analysed run directories")
    p.add_argument("--out", type=Path, required=True, help="output directory for the PNGs")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_cmd_figures)
