"""The on-disk format of a sweep: one file per point, an index, and the gathered arrays.

Layout of a sweep directory::

    DIR/sweep.json            the sweep's description (a rerun with another one is refused)
    DIR/points/p000012.npz    one file per finished point, written atomically: arrays
                              "sgd/t", "sgd/m", ..., "ode/eps_g" and "info" (JSON: the point's
                              parameters, seed, wall time, run metadata)
    DIR/index.json            every point's parameters, status ("done", "failed", "pending"),
                              file, wall time and error; rewritten atomically every few
                              seconds while the sweep runs, and when it ends or is interrupted
    DIR/results.npz           the gathered arrays (see SweepResult.save), when the sweep ends
    DIR/.linvae.lock          the folder's write lock, held by the running sweep (an
                              operating-system lock: it ends with its holder, however it ends)

The point files are the truth: `load_sweep` rebuilds everything from them, and a rerun of
`linvae.sweep.run_sweep` on the same directory computes only the points whose file is
missing. Every file is written with `linvae.utils.atomic_write` (fsync, then rename), so
a killed sweep leaves no half-written file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from linvae.sweep.grid import Sweep, jsonable
from linvae.utils.io import atomic_write, atomic_write_json, load_npz

__all__ = ["SweepResult", "load_sweep"]

_LOG = logging.getLogger(__name__)
# JSON files of a sweep directory keep the indentation they always had.
_JSON_INDENT = 1
# Names of the trailing axes of each observable, after (seed, time).
TRAILING_DIMS = {
    "m": ("latent", "factor"),
    "d": ("latent", "factor"),
    "Q": ("latent", "latent_2"),
    "E": ("latent", "latent_2"),
    "R": ("latent", "latent_2"),
    "D": ("latent",),
    "eps_g": (),
}


# ---------------------------------------------------------------------- point files
def point_path(directory: Path, index: int) -> Path:
    """Where point ``index`` of the sweep in ``directory`` is stored."""
    return directory / "points" / f"p{index:06d}.npz"


def write_point(directory: Path, index: int, outcome: Mapping[str, Any]) -> None:
    """Write a successful outcome of `linvae.sweep.compute_point` atomically."""
    arrays = dict(outcome["arrays"])
    info = np.array(json.dumps(outcome["info"]))
    atomic_write(point_path(directory, index), lambda f: np.savez(f, info=info, **arrays))


def read_point(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """The arrays and info of a point file, or None if it is unreadable (then it is redone)."""
    try:
        arrays = load_npz(path)
        info = json.loads(str(arrays.pop("info")))
    except (OSError, ValueError, KeyError) as err:
        _LOG.warning(
            "Ignoring unreadable sweep point file %s (%s); it will be recomputed.", path, err
        )
        return None
    return arrays, info


def finished_points(sweep: Sweep, directory: Path) -> set[int]:
    """Indices of the points whose file is on disk and readable."""
    done = set()
    for i in range(sweep.size):
        path = point_path(directory, i)
        if path.exists() and read_point(path) is not None:
            done.add(i)
    return done


# ---------------------------------------------------------------------- description and index
def write_json(path: Path, obj: Any) -> None:
    """Write one of the sweep's JSON files (description, index, summaries) atomically."""
    atomic_write_json(path, obj, indent=_JSON_INDENT)


def prepare_directory(sweep: Sweep, directory: Path) -> None:
    """Create ``directory`` for ``sweep``, or check that it already holds this same sweep."""
    (directory / "points").mkdir(parents=True, exist_ok=True)
    desc = sweep.describe()
    path = directory / "sweep.json"
    if path.exists():
        existing = _read_description(path)
        if existing != json.loads(json.dumps(desc)):
            raise ValueError(
                f"The `out_dir` parameter of run_sweep must be empty or hold this same sweep. "
                f"{path} describes a different sweep; choose another directory (or delete it)."
            )
    else:
        write_json(path, desc)


def index_path(directory: Path) -> Path:
    """The index of the sweep in ``directory``."""
    return directory / "index.json"


def recorded_failures(directory: Path) -> dict[int, str]:
    """The points ``index.json`` lists as failed, with their errors (empty without index)."""
    path = index_path(directory)
    if not path.exists():
        return {}
    try:
        points = json.loads(path.read_text())["points"]
        return {
            int(entry["index"]): str(entry.get("error", ""))
            for entry in points
            if entry.get("status") == "failed"
        }
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        # The index only summarizes the point files (the truth): a truncated one is rebuilt.
        _LOG.warning(
            "The sweep index %s is unreadable (truncated or corrupt: %s); it is only a summary "
            "of the point files and is rewritten by the next run of this sweep. The failures "
            "it recorded are forgotten, so those points count as pending (and are retried).",
            path,
            err,
        )
        return {}


def _read_description(path: Path) -> dict:
    """The content of a ``sweep.json``; ValueError naming the file when it is unreadable."""
    try:
        desc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is not a readable sweep description (truncated or corrupt: {err}). The "
            "point files beside it are intact: restore the file, or delete it and rerun the "
            "sweep that wrote this directory to write it again."
        ) from None
    if not isinstance(desc, dict):
        raise ValueError(
            f"{path} is not a sweep description (it holds {type(desc).__name__}, not an "
            "object); restore it, or delete it and rerun the sweep that wrote this directory."
        )
    return desc


def write_index(sweep: Sweep, directory: Path, done: set[int], failed: Mapping[int, str]) -> None:
    """Rewrite ``index.json``: every point's parameters, status, file and error."""
    entries = []
    for i in range(sweep.size):
        status = "done" if i in done else ("failed" if i in failed else "pending")
        entry = {
            "index": i,
            "parameters": {k: jsonable(v) for k, v in sweep.parameters(i).items()},
            "status": status,
            "file": str(point_path(Path("."), i)) if i in done else None,
        }
        if i in failed:
            entry["error"] = failed[i]
        entries.append(entry)
    write_json(index_path(directory), {"sweep": "sweep.json", "points": entries})


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
        (the trailing axes of the observable, see `dims`), and ``"t"`` of shape
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
        found = read_point(point_path(self.directory, index))
        if found is None:
            raise ValueError(
                f"Sweep point {index} has no readable file (status {self.status.flat[index]!r})."
            )
        return found[0]

    def to_xarray(self):
        """The same data as an ``xarray.Dataset`` (``pip install 'linvae[sweep]'``)."""
        import xarray as xr  # optional (the `sweep` extra)

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
        atomic_write(path, lambda f: np.savez(f, layout=layout_arr, **arrays))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SweepResult:
        """Read a file written by `save`.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ValueError
            If it is not such a file (truncated, not an ``.npz``, entries missing).
        """
        f = load_npz(path)
        try:
            layout = json.loads(str(f["layout"]))
            coords = {k: f[f"coord/{k}"] for k in layout["coords"]}
            data = {k: f[k] for k in layout["dims"]}
            status = f["status"]
        except (KeyError, ValueError) as err:
            raise ValueError(
                f"{path} is not a sweep result written by SweepResult.save ({err!r} missing or "
                "unreadable)."
            ) from None
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
    return np.array([json.dumps(jsonable(v)) for v in values])


def load_sweep(out_dir: str | Path) -> SweepResult:
    """Gather the point files of a sweep directory (finished or not) into a SweepResult.

    Parameters
    ----------
    out_dir : path
        A directory written by `linvae.sweep.run_sweep`, possibly still running.

    Returns
    -------
    SweepResult
        Points without a file are NaN and have status "pending" ("failed" when the index says
        so).

    Raises
    ------
    FileNotFoundError
        If ``out_dir`` holds no ``sweep.json``.
    ValueError
        If its ``sweep.json`` is truncated or corrupt (the message names it and says what to
        do). A corrupt ``index.json`` is only logged: it is a summary of the point files.
    """
    directory = Path(out_dir)
    path = directory / "sweep.json"
    if not path.exists():
        raise FileNotFoundError(f"No sweep at {directory}: {path} is missing.")
    sweep = Sweep.from_description(_read_description(path), where=str(path))
    shape = sweep.shape
    points: dict[int, dict[str, np.ndarray]] = {}
    for i in range(sweep.size):
        p = point_path(directory, i)
        if p.exists():
            found = read_point(p)
            if found is not None:
                points[i] = found[0]
    failures = [
        {
            "index": i,
            "parameters": {k: jsonable(v) for k, v in sweep.parameters(i).items()},
            "error": error,
        }
        for i, error in recorded_failures(directory).items()
        if i not in points
    ]
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
        trailing = TRAILING_DIMS[obs]
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
