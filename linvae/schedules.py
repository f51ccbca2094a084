"""KL-annealing schedules beta(t), shared by the simulator and the ODE solver.

Symbols: t = step / N (training time), beta the weight of the KL term, beta_f its final
value, gamma the annealing rate.

Every schedule is a frozen dataclass, callable on a scalar or an array of times, returning
float64 values of the same shape. The simulator evaluates it once per SGD step (vectorized over
a chunk of steps); the ODE evaluates it at the solver's times.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from linvae.utils.validation import check_real

__all__ = [
    "CallableSchedule",
    "Constant",
    "LinearRamp",
    "Schedule",
    "StepSchedule",
    "TanhAnneal",
    "as_schedule",
    "schedule_from_description",
]


class Schedule:
    """Base class of KL-weight schedules: ``schedule(t)`` gives beta at time(s) ``t``."""

    def __call__(self, t):
        t_arr = np.asarray(t, dtype=np.float64)
        out = np.asarray(self._evaluate(t_arr), dtype=np.float64)
        out = np.broadcast_to(out, t_arr.shape).copy() if out.shape != t_arr.shape else out
        return float(out) if np.ndim(t) == 0 else out

    def _evaluate(self, t: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def final(self) -> float:
        """The limit of beta(t) as t -> infinity."""
        raise NotImplementedError

    kind: ClassVar[str]

    def describe(self) -> dict:
        """JSON-able description: the kind and every parameter."""
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}

    def _check(self, name: str, **bounds) -> None:
        """Validate the real parameter ``name`` in place (``check_real`` bounds)."""
        value = check_real(name, getattr(self, name), type(self).__name__, **bounds)
        object.__setattr__(self, name, value)


@dataclass(frozen=True, kw_only=True)
class Constant(Schedule):
    """beta(t) = beta."""

    kind: ClassVar[str] = "constant"
    beta: float

    def __post_init__(self):
        self._check("beta", low=0.0, low_open=False)

    def _evaluate(self, t):
        return np.full(t.shape, self.beta)

    @property
    def final(self) -> float:
        return self.beta


@dataclass(frozen=True, kw_only=True)
class TanhAnneal(Schedule):
    """beta(t) = beta_final * tanh(gamma * t), the paper's schedule."""

    kind: ClassVar[str] = "tanh"
    beta_final: float
    gamma: float

    def __post_init__(self):
        self._check("beta_final", low=0.0, low_open=False)
        self._check("gamma", low=0.0)

    def _evaluate(self, t):
        return self.beta_final * np.tanh(self.gamma * t)

    @property
    def final(self) -> float:
        return self.beta_final


@dataclass(frozen=True, kw_only=True)
class LinearRamp(Schedule):
    """beta(t) = beta_initial + (beta_final - beta_initial) * min(t / t_ramp, 1)."""

    kind: ClassVar[str] = "linear"
    beta_final: float
    t_ramp: float
    beta_initial: float = 0.0

    def __post_init__(self):
        self._check("beta_final", low=0.0, low_open=False)
        self._check("beta_initial", low=0.0, low_open=False)
        self._check("t_ramp", low=0.0)

    def _evaluate(self, t):
        frac = np.clip(t / self.t_ramp, 0.0, 1.0)
        return self.beta_initial + (self.beta_final - self.beta_initial) * frac

    @property
    def final(self) -> float:
        return self.beta_final


@dataclass(frozen=True, kw_only=True)
class StepSchedule(Schedule):
    """beta(t) = beta_initial for t < t_switch, beta_final afterwards."""

    kind: ClassVar[str] = "step"
    beta_final: float
    t_switch: float
    beta_initial: float = 0.0

    def __post_init__(self):
        self._check("beta_final", low=0.0, low_open=False)
        self._check("beta_initial", low=0.0, low_open=False)
        self._check("t_switch", low=0.0, low_open=False)

    def _evaluate(self, t):
        return np.where(t < self.t_switch, self.beta_initial, self.beta_final)

    @property
    def final(self) -> float:
        return self.beta_final


@dataclass(frozen=True, kw_only=True)
class CallableSchedule(Schedule):
    """Any user function of t. It is tried on an array of times first, then elementwise.

    ``final`` is the value at ``t_final`` (default 1e12) unless given.
    """

    kind: ClassVar[str] = "callable"
    func: Callable[[float], float]
    final_value: float | None = None
    name: str = "callable"

    def __post_init__(self):
        if not callable(self.func):
            raise ValueError(
                f"The `func` parameter of CallableSchedule must be callable. Got {self.func!r}."
            )

    def _evaluate(self, t):
        try:
            out = np.asarray(self.func(t), dtype=np.float64)
            if out.shape != t.shape:
                raise ValueError
        except Exception:
            out = np.array([float(self.func(float(s))) for s in t.ravel()]).reshape(t.shape)
        if not np.all(np.isfinite(out)) or np.any(out < 0):
            raise ValueError(
                f"The schedule {self.name!r} must return finite beta >= 0; got values in "
                f"[{np.nanmin(out):g}, {np.nanmax(out):g}] on t in [{t.min():g}, {t.max():g}]."
            )
        return out

    @property
    def final(self) -> float:
        if self.final_value is not None:
            return float(self.final_value)
        return float(self(1e12))

    def describe(self) -> dict:
        return {"kind": self.kind, "name": self.name, "final": self.final}


def as_schedule(beta: float | Schedule | Callable, owner: str = "Model") -> Schedule:
    """Normalize a number, a Schedule or a callable of t to a Schedule."""
    if isinstance(beta, Schedule):
        return beta
    if callable(beta):
        return CallableSchedule(func=beta, name=getattr(beta, "__name__", "callable"))
    try:
        return Constant(beta=check_real("beta", beta, owner, low=0.0, low_open=False))
    except ValueError:
        raise ValueError(
            f"The `beta` parameter of {owner} must be a real number >= 0, a Schedule or a "
            f"callable of t. Got {beta!r}."
        ) from None


def schedule_from_description(desc: dict) -> Schedule:
    """Inverse of ``Schedule.describe``.

    A user callable cannot be rebuilt from its description: a `Constant` at its final
    value stands in for it, with a warning.
    """
    kind = desc.get("kind")
    if kind == "callable":
        warnings.warn(
            f"The schedule {desc.get('name', 'callable')!r} was a Python callable and cannot be "
            f"rebuilt from a file; using a constant beta = {desc['final']:g} (its final value).",
            stacklevel=2,
        )
        return Constant(beta=desc["final"])
    params = {k: v for k, v in desc.items() if k != "kind"}
    classes = {
        "constant": Constant,
        "tanh": TanhAnneal,
        "linear": LinearRamp,
        "step": StepSchedule,
    }
    if kind not in classes:
        raise ValueError(f"Cannot rebuild a schedule of kind {kind!r} from its description.")
    return classes[kind](**params)
