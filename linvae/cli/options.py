"""The options shared by the linvae subcommands, defined once.

``add_model_options(parser)`` adds the model and schedule options (paper notation: ``--M``,
``--rho``, ``--beta``, ...) and ``model_from_options(args)`` turns the parsed namespace into a
`Model` with its KL schedule; ``model_from_options(args, base=run.model)``
starts from a run's model and changes only the options the user gave (``model_overrides``
lists them, for the output's metadata). ``--schedule FILE.json`` gives the whole schedule
from a file instead (`schedule_from_file`). The symbols are those of the theory page
(docs/theory.md, section "Conventions"). ``add_solver_options(parser)`` adds the ODE solver's
options, ``add_sgd_noise_option(parser, help=...)`` the ``--no-sgd-noise`` switch.
"""

from __future__ import annotations

import argparse

from linvae.params import Model
from linvae.schedules import CLI_KINDS, Schedule, read_schedule, schedule_from_options
from linvae.theory.solve import METHODS
from linvae.utils.cli import KindName, ListOption

__all__ = [
    "add_model_options",
    "add_sgd_noise_option",
    "add_solver_options",
    "model_from_options",
    "model_overrides",
    "schedule_from_file",
]

# The ``method`` values of `linvae.theory.solve_ode` (its own list is private; importing
# it would load the solver, which ``linvae --help`` must not).


def _mark_given(namespace: argparse.Namespace, dest: str) -> None:
    given = set(getattr(namespace, "given_options", None) or ())
    namespace.given_options = given | {dest}


class _Given(argparse.Action):
    """Store the value and remember that the user gave the option (``args.given_options``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _mark_given(namespace, self.dest)


class _GivenList(ListOption):
    """A `ListOption` that remembers that the user gave it (``args.given_options``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        _mark_given(namespace, self.dest)


# The model options and the Model field each one sets; the schedule options apart.
_MODEL_FIELDS = {
    "M": "M",
    "M_star": "M_star",
    "rho": "rho",
    "eta": "eta",
    "lam": "lam",
    "tau": "tau",
}
_SCHEDULE_OPTIONS = ("beta", "anneal", "gamma", "t_ramp")


def add_model_options(parser: argparse.ArgumentParser, *, from_run: str | None = None) -> None:
    """Add the model and KL-annealing options to ``parser`` (two argument groups).

    With ``from_run`` (the option or argument that names a run file, e.g. ``"--init"``), the
    help says that the run's values are the defaults there: `model_from_options` with
    ``base=run.model`` then changes only what the user gave.
    """
    note = f" with {from_run}: the run's" if from_run else ""

    def h(text: str, default: str) -> str:
        return f"{text} (default: {default}{';' + note if note else ''})"

    g = parser.add_argument_group("model")
    g.add_argument("--M", type=int, default=1, action=_Given, help=h("latent dimension", "1"))
    g.add_argument(
        "--M-star", type=int, default=1, action=_Given, help=h("number of true factors", "1")
    )
    g.add_argument(
        "--rho",
        action=_GivenList,
        item=float,
        scalar=True,
        default=1.0,
        help=h("signal strength, or one per factor: 1,2.5 or 1 2.5", "1"),
    )
    g.add_argument("--eta", type=float, default=1.0, action=_Given, help=h("noise strength", "1"))
    g.add_argument(
        "--beta",
        type=float,
        default=1.0,
        action=_Given,
        help=h("KL weight, or its final value when annealing", "1"),
    )
    g.add_argument(
        "--lam", type=float, default=0.0, action=_Given, help=h("L2 penalty on W and V", "0")
    )
    g.add_argument(
        "--tau", type=float, default=0.01, action=_Given, help=h("learning rate", "0.01")
    )
    a = parser.add_argument_group("KL annealing")
    a.add_argument(
        "--anneal",
        choices=list(CLI_KINDS),
        default="none",
        action=_Given,
        help=h("; ".join(cls.cli_help for cls in CLI_KINDS.values()), "none"),
    )
    a.add_argument(
        "--gamma", type=float, action=_Given, help="rate of the tanh schedule (--anneal tanh)"
    )
    a.add_argument(
        "--t-ramp",
        type=float,
        action=_Given,
        help="ramp length (--anneal linear) or switch time (--anneal step)",
    )
    a.add_argument(
        "--schedule",
        metavar="FILE.json",
        action=_Given,
        help="the whole KL schedule from a JSON file, instead of --beta and --anneal: any kind, "
        'e.g. {"kind": "tabulated", "times": [0, 500, 2000], "values": [0.2, 0.2, 1.8]} '
        "(beta linear between the knots, constant outside)",
    )
    parser.set_defaults(given_options=frozenset())


def add_sgd_noise_option(parser, *, help: str) -> None:
    """Add ``--no-sgd-noise`` (``args.no_sgd_noise``) to ``parser`` or an argument group."""
    parser.add_argument("--no-sgd-noise", action="store_true", help=help)


def add_solver_options(parser: argparse.ArgumentParser) -> None:
    """Add the ODE solver's options (``--method``, ``--rtol``, ``--atol``, ``--no-sgd-noise``)
    to ``parser``, as one argument group."""
    s = parser.add_argument_group("ODE solver")
    s.add_argument(
        "--method",
        type=KindName(METHODS),
        choices=METHODS,
        default="auto",
        help="auto: the compiled DOP853 wherever it applies, else LSODA; or a solve_ivp "
        "method, or DOP853-numba (default: auto)",
    )
    s.add_argument("--rtol", type=float, default=1e-8, help="relative tolerance (default 1e-8)")
    s.add_argument("--atol", type=float, default=1e-10, help="absolute tolerance (default 1e-10)")
    add_sgd_noise_option(s, help="drop the O(tau^2) SGD-noise terms")


def _schedule(kind: str, beta: float, gamma: float | None, t_ramp: float | None) -> Schedule:
    """The schedule of ``--anneal kind`` with its options; ValueError naming a missing one."""
    return schedule_from_options(kind, beta, gamma=gamma, t_ramp=t_ramp)


def _kind_of(schedule: Schedule) -> str:
    return schedule.cli_kind or schedule.kind


def _schedule_over(base: Schedule, args: argparse.Namespace, given: set[str]) -> Schedule:
    """``base`` (a run's schedule) with the schedule options the user gave put in."""
    if not given & set(_SCHEDULE_OPTIONS):
        return base
    desc = base.describe()
    kind = args.anneal if "anneal" in given else _kind_of(base)
    if kind not in CLI_KINDS:
        raise ValueError(
            f"The run's KL schedule ({kind}) is not one of --anneal's; give the whole schedule "
            "(--schedule FILE.json, or --anneal, --beta and --gamma or --t-ramp)."
        )
    beta = args.beta if "beta" in given else base.final
    options = {name: getattr(args, name) if name in given else None for name in ("gamma", "t_ramp")}
    if kind == _kind_of(base):  # the run's own values for the options not given
        for name, (field, _) in CLI_KINDS[kind].cli_options.items():
            if options[name] is None:
                options[name] = desc[field]
    return schedule_from_options(kind, beta, **options)


def model_from_options(args: argparse.Namespace, *, base: Model | None = None) -> Model:
    """The `Model` (with its schedule) of `add_model_options`.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.
    base : Model, optional
        A run's model: the result keeps every value of ``base`` except those the user gave
        explicitly (`model_overrides` lists them). Without it, options not given take
        their defaults.

    Raises
    ------
    ValueError
        If an annealing schedule lacks its option (``--gamma``, ``--t-ramp``), an option is
        given that its schedule does not use (``--gamma`` without ``--anneal tanh``), or
        ``Model`` rejects a value (the message names the parameter).
    """
    given = set(getattr(args, "given_options", ()) or ())
    if "schedule" in given:
        beta = schedule_from_file(args.schedule, given)
        fields = {
            name: getattr(args, name) if base is None or name in given else getattr(base, field)
            for name, field in _MODEL_FIELDS.items()
        }
        return Model(**fields, beta=beta)
    if base is None:
        beta = _schedule(args.anneal, args.beta, args.gamma, args.t_ramp)
        fields = {name: getattr(args, name) for name in _MODEL_FIELDS}
    else:
        beta = _schedule_over(base.schedule, args, given)
        fields = {
            name: getattr(args, name) if name in given else getattr(base, field)
            for name, field in _MODEL_FIELDS.items()
        }
    return Model(**fields, beta=beta)


def schedule_from_file(path: str, given: set[str] | frozenset[str] = frozenset()) -> Schedule:
    """The schedule of ``--schedule FILE.json`` (`linvae.schedules.read_schedule`).

    ``given`` names the options the user gave: a schedule option beside ``--schedule``
    (``--beta``, ``--anneal``, ``--gamma``, ``--t-ramp``) is refused, since the file gives the
    whole schedule.

    Raises
    ------
    ValueError
        One line naming ``--schedule``: a clashing option, or a file that cannot be read, is
        not JSON or does not describe a schedule.
    """
    clash = [f"--{name.replace('_', '-')}" for name in _SCHEDULE_OPTIONS if name in given]
    if clash:
        raise ValueError(
            f"--schedule gives the whole KL schedule; {' and '.join(clash)} would change it. "
            f"Drop {' and '.join(clash)}, or write the change into {path}."
        )
    try:
        return read_schedule(path)
    except ValueError as err:
        raise ValueError(f"--schedule {path}: {err}") from None


def model_overrides(base: Model, model: Model) -> dict:
    """What ``model`` changes in ``base``: ``{field: {"run": old, "given": new}}`` (JSON-able).

    Examples
    --------
    >>> model_overrides(Model(rho=1.0), Model(rho=2.0))
    {'rho': {'run': 1.0, 'given': 2.0}}
    """
    old, new = base.describe(), model.describe()
    return {k: {"run": old[k], "given": new[k]} for k in new if old.get(k) != new[k]}
