"""``linvae threshold | fixed-points | anneal | attractor | hysteresis | phase-diagram |
reproduce``: the analysis.

Every command prints JSON on stdout (figures go to files). The results page (docs/results.md)
explains what they compute. As in every CLI module, the analysis (sympy, numba) and
matplotlib are imported inside the command functions, so that building the parser
(``linvae --help``) stays light.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np

from linvae.cli.options import add_model_options, add_sgd_noise_option, model_from_options
from linvae.params import Model
from linvae.schedules import Constant, LinearRamp, StepSchedule
from linvae.utils.cli import KindName, ListOption, print_json
from linvae.utils.io import atomic_write_json
from linvae.utils.paths import Output, check_outputs

# The diagrams of phase-diagram KIND, as the library names them (linvae.analysis.phase), written
# with hyphens; gamma_beta_f and gamma-beta_f are read as gamma-beta-f.
_KINDS = ("beta-rho", "beta-eta", "beta-lam", "gamma-beta-f", "M-beta", "alpha-beta")


def _print(obj) -> None:
    print_json(obj)  # strict JSON: inf and NaN as null, with a reason


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "threshold",
        help="collapse transition: beta*, spinodal, coexistence, continuous or first order",
        description=(
            "beta* = nu/(1+lam) - lam/nu with nu = rho + eta, where the collapsed point turns\n"
            "linearly stable, per factor and in total. With an L2 penalty the transition can be\n"
            "first order: a stable learned point survives above beta* up to the spinodal\n"
            "beta_spinodal, and has the lower loss below beta_coexistence. JSON keys:\n"
            "transition, beta_star, beta_spinodal, beta_coexistence (total), the same under\n"
            "factors[k] and spare_latent_transition (a spare latent fitting noise, nu = eta).\n"
            "A readable summary goes to stderr."
        ),
    )
    p.add_argument(
        "--rho",
        action=ListOption,
        item=float,
        scalar=True,
        default=1.0,
        help="signal strength, or one per factor: 1,2 or 1 2",
    )
    p.add_argument("--eta", type=float, default=1.0, help="noise strength (default 1)")
    p.add_argument("--lam", type=float, default=0.0, help="L2 penalty (default 0)")
    p.add_argument(
        "--method",
        choices=["analytic", "numerical", "both"],
        default="both",
        help="formula, eigenvalue crossing at the collapsed point, or both (default)",
    )
    p.set_defaults(func=run_threshold)

    p = subparsers.add_parser(
        "fixed-points",
        help="fixed points with eps_g, Jacobian eigenvalues and stability labels",
        description=(
            "Every fixed point whose latents each carry one factor, fit one noise direction or "
            "are collapsed (complete for M = M_star = 1): one-latent points from a polynomial "
            "elimination of the derived equations (SGD noise included unless --no-sgd-noise), "
            "stability from the Jacobian's one- and two-latent blocks. Listed up to latent "
            "permutation and, for equal rho_k, factor relabelling; a latent on the saddle "
            "between its learned point and collapse (lam > 0) is named 'learned(lower)'. A "
            "progress bar shows on stderr after one second."
        ),
    )
    add_model_options(p)
    add_sgd_noise_option(p, help="tau -> 0 limit (exact closed forms)")
    p.set_defaults(func=run_fixed_points)

    p = subparsers.add_parser(
        "anneal",
        help="J_max, gamma_c and the annealing rate that minimizes the convergence time",
        description="KL annealing beta_f tanh(gamma t): T_conv(gamma) from the ODE.",
    )
    add_model_options(p)
    p.add_argument("--beta-final", type=float, help="final KL weight (default: --beta)")
    p.add_argument("--tol", type=float, default=1e-3, help="tolerance on eps_g (default 1e-3)")
    p.add_argument("--t-max", type=float, help="integration time (default from J_max)")
    p.add_argument("--N", type=int, default=200, help="N of the imitated initialization")
    p.add_argument(
        "--n-init", type=int, default=64, help="random initial states averaged over (default 64)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the initial states")
    p.add_argument("--n-grid", type=int, default=12, help="grid points in gamma (default 12)")
    p.add_argument(
        "--measure",
        choices=["excess", "band"],
        default="excess",
        help="T_conv: integrated excess error (default) or the band's last exit (jumps)",
    )
    add_sgd_noise_option(p, help="drop the O(tau^2) terms")
    p.set_defaults(func=run_anneal)

    p = subparsers.add_parser(
        "phase-diagram",
        help="phase diagram of KIND drawn to --out, summary as JSON",
        description=(
            "KIND: beta-rho | beta-eta | beta-lam (learned vs collapsed, eps_g* colour), "
            "gamma-beta-f (annealing speed-up), M-beta (spare-latent penalty), "
            "alpha-beta (finite data: collapsed / learned / over-fitting; docs/offline.md). "
            "Underscores read as hyphens (gamma_beta_f). "
            "x is beta (gamma for gamma-beta-f, samples per dimension alpha for alpha-beta); "
            "y the other parameter."
        ),
    )
    p.add_argument("kind", type=KindName(_KINDS), choices=_KINDS)
    add_model_options(p)
    g = p.add_argument_group("grid")
    g.add_argument("--x-min", type=float, help="first x value")
    g.add_argument("--x-max", type=float, help="last x value")
    g.add_argument("--nx", type=int, help="x points")
    g.add_argument("--y-min", type=float, help="first y value")
    g.add_argument("--y-max", type=float, help="last y value")
    g.add_argument("--ny", type=int, help="y points")
    p.add_argument("--value", help="map to colour (default per kind)")
    p.add_argument("--out", default="phase.png", help="figure file (png, pdf, svg)")
    p.add_argument("--data", help="also write axes, maps and boundaries as JSON here")
    p.add_argument("--force", action="store_true", help="replace read-only output files")
    p.set_defaults(func=run_phase_diagram)

    p = subparsers.add_parser(
        "attractor",
        help="which fixed point training reaches from fresh random starts, and how often",
        description=(
            "Integrates the ODE from --n-init fresh random initial states of size --N (with\n"
            "the model's schedule, then at its final beta) until each settles at a stable\n"
            "fixed point; prints the points reached with their counts and fractions. Where a\n"
            "learned and the collapsed point are both stable (a first-order strip, lam > 0)\n"
            "the answer depends on the start and on the path of beta (docs/hysteresis.md)."
        ),
    )
    add_model_options(p)
    p.add_argument(
        "--beta-initial",
        type=float,
        help="start value of --anneal linear or step (default 0)",
    )
    p.add_argument("--n-init", type=int, default=16, help="fresh initial states (default 16)")
    p.add_argument("--N", type=int, default=200, help="N of the imitated initialization")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial states")
    add_sgd_noise_option(p, help="drop the O(tau^2) terms (the tau -> 0 drift)")
    p.set_defaults(func=run_attractor)

    p = subparsers.add_parser(
        "hysteresis",
        help="beta swept up then down (ODE): the point reached, drawn to --out",
        description=(
            "Adiabatic sweep: at each beta the ODE runs until it settles at a stable fixed\n"
            "point, and the next beta starts there (m, d kept at least N^-1/2, what SGD's\n"
            "fluctuations keep at the collapsed point). Up from a fresh state, then down.\n"
            "In a first-order strip (e.g. --lam 1.5) the two sweeps differ between beta*\n"
            "and the spinodal. By default the tau -> 0 drift (--sgd-noise keeps the O(tau^2)\n"
            "terms)."
        ),
    )
    add_model_options(p)
    p.add_argument("--beta-min", type=float, default=0.01, help="first beta (default 0.01)")
    p.add_argument("--beta-max", type=float, default=0.15, help="last beta (default 0.15)")
    p.add_argument("--n-beta", type=int, default=29, help="betas in the sweep (default 29)")
    p.add_argument("--N", type=int, default=10_000, help="N of the start and overlap floor")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh start")
    p.add_argument("--sgd-noise", action="store_true", help="keep the O(tau^2) terms")
    p.add_argument("--value", choices=["eps_g", "Q"], default="eps_g", help="y axis")
    p.add_argument("--out", default="hysteresis.png", help="figure file (png, pdf, svg)")
    p.add_argument("--force", action="store_true", help="replace read-only output files")
    p.set_defaults(func=run_hysteresis)

    p = subparsers.add_parser(
        "reproduce",
        help="regenerate the paper's figure set (PNG + PDF + manifest.json)",
        description="Theory and simulation overlaid; ~10 min on 2 cores, --quick ~1 min.",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--quick", action="store_true", help="small version (CI)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument(
        "--figures",
        action=ListOption,
        metavar="NAME",
        default=None,
        help="draw only these figures (file stems: learning_curves, phase_beta_rho, ...) or "
        "stages (phase, offline, ...); those they need are computed, not drawn (default: all)",
    )
    p.set_defaults(func=run_reproduce)


def run_threshold(args: argparse.Namespace) -> int:
    from linvae.analysis.threshold import collapse_threshold  # heavy: on command run only

    rho = args.rho
    M_star = 1 if isinstance(rho, float) else len(rho)
    model = Model(M=M_star, M_star=M_star, rho=rho, eta=args.eta, lam=args.lam)
    out = {}
    if args.method in ("analytic", "both"):
        out = collapse_threshold(model).as_dict()
    if args.method in ("numerical", "both"):
        num = collapse_threshold(model, method="numerical")
        if args.method == "numerical":
            out = num.as_dict()
        else:
            out["beta_star_numerical"] = num.beta_star
            out["per_factor_numerical"] = num.per_factor.tolist()
            out["method"] = "both"
    sys.stderr.write(collapse_threshold(model).message() + "\n")
    _print(out)
    return 0


def run_fixed_points(args: argparse.Namespace) -> int:
    from linvae.analysis.stability import fixed_points  # heavy: on command run only

    model = model_from_options(args)
    points = fixed_points(model, sgd_noise=not args.no_sgd_noise, progress=True)
    _print([p.as_dict() for p in points])
    return 0


def run_anneal(args: argparse.Namespace) -> int:
    # Heavy (sympy, numba): loaded only when the command runs.
    from linvae.analysis.annealing import optimal_annealing_rate

    model = model_from_options(args)
    if args.beta_final is not None:
        model = replace(model, beta=Constant(beta=args.beta_final))
    opt = optimal_annealing_rate(
        model,
        tol=args.tol,
        t_max=args.t_max,
        n_grid=args.n_grid,
        sgd_noise=not args.no_sgd_noise,
        measure=args.measure,
        n_init=args.n_init,
        N=args.N,
        rng=args.seed,
    )
    sys.stderr.write(opt.message + "\n")
    _print(opt.as_dict())  # inf and NaN as null
    return 0


def run_attractor(args: argparse.Namespace) -> int:
    # Heavy (sympy, numba): loaded only when the command runs.
    from linvae.analysis.attractors import attractor

    model = model_from_options(args)
    if args.beta_initial is not None:
        schedule = model.schedule
        if not isinstance(schedule, (LinearRamp, StepSchedule)):
            raise ValueError(
                "--beta-initial is the start of --anneal linear or step. Add --anneal linear "
                "(with --t-ramp) or drop --beta-initial."
            )
        model = replace(model, beta=replace(schedule, beta_initial=args.beta_initial))
    res = attractor(
        model, n_init=args.n_init, N=args.N, rng=args.seed, sgd_noise=not args.no_sgd_noise
    )
    sys.stderr.write(res.message + "\n")
    _print(res.as_dict())
    return 0


def run_hysteresis(args: argparse.Namespace) -> int:
    # Heavy (sympy, numba, matplotlib): loaded only when the command runs.
    from linvae.analysis.hysteresis import beta_sweep
    from linvae.plot.phase import plot_hysteresis
    from linvae.plot.trajectory import check_figure_format, save_figure

    model = model_from_options(args)
    check_outputs([Output(name="--out", path=args.out)], force=args.force, force_flag="--force")
    check_figure_format(args.out, "--out")
    lo, hi, n = args.beta_min, args.beta_max, args.n_beta
    if not 0 < lo < hi:
        raise ValueError(
            f"--beta-min must be > 0 and below --beta-max. Got --beta-min {lo:g}, --beta-max "
            f"{hi:g}."
        )
    if n < 2:
        raise ValueError(f"--n-beta must be at least 2 (betas in the sweep). Got {n}.")
    sweep = beta_sweep(
        model, np.linspace(lo, hi, n), N=args.N, rng=args.seed, sgd_noise=args.sgd_noise
    )
    ax = plot_hysteresis(sweep, value=args.value)
    out = sweep.as_dict()
    out["figure"] = str(save_figure(ax.figure, args.out, force=args.force))
    _print(out)
    return 0


def _grid(lo, hi, n, default, axis="x"):
    lo = default[0] if lo is None else lo
    hi = default[1] if hi is None else hi
    n = default[2] if n is None else n
    if not lo < hi:
        raise ValueError(
            f"--{axis}-min must be below --{axis}-max. Got --{axis}-min {lo:g}, "
            f"--{axis}-max {hi:g}; swap them."
        )
    if n < 2:
        raise ValueError(f"--n{axis} must be at least 2 (points of the grid). Got {n}.")
    return lo, hi, n


def run_phase_diagram(args: argparse.Namespace) -> int:
    # Heavy (sympy, numba, matplotlib): loaded only when the command runs.
    from linvae.analysis import phase
    from linvae.plot.phase import plot_phase_diagram
    from linvae.plot.trajectory import check_figure_format, save_figure

    model = model_from_options(args)
    # Outputs checked before any work.
    outputs = [Output(name="--out", path=args.out), Output(name="--data", path=args.data)]
    check_outputs(outputs, force=args.force, force_flag="--force")
    check_figure_format(args.out, "--out")
    kind = args.kind
    if kind in ("beta-rho", "beta-eta", "beta-lam"):
        xl, xh, nx = _grid(args.x_min, args.x_max, args.nx, (0.02, 4.0, 100))
        yl, yh, ny = _grid(
            args.y_min,
            args.y_max,
            args.ny,
            (0.0, 2.2, 100) if kind == "beta-lam" else (0.05, 3.0, 100),
            axis="y",
        )
        diagram = phase.stability_diagram(
            model,
            betas=np.linspace(xl, xh, nx),
            values=np.linspace(yl, yh, ny),
            axis=kind.split("-")[1],
        )
    elif kind == "gamma-beta-f":
        xl, xh, nx = _grid(args.x_min, args.x_max, args.nx, (1e-3, 1e-1, 12))
        yl, yh, ny = _grid(args.y_min, args.y_max, args.ny, (0.25, 1.9, 8), axis="y")
        diagram = phase.annealing_diagram(
            model, gammas=np.geomspace(xl, xh, nx), beta_finals=np.linspace(yl, yh, ny)
        )
    elif kind == "alpha-beta":
        from linvae.offline.phase import offline_phase_diagram  # the finite-data theory

        if model.M_star != 1:
            raise ValueError("phase-diagram alpha-beta is for one factor (M* = 1, one --rho).")
        xl, xh, nx = _grid(args.x_min, args.x_max, args.nx, (0.05, 100.0, 200))
        yl, yh, ny = _grid(args.y_min, args.y_max, args.ny, (0.01, 3.5, 200), axis="y")
        if xl <= 0 or yl <= 0:
            raise ValueError(f"--x-min (alpha) and --y-min (beta) must be > 0. Got {xl:g}, {yl:g}.")
        diagram = offline_phase_diagram(
            np.geomspace(xl, xh, nx),
            np.linspace(yl, yh, ny),
            rho=float(model.rho_vector[0]),
            eta=model.eta,
            lam=model.lam,
        )
    else:
        xl, xh, nx = _grid(args.x_min, args.x_max, args.nx, (0.02, 2.5, 100))
        yl, yh, ny = _grid(args.y_min, args.y_max, args.ny, (1, 6, 6), axis="y")
        Ms = np.arange(int(yl), int(yh) + 1)
        diagram = phase.penalty_diagram(model, Ms=Ms, betas=np.linspace(xl, xh, nx))
    if kind == "alpha-beta":
        from linvae.plot.offline import plot_offline_phase_diagram  # matplotlib

        ax = plot_offline_phase_diagram(diagram, args.value)
    else:
        ax = plot_phase_diagram(diagram, args.value)
    out = diagram.as_dict()
    out["figure"] = str(save_figure(ax.figure, args.out, force=args.force))
    if args.data:
        data = diagram.as_dict(arrays=True)
        path = atomic_write_json(args.data, data, indent=None, force=args.force)
        out["data"] = str(path)
    _print(out)
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    from linvae.reproduce import FIGURES, reproduce  # the whole figure set: on command run only

    FIGURES.select(args.figures, owner="--figures")  # unknown names, before any output
    figures = ("*.png", "*.pdf", "manifest.json")
    check_outputs([Output(name="--out", path=args.out, folder=True, writes=figures)])
    manifest = reproduce(args.out, quick=args.quick, progress=not args.quiet, figures=args.figures)
    _print(
        {
            "out": str(manifest["out"]),
            "figures": len(manifest["figures"]),
            "wall_time_s": manifest["wall_time_s"],
        }
    )
    return 0
