"""``conv-study linear``: the conv study's lens on the linear VAE, measured and predicted.

Example::

    conv-study linear --beta 0.5 --M 2 --tau 0.1 --t-max 300 --out figs/

trains a linear VAE by one-pass SGD (the model options of ``linvae simulate``) and, at each
time of ``--times``, measures the 2NN IDs of c, x, mu, z and the reconstruction on a held-out
sample and the information imbalances between them, and predicts them from the order
parameters of the run and of the ODE. With ``--out``, the whole result goes to
``--out/geometry.json`` next to the figures and stdout gets a short summary (the files, and
the IDs at the last time); without it, the whole result goes to stdout. A progress bar goes to
stderr. Ctrl-C or SIGTERM keeps the times measured so far (``"complete": false``) and exits
with 130 or 143; the same command run again measures only the other times.
The page "Geometry of the linear VAE" (docs/linear-geometry.md) explains the numbers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from linvae.cli.options import add_model_options, model_from_options
from linvae.utils.cli import ListOption, interrupted_exit_code, print_json
from linvae.utils.io import atomic_write_json, to_jsonable
from linvae.utils.paths import Output, check_outputs
from linvae.utils.process import check_memory, folder_lock
from linvae.utils.progress import make_progress

__all__ = ["add_subcommands"]

_DEFAULT_TIMES = 6
# The JSON of the command, also written into --out.
_JSON_FILE = "geometry.json"


def _times(args: argparse.Namespace) -> list[float]:
    """The measurement times: ``--times``, or evenly spaced up to ``--t-max``."""
    if args.t_max is not None and not args.t_max > 0:
        raise ValueError(f"--t-max must be > 0. Got {args.t_max:g}.")
    if args.times is None:
        t_max = 1500.0 if args.t_max is None else args.t_max
        return [t_max * i / (_DEFAULT_TIMES - 1) for i in range(_DEFAULT_TIMES)]
    times = list(args.times)
    if any(not t >= 0 for t in times) or any(b <= a for a, b in itertools.pairwise(times)):
        raise ValueError(f"--times must be increasing times >= 0. Got {times}.")
    if args.t_max is not None and times[-1] > args.t_max:
        raise ValueError(
            f"--times goes beyond --t-max = {args.t_max:g} (last time {times[-1]:g}); "
            "drop --t-max or raise it."
        )
    return times


def _cmd_linear(args: argparse.Namespace) -> int:
    model = model_from_options(args)
    times = _times(args)
    if args.points < 10:
        raise ValueError(f"--points must be at least 10. Got {args.points}.")
    if args.repeats < 1:
        raise ValueError(f"--repeats must be at least 1. Got {args.repeats}.")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0. Got {args.seed}.")
    if args.N < max(model.M, model.M_star):
        raise ValueError(f"--N must be at least --M and --M-star. Got {args.N}.")
    # Before minutes of work.
    figures = ("linear-time.png", "linear-profile.png", _JSON_FILE)
    check_outputs([Output(name="--out", path=args.out, folder=True, writes=figures)])
    check_memory(
        _memory_estimate(args.N, model.M, len(times), args.points),
        f"--N {args.N} --points {args.points} with {len(times)} times",
        fix="Lower --points or --N.",
    )
    if args.out is None:
        return _measure(args, model, times)
    with folder_lock(args.out, "--out"):
        return _measure(args, model, times)


def _memory_estimate(N: int, M: int, n_times: int, n_points: int) -> float:
    """Peak bytes of a measurement: the snapshots, the held-out inputs and their images (x,
    the reconstruction, their copies in the estimators), and the estimators' n x n distances
    (about four arrays of that size at once)."""
    return 8.0 * (2 * n_times * N * M + 4 * n_points * N + 4 * n_points**2)


def _resumable(args: argparse.Namespace, model, times: list[float]) -> list[dict]:
    """The measured times of an interrupted run of this same command in ``--out``, if any.

    ``--out/geometry.json`` with ``"complete": false`` (what an interrupt writes), made with
    the same model, sizes, seed and ODE option, for a prefix of the times asked; otherwise
    nothing is reused (and the file is replaced when the command ends).
    """
    path = None if args.out is None else args.out / _JSON_FILE
    if path is None or not path.is_file():
        return []
    try:
        saved = json.loads(path.read_text())
        same = saved.get("complete") is False and all(
            saved.get(key) == value
            for key, value in {
                "model": to_jsonable(model.describe()),
                "N": args.N,
                "n_points": args.points,
                "repeats": args.repeats,
                "seed": args.seed,
            }.items()
        )
        entries = saved["times"] if same else []
        steps = [round(t * args.N) for t in times]  # the SGD steps of the times asked
        if len(entries) > len(times) or any(
            round(entry["t"] * args.N) != step for entry, step in zip(entries, steps, strict=False)
        ):
            return []
        if any(("predicted_ode" in entry) == args.no_ode for entry in entries):
            return []
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []  # unreadable: measured again, and the file replaced at the end
    return entries


def _summary(out: dict, args: argparse.Namespace) -> dict:
    """What stdout gets when the whole result is in ``--out``: the files, and the IDs
    measured and predicted at the last time measured."""
    summary = {
        "complete": out["complete"],
        "json": str(args.out / _JSON_FILE),
        "figures": out.get("figures", []),
        "t": [entry["t"] for entry in out["times"]],
    }
    if out["times"]:
        last = out["times"][-1]
        summary["last"] = {"t": last["t"], "eps_g": last["eps_g"]}
        for key in ("measured", "predicted", "predicted_ode"):
            if key in last:
                summary["last"][f"id_{key}"] = last[key]["id"]
    return summary


def _report(out: dict, args: argparse.Namespace) -> None:
    """The result to ``--out/geometry.json`` and a summary to stdout, or all of it to stdout."""
    if args.out is None:
        print_json(out)
        return
    atomic_write_json(args.out / _JSON_FILE, out, indent=1)
    print_json(_summary(out, args))


def _measure(args: argparse.Namespace, model, times: list[float]) -> int:
    """Run, measure and print (``--out`` locked against other writers when given)."""
    # numba, scipy (and matplotlib below): loaded when the command runs
    from conv_study.linear import GeometryInterrupted, linear_geometry
    from linvae.sgd.simulator import SimulationDiverged

    known = _resumable(args, model, times)
    if known and not args.quiet:
        print(
            f"conv-study linear: resuming: {len(known)} of {len(times)} times already measured",
            file=sys.stderr,
        )
    # The first report comes once SGD (and the ODE) have run to the last time.
    bar = make_progress(not args.quiet, len(times), "linear", unit="times", warmup="training")
    try:
        result = linear_geometry(
            model,
            N=args.N,
            times=times,
            n_points=args.points,
            repeats=args.repeats,
            ode=not args.no_ode,
            rng=args.seed,
            progress=lambda done, total: bar(done),
            known=known,
        )
    except SimulationDiverged as err:
        bar.close()
        print(f"conv-study linear: error: {err}", file=sys.stderr)
        return 1
    except GeometryInterrupted as stop:
        bar.close()
        if stop.partial is None:
            raise
        # Keep the finished times: in --out (or on stdout).
        _report({**stop.partial.to_json(), "complete": False}, args)
        print(
            f"conv-study linear: interrupted: kept {len(stop.partial.t)} of {len(times)} "
            "measured times" + (f" (in {args.out / _JSON_FILE})" if args.out else ""),
            file=sys.stderr,
        )
        return interrupted_exit_code()
    bar.close()
    out = {**result.to_json(), "complete": True}
    if args.out is not None:
        from conv_study.linear.figures import make_figures  # matplotlib: loaded when asked

        out["figures"] = [str(p) for p in make_figures(result, args.out)]
    _report(out, args)
    return 0


def add_subcommands(subparsers) -> None:
    """Register ``linear`` on the ``conv-study`` parser."""
    p = subparsers.add_parser(
        "linear",
        help="ID and information imbalance of a linear VAE, measured and predicted",
        description=(
            "Train a linear VAE by one-pass SGD (the model options of `linvae simulate`) and, "
            "at each time, measure the 2NN ID of c, x, mu, z and "
            "the reconstruction of a held-out sample and the information imbalances between "
            "them; predict the same from the order parameters of the run and of the ODE. "
            "With --out: the figures and the whole JSON (geometry.json) there, a summary on "
            "stdout; without: the whole JSON on stdout. Ctrl-C or SIGTERM keeps the "
            "times measured so far (exit 130 or 143); with --out, the same command run again "
            "measures only the others."
        ),
    )
    add_model_options(p)
    r = p.add_argument_group("run and measurement")
    r.add_argument("--N", type=int, default=500, help="input dimension (default 500)")
    r.add_argument("--t-max", type=float, help="last time (default 1500, or the last of --times)")
    r.add_argument(
        "--times",
        action=ListOption,
        item=float,
        metavar="T",
        help=f"measurement times: 0,100,300 or 0 100 300 (default {_DEFAULT_TIMES} evenly "
        "spaced from 0 to --t-max)",
    )
    r.add_argument(
        "--points",
        "--n-points",
        type=int,
        default=2000,
        dest="points",
        help="held-out points, linear_geometry's n_points (default 2000)",
    )
    r.add_argument(
        "--repeats", type=int, default=6, help="draws of the law per prediction (default 6)"
    )
    r.add_argument("--no-ode", action="store_true", help="skip the ODE prediction")
    r.add_argument("--seed", type=int, default=0, help="the one user seed (default 0)")
    r.add_argument(
        "--out", type=Path, help="directory for the figures and geometry.json (none if not given)"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_linear)
