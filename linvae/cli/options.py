"""The options shared by the linvae subcommands, defined once.

``add_model_options(parser)`` adds the model and schedule options (paper notation: ``--M``,
``--rho``, ``--beta``, ...) and ``model_from_options(args)`` turns the parsed namespace into a
`Model` with its KL schedule. The symbols are those of the theory page
(docs/theory.md, section "Conventions"). ``add_solver_options(parser)`` adds the ODE solver's
options, ``add_sgd_noise_option(parser, help=...)`` the ``--no-sgd-noise`` switch.
"""

from __future__ import annotations

import argparse

from linvae.params import Model
from linvae.schedules import Constant, LinearRamp, StepSchedule, TanhAnneal
from linvae.theory.solve import METHODS

__all__ = [
    "add_model_options",
    "add_sgd_noise_option",
    "add_solver_options",
    "model_from_options",
    "parse_floats",
]

# The ``method`` values of `linvae.theory.solve_ode` (its own list is private; importing
# it would load the solver, which ``linvae --help`` must not).


def parse_floats(text: str) -> float | tuple[float, ...]:
    """An option value that is one number or a comma-separated list: ``"1"``, ``"1,2.5"``.

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` holds no number (argparse turns it into a usage error).
    """
    parts = [float(p) for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected a number or a comma-separated list: {text!r}")
    return parts[0] if len(parts) == 1 else tuple(parts)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the model and KL-annealing options to ``parser`` (two argument groups)."""
    g = parser.add_argument_group("model")
    g.add_argument("--M", type=int, default=1, help="latent dimension (default 1)")
    g.add_argument("--M-star", type=int, default=1, help="number of true factors (default 1)")
    g.add_argument(
        "--rho", type=parse_floats, default=1.0, help="signal strength, or one per factor: 1,2.5"
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


def add_sgd_noise_option(parser, *, help: str) -> None:
    """Add ``--no-sgd-noise`` (``args.no_sgd_noise``) to ``parser`` or an argument group."""
    parser.add_argument("--no-sgd-noise", action="store_true", help=help)


def add_solver_options(parser: argparse.ArgumentParser) -> None:
    """Add the ODE solver's options (``--method``, ``--rtol``, ``--atol``, ``--no-sgd-noise``)
    to ``parser``, as one argument group."""
    s = parser.add_argument_group("ODE solver")
    s.add_argument("--method", choices=METHODS, default="LSODA", help="solve_ivp method")
    s.add_argument("--rtol", type=float, default=1e-8, help="relative tolerance (default 1e-8)")
    s.add_argument("--atol", type=float, default=1e-10, help="absolute tolerance (default 1e-10)")
    add_sgd_noise_option(s, help="drop the O(tau^2) SGD-noise terms")


def model_from_options(args: argparse.Namespace) -> Model:
    """The `Model` (with its schedule) of `add_model_options`.

    Raises
    ------
    ValueError
        If an annealing schedule lacks its option (``--gamma``, ``--t-ramp``), or if ``Model``
        rejects a value (the message names the parameter).
    """
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
