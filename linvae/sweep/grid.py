"""The grid of a sweep: which parameters vary, and everything one point needs to run.

A `Sweep` is the outer product of one value list per swept parameter. Point ``i`` (C
order over the axes) is described by `Sweep.settings`, a JSON-able dict that is all a
worker receives; `model_from_config` reads the model table of a config file.

Swept parameters (any of them may also be left fixed):

* model: `MODEL_PARAMETERS` (fields of `linvae.Model`);
* schedule: `SCHEDULE_PARAMETERS` (fields of the model's schedule, replaced with
  `dataclasses.replace`);
* run: `RUN_PARAMETERS` (see `linvae.simulate`);
* ``replicate``: a pure repetition axis (its values only label the points).
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any, Literal

import numpy as np

from linvae.observables import state_size
from linvae.params import Model
from linvae.schedules import Schedule, schedule_from_description
from linvae.sweep.schema import (
    MODEL_PARAMETERS,
    ODE_TABLE,
    REPLICATE,
    RUN_PARAMETERS,
    SCHEDULE_PARAMETERS,
    check_description,
    check_model_table,
    check_ode_options,
    read_sweep_toml,
)
from linvae.trajectory import OBSERVABLE_NAMES, time_grid
from linvae.utils.process import check_memory
from linvae.utils.validation import check_int, check_real

__all__ = [
    "MAX_POINTS",
    "MODEL_PARAMETERS",
    "RUN_PARAMETERS",
    "SCHEDULE_PARAMETERS",
    "Sweep",
    "model_from_config",
]

#: Version of the sweep description (``sweep.json``); `Sweep.describe` records it.
FORMAT = 1

ODE_OPTIONS = tuple(ODE_TABLE)
Kind = Literal["sgd", "ode", "both"]
#: Points past which `linvae.sweep.run_sweep` asks for ``allow_large=True``: a million points
#: is a million files in one folder and an index of about 150 MB, and at a tenth of a second
#: per point (the cheapest runs) more than a day of one core.
MAX_POINTS = 1_000_000
# Parameters whose validity depends on one another: a point is valid when each of these groups
# is valid together and every other parameter alone (see Sweep._check_points). The model's
# sizes, its rho (one value per factor) and the run's N and time grid (M <= N, dt >= 1/N); the
# schedule and its swept parameters.
_COUPLED = (
    ("M", "M_star", "rho", "N", "t_max", "dt"),
    ("beta", *SCHEDULE_PARAMETERS),
)


def jsonable(value: Any) -> Any:
    """A grid value as JSON stores it (tuples become lists, numpy scalars Python numbers)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, Schedule):
        return value.describe()
    return value


def _from_json(value: Any) -> Any:
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


def format_params(params: Mapping[str, Any]) -> str:
    """``"beta=0.5, N=200"``: a point's parameters in messages and logs."""
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


@dataclass(frozen=True, kw_only=True)
class Sweep:
    """A grid of linear-VAE runs: SGD, ODE, or both on the same time grid.

    Parameters
    ----------
    grid : mapping of str to sequence
        One non-empty list of values per swept parameter, in axis order. Names: the fields of
        `Model` (``M, M_star, rho, eta, beta, lam, tau``), of its schedule
        (``beta_final, gamma, t_ramp, t_switch, beta_initial``), the run settings
        (``N, t_max, dt, n_seeds, tau_D, W_star``) or ``replicate`` (repetitions).
    model : Model
        The base model; swept values replace its fields. Its schedule must be one of the
        library's (a callable cannot be sent to another process).
    kind : {"sgd", "ode", "both"}
        What each point computes. The ODE starts, seed by seed, from the measured initial order
        parameters of the point's SGD initialization (``O(N^-1/2)`` overlaps, so N matters for
        the ODE too) and is recorded on the SGD's time grid.
    N, t_max, dt, n_seeds, tau_D, W_star
        Run settings when not swept; see `linvae.simulate`.
    ode : mapping, optional
        Options of `linvae.theory.solve_ode` (``method, rtol, atol, sgd_noise, jacobian,
        rhs``).
    seed : int
        The sweep's seed; point ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``.
    observables : sequence of str
        What is kept of each trajectory: any of ``m, d, Q, E, R, D, eps_g``.

    Raises
    ------
    ValueError
        For an unknown or empty axis (with the closest name), an ``ode`` option that is unknown
        or out of range, ``observables`` given as one string, a schedule parameter the base
        schedule lacks, or any point whose parameters the model or the simulator would reject
        (the message names the point and its parameters). Points are checked without visiting
        each one: the parameters that constrain one another are combined, every other axis is
        checked value by value, so a grid of 10^7 points is checked in milliseconds.

    Examples
    --------
    >>> from linvae import Model
    >>> from linvae.sweep import Sweep
    >>> sweep = Sweep(grid={"beta": [0.5, 2.0], "N": [100, 200]}, model=Model(tau=0.1),
    ...               t_max=5.0, kind="both")
    >>> sweep.shape, sweep.size
    ((2, 2), 4)
    >>> sweep.parameters(3)
    {'beta': 2.0, 'N': 200}
    """

    grid: Mapping[str, Sequence[Any]]
    model: Model = field(default_factory=Model)
    kind: Kind = "sgd"
    N: int = 200
    t_max: float = 10.0
    dt: float = 1.0
    n_seeds: int = 1
    tau_D: float | None = None
    W_star: Literal["ones", "orthogonal"] | None = None
    ode: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    observables: tuple[str, ...] = OBSERVABLE_NAMES

    def __post_init__(self):
        owner = "Sweep"
        if not isinstance(self.grid, Mapping) or not self.grid:
            raise ValueError(
                f"The `grid` parameter of {owner} must be a non-empty mapping of parameter names "
                f"to lists of values. Got {self.grid!r}."
            )
        allowed = (*MODEL_PARAMETERS, *SCHEDULE_PARAMETERS, *RUN_PARAMETERS, REPLICATE)
        grid = {}
        for name, values in self.grid.items():
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                raise ValueError(
                    f"The `grid` parameter of {owner} must name parameters among {allowed}. "
                    f"Got {name!r}." + (f" Did you mean {close[0]!r}?" if close else "")
                )
            if isinstance(values, str | bytes) or not isinstance(values, Iterable):
                values = [values]
            values = tuple(_from_json(jsonable(v)) for v in values)
            if not values:
                raise ValueError(
                    f"The `grid[{name!r}]` parameter of {owner} must hold at least one value. "
                    "Got an empty list."
                )
            grid[name] = values
        object.__setattr__(self, "grid", grid)
        if not isinstance(self.model, Model):
            raise ValueError(
                f"The `model` parameter of {owner} must be a Model. Got {self.model!r}."
            )
        if self.model.schedule.describe().get("kind") == "callable":
            raise ValueError(
                f"The `model` parameter of {owner} must use a library schedule (Constant, "
                "TanhAnneal, LinearRamp, StepSchedule): a callable cannot be sent to workers. "
                f"Got {self.model.schedule!r}."
            )
        if self.kind not in ("sgd", "ode", "both"):
            raise ValueError(
                f"The `kind` parameter of {owner} must be 'sgd', 'ode' or 'both'. "
                f"Got {self.kind!r}."
            )
        object.__setattr__(self, "seed", check_int("seed", self.seed, owner, low=0))
        object.__setattr__(self, "ode", check_ode_options(self.ode, owner))
        if isinstance(self.observables, str):
            raise ValueError(
                f"The `observables` parameter of {owner} must be a list of names, got the "
                f"string {self.observables!r}. Write ({self.observables!r},)."
            )
        observables = tuple(self.observables)
        if not observables or any(o not in OBSERVABLE_NAMES for o in observables):
            raise ValueError(
                f"The `observables` parameter of {owner} must be a non-empty subset of "
                f"{OBSERVABLE_NAMES}. Got {self.observables!r}."
            )
        object.__setattr__(self, "observables", observables)
        self._check_memory()
        self._check_points()

    def _check_memory(self) -> None:
        """The largest point's trajectories must fit in memory here: every point's results
        come back to the process that runs the sweep, which writes them."""
        values = {
            name: self.grid.get(name, (getattr(self.model, name),)) for name in ("M", "M_star")
        }
        values.update(
            {n: self.grid.get(n, (getattr(self, n),)) for n in ("t_max", "dt", "n_seeds")}
        )
        if not all(
            isinstance(v, Real) and not isinstance(v, bool) and 0 < v < math.inf
            for axis in values.values()
            for v in axis
        ):
            return  # out of range somewhere: the point checks name it
        M, M_star = max(values["M"]), max(values["M_star"])
        t_max, dt, n_seeds = max(values["t_max"]), min(values["dt"]), max(values["n_seeds"])
        per_record = state_size(M, M_star) + 1  # m, d, Q, E, R, D and eps_g
        sides = 2 if self.kind == "both" else 1
        check_memory(
            8.0 * sides * n_seeds * (t_max / dt + 2) * per_record,
            f"The largest point of the sweep (t_max = {t_max:g}, dt = {dt:g}, n_seeds = "
            f"{n_seeds}, M = {M}, M_star = {M_star})",
            fix="Raise dt, or lower t_max or n_seeds.",
        )

    def _check_points(self) -> None:
        """Every point is valid, checked without visiting every point.

        A point is valid when the parameters of each coupled group (`_COUPLED`) are valid
        together and every other parameter is valid alone, so it suffices to build the points
        that take every combination of one group's values (the other axes at their first
        value), and for an independent axis each of its values: sum over groups of the product
        of their lengths, plus the lengths of the others, instead of the product of all (a
        grid of 10^7 points is checked in milliseconds).
        """
        dims = self.dims
        coupled = [[dims.index(n) for n in group if n in self.grid] for group in _COUPLED]
        grouped = {axis for group in coupled for axis in group}
        groups = [g for g in coupled if g] + [[a] for a in range(len(dims)) if a not in grouped]
        checked: set[int] = set()
        for group in groups:
            for values in itertools.product(*(range(self.shape[a]) for a in group)):
                multi = [0] * len(dims)
                for axis, k in zip(group, values, strict=True):
                    multi[axis] = k
                index = int(np.ravel_multi_index(multi, self.shape))
                if index in checked:
                    continue
                checked.add(index)
                try:
                    self.settings(index)
                except (ValueError, TypeError) as err:
                    raise ValueError(
                        f"Sweep point {index} ({format_params(self.parameters(index))}) is "
                        f"invalid: {err}"
                    ) from None

    # ------------------------------------------------------------------ grid
    @property
    def dims(self) -> tuple[str, ...]:
        """Swept parameter names, in axis order."""
        return tuple(self.grid)

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of values along each swept axis."""
        return tuple(len(v) for v in self.grid.values())

    @property
    def size(self) -> int:
        """Number of points."""
        return math.prod(self.shape)

    def parameters(self, index: int) -> dict[str, Any]:
        """The swept values of point ``index`` (C order over the axes)."""
        multi = np.unravel_index(index, self.shape)
        return {
            name: values[int(k)] for (name, values), k in zip(self.grid.items(), multi, strict=True)
        }

    def seed_sequence(self, index: int) -> np.random.SeedSequence:
        """The seed of point ``index``: the ``index``-th child of ``SeedSequence(seed)``."""
        return np.random.SeedSequence(self.seed, spawn_key=(index,))

    def settings(self, index: int) -> dict[str, Any]:
        """Everything point ``index`` needs, JSON-able: model description, run and ODE options,
        seed, kind and observables (what is sent to a worker)."""
        params = self.parameters(index)
        model_kw = {k: v for k, v in params.items() if k in MODEL_PARAMETERS}
        if isinstance(model_kw.get("beta"), Mapping):  # a swept schedule, as JSON stores it
            model_kw["beta"] = schedule_from_description(dict(model_kw["beta"]))
        schedule_kw = {k: v for k, v in params.items() if k in SCHEDULE_PARAMETERS}
        model = dataclasses.replace(self.model, **model_kw) if model_kw else self.model
        if schedule_kw:
            schedule = model.schedule
            names = {f.name for f in dataclasses.fields(schedule)}
            missing = sorted(set(schedule_kw) - names)
            if missing:
                raise ValueError(
                    f"The `grid` parameter of Sweep sweeps {missing}, which the schedule "
                    f"{type(schedule).__name__} does not have (fields: {sorted(names)}). Give "
                    "the base model a schedule with them, e.g. "
                    "beta=TanhAnneal(beta_final=1, gamma=0.01)."
                )
            model = dataclasses.replace(model, beta=dataclasses.replace(schedule, **schedule_kw))
        run = {name: params.get(name, getattr(self, name)) for name in RUN_PARAMETERS}
        _check_run(run, model)
        return {
            "index": index,
            "kind": self.kind,
            "model": model.describe(),
            "run": {k: jsonable(v) for k, v in run.items()},
            "ode": dict(self.ode),
            "seed": {"entropy": self.seed, "spawn_key": [index]},
            "observables": list(self.observables),
            "parameters": {k: jsonable(v) for k, v in params.items()},
        }

    # ------------------------------------------------------------------ description
    def describe(self) -> dict:
        """JSON-able description; `from_description` inverts it."""
        return {
            "format": FORMAT,
            "grid": {k: jsonable(v) for k, v in self.grid.items()},
            "model": self.model.describe(),
            "kind": self.kind,
            **{name: jsonable(getattr(self, name)) for name in RUN_PARAMETERS},
            "ode": dict(self.ode),
            "seed": self.seed,
            "observables": list(self.observables),
        }

    @classmethod
    def from_description(
        cls, desc: Mapping[str, Any], *, where: str = "The sweep description"
    ) -> Sweep:
        """Build a sweep from `describe`'s output or a parsed config file.

        ``model`` may be a partial description: missing fields take `Model`'s defaults,
        and ``beta`` may be a number or a schedule table (``{"kind": "tanh", "beta_final": 1,
        "gamma": 0.01}``). The whole description is checked first against the sweep-file
        schema (`linvae.sweep.schema`); ``where`` names it in messages (e.g. a file name).

        Raises
        ------
        ValueError
            One line naming ``where``, the key and the fix (an unknown key with the closest
            allowed name, a wrong type or range, a ``[finite_size]`` table), or the first
            invalid point.
        """
        kw = check_description(desc, where)
        if "finite_size" in kw:
            raise ValueError(
                f"{where} declares a finite-size sweep ([finite_size]), not a grid: run it with "
                "`linvae sweep` or linvae.analysis.finite_size.finite_size_scaling."
            )
        kw.pop("format", None)
        try:
            kw["model"] = model_from_config(kw.get("model", {}))
            if "observables" in kw:
                kw["observables"] = tuple(kw["observables"])
            return cls(**kw)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{where}: {err}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> Sweep:
        """Read a sweep from a TOML file (the layout of `from_description`; see
        ``docs/sweeps.md``), checked whole before anything runs.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ValueError
            One line naming the file, the key and the fix (see
            `linvae.sweep.schema.read_sweep_toml`).
        """
        return cls.from_description(read_sweep_toml(path), where=str(path))


def model_from_config(desc: Mapping[str, Any]) -> Model:
    """A `Model` from a (possibly partial) description, as in a config file.

    Missing fields take the defaults; ``beta`` is a number or a schedule table such as
    ``{"kind": "tanh", "beta_final": 1.0, "gamma": 0.01}``; ``rho`` a number or a list.

    Examples
    --------
    >>> model_from_config({"tau": 0.1, "beta": {"kind": "tanh", "beta_final": 1.0,
    ...                                         "gamma": 0.01}}).tau
    0.1
    """
    if isinstance(desc, Model):
        return desc
    model = check_model_table(desc)
    if isinstance(model.get("beta"), Mapping):
        model["beta"] = schedule_from_description(dict(model["beta"]))
    if isinstance(model.get("rho"), list):
        model["rho"] = tuple(model["rho"])
    return Model(**model)


def _check_run(run: dict, model: Model) -> None:
    owner = "Sweep"
    run["N"] = check_int("N", run["N"], owner)
    run["n_seeds"] = check_int("n_seeds", run["n_seeds"], owner)
    run["t_max"] = check_real("t_max", run["t_max"], owner, low=0.0)
    run["dt"] = check_real("dt", run["dt"], owner, low=0.0)
    if run["tau_D"] is not None:
        run["tau_D"] = check_real("tau_D", run["tau_D"], owner, low=0.0)
    if run["W_star"] not in (None, "ones", "orthogonal"):
        raise ValueError(
            f"The `W_star` parameter of Sweep must be 'ones', 'orthogonal' or None. "
            f"Got {run['W_star']!r}."
        )
    if max(model.M, model.M_star) > run["N"]:
        raise ValueError(
            f"The `N` parameter of Sweep must be >= M and M_star ({model.M}, {model.M_star}). "
            f"Got {run['N']}."
        )
    # The simulator's recording grid, checked here so that a bad point is refused before
    # anything runs (and without loading the simulator).
    time_grid(run["t_max"], run["dt"], N=run["N"], owner="Sweep")
