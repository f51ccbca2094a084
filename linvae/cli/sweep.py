"""``linvae sweep``: run a parameter grid (or the finite-size-scaling sweep) from a TOML file.

The file format is described on the sweeps page (docs/sweeps.md). As in every CLI module, the
sweep machinery (numba, dask) and matplotlib are imported inside the command function, so that
building the parser (``linvae --help``) stays light.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from linvae.cli.options import schedule_from_file
from linvae.utils.cli import interrupted_exit_code, print_json
from linvae.utils.paths import Output, check_outputs

# What a sweep writes in its --out folder (the layout of linvae.sweep.store).
_SWEEP_FILES = ("sweep.json", "index.json", "results.npz", "points", "finite_size.*")

_DESCRIPTION = """\
Run a sweep declared in a TOML file, resumably, on a local process pool (default), serially
(--serial) or on a Dask cluster (--scheduler tcp://host:8786). Each finished point is written to
OUT/points/ at once; rerunning the same command computes only what is missing (Ctrl-C or
SIGTERM stops the sweep with every finished point kept, exit code 130 or 143). Gathered arrays:
OUT/results.npz (linvae.sweep.load_sweep reads the directory). A [finite_size] table turns the
file into the finite-size-scaling sweep (SGD vs ODE vs N): OUT/finite_size.json and .png.
See docs/sweeps.md for the file format."""


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a parameter sweep (SGD, ODE or both) locally or on a Dask cluster",
        description=_DESCRIPTION,
    )
    p.add_argument("config", type=Path, help="TOML file declaring the sweep")
    p.add_argument("--out", type=Path, required=True, help="output directory (resumable)")
    p.add_argument(
        "--schedule",
        metavar="FILE.json",
        help="the KL schedule of every point from a JSON file (any kind, e.g. tabulated), "
        "instead of the file's [model] beta",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--serial", action="store_true", help="run in this process, one by one")
    p.add_argument("--workers", type=int, help="local pool size (default: number of CPUs)")
    p.add_argument("--threads-per-point", type=int, default=1, help="numba threads per point")
    p.add_argument(
        "--allow-large",
        action="store_true",
        help="run a grid of more than a million points (refused without it)",
    )
    p.add_argument(
        "--no-retry-failed", action="store_true", help="keep points that failed before as failed"
    )
    p.add_argument("--no-progress", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Light: the schema and the grid load no numba; the sweep machinery loads in _run.
    from linvae.sweep import MAX_POINTS, Sweep, SweepInterrupted, model_from_config
    from linvae.sweep.schema import read_sweep_toml

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    check_outputs(
        [Output(name="--out", path=args.out, folder=True, writes=_SWEEP_FILES)],
        inputs={"the input CONFIG": args.config, "--schedule": args.schedule},
    )
    # The whole input is checked before any work: the file against the sweep schema, every
    # point, the size of the grid and the options.
    config = read_sweep_toml(args.config)
    _check_threads(args)
    schedule = None if args.schedule is None else _schedule(args, config)
    if "finite_size" in config:
        sweep = None
        size = len(set(config["finite_size"]["N"]))
        try:
            config["model"] = model_from_config(config.get("model", {}))
            if schedule is not None:
                config["model"] = replace(config["model"], beta=schedule)
            _finite_size_sweep(config)  # every point checked, as for a grid
        except (ValueError, TypeError) as err:
            raise ValueError(f"{args.config}: {err}") from None
    else:
        sweep = Sweep.from_description(config, where=str(args.config))
        if schedule is not None:
            try:
                sweep = replace(sweep, model=replace(sweep.model, beta=schedule))
            except (ValueError, TypeError) as err:
                raise ValueError(f"--schedule {args.schedule} with {args.config}: {err}") from None
        size = sweep.size
    if size > MAX_POINTS and not args.allow_large:
        raise ValueError(
            f"{args.config} declares {size:,} points, more than {MAX_POINTS:,} (a file per "
            "point, an index of ~150 bytes per point, at least days of computing); check the "
            "[grid] table, or pass --allow-large to run it."
        )
    try:
        return _run(args, config, sweep)
    except SweepInterrupted as stop:
        print(
            f"\nlinvae sweep: interrupted: {stop.done} of {stop.total} points done and saved "
            f"in {stop.directory}; run the same command again to compute the rest.",
            file=sys.stderr,
        )
        return interrupted_exit_code()


def _schedule(args: argparse.Namespace, config: dict):
    """The schedule of ``--schedule``; refused beside a [model] beta of the sweep file."""
    for table in ("model", "grid"):
        if "beta" in config.get(table, {}):
            raise ValueError(
                f"--schedule gives the KL schedule, and {args.config} gives beta too ([{table}] "
                "beta). Drop one of them."
            )
    return schedule_from_file(args.schedule)


def _finite_size_kwargs(config: dict) -> dict:
    """The keyword arguments of finite_size_scaling from a checked [finite_size] file."""
    kw = {k: v for k, v in config.items() if k in ("t_max", "dt", "n_seeds", "seed", "ode")}
    kw.update(config["finite_size"])
    return kw


def _finite_size_sweep(config: dict):
    """The sweep finite_size_scaling will run (its defaults where the file is silent), built
    only to check every point before any work."""
    # Loads the sweep machinery (numba on first use only): the command needs it anyway.
    from linvae.analysis.finite_size import finite_size_scaling
    from linvae.sweep import Sweep

    kw = {
        name: p.default
        for name, p in inspect.signature(finite_size_scaling).parameters.items()
        if name in ("N", "t_max", "dt", "n_seeds", "seed", "observable")
    }
    kw.update(_finite_size_kwargs(config))
    return Sweep(
        grid={"N": sorted(set(kw.pop("N")))},
        model=config["model"],
        kind="both",
        observables=(kw.pop("observable"),),
        **kw,
    )


def _check_threads(args: argparse.Namespace) -> None:
    """--threads-per-point within numba's thread limit of this machine (local runs)."""
    # numba's limit is NUMBA_NUM_THREADS, by default the number of CPUs (read without
    # importing numba); a Dask worker's machine is not known here.
    env = os.environ.get("NUMBA_NUM_THREADS", "")
    limit = int(env) if env.isdigit() and int(env) > 0 else os.cpu_count() or 1
    high = limit if args.scheduler is None else None
    value = args.threads_per_point
    if value < 1 or (high is not None and value > high):
        allowed = f"in [1, {high}] (numba's thread limit here)" if high else ">= 1"
        raise ValueError(f"--threads-per-point must be an integer {allowed}. Got {value}.")


def _run(args: argparse.Namespace, config: dict, sweep) -> int:
    # Heavy (numba; dask on demand; matplotlib): loaded only when the command runs.
    from linvae.analysis.finite_size import finite_size_scaling
    from linvae.plot.sweep import plot_finite_size_scaling
    from linvae.sweep import run_sweep

    scheduler = args.scheduler or ("serial" if args.serial else "processes")
    options = {
        "scheduler": scheduler,
        "workers": args.workers,
        "threads_per_point": args.threads_per_point,
        "retry_failed": not args.no_retry_failed,
        "progress": not args.no_progress,
    }
    if sweep is None:
        # Checked by the schema: [finite_size] holds N, observable, t_max, dt, n_seeds, seed;
        # the top level may give model, ode, t_max, dt, n_seeds and seed.
        fss = finite_size_scaling(
            config["model"], **_finite_size_kwargs(config), out_dir=args.out, **options
        )
        figure = args.out / "finite_size.png"
        plot_finite_size_scaling(fss, path=figure)
        print_json(
            {
                "out": str(args.out),
                "json": str(args.out / "finite_size.json"),
                "figure": str(figure),
                "N": [int(n) for n in fss.N],
                "exponent": fss.exponent,
                "exponent_err": fss.exponent_err,
                "exponent_theory": -0.5,
            }
        )
        return 0
    result = run_sweep(sweep, args.out, allow_large=args.allow_large, **options)
    n_done = int((result.status == "done").sum())
    failures = [
        {"index": f["index"], "parameters": f["parameters"], "error": f["error"]}
        for f in result.failures
    ]
    for failure in failures:
        print(
            f"linvae sweep: point {failure['index']} {failure['parameters']} failed: "
            f"{failure['error']}",
            file=sys.stderr,
        )
    print_json(
        {
            "out": str(args.out),
            "results": str(args.out / "results.npz"),
            "points": sweep.size,
            "done": n_done,
            "failed": failures,
        }
    )
    return 1 if failures else 0
