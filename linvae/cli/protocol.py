"""``linvae protocol``: the optimal annealing protocol beta(t) within bounds.

Prints strict JSON on stdout (`linvae.analysis.protocol.OptimalProtocol.as_dict`); the
protocols page (docs/protocols.md) explains what it computes. The analysis (casadi, sympy,
numba) and matplotlib are imported inside the command function, so that building the parser
stays light.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from linvae.cli.options import add_model_options, add_sgd_noise_option, model_from_options
from linvae.schedules import Constant
from linvae.utils.cli import KindName, print_json
from linvae.utils.io import atomic_write_json
from linvae.utils.paths import Output, check_outputs

_OBJECTIVES = ("convergence-time", "final-error")


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "protocol",
        help="optimal KL annealing protocol beta(t) within [beta_min, beta_max] (optimal control)",
        description=(
            "The beta(t) within [--beta-min, --beta-max], ending at --beta-final, that "
            "minimizes the ensemble-mean excess convergence time (the measure of linvae "
            "anneal: --n-init fresh initial states at --N, seed --seed, tolerance --tol) or "
            "eps_g at --horizon (--objective final-error). Optimized by direct single "
            "shooting on the derived ODEs (CasADi gradients, L-BFGS-B) and re-measured on the "
            "package's integrator beside the best tanh, two-level step and linear ramp. JSON "
            "keys include speedup (vs constant beta_f), best_tanh_speedup, time_saved, "
            "schedule (the tabulated beta(t), usable as --schedule FILE.json) and "
            "wall_time_s. A progress bar shows on stderr."
        ),
    )
    add_model_options(p)
    g = p.add_argument_group("protocol")
    g.add_argument("--beta-final", type=float, help="final KL weight beta_f (default: --beta)")
    g.add_argument("--beta-min", type=float, required=True, help="lower bound of beta(t) (> 0)")
    g.add_argument("--beta-max", type=float, required=True, help="upper bound of beta(t)")
    g.add_argument(
        "--objective",
        type=KindName(_OBJECTIVES),
        choices=_OBJECTIVES,
        default="convergence-time",
        help="what to minimize (default: convergence-time)",
    )
    g.add_argument(
        "--horizon",
        type=float,
        help="time at which eps_g is read (required for final-error); for convergence-time, "
        "how far the optimizer integrates (default: chosen from the best step schedule)",
    )
    g.add_argument("--n-init", type=int, default=64, help="fresh initial states (default 64)")
    g.add_argument("--N", type=int, default=200, help="N of the imitated initialization")
    g.add_argument("--seed", type=int, default=0, help="seed of the initial states (default 0)")
    g.add_argument("--tol", type=float, default=1e-3, help="tolerance on eps_g (default 1e-3)")
    g.add_argument(
        "--n-intervals",
        type=int,
        default=60,
        help="intervals of the piecewise linear beta(t) (default 60)",
    )
    g.add_argument("--max-iter", type=int, default=100, help="optimizer iterations (default 100)")
    add_sgd_noise_option(g, help="drop the O(tau^2) SGD-noise terms")
    o = p.add_argument_group("outputs")
    o.add_argument("--out", metavar="FILE.json", help="also write the JSON to this file")
    o.add_argument("--plot", metavar="FILE.png", help="figure of beta(t) and the error")
    o.add_argument("--force", action="store_true", help="replace read-only output files")
    p.set_defaults(func=run_protocol)


def run_protocol(args: argparse.Namespace) -> int:
    # Heavy (casadi, sympy, numba): loaded only when the command runs.
    from linvae.analysis.protocol import optimal_protocol

    outputs = [Output(name="--out", path=args.out), Output(name="--plot", path=args.plot)]
    check_outputs(outputs, force=args.force, force_flag="--force")
    if args.plot is not None:
        from linvae.plot.trajectory import check_figure_format  # matplotlib: only with --plot

        check_figure_format(args.plot, "--plot")
    model = model_from_options(args)
    if args.beta_final is not None:
        model = replace(model, beta=Constant(beta=args.beta_final))
    beta_f = model.schedule.final
    if not 0 < args.beta_min < args.beta_max:
        raise ValueError(
            f"--beta-min must be > 0 and below --beta-max. Got --beta-min {args.beta_min:g}, "
            f"--beta-max {args.beta_max:g}."
        )
    if not args.beta_min <= beta_f <= args.beta_max:
        raise ValueError(
            f"--beta-final ({beta_f:g}) must lie within [--beta-min, --beta-max] = "
            f"[{args.beta_min:g}, {args.beta_max:g}]; widen the bounds."
        )
    if args.objective == "final-error" and args.horizon is None:
        raise ValueError("--objective final-error needs --horizon T (the time eps_g is read).")
    result = optimal_protocol(
        model,
        beta_min=args.beta_min,
        beta_max=args.beta_max,
        objective=args.objective,
        horizon=args.horizon,
        n_init=args.n_init,
        N=args.N,
        rng=args.seed,
        tol=args.tol,
        n_intervals=args.n_intervals,
        max_iter=args.max_iter,
        sgd_noise=not args.no_sgd_noise,
        progress=True,
    )
    out = result.as_dict()
    if args.plot is not None:
        from linvae.plot.protocol import plot_protocol  # matplotlib: only with --plot
        from linvae.plot.trajectory import save_figure

        fig = plot_protocol(result, rng=args.seed)
        out["figure"] = str(save_figure(fig, args.plot, force=args.force))
    if args.out is not None:
        atomic_write_json(args.out, out, force=args.force)
    sys.stderr.write(
        f"Optimal protocol: speed-up {result.speedup:.3g} over constant beta_f "
        f"(best tanh {result.best_tanh_speedup:.3g}, best step "
        f"{result.baselines['step'].speedup:.3g}).\n"
    )
    print_json(out)
    return 0
