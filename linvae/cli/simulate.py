"""``linvae simulate``: one-pass SGD from the command line (see docs/simulator.md).

Ctrl-C (SIGINT) or SIGTERM saves the grid points recorded so far to ``--out`` and exits with
130 or 143; the outputs are checked before the run starts (`linvae.utils.paths`).

Like every CLI module, this one imports the simulator (numba) and matplotlib inside its command
function, not at the top: building the parser (``linvae --help``) must stay light.
"""

from __future__ import annotations

import argparse
import sys

from linvae.cli.options import add_model_options, model_from_options
from linvae.observables import state_size
from linvae.utils.cli import interrupted_exit_code, print_json
from linvae.utils.paths import Output, check_outputs
from linvae.utils.process import check_memory


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="train the linear VAE by one-pass SGD and record order parameters",
        description=(
            "One-pass SGD of the linear VAE on spiked-covariance data. Defaults are the "
            "authors' published workload (N=200, tau=0.01, rho=eta=beta=1, t_max=1500, 5 seeds)."
        ),
    )
    add_model_options(p)
    r = p.add_argument_group("run")
    r.add_argument("--N", type=int, default=200, help="input dimension")
    r.add_argument("--t-max", type=float, default=1500.0, help="training time in N steps")
    r.add_argument("--dt", type=float, default=1.0, help="recording interval")
    r.add_argument(
        "--n-seeds", "--seeds", type=int, default=5, help="independent runs (simulate's n_seeds)"
    )
    r.add_argument("--seed", type=int, default=0, help="the one user seed")
    r.add_argument("--tau-D", type=float, help="learning rate of D (default tau / N)")
    r.add_argument(
        "--W-star",
        choices=["ones", "orthogonal"],
        help="true factors (default: ones for M_star = 1, else orthogonal)",
    )
    r.add_argument(
        "--threads", "--n-threads", type=int, dest="threads", help="threads (default: all cores)"
    )
    r.add_argument("--save-weights", action="store_true", help="keep the final weights")
    o = p.add_argument_group("output")
    o.add_argument("--out", default="run.npz", help="output .npz")
    o.add_argument(
        "--plot", help="also draw eps_g(t) (mean and 16-84 %% band over seeds) to this figure file"
    )
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.add_argument("--force", action="store_true", help="replace read-only output files")
    p.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    # Heavy (numba): loaded only when the command runs.
    from linvae.sgd.simulator import SimulationDiverged, SimulationInterrupted, simulate

    model = model_from_options(args)
    outputs = [Output(name="--out", path=args.out), Output(name="--plot", path=args.plot)]
    inputs = {"--schedule": args.schedule}
    check_outputs(outputs, inputs=inputs, force=args.force, force_flag="--force")
    _check_memory(args, model)
    if args.plot:
        from linvae.plot.trajectory import check_figure_format  # matplotlib

        check_figure_format(args.plot, "--plot")
    out = args.out
    try:
        traj = simulate(
            model,
            N=args.N,
            t_max=args.t_max,
            dt=args.dt,
            n_seeds=args.n_seeds,
            rng=args.seed,
            W_star=args.W_star,
            tau_D=args.tau_D,
            n_threads=args.threads,
            return_weights=args.save_weights,
            progress=not args.quiet,
        )
    except SimulationInterrupted as stop:
        path = stop.partial.save(out, force=args.force)
        t_done = float(stop.partial.t[-1]) if len(stop.partial.t) else 0.0
        print(
            f"\nlinvae simulate: interrupted at t = {t_done:g}: saved {len(stop.partial.t)} "
            f"grid points to {path}",
            file=sys.stderr,
        )
        return interrupted_exit_code()
    except SimulationDiverged as err:
        path = err.partial.save(out, force=args.force)
        print(f"linvae simulate: error: {err} Partial run saved to {path}.", file=sys.stderr)
        return 1
    path = traj.save(out, force=args.force)
    summary = {
        "out": str(path),
        "t_max": float(traj.t[-1]),
        "eps_g_final_mean": float(traj.eps_g[:, -1].mean()),
        "eps_g_final_std": float(traj.eps_g[:, -1].std()),
        "wall_time_s": round(traj.meta["wall_time_s"], 3),
    }
    if args.plot:
        from linvae.plot.labels import model_text
        from linvae.plot.trajectory import plot_observable, save_figure  # matplotlib

        ax = plot_observable(traj, "eps_g", logy=True)
        ax.set_title(f"linear VAE, one-pass SGD\n{model_text(traj.model)}", fontsize=10)
        summary["plot"] = str(save_figure(ax.figure, args.plot, force=args.force))
    print_json(summary)
    return 0


def _check_memory(args: argparse.Namespace, model) -> None:
    """Refuse, before allocating, a run that cannot fit: the weights (W, V and their initial
    values, the input) of every seed, and the recorded order parameters (with a copy)."""
    if not (args.N > 0 and args.n_seeds > 0 and args.dt > 0 and args.t_max > 0):
        return  # out of range: simulate says so, naming the parameter
    n_rec = args.t_max / args.dt + 1
    per_record = state_size(model.M, model.M_star) + 1  # the order parameters and eps_g
    weights = args.n_seeds * args.N * (4 * model.M + 1) + 2 * args.N * model.M_star
    check_memory(
        8.0 * (weights + 2 * args.n_seeds * n_rec * per_record),
        f"--N {args.N} --n-seeds {args.n_seeds} --t-max {args.t_max:g} --dt {args.dt:g}",
        fix="Lower --N or --n-seeds, or raise --dt.",
    )
