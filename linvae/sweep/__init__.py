"""Parameter sweeps of SGD runs and ODE solutions, on a local process pool or a Dask cluster.

A :class:`Sweep` is a grid (the outer product of one value list per swept parameter) of runs
of :func:`linvae.simulate`, :func:`linvae.theory.solve_ode`, or both on the same time grid.
:func:`run_sweep` computes the points that are not on disk yet, writes each one as soon as it
finishes, and gathers everything into a :class:`SweepResult`: one array per observable with one
axis per swept parameter.

Swept parameters (any of them may also be left fixed):

* model: ``M, M_star, rho, eta, beta, lam, tau`` (fields of :class:`linvae.Model`);
* schedule: ``beta_final, gamma, t_ramp, t_switch, beta_initial`` (fields of the model's
  schedule, replaced with :func:`dataclasses.replace`);
* run: ``N, t_max, dt, n_seeds, tau_D, W_star``;
* ``replicate``: a pure repetition axis (its values only label the points).

Seeds. Point ``i`` runs with ``SeedSequence(seed, spawn_key=(i,))``, the i-th child of the
sweep's seed, and with a fixed thread count, so a point's numbers do not depend on where, when
or in which order it ran: serial, process-pool and Dask runs are bit-identical.

Layout of the output directory::

    DIR/sweep.json            the sweep's description (a rerun with another one is refused)
    DIR/points/p000012.npz    one file per finished point, written atomically: arrays
                              "sgd/t", "sgd/m", ..., "ode/eps_g" and "info" (JSON: the point's
                              parameters, seed, wall time, run metadata)
    DIR/index.json            every point's parameters, status ("done", "failed", "pending"),
                              file, wall time and error; rewritten atomically after each point
    DIR/results.npz           the gathered arrays (see SweepResult.save), when the sweep ends

The point files are the truth: :func:`load_sweep` rebuilds everything from them, and a rerun of
:func:`run_sweep` on the same directory computes only the points whose file is missing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import multiprocessing
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from linvae.params import Model
from linvae.schedules import Schedule, schedule_from_description

__all__ = [
    "MODEL_PARAMETERS",
    "RUN_PARAMETERS",
    "SCHEDULE_PARAMETERS",
    "FiniteSizeScaling",
    "Sweep",
    "SweepResult",
    "finite_size_scaling",
    "fit_power_law",
    "load_sweep",
    "model_from_config",
    "run_sweep",
]

_LOG = logging.getLogger(__name__)
_FORMAT = 1

MODEL_PARAMETERS = ("M", "M_star", "rho", "eta", "beta", "lam", "tau")
SCHEDULE_PARAMETERS = ("beta_final", "gamma", "t_ramp", "t_switch", "beta_initial")
RUN_PARAMETERS = ("N", "t_max", "dt", "n_seeds", "tau_D", "W_star")
_REPLICATE = "replicate"
_ODE_OPTIONS = ("method", "rtol", "atol", "sgd_noise", "jacobian", "rhs")
_OBSERVABLES = ("m", "d", "Q", "E", "R", "D", "eps_g")
# Names of the trailing axes of each observable, after (seed, time).
_TRAILING_DIMS = {
    "m": ("latent", "factor"),
    "d": ("latent", "factor"),
    "Q": ("latent", "latent_2"),
    "E": ("latent", "latent_2"),
    "R": ("latent", "latent_2"),
    "D": ("latent",),
    "eps_g": (),
}
Kind = Literal["sgd", "ode", "both"]


def _jsonable(value: Any) -> Any:
    """A grid value as JSON stores it (tuples become lists, numpy scalars Python numbers)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, Schedule):
        return value.describe()
    return value


def _from_json(value: Any) -> Any:
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


@dataclass(frozen=True, kw_only=True)
class Sweep:
    """A grid of linear-VAE runs: SGD, ODE, or both on the same time grid.

    Parameters
    ----------
    grid : mapping of str to sequence
        One non-empty list of values per swept parameter, in axis order. Names: the fields of
        :class:`Model` (``M, M_star, rho, eta, beta, lam, tau``), of its schedule
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
        Run settings when not swept; see :func:`linvae.simulate`.
    ode : mapping, optional
        Options of :func:`linvae.theory.solve_ode` (``method, rtol, atol, sgd_noise, jacobian,
        rhs``).
    seed : int
        The sweep's seed; point ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``.
    observables : sequence of str
        What is kept of each trajectory: any of ``m, d, Q, E, R, D, eps_g``.

    Raises
    ------
    ValueError
        For an unknown or empty axis, a schedule parameter the base schedule lacks, or any
        point whose parameters the model or the simulator would reject (the message names it).

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
    observables: tuple[str, ...] = _OBSERVABLES

    def __post_init__(self):
        owner = "Sweep"
        if not isinstance(self.grid, Mapping) or not self.grid:
            raise ValueError(
                f"The `grid` parameter of {owner} must be a non-empty mapping of parameter names "
                f"to lists of values. Got {self.grid!r}."
            )
        allowed = (*MODEL_PARAMETERS, *SCHEDULE_PARAMETERS, *RUN_PARAMETERS, _REPLICATE)
        grid = {}
        for name, values in self.grid.items():
            if name not in allowed:
                raise ValueError(
                    f"The `grid` parameter of {owner} must name parameters among {allowed}. "
                    f"Got {name!r}."
                )
            if isinstance(values, str | bytes) or not isinstance(values, Iterable):
                values = [values]
            values = tuple(_from_json(_jsonable(v)) for v in values)
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
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int | np.integer)
            or self.seed < 0
        ):
            raise ValueError(
                f"The `seed` parameter of {owner} must be a non-negative int. Got {self.seed!r}."
            )
        object.__setattr__(self, "seed", int(self.seed))
        bad = [k for k in self.ode if k not in _ODE_OPTIONS]
        if bad:
            raise ValueError(
                f"The `ode` parameter of {owner} must hold options among {_ODE_OPTIONS}. Got {bad}."
            )
        object.__setattr__(self, "ode", dict(self.ode))
        observables = tuple(self.observables)
        if not observables or any(o not in _OBSERVABLES for o in observables):
            raise ValueError(
                f"The `observables` parameter of {owner} must be a non-empty subset of "
                f"{_OBSERVABLES}. Got {self.observables!r}."
            )
        object.__setattr__(self, "observables", observables)
        for index in range(self.size):  # every point is valid before anything runs
            try:
                self.settings(index)
            except (ValueError, TypeError) as err:
                raise ValueError(
                    f"Sweep point {index} ({_format_params(self.parameters(index))}) is invalid: "
                    f"{err}"
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
        from linvae.sgd.simulate import _time_grid

        _check_run(run, model)
        _time_grid(run["t_max"], run["dt"], None, run["N"])
        return {
            "index": index,
            "kind": self.kind,
            "model": model.describe(),
            "run": {k: _jsonable(v) for k, v in run.items()},
            "ode": dict(self.ode),
            "seed": {"entropy": self.seed, "spawn_key": [index]},
            "observables": list(self.observables),
            "parameters": {k: _jsonable(v) for k, v in params.items()},
        }

    # ------------------------------------------------------------------ description
    def describe(self) -> dict:
        """JSON-able description; :meth:`from_description` inverts it."""
        return {
            "format": _FORMAT,
            "grid": {k: _jsonable(v) for k, v in self.grid.items()},
            "model": self.model.describe(),
            "kind": self.kind,
            **{name: _jsonable(getattr(self, name)) for name in RUN_PARAMETERS},
            "ode": dict(self.ode),
            "seed": self.seed,
            "observables": list(self.observables),
        }

    @classmethod
    def from_description(cls, desc: Mapping[str, Any]) -> Sweep:
        """Build a sweep from :meth:`describe`'s output or a parsed config file.

        ``model`` may be a partial description: missing fields take :class:`Model`'s defaults,
        and ``beta`` may be a number or a schedule table (``{"kind": "tanh", "beta_final": 1,
        "gamma": 0.01}``).
        """
        kw = {k: v for k, v in desc.items() if k != "format"}
        unknown = set(kw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(
                f"The sweep description has unknown entries {sorted(unknown)}; allowed: "
                f"{sorted(f.name for f in dataclasses.fields(cls))}."
            )
        kw["model"] = model_from_config(kw.get("model", {}))
        if "observables" in kw:
            kw["observables"] = tuple(kw["observables"])
        return cls(**kw)

    @classmethod
    def from_toml(cls, path: str | Path) -> Sweep:
        """Read a sweep from a TOML file (the layout of :meth:`from_description`; see
        ``docs/sweeps.md``)."""
        import tomllib

        with open(path, "rb") as f:
            config = tomllib.load(f)
        config.pop("finite_size", None)
        return cls.from_description(config)


def model_from_config(desc: Mapping[str, Any]) -> Model:
    """A :class:`Model` from a (possibly partial) description, as in a config file.

    Missing fields take the defaults; ``beta`` is a number or a schedule table such as
    ``{"kind": "tanh", "beta_final": 1.0, "gamma": 0.01}``; ``rho`` a number or a list.
    """
    if isinstance(desc, Model):
        return desc
    model = dict(desc)
    if isinstance(model.get("beta"), Mapping):
        model["beta"] = schedule_from_description(dict(model["beta"]))
    if isinstance(model.get("rho"), list):
        model["rho"] = tuple(model["rho"])
    unknown = set(model) - set(MODEL_PARAMETERS)
    if unknown:
        raise ValueError(
            f"The `model` table of the sweep has unknown entries {sorted(unknown)}; allowed: "
            f"{list(MODEL_PARAMETERS)}."
        )
    return Model(**model)


def _check_run(run: dict, model: Model) -> None:
    from linvae.utils.validation import check_int, check_real

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


def _format_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


# ---------------------------------------------------------------------- one point (worker side)
def compute_point(settings: Mapping[str, Any], threads: int | None = 1) -> dict[str, Any]:
    """Compute one sweep point from :meth:`Sweep.settings` (runs on a worker).

    Never raises for a failing run: the error is returned as data, so that every backend
    reports failures the same way.

    Returns
    -------
    dict
        ``{"arrays": {"sgd/t": ..., "ode/eps_g": ...}, "info": {...}}``, or
        ``{"error": message, "traceback": text, "info": {...}}``.
    """
    started = time.perf_counter()
    info = {
        "index": settings["index"],
        "parameters": settings["parameters"],
        "seed": settings["seed"],
        "host": os.uname().nodename if hasattr(os, "uname") else "",
    }
    try:
        arrays, metas = _compute(settings, threads)
    except Exception as err:  # one point failing must not end the sweep
        info["wall_s"] = time.perf_counter() - started
        return {
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
            "info": info,
        }
    from linvae import __version__

    info.update(metas, wall_s=time.perf_counter() - started, linvae_version=__version__)
    return {"arrays": arrays, "info": info}


def _compute(settings: Mapping[str, Any], threads: int | None):
    from linvae.observables import OrderParameters
    from linvae.sgd.simulate import simulate

    model = Model.from_description(settings["model"])
    run = settings["run"]
    seed = np.random.SeedSequence(
        settings["seed"]["entropy"], spawn_key=tuple(settings["seed"]["spawn_key"])
    )
    kind = settings["kind"]
    observables = settings["observables"]
    common = {
        "N": run["N"],
        "t_max": run["t_max"],
        "n_seeds": run["n_seeds"],
        "rng": seed,
        "W_star": run["W_star"],
        "tau_D": run["tau_D"],
        "n_threads": threads,
    }
    arrays: dict[str, np.ndarray] = {}
    metas: dict[str, Any] = {}
    if kind == "ode":
        # Only the initialization: zero SGD steps, the t = 0 order parameters of every seed.
        sgd = simulate(model, t_eval=np.zeros(1), **common)
        from linvae.sgd.simulate import _time_grid

        t_grid, _ = _time_grid(run["t_max"], run["dt"], None, run["N"])
    else:
        sgd = simulate(model, dt=run["dt"], **common)
        t_grid = sgd.t
        arrays["sgd/t"] = sgd.t
        arrays.update({f"sgd/{name}": getattr(sgd, name) for name in observables})
        metas["sgd_meta"] = sgd.meta
    if kind in ("ode", "both"):
        from linvae.theory import solve_ode

        start = sgd.at(0)
        solutions = []
        for s in range(sgd.n_seeds):
            init = OrderParameters(**{k: v[s] for k, v in start.as_dict().items()})
            solutions.append(
                solve_ode(
                    model,
                    t_max=float(t_grid[-1]),
                    init=init,
                    t_eval=t_grid,
                    T=sgd.T_matrix,
                    **settings["ode"],
                )
            )
        arrays["ode/t"] = solutions[0].t
        for name in observables:
            arrays[f"ode/{name}"] = np.concatenate([getattr(sol, name) for sol in solutions])
        metas["ode_meta"] = [sol.meta for sol in solutions]
    return arrays, metas


# ---------------------------------------------------------------------- files
def _point_path(directory: Path, index: int) -> Path:
    return directory / "points" / f"p{index:06d}.npz"


def _atomic_write_bytes(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=1, sort_keys=False).encode()
    _atomic_write_bytes(path, lambda f: f.write(text))


def _write_point(directory: Path, index: int, outcome: Mapping[str, Any]) -> None:
    arrays = dict(outcome["arrays"])
    info = np.array(json.dumps(outcome["info"]))
    _atomic_write_bytes(_point_path(directory, index), lambda f: np.savez(f, info=info, **arrays))


def _read_point(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """The arrays and info of a point file, or None if it is unreadable (then it is redone)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k != "info"}
            info = json.loads(str(data["info"]))
    except (OSError, ValueError, KeyError, EOFError) as err:
        _LOG.warning(
            "Ignoring unreadable sweep point file %s (%s); it will be recomputed.", path, err
        )
        return None
    return arrays, info


def _prepare_directory(sweep: Sweep, directory: Path) -> None:
    (directory / "points").mkdir(parents=True, exist_ok=True)
    desc = sweep.describe()
    path = directory / "sweep.json"
    if path.exists():
        existing = json.loads(path.read_text())
        if existing != json.loads(json.dumps(desc)):
            raise ValueError(
                f"The `out_dir` parameter of run_sweep must be empty or hold this same sweep. "
                f"{path} describes a different sweep; choose another directory (or delete it)."
            )
    else:
        _write_json(path, desc)


def _index_entries(sweep: Sweep, done: set[int], failed: Mapping[int, str]) -> list[dict]:
    entries = []
    for i in range(sweep.size):
        status = "done" if i in done else ("failed" if i in failed else "pending")
        entry = {
            "index": i,
            "parameters": {k: _jsonable(v) for k, v in sweep.parameters(i).items()},
            "status": status,
            "file": str(_point_path(Path("."), i)) if i in done else None,
        }
        if i in failed:
            entry["error"] = failed[i]
        entries.append(entry)
    return entries


# ---------------------------------------------------------------------- running
def run_sweep(
    sweep: Sweep,
    out_dir: str | Path,
    *,
    scheduler: Any = "processes",
    workers: int | None = None,
    threads_per_point: int = 1,
    retry_failed: bool = True,
    progress: bool | Callable[[int, int], None] = True,
) -> SweepResult:
    """Compute every point of ``sweep`` that ``out_dir`` does not hold yet, then gather.

    Parameters
    ----------
    sweep : Sweep
        What to compute.
    out_dir : path
        Output directory (created). If it holds this same sweep, finished points are kept and
        only the others run; if it holds another sweep, ValueError.
    scheduler : "processes", "serial", str or distributed.Client
        ``"processes"``: a local pool of spawned processes (``concurrent.futures``);
        ``"serial"``: one after the other in this process; any other string: the address of a
        running Dask scheduler (``"tcp://host:8786"``); or a ``distributed.Client``. The
        Dask workers must be able to import linvae; results travel back to this process, which
        writes the files (workers need no shared disk).
    workers : int, optional
        Size of the local pool (default: the number of CPUs). Ignored otherwise.
    threads_per_point : int
        numba threads of each point's seed-parallel loop. Results do not depend on it.
    retry_failed : bool
        Recompute points that failed in an earlier run (they have no file).
    progress : bool or callable
        True: a bar on stderr; a callable receives ``(points_done, points_total)`` after each
        point (an exception raised there stops the sweep; what is on disk is kept).

    Returns
    -------
    SweepResult
        The gathered arrays (see :class:`SweepResult`), also saved as ``out_dir/results.npz``.

    Raises
    ------
    ValueError
        For invalid arguments or a directory holding another sweep.

    Warns
    -----
    UserWarning
        When some points failed; each failure is logged (``linvae.sweep`` logger) with its
        parameters and listed in ``SweepResult.failures`` and ``index.json``.

    Examples
    --------
    >>> import tempfile
    >>> from linvae import Model
    >>> from linvae.sweep import Sweep, run_sweep
    >>> sweep = Sweep(grid={"beta": [0.5, 2.0]}, model=Model(tau=0.1), N=50, t_max=4.0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     result = run_sweep(sweep, tmp, scheduler="serial", progress=False)
    >>> result["sgd_eps_g"].shape  # (beta, seed, time)
    (2, 1, 5)
    """
    from linvae.utils.validation import check_int

    if not isinstance(sweep, Sweep):
        raise ValueError(f"The `sweep` parameter of run_sweep must be a Sweep. Got {sweep!r}.")
    threads_per_point = check_int("threads_per_point", threads_per_point, "run_sweep")
    if workers is not None:
        workers = check_int("workers", workers, "run_sweep")
    directory = Path(out_dir)
    _prepare_directory(sweep, directory)

    done: set[int] = set()
    for i in range(sweep.size):
        path = _point_path(directory, i)
        if path.exists() and _read_point(path) is not None:
            done.add(i)
    failed: dict[int, str] = {}
    index_path = directory / "index.json"
    if not retry_failed and index_path.exists():
        for entry in json.loads(index_path.read_text()).get("points", []):
            if entry.get("status") == "failed" and entry["index"] not in done:
                failed[entry["index"]] = entry.get("error", "")
    todo = [i for i in range(sweep.size) if i not in done and i not in failed]
    total = sweep.size

    def write_index():
        _write_json(
            index_path,
            {"sweep": "sweep.json", "points": _index_entries(sweep, done, failed)},
        )

    report = _make_report(progress, total)
    if report is not None:
        report(len(done) + len(failed))
    write_index()

    def on_outcome(index: int, outcome: Mapping[str, Any]) -> None:
        if "error" in outcome:
            failed[index] = outcome["error"]
            _LOG.warning(
                "Sweep point %d (%s) failed: %s",
                index,
                _format_params(sweep.parameters(index)),
                outcome["error"],
            )
            _LOG.debug("%s", outcome.get("traceback", ""))
        else:
            _write_point(directory, index, outcome)
            done.add(index)
            failed.pop(index, None)
        write_index()
        if report is not None:
            report(len(done) + len(failed))

    if todo:
        _dispatch(sweep, todo, on_outcome, scheduler, workers, threads_per_point)
    if report is not None and hasattr(report, "finish"):
        report.finish()
    result = load_sweep(directory)
    result.save(directory / "results.npz")
    if failed:
        warnings.warn(
            f"{len(failed)} of {total} sweep points failed (see SweepResult.failures or "
            f"{index_path}); rerun run_sweep on the same directory to retry them.",
            stacklevel=2,
        )
    return result


class _Report:
    def __init__(self, total: int):
        from linvae.utils.progress import ProgressBar

        self.bar = ProgressBar(total, "sweep")
        self.total = total
        self.done = 0

    def __call__(self, done: int) -> None:
        self.done = done
        self.bar(done, final=False)

    def finish(self) -> None:
        self.bar(self.done, final=True)


def _make_report(progress, total):
    if progress is True:
        return _Report(total)
    if callable(progress):
        return lambda done: progress(done, total)
    return None


def _dispatch(sweep, todo, on_outcome, scheduler, workers, threads) -> None:
    if isinstance(scheduler, str) and scheduler == "serial":
        for i in todo:
            on_outcome(i, compute_point(sweep.settings(i), threads))
        return
    if isinstance(scheduler, str) and scheduler == "processes":
        _run_process_pool(sweep, todo, on_outcome, workers, threads)
        return
    _run_dask(sweep, todo, on_outcome, scheduler, threads)


def _run_process_pool(sweep, todo, on_outcome, workers, threads) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    workers = workers or os.cpu_count() or 1
    # spawn: safe with numba's threads and on every platform; workers import linvae afresh.
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn")
    )
    try:
        futures = {pool.submit(compute_point, sweep.settings(i), threads): i for i in todo}
        for future in as_completed(futures):
            on_outcome(futures[future], _outcome_of(future))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _outcome_of(future) -> dict[str, Any]:
    """A finished future's outcome; a crashed worker becomes a failed point."""
    try:
        return future.result()
    except Exception as err:  # e.g. BrokenProcessPool, a worker killed by the OS
        return {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}


def _run_dask(sweep, todo, on_outcome, scheduler, threads) -> None:
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "Running a sweep on a Dask cluster needs dask.distributed: pip install 'linvae[sweep]'."
        ) from None
    own_client = False
    if isinstance(scheduler, distributed.Client):
        client = scheduler
    elif isinstance(scheduler, str):
        client = distributed.Client(scheduler)
        own_client = True
    else:
        raise ValueError(
            "The `scheduler` parameter of run_sweep must be 'processes', 'serial', a Dask "
            f"scheduler address or a distributed.Client. Got {scheduler!r}."
        )
    token = f"{os.getpid()}-{time.time_ns()}"
    futures = {}
    try:
        for i in todo:
            future = client.submit(
                compute_point, sweep.settings(i), threads, key=f"linvae-sweep-{token}-{i}"
            )
            futures[future] = i
        for future in distributed.as_completed(list(futures)):
            on_outcome(futures[future], _outcome_of(future))
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
        if own_client:
            client.close()


# ---------------------------------------------------------------------- gathering
@dataclass(frozen=True, kw_only=True)
class SweepResult:
    """The gathered results of a sweep: one array per observable, one axis per swept parameter.

    Attributes
    ----------
    sweep : Sweep
        What was computed.
    coords : dict of str to ndarray
        The values along each swept axis (``coords[name][k]`` is the k-th value; values that
        are not numbers or strings, e.g. per-factor ``rho`` tuples, are given as JSON strings),
        plus ``"time"`` when every point shares one time grid.
    data : dict of str to ndarray
        ``"sgd_<obs>"`` and/or ``"ode_<obs>"`` of shape ``sweep.shape + (seed, time, ...)``
        (the trailing axes of the observable, see :attr:`dims`), and ``"t"`` of shape
        ``sweep.shape + (time,)``. Points that did not finish, and the padding of points with
        fewer seeds, times or latents than the largest, are NaN.
    dims : dict of str to tuple of str
        Axis names of each entry of ``data``.
    status : ndarray of str, shape ``sweep.shape``
        "done", "failed" or "pending" per point.
    failures : list of dict
        ``{"index", "parameters", "error"}`` for every failed point.
    directory : Path or None
        Where the sweep lives.
    """

    sweep: Sweep
    coords: dict[str, np.ndarray]
    data: dict[str, np.ndarray]
    dims: dict[str, tuple[str, ...]]
    status: np.ndarray
    failures: list[dict] = field(default_factory=list)
    directory: Path | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    @property
    def complete(self) -> bool:
        """True when every point is done."""
        return bool(np.all(self.status == "done"))

    def point(self, index: int) -> dict[str, np.ndarray]:
        """The arrays of one point as its file holds them (no padding): ``"sgd/t"``, ..."""
        if self.directory is None:
            raise ValueError("This SweepResult has no directory to read point files from.")
        found = _read_point(_point_path(self.directory, index))
        if found is None:
            raise ValueError(
                f"Sweep point {index} has no readable file (status {self.status.flat[index]!r})."
            )
        return found[0]

    def to_xarray(self):
        """The same data as an ``xarray.Dataset`` (``pip install 'linvae[sweep]'``)."""
        import xarray as xr

        coords = {k: v for k, v in self.coords.items()}
        variables = {name: (self.dims[name], arr) for name, arr in self.data.items()}
        variables["status"] = (self.sweep.dims, self.status)
        ds = xr.Dataset(variables, coords=coords)
        ds.attrs["sweep"] = json.dumps(self.sweep.describe())
        return ds

    def save(self, path: str | Path) -> Path:
        """Write everything to one ``.npz`` (atomically): the data arrays under their names,
        coordinates as ``coord/<name>``, ``status``, and ``layout`` (JSON: dims, sweep
        description, failures)."""
        path = Path(path)
        layout = {
            "dims": {k: list(v) for k, v in self.dims.items()},
            "coords": list(self.coords),
            "sweep": self.sweep.describe(),
            "failures": self.failures,
        }
        arrays = dict(self.data)
        arrays.update({f"coord/{k}": v for k, v in self.coords.items()})
        arrays["status"] = self.status
        layout_arr = np.array(json.dumps(layout))
        _atomic_write_bytes(path, lambda f: np.savez(f, layout=layout_arr, **arrays))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SweepResult:
        """Read a file written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as f:
            layout = json.loads(str(f["layout"]))
            coords = {k: f[f"coord/{k}"] for k in layout["coords"]}
            data = {k: f[k] for k in layout["dims"]}
            status = f["status"]
        return cls(
            sweep=Sweep.from_description(layout["sweep"]),
            coords=coords,
            data=data,
            dims={k: tuple(v) for k, v in layout["dims"].items()},
            status=status,
            failures=layout["failures"],
            directory=Path(path).parent,
        )


def _coordinate(values: tuple) -> np.ndarray:
    if all(isinstance(v, int | float | str | bool) and not isinstance(v, tuple) for v in values):
        kinds = {type(v) for v in values}
        if kinds <= {int, float, bool} or kinds == {str}:
            return np.asarray(values)
    return np.array([json.dumps(_jsonable(v)) for v in values])


def load_sweep(out_dir: str | Path) -> SweepResult:
    """Gather the point files of a sweep directory (finished or not) into a SweepResult."""
    directory = Path(out_dir)
    path = directory / "sweep.json"
    if not path.exists():
        raise FileNotFoundError(f"No sweep at {directory}: {path} is missing.")
    sweep = Sweep.from_description(json.loads(path.read_text()))
    shape = sweep.shape
    points: dict[int, dict[str, np.ndarray]] = {}
    for i in range(sweep.size):
        p = _point_path(directory, i)
        if p.exists():
            found = _read_point(p)
            if found is not None:
                points[i] = found[0]
    failures = []
    index_path = directory / "index.json"
    if index_path.exists():
        for entry in json.loads(index_path.read_text()).get("points", []):
            if entry.get("status") == "failed" and entry["index"] not in points:
                failures.append({k: entry.get(k) for k in ("index", "parameters", "error")})
    failed_idx = {f["index"] for f in failures}
    status = np.array(
        [
            "done" if i in points else "failed" if i in failed_idx else "pending"
            for i in range(sweep.size)
        ]
    ).reshape(shape)

    sides = [s for s in ("sgd", "ode") if sweep.kind in (s, "both")]
    names = [f"{side}/{obs}" for side in sides for obs in sweep.observables]
    data: dict[str, np.ndarray] = {}
    dims: dict[str, tuple[str, ...]] = {}
    t_key = f"{sides[0]}/t"
    n_time = max((len(p[t_key]) for p in points.values()), default=0)
    t = np.full((*shape, n_time), np.nan)
    for i, arrays in points.items():
        t_i = arrays[t_key]
        t[np.unravel_index(i, shape)][: len(t_i)] = t_i
    for name in names:
        obs = name.split("/")[1]
        trailing = _TRAILING_DIMS[obs]
        found = [p[name].shape for p in points.values()]
        full = (
            tuple(max(s[k] for s in found) for k in range(2 + len(trailing)))
            if found
            else (0, 0) + (0,) * len(trailing)
        )
        arr = np.full((*shape, *full), np.nan)
        for i, arrays in points.items():
            a = arrays[name]
            arr[np.unravel_index(i, shape)][tuple(slice(0, n) for n in a.shape)] = a
        key = name.replace("/", "_")
        data[key] = arr
        dims[key] = (*sweep.dims, "seed", "time", *trailing)
    data["t"] = t
    dims["t"] = (*sweep.dims, "time")
    coords = {name: _coordinate(values) for name, values in sweep.grid.items()}
    if points:
        grids = [p[t_key] for p in points.values()]
        if all(g.shape == grids[0].shape and np.array_equal(g, grids[0]) for g in grids):
            coords["time"] = grids[0]
    return SweepResult(
        sweep=sweep,
        coords=coords,
        data=data,
        dims=dims,
        status=status,
        failures=failures,
        directory=directory,
    )


# ---------------------------------------------------------------------- finite-size scaling
@dataclass(frozen=True, kw_only=True)
class FiniteSizeScaling:
    """How far SGD at finite N lies from its ODE limit, and the fitted power of N.

    ``deviation(N) = A N^exponent``; the theory predicts exponent = -1/2 (spec section 5:
    SGD fluctuates around the ODE by O(N^-1/2)).

    Attributes
    ----------
    N : ndarray, shape (K,)
        Input dimensions.
    deviation : ndarray, shape (K,)
        Mean over seeds of the root-mean-square over time (and components) of
        ``obs_SGD(t) - obs_ODE(t)``, each seed compared with the ODE started from its own
        initial order parameters.
    deviation_err : ndarray, shape (K,)
        Standard error of that mean (over seeds).
    exponent, exponent_err : float
        Fitted power of N and its one-sigma uncertainty (weighted least squares on
        log deviation vs log N, errors propagated from ``deviation_err``; inflated by
        sqrt(chi2/dof) when that exceeds 1).
    amplitude : float
        A.
    chi2 : float
        Weighted sum of squared residuals of the fit (dof = K - 2).
    observable : str
        Which observable was compared.
    result : SweepResult
        The underlying sweep (axis ``N``, kind "both").
    """

    N: np.ndarray
    deviation: np.ndarray
    deviation_err: np.ndarray
    exponent: float
    exponent_err: float
    amplitude: float
    chi2: float
    observable: str
    result: SweepResult

    def describe(self) -> dict:
        """JSON-able summary."""
        return {
            "N": self.N.tolist(),
            "deviation": self.deviation.tolist(),
            "deviation_err": self.deviation_err.tolist(),
            "exponent": self.exponent,
            "exponent_err": self.exponent_err,
            "amplitude": self.amplitude,
            "chi2": self.chi2,
            "observable": self.observable,
        }


def fit_power_law(x, y, y_err) -> tuple[float, float, float, float]:
    """Weighted least-squares fit of ``y = A x^b`` in log space.

    Returns ``(b, b_err, A, chi2)``; ``b_err`` is inflated by sqrt(chi2/dof) when > 1.
    """
    x, y, y_err = (np.asarray(a, dtype=np.float64) for a in (x, y, y_err))
    if x.size < 2:
        raise ValueError(f"A power-law fit needs at least two sizes. Got {x.size}.")
    log_x, log_y = np.log(x), np.log(y)
    sigma = np.where(y_err > 0, y_err / y, np.nan)
    if not np.all(np.isfinite(sigma)):
        sigma = np.ones_like(log_y)  # no error bars (one seed): unweighted, scaled by the residuals
    w = 1.0 / sigma**2
    X = np.stack([np.ones_like(log_x), log_x], axis=1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    coef = cov @ (X.T @ (w * log_y))
    chi2 = float(np.sum(w * (log_y - X @ coef) ** 2))
    dof = x.size - 2
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    return float(coef[1]), float(np.sqrt(cov[1, 1] * scale)), float(np.exp(coef[0])), chi2


def finite_size_scaling(
    model: Model,
    *,
    N: Sequence[int] = (100, 200, 400, 800, 1600),
    t_max: float = 20.0,
    dt: float = 0.5,
    n_seeds: int = 8,
    observable: str = "eps_g",
    out_dir: str | Path,
    seed: int = 0,
    ode: Mapping[str, Any] | None = None,
    **run_options: Any,
) -> FiniteSizeScaling:
    """The ready-made sweep over N comparing SGD with the ODE, and the fitted exponent.

    Parameters
    ----------
    model : Model
        The problem (its learning rate, schedule, ...).
    N : sequence of int
        Input dimensions (at least two).
    t_max, dt, n_seeds : float, float, int
        Run length, recording interval and seeds per N.
    observable : str
        One of ``m, d, Q, E, R, D, eps_g``.
    out_dir : path
        The sweep directory (resumable, see :func:`run_sweep`).
    seed : int
        The sweep's seed.
    ode : mapping, optional
        Options of :func:`linvae.theory.solve_ode`.
    **run_options
        Passed to :func:`run_sweep` (``scheduler``, ``workers``, ``progress``, ...).

    Returns
    -------
    FiniteSizeScaling
        Also written to ``out_dir/finite_size.json``.

    Raises
    ------
    ValueError
        For fewer than two sizes, or if a point failed (the fit needs them all).

    Examples
    --------
    >>> import tempfile
    >>> from linvae import Model
    >>> from linvae.sweep import finite_size_scaling
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     fss = finite_size_scaling(Model(tau=0.1), N=[50, 200], t_max=2.0, n_seeds=3,
    ...                               out_dir=tmp, scheduler="serial", progress=False)
    >>> fss.deviation.shape
    (2,)
    """
    sizes = sorted({int(n) for n in N})
    if len(sizes) < 2:
        raise ValueError(
            f"The `N` parameter of finite_size_scaling must hold at least two sizes. Got {N!r}."
        )
    if observable not in _OBSERVABLES:
        raise ValueError(
            f"The `observable` parameter of finite_size_scaling must be one of {_OBSERVABLES}. "
            f"Got {observable!r}."
        )
    sweep = Sweep(
        grid={"N": sizes},
        model=model,
        kind="both",
        t_max=t_max,
        dt=dt,
        n_seeds=n_seeds,
        seed=seed,
        ode=dict(ode or {}),
        observables=(observable,),
    )
    result = run_sweep(sweep, out_dir, **run_options)
    if not result.complete:
        raise ValueError(
            f"finite_size_scaling needs every size; points failed: {result.failures}. Lower "
            "`tau` or change the sizes, then rerun on the same directory."
        )
    return _fss_from_result(result, observable, Path(out_dir))


def _fss_from_result(result: SweepResult, observable: str, directory: Path) -> FiniteSizeScaling:
    sgd = result[f"sgd_{observable}"]
    ode = result[f"ode_{observable}"]
    diff = (sgd - ode).reshape(*sgd.shape[:3], -1)  # (N, seed, time, components)
    per_seed = np.sqrt(np.nanmean(diff**2, axis=(2, 3)))  # (N, seed)
    n_seeds = per_seed.shape[1]
    deviation = per_seed.mean(axis=1)
    err = (
        per_seed.std(axis=1, ddof=1) / np.sqrt(n_seeds) if n_seeds > 1 else np.zeros_like(deviation)
    )
    sizes = np.asarray(result.coords["N"], dtype=np.float64)
    b, b_err, amp, chi2 = fit_power_law(sizes, deviation, err)
    fss = FiniteSizeScaling(
        N=sizes.astype(np.int64),
        deviation=deviation,
        deviation_err=err,
        exponent=b,
        exponent_err=b_err,
        amplitude=amp,
        chi2=chi2,
        observable=observable,
        result=result,
    )
    _write_json(directory / "finite_size.json", fss.describe())
    return fss
