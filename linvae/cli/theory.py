"""``linvae ode`` and ``linvae compare``: the ODE theory from the command line.

The equations are those of the theory page (docs/theory.md); ``linvae ode --help`` describes
the format of ``--init-values`` (`parse_init_values` reads it).

The ODE solver (sympy, numba) and matplotlib are imported inside the command functions, as in
every CLI module, so that building the parser (``linvae --help``) stays light.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings

import numpy as np

from linvae.cli.options import add_model_options, add_solver_options, model_from_options
from linvae.comparison import compare
from linvae.observables import ORDER_PARAMETER_NAMES, OrderParameters
from linvae.trajectory import Trajectory

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
            + _INIT_VALUES_FORMAT
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(p)
    g = p.add_argument_group("run")
    g.add_argument("--t-max", type=float, default=1500.0, help="end time (default 1500)")
    g.add_argument("--dt", type=float, default=1.0, help="output spacing (default 1)")
    init = g.add_mutually_exclusive_group(required=True)
    init.add_argument("--init", help="a run .npz: start from its measured t = 0 values")
    init.add_argument("--init-values", help="m=..,d=..,Q=..,E=..,R=..,D=.. (see above)")
    add_solver_options(p)
    p.add_argument("--out", default="ode.npz", help="output .npz (default ode.npz)")
    p.set_defaults(func=run_ode)

    c = subparsers.add_parser(
        "compare",
        help="overlay a simulation and its ODE twin",
        description=(
            "Plot SGD (mean and +-1 std over seeds) against the ODE. Without --ode, the ODE "
            "is solved from the run's measured t = 0 order parameters on the run's time grid."
        ),
    )
    c.add_argument("run", help="a run .npz written by `linvae simulate`")
    c.add_argument("--ode", help="an .npz written by `linvae ode` (default: solve it now)")
    c.add_argument(
        "--observables", default="eps_g,m,Q,D", help="comma-separated (default eps_g,m,Q,D)"
    )
    c.add_argument("--show-seeds", action="store_true", help="draw every seed thinly")
    c.add_argument("--save-ode", help="also write the solved ODE to this .npz")
    add_solver_options(c)
    c.add_argument("--out", default="compare.png", help="figure file (default compare.png)")
    c.set_defaults(func=run_compare)


def run_ode(args: argparse.Namespace) -> int:
    from linvae.theory import solve_ode  # sympy, numba: loaded only when the command runs

    model = model_from_options(args)
    if args.init is not None:
        init = Trajectory.load(args.init)
        if (init.model.M, init.model.M_star) != (model.M, model.M_star):
            raise ValueError(
                f"{args.init} has M = {init.model.M}, M_star = {init.model.M_star}; pass "
                "the same --M and --M-star."
            )
    else:
        init = parse_init_values(args.init_values, model.M, model.M_star)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = solve_ode(
            model,
            t_max=args.t_max,
            dt=args.dt,
            init=init,
            method=args.method,
            rtol=args.rtol,
            atol=args.atol,
            sgd_noise=not args.no_sgd_noise,
        )
    for w in caught:
        print(f"linvae ode: warning: {w.message}", file=sys.stderr)
    path = sol.save(args.out)
    summary = {
        "out": str(path),
        "t_max": float(sol.t[-1]),
        "eps_g_final": float(sol.eps_g[0, -1]),
        "nfev": sol.meta["nfev"],
    }
    print(json.dumps(summary))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    # Heavy (matplotlib; sympy, numba): loaded only when the command runs.
    import matplotlib

    matplotlib.use("Agg")
    from linvae.plot.compare import plot_compare
    from linvae.plot.trajectory import save_figure
    from linvae.theory import solve_ode

    run = Trajectory.load(args.run)
    if args.ode:
        ode = Trajectory.load(args.ode)
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
            ode.save(args.save_ode)
    names = tuple(n.strip() for n in args.observables.split(",") if n.strip())
    fig = plot_compare(run, ode, names=names, show_seeds=args.show_seeds)
    path = save_figure(fig, args.out)
    summary = {"out": str(path)}
    try:
        summary["max_abs_eps_g_gap"] = compare(run, ode, "eps_g").max_abs_gap
    except ValueError:  # an --ode on another time grid: the figure, but no gap to report
        pass
    print(json.dumps(summary))
    return 0
