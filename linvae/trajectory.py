"""Trajectories of order parameters: the common result type of SGD and ODE runs.

Symbols
-------
t               training time, step / N (the recording grid: `time_grid`)
N               input dimension (one SGD step advances t by 1/N)
S               number of seeds (the leading axis of every array; 1 for an ODE solution)
m, d, Q, E, R, D, eps_g
                order parameters and generalization error, as in `linvae.observables`
T_matrix        W_star^T W_star / N
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from linvae.observables import (
    ORDER_PARAMETER_NAMES,
    OrderParameters,
    generalization_error,
)
from linvae.params import Model
from linvae.utils.io import atomic_write, load_npz
from linvae.utils.validation import check_array, check_real

__all__ = ["FinalWeights", "Trajectory", "time_grid"]

OBSERVABLE_NAMES = (*ORDER_PARAMETER_NAMES, "eps_g")


def time_grid(
    t_max: float,
    dt: float = 1.0,
    *,
    N: int | None = None,
    t_eval: np.ndarray | None = None,
    owner: str = "time_grid",
) -> np.ndarray:
    """The recording grid ``0, dt, 2 dt, ..., t_max`` (t_max included), in units t = step / N.

    The grid is ``k dt`` for k = 0, 1, ... while ``k dt <= t_max``, with ``t_max`` appended
    when it is not a multiple of ``dt``. Given ``N``, every time is rounded to the nearest
    SGD step, ``t = round(t N) / N``: the times at which `linvae.sgd.simulator.simulate`
    records, which an ODE solution must use to be compared with a run point by point.

    Parameters
    ----------
    t_max : float
        Last time, > 0.
    dt : float
        Spacing, > 0; at least one SGD step (1/N) when ``N`` is given. Ignored when ``t_eval``
        is given.
    N : int, optional
        Input dimension: round to SGD steps and check that no two times fall within one step.
    t_eval : array, optional
        Explicit increasing times in [0, t_max], used instead of the ``dt`` grid (and rounded
        to SGD steps when ``N`` is given).
    owner : str
        The function named in error messages (the caller that received ``t_max``, ``dt``).

    Returns
    -------
    t : ndarray, shape (T,)
        Increasing times.

    Raises
    ------
    ValueError
        ``t_max`` or ``dt`` out of range, ``t_eval`` not increasing in [0, t_max], or two
        times within one SGD step.

    Examples
    --------
    >>> time_grid(7, 2)
    array([0., 2., 4., 6., 7.])
    >>> time_grid(1, 0.3, N=10)
    array([0. , 0.3, 0.6, 0.9, 1. ])
    """
    t_max = check_real("t_max", t_max, owner, low=0.0)
    if t_eval is None:
        dt = check_real("dt", dt, owner, low=0.0)
        if N is not None and dt * N < 1.0 - 1e-9:
            raise ValueError(
                f"The `dt` parameter of {owner} must be at least 1/N = {1 / N:g} (one SGD "
                f"step). Got {dt!r}."
            )
        n = math.floor(t_max / dt + 1e-9)
        t = np.arange(n + 1) * dt
        if t[-1] < t_max - 1e-9 * max(1.0, t_max):
            t = np.append(t, t_max)
    else:
        t = check_array("t_eval", t_eval, owner, shape=(None,))
        if t.size == 0 or np.any(t < 0) or np.any(np.diff(t) <= 0) or t[-1] > t_max + 1e-12:
            raise ValueError(
                f"The `t_eval` parameter of {owner} must be a non-empty increasing array in "
                f"[0, t_max]. Got {t_eval!r}."
            )
    if N is None:
        return t
    steps = np.rint(t * N).astype(np.int64)
    if np.any(np.diff(steps) <= 0):
        raise ValueError(
            f"The recording grid of {owner} has two times within one SGD step (1/N = {1 / N:g})."
            " Use a coarser `dt` or `t_eval`."
        )
    return steps / N


@dataclass(frozen=True)
class FinalWeights:
    """Weights at the end of a run, one entry per seed: W, V (S, N, M), D (S, M)."""

    W: np.ndarray
    V: np.ndarray
    D: np.ndarray
    W_star: np.ndarray


@dataclass(frozen=True, kw_only=True)
class Trajectory:
    """Order parameters and eps_g on a time grid, with a leading seed axis.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times (step / N).
    m, d : ndarray, shape (S, T, M, M_star)
    Q, E, R : ndarray, shape (S, T, M, M)
    D : ndarray, shape (S, T, M)
    eps_g : ndarray, shape (S, T)
        Generalization error, computed by `linvae.observables.generalization_error`.
    model : Model
        The model the run used.
    source : {"sgd", "ode"}
        Which side produced it; an ODE solution has S = 1.
    N : int or None
        Input dimension (None for the ODE).
    T_matrix : ndarray, shape (M_star, M_star)
        W_star^T W_star / N.
    meta : dict
        Everything else the run was given (seed, tau_D, grid, library version, ...), JSON-able.
    weights : FinalWeights or None
        Final weights, when asked for.
    """

    t: np.ndarray
    m: np.ndarray
    d: np.ndarray
    Q: np.ndarray
    E: np.ndarray
    R: np.ndarray
    D: np.ndarray
    eps_g: np.ndarray
    model: Model
    source: Literal["sgd", "ode"]
    N: int | None = None
    T_matrix: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    weights: FinalWeights | None = None

    @classmethod
    def from_order_parameters(
        cls,
        t: np.ndarray,
        op: OrderParameters,
        *,
        model: Model,
        source: Literal["sgd", "ode"],
        N: int | None = None,
        T_matrix: np.ndarray | None = None,
        meta: dict | None = None,
        weights: FinalWeights | None = None,
    ) -> Trajectory:
        """Build a trajectory from order parameters of shape (S, T, ...), computing eps_g."""
        T_matrix = np.eye(model.M_star) if T_matrix is None else np.asarray(T_matrix)
        eps = generalization_error(op.m, op.Q, model.rho_vector, T=T_matrix)
        return cls(
            t=np.asarray(t, dtype=np.float64),
            **op.as_dict(),
            eps_g=eps,
            model=model,
            source=source,
            N=N,
            T_matrix=T_matrix,
            meta=dict(meta or {}),
            weights=weights,
        )

    @property
    def n_seeds(self) -> int:
        return self.m.shape[0]

    def order_parameters(self) -> OrderParameters:
        return OrderParameters(**{name: getattr(self, name) for name in ORDER_PARAMETER_NAMES})

    def at(self, index: int) -> OrderParameters:
        """Order parameters of every seed at time index ``index`` (shapes (S, ...))."""
        return OrderParameters(
            **{name: getattr(self, name)[:, index] for name in ORDER_PARAMETER_NAMES}
        )

    def mean(self, name: str = "eps_g") -> np.ndarray:
        """Mean over seeds of an observable."""
        return getattr(self, name).mean(axis=0)

    def std(self, name: str = "eps_g") -> np.ndarray:
        """Standard deviation over seeds (ddof = 1 when there are >= 2 seeds, else zeros)."""
        arr = getattr(self, name)
        if arr.shape[0] < 2:
            return np.zeros(arr.shape[1:])
        return arr.std(axis=0, ddof=1)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Write an ``.npz`` with arrays ``t, m, d, Q, E, R, D, eps_g`` (seed axis first) and the
        run's parameters as JSON in the ``metadata`` entry.

        Written atomically (`linvae.utils.io.atomic_write`), at ``path`` exactly (no
        suffix is added); a symlink is written through to its target and stays a link, and a
        replaced file keeps its permissions. A read-only file at ``path`` is refused
        (``PermissionError``) unless ``force``. Returns the path.
        """
        metadata = {
            "model": self.model.describe(),
            "source": self.source,
            "N": self.N,
            "meta": self.meta,
        }
        arrays = {name: getattr(self, name) for name in OBSERVABLE_NAMES}
        arrays["T_matrix"] = self.T_matrix
        if self.weights is not None:
            arrays.update(
                W=self.weights.W,
                V=self.weights.V,
                D_final=self.weights.D,
                W_star=self.weights.W_star,
            )
        metadata_arr = np.array(json.dumps(metadata))
        return atomic_write(
            path,
            lambda handle: np.savez(handle, t=self.t, metadata=metadata_arr, **arrays),
            force=force,
        )

    @classmethod
    def load(cls, path: str | Path) -> Trajectory:
        """Read a file written by `save`.

        The run's model and KL schedule come back with it (``model``), as do ``N`` and
        ``meta`` (seed, tau_D, grid, ...). A file written before every model field was stored
        gets the missing fields at the defaults of `Model`, with a
        warning that names them.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ValueError
            If the file is not a trajectory written by `save` (truncated, not an
            ``.npz``, arrays or metadata missing or of the wrong shape); the message names
            the file.
        """
        path = Path(path)
        data = load_npz(path)
        missing = [n for n in ("t", *OBSERVABLE_NAMES, "metadata") if n not in data]
        if missing:
            raise ValueError(
                f"{path} is not a linvae trajectory (a run of `linvae simulate` or a solution "
                f"of `linvae ode`): missing arrays {missing}."
            )
        try:
            metadata = json.loads(str(data["metadata"]))
            if not isinstance(metadata, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:
            raise ValueError(f"{path}: its metadata entry is not readable ({err}).") from None
        model = _model_from_metadata(metadata, path)
        arrays = {name: np.asarray(data[name]) for name in ("t", *OBSERVABLE_NAMES)}
        _check_shapes(arrays, model, path)
        weights = None
        if "W" in data:
            weights = FinalWeights(
                W=data["W"], V=data["V"], D=data["D_final"], W_star=data["W_star"]
            )
        source = metadata.get("source", "sgd")
        if source not in ("sgd", "ode"):
            raise ValueError(f"{path}: unknown source {source!r} (expected 'sgd' or 'ode').")
        return cls(
            **arrays,
            model=model,
            source=source,
            N=metadata.get("N"),
            T_matrix=data.get("T_matrix"),
            meta=dict(metadata.get("meta") or {}),
            weights=weights,
        )


def _model_from_metadata(metadata: dict, path: Path) -> Model:
    """The Model recorded in a file's metadata; missing fields at their defaults (warned)."""
    desc = metadata.get("model")
    if not isinstance(desc, dict):
        raise ValueError(
            f"{path} records no model (its metadata has no 'model' entry); it was not written "
            "by Trajectory.save. Simulate it again with `linvae simulate`."
        )
    defaults = Model().describe()
    missing = [k for k in defaults if k not in desc]
    unknown = sorted(set(desc) - set(defaults))
    if unknown:
        raise ValueError(f"{path}: unknown model fields {unknown} in its metadata.")
    if missing:
        warnings.warn(
            f"{path} was written without the model fields {missing}; they are taken at their "
            f"defaults ({', '.join(f'{k} = {defaults[k]}' for k in missing)}). Pass them "
            "explicitly if the run used other values.",
            stacklevel=3,
        )
    try:
        return Model.from_description({**defaults, **desc})
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: its model cannot be rebuilt ({err}).") from None


def _check_shapes(arrays: dict, model: Model, path: Path) -> None:
    """Check that a file's arrays have the shapes of its model (seed axis first)."""
    t = arrays["t"]
    M, M_star = model.M, model.M_star
    trailing = {"m": (M, M_star), "d": (M, M_star), "Q": (M, M), "E": (M, M), "R": (M, M)}
    trailing.update(D=(M,), eps_g=())
    S = arrays["eps_g"].shape[0] if arrays["eps_g"].ndim == 2 else None
    for name, tail in trailing.items():
        arr = arrays[name]
        want = (S, t.size, *tail)
        if t.ndim != 1 or S is None or arr.shape != want or arr.dtype.kind not in "fiu":
            raise ValueError(
                f"{path}: the array {name!r} has shape {arr.shape} and dtype {arr.dtype}; a "
                f"trajectory of M = {M}, M_star = {M_star} with {t.size} times needs shape "
                f"(seeds, {t.size}{''.join(f', {k}' for k in tail)}) of floats."
            )
