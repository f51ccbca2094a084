"""``linvae simulate``: one-pass SGD from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from linvae.cli.frame import report_error
from linvae.params import Model
from linvae.schedules import Constant, LinearRamp, StepSchedule, TanhAnneal

log = logging.getLogger("linvae")


def _floats(text: str) -> float | tuple[float, ...]:
    parts = [float(p) for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected a number or a comma-separated list: {text!r}")
    return parts[0] if len(parts) == 1 else tuple(parts)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The model and schedule options shared by every linvae subcommand (paper notation)."""
    g = parser.add_argument_group("model")
    g.add_argument("--M", type=int, default=1, help="latent dimension (default 1)")
    g.add_argument("--M-star", type=int, default=1, help="number of true factors (default 1)")
    g.add_argument(
        "--rho", type=_floats, default=1.0, help="signal strength, or one per factor: 1,2.5"
    )
    g.add_argument("--eta", type=float, default=1.0, help="noise strength (default 1)")
    g.add_argument(
        "--beta", type=float, default=1.0, help="KL weight, or its final value when annealing"
    )
    g.add_argument("--lam", type=float, default=0.0, help="L2 penalty on W and V (default 0)")
    g.add_argument("--tau", type=float, default=0.01, help="learning rate (default 0.01)")
    a = parser.add_argument_group("KL annealing")
    a.add_argument(
        "--anneal",
        choices=["none", "tanh", "linear", "step"],
        default="none",
        help="tanh: beta tanh(gamma t); linear: ramp to beta over --t-ramp; step: 0 then beta",
    )
    a.add_argument("--gamma", type=float, help="rate of the tanh schedule")
    a.add_argument("--t-ramp", type=float, help="ramp length (linear) or switch time (step)")


def model_from_args(args: argparse.Namespace) -> Model:
    """Build the Model (with its schedule) from the options of :func:`add_model_arguments`."""
    if args.anneal == "none":
        beta = Constant(beta=args.beta)
    elif args.anneal == "tanh":
        if args.gamma is None:
            raise ValueError("--anneal tanh needs --gamma (e.g. --gamma 0.002).")
        beta = TanhAnneal(beta_final=args.beta, gamma=args.gamma)
    else:
        if args.t_ramp is None:
            raise ValueError(f"--anneal {args.anneal} needs --t-ramp (a time in units of N steps).")
        cls = LinearRamp if args.anneal == "linear" else StepSchedule
        key = "t_ramp" if args.anneal == "linear" else "t_switch"
        beta = cls(beta_final=args.beta, **{key: args.t_ramp})
    return Model(
        M=args.M,
        M_star=args.M_star,
        rho=args.rho,
        eta=args.eta,
        beta=beta,
        lam=args.lam,
        tau=args.tau,
    )


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="train the linear VAE by one-pass SGD and record order parameters",
        description=(
            "One-pass SGD of the linear VAE on spiked-covariance data. Defaults are the "
            "authors' published workload (N=200, tau=0.01, rho=eta=beta=1, t_max=1500, 5 seeds)."
        ),
    )
    add_model_arguments(p)
    r = p.add_argument_group("run")
    r.add_argument("--N", type=int, default=200, help="input dimension (default 200)")
    r.add_argument("--t-max", type=float, default=1500.0, help="training time in N steps")
    r.add_argument("--dt", type=float, default=1.0, help="recording interval (default 1)")
    r.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    r.add_argument("--seed", type=int, default=0, help="the one user seed (default 0)")
    r.add_argument("--tau-D", type=float, help="learning rate of D (default tau / N)")
    r.add_argument("--W-star", choices=["ones", "orthogonal"], help="true factors")
    r.add_argument("--threads", type=int, help="threads (default: all cores)")
    r.add_argument("--save-weights", action="store_true", help="keep the final weights")
    o = p.add_argument_group("output")
    o.add_argument("--out", default="run.npz", help="output .npz (default run.npz)")
    o.add_argument("--plot", help="also draw eps_g(t) (mean and spread over seeds) to this file")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from linvae.sgd.simulate import SimulationDiverged, SimulationInterrupted, simulate

    try:
        model = model_from_args(args)
        traj = simulate(
            model,
            N=args.N,
            t_max=args.t_max,
            dt=args.dt,
            n_seeds=args.seeds,
            rng=args.seed,
            W_star=args.W_star,
            tau_D=args.tau_D,
            n_threads=args.threads,
            return_weights=args.save_weights,
            progress=not args.quiet,
        )
    except ValueError as err:
        return report_error("linvae simulate", err)
    except SimulationInterrupted as stop:
        path = stop.partial.save(args.out)
        print(f"\ninterrupted: saved {len(stop.partial.t)} grid points to {path}", file=sys.stderr)
        return 130
    except SimulationDiverged as err:
        path = err.partial.save(args.out)
        print(f"linvae simulate: error: {err}\nPartial run saved to {path}.", file=sys.stderr)
        return 1
    path = traj.save(args.out)
    summary = {
        "out": str(path),
        "t_max": float(traj.t[-1]),
        "eps_g_final_mean": float(traj.eps_g[:, -1].mean()),
        "eps_g_final_std": float(traj.eps_g[:, -1].std()),
        "wall_time_s": round(traj.meta["wall_time_s"], 3),
    }
    if args.plot:
        from linvae.plot.trajectory import plot_observable, save_figure

        ax = plot_observable(traj, "eps_g", logy=True)
        ax.set_title(f"linear VAE, one-pass SGD (N = {traj.N})")
        summary["plot"] = str(save_figure(ax.figure, args.plot))
    print(json.dumps(summary))
    return 0
