"""``linvae ode`` and ``linvae compare``: the ODE theory from the command line.

The equations are those of the theory page (docs/theory.md); ``linvae ode --help`` describes
the format of ``--init-values`` (`parse_init_values` reads it).

The ODE solver (sympy, numba) and matplotlib are imported inside the command functions, as in
every CLI module, so that building the parser (``linvae --help``) stays light.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings

import numpy as np

from linvae.cli.options import (
    add_model_options,
    add_solver_options,
    model_from_options,
    model_overrides,
)
from linvae.comparison import ModelMismatchWarning, compare, model_differences
from linvae.observables import ORDER_PARAMETER_NAMES, OrderParameters, state_size
from linvae.trajectory import OBSERVABLE_NAMES, Trajectory
from linvae.utils.cli import ListOption, print_json
from linvae.utils.paths import Output, check_outputs
from linvae.utils.process import check_memory

_INIT_VALUES_FORMAT = """\
--init-values takes the initial order parameters as name=values pairs separated by commas or
semicolons; a matrix is given row-major with its entries separated by spaces or "/":

  M = M_star = 1:     m=0.01,d=0.12,Q=1.1,E=0.86,R=-0.1,D=1
  M = 2, M_star = 1:  "m=0.01 -0.02;d=0.1 0.05;Q=1 0 0 1;E=1 0 0 1;R=0 0 0 0;D=1 1"

(m, d: M x M_star; Q, E, R: M x M; D: M). A single number fills a whole matrix's diagonal for
Q, E, R and D (Q=1 is the identity), and every entry for m and d."""


def parse_init_values(text: str, M: int, M_star: int) -> OrderParameters:
    """Parse the ``--init-values`` string (format: ``linvae ode --help``) into OrderParameters.

    Raises
    ------
    ValueError
        With the name of the entry that is missing, unknown or of the wrong size.
    """
    # Split on "," or ";" only where the next token starts a new "name=".
    pairs = re.split(r"[,;]\s*(?=[A-Za-z]+\s*=)", text.strip())
    values: dict[str, list[float]] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--init-values: expected name=value, got {pair!r}.")
        name, raw = (part.strip() for part in pair.split("=", 1))
        if name not in ORDER_PARAMETER_NAMES:
            raise ValueError(
                f"--init-values: unknown order parameter {name!r}; use {ORDER_PARAMETER_NAMES}."
            )
        try:
            values[name] = [float(v) for v in re.split(r"[\s/,]+", raw) if v]
        except ValueError:
            raise ValueError(f"--init-values: {name}={raw!r} is not a list of numbers.") from None
    missing = [n for n in ORDER_PARAMETER_NAMES if n not in values]
    if missing:
        raise ValueError(f"--init-values: missing {missing} (all of m, d, Q, E, R, D are needed).")
    shapes = {"m": (M, M_star), "d": (M, M_star), "Q": (M, M), "E": (M, M), "R": (M, M)}
    shapes["D"] = (M,)
    out = {}
    for name, shape in shapes.items():
        v = np.asarray(values[name], dtype=np.float64)
        size = int(np.prod(shape))
        if v.size == size:
            out[name] = v.reshape(shape)
        elif v.size == 1 and name in ("m", "d"):
            out[name] = np.full(shape, v[0])
        elif v.size == 1 and name == "D":
            out[name] = np.full(shape, v[0])
        elif v.size == 1:
            out[name] = v[0] * np.eye(M)
        else:
            raise ValueError(
                f"--init-values: {name} needs {size} values (shape {shape}, row-major) for "
                f"M = {M}, M_star = {M_star}. Got {v.size}."
            )
    return OrderParameters(**out)


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "ode",
        help="integrate the order-parameter ODEs (the deterministic twin of SGD)",
        description=(
            "Integrate the sympy-derived ODEs of (m, d, Q, E, R, D) from given initial order\n"
            "parameters or from the measured t = 0 values of a simulation.\n\n"
            "With --init RUN the run's model and KL schedule (M, M_star, rho, eta, beta or\n"
            "its schedule, lam, tau) and its time grid are used; an option given explicitly\n"
            "overrides the run's value, and the output records it (metadata 'overrides').\n\n"
            + _INIT_VALUES_FORMAT
        ),
    )
    add_model_options(p, from_run="--init")
    g = p.add_argument_group("run")
    g.add_argument(
        "--t-max", type=float, help="end time (default: 1500; with --init: the run's last time)"
    )
    g.add_argument(
        "--dt", type=float, help="output spacing (default: 1; with --init: the run's times)"
    )
    init = g.add_mutually_exclusive_group(required=True)
    init.add_argument("--init", help="a run .npz: start from its measured t = 0 values")
    init.add_argument("--init-values", help="m=..,d=..,Q=..,E=..,R=..,D=.. (see above)")
    add_solver_options(p)
    p.add_argument("--out", default="ode.npz", help="output .npz")
    p.add_argument("--force", action="store_true", help="replace a read-only output file")
    p.set_defaults(func=run_ode)

    c = subparsers.add_parser(
        "compare",
        help="overlay a simulation and its ODE twin",
        description=(
            "Plot SGD (mean and 16-84 % band over seeds) against the ODE. The ODE is read "
            "from --ode (an .npz written by `linvae ode --init RUN`) or, without it, solved "
            "with the run's model from the run's measured t = 0 order parameters on the "
            "run's time grid. RUN must be a simulation (an ODE solution there is refused). "
            "An --ode of another model is refused (the gap would mean nothing) unless "
            "--allow-model-mismatch is given."
        ),
    )
    c.add_argument("run", help="a simulation .npz written by `linvae simulate`")
    c.add_argument("--ode", help="an .npz written by `linvae ode` (default: solve it now)")
    c.add_argument(
        "--observables",
        action=ListOption,
        choices=OBSERVABLE_NAMES,
        default=["eps_g", "m", "Q", "D"],
        metavar="NAME",
        help=f"panels, from {', '.join(OBSERVABLE_NAMES)}: eps_g,m or eps_g m",
    )
    c.add_argument("--show-seeds", action="store_true", help="draw every seed thinly")
    c.add_argument("--save-ode", help="also write the solved ODE to this .npz (without --ode)")
    c.add_argument(
        "--allow-model-mismatch",
        action="store_true",
        help="draw an --ode of another model than the run's (with a warning)",
    )
    add_solver_options(c)
    c.add_argument("--out", default="compare.png", help="figure file (png, pdf, svg)")
    c.add_argument("--force", action="store_true", help="replace read-only output files")
    c.set_defaults(func=run_compare)


def run_ode(args: argparse.Namespace) -> int:
    from linvae.theory import solve_ode  # sympy, numba: loaded only when the command runs

    inputs = {"--init": args.init, "--schedule": args.schedule}
    outputs = [Output(name="--out", path=args.out)]
    check_outputs(outputs, inputs=inputs, force=args.force, force_flag="--force")
    out = args.out
    overrides: dict = {}
    if args.init is not None:
        run = Trajectory.load(args.init)
        model = model_from_options(args, base=run.model)
        overrides = model_overrides(run.model, model)
        if (run.model.M, run.model.M_star) != (model.M, model.M_star):
            raise ValueError(
                f"{args.init} has M = {run.model.M}, M_star = {run.model.M_star}; its measured "
                "initial values cannot start a model of other sizes. Drop --M / --M-star."
            )
        for name, change in overrides.items():
            print(
                f"linvae ode: note: {name} = {change['given']} given; the run {args.init} has "
                f"{change['run']}.",
                file=sys.stderr,
            )
        init = run
        t_max = float(run.t[-1]) if args.t_max is None else args.t_max
        t_eval = run.t if args.t_max is None and args.dt is None else None
        dt = 1.0 if args.dt is None else args.dt
    else:
        model = model_from_options(args)
        init = parse_init_values(args.init_values, model.M, model.M_star)
        t_max = 1500.0 if args.t_max is None else args.t_max
        t_eval, dt = None, 1.0 if args.dt is None else args.dt
    if t_eval is None and dt > 0 and t_max > 0:
        # The solution on the grid: order parameters and observables, a few copies at once.
        n_rec = t_max / dt + 1
        size = state_size(model.M, model.M_star) + 1  # the order parameters and eps_g
        check_memory(
            8.0 * 4 * n_rec * size,
            f"--t-max {t_max:g} --dt {dt:g} ({n_rec:.3g} recorded times)",
            fix="Raise --dt or lower --t-max.",
        )
    sol = solve_ode(
        model,
        t_max=t_max,
        dt=dt,
        t_eval=t_eval,
        init=init,
        method=args.method,
        rtol=args.rtol,
        atol=args.atol,
        sgd_noise=not args.no_sgd_noise,
    )
    if args.init is not None:
        sol.meta.update(init_file=str(args.init), overrides=overrides)
    path = sol.save(out, force=args.force)
    summary = {
        "out": str(path),
        "t_max": float(sol.t[-1]),
        "eps_g_final": float(sol.eps_g[0, -1]),
        "nfev": sol.meta["nfev"],
    }
    if args.init is not None:
        summary["overrides"] = overrides
    print_json(summary)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    # Heavy (matplotlib; sympy, numba): loaded only when the command runs.
    import matplotlib

    matplotlib.use("Agg")
    from linvae.plot.compare import plot_compare
    from linvae.plot.trajectory import check_figure_format, save_figure
    from linvae.theory import solve_ode

    names = tuple(args.observables)
    if args.ode and args.save_ode:
        raise ValueError(
            "--save-ode writes the ODE that compare solves; with --ode the ODE is already a "
            "file. Drop --save-ode (or --ode)."
        )
    check_outputs(
        [Output(name="--out", path=args.out), Output(name="--save-ode", path=args.save_ode)],
        inputs={"the input RUN": args.run, "--ode": args.ode},
        force=args.force,
        force_flag="--force",
    )
    out = check_figure_format(args.out, "--out")
    run = Trajectory.load(args.run)
    if run.source == "ode":
        raise ValueError(
            f"{args.run} is an ODE solution, not a simulation: give the run written by "
            f"`linvae simulate` as RUN and the ODE with --ode (linvae compare run.npz --ode "
            f"{args.run})."
        )
    if args.ode:
        ode = Trajectory.load(args.ode)
        if ode.source != "ode":
            raise ValueError(
                f"--ode {args.ode} is a simulation, not an ODE solution: write one with "
                f"`linvae ode --init {args.run} --out ode.npz` and pass --ode ode.npz."
            )
        differences = model_differences(run.model, ode.model)
        if differences:
            text = "; ".join(f"{k}: run {a}, ODE {b}" for k, (a, b) in differences.items())
            if not args.allow_model_mismatch:
                raise ValueError(
                    f"{args.run} and {args.ode} are of different models ({text}). Solve the "
                    f"ODE from the run (`linvae ode --init {args.run}`, or leave out --ode), "
                    "or pass --allow-model-mismatch to draw them anyway."
                )
            print(f"linvae compare: warning: different models ({text}).", file=sys.stderr)
    else:
        ode = solve_ode(
            run.model,
            t_max=float(run.t[-1]),
            t_eval=run.t,
            init=run,
            method=args.method,
            rtol=args.rtol,
            atol=args.atol,
            sgd_noise=not args.no_sgd_noise,
        )
        if args.save_ode:
            ode.save(args.save_ode, force=args.force)
    fig = plot_compare(run, ode, names=names, show_seeds=args.show_seeds)
    path = save_figure(fig, out, force=args.force)
    summary = {"out": str(path)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelMismatchWarning)  # refused or warned above
        try:
            summary["max_abs_eps_g_gap"] = compare(run, ode, "eps_g").max_abs_gap
        except ValueError:  # an --ode on another time grid: the figure, but no gap to report
            summary["max_abs_eps_g_gap"] = None
            summary["null_reasons"] = {
                "max_abs_eps_g_gap": "the run and the ODE share no time point"
            }
    print_json(summary)
    return 0
