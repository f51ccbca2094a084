"""KL-annealing schedules beta(t), shared by the simulator and the ODE solver.

Symbols: t = step / N (training time), beta the weight of the KL term, beta_f its final
value, gamma the annealing rate, t0 a time shift.

Every schedule is a frozen dataclass, callable on a scalar or an array of times, returning
float64 values of the same shape. The simulator evaluates it once per chunk of SGD steps
(vectorized); the ODE solvers evaluate it at their times, in Python or in compiled code.

A schedule class owns everything a schedule means, so that the engines never switch on its
type and adding a schedule is one class in this file:

* its value ``schedule(t)`` and its final value ``final``;
* ``breakpoints``: the times where beta(t) kinks or jumps (the ODE solvers restart there);
* ``final_decay_rate``: the rate at which beta(t) - beta_f finally decays (``inf`` when
  beta_f is reached in finite time), and ``horizon``, after which beta(t) holds beta_f;
* ``compiled()``: its compiled form (`CompiledSchedule`, a kind code and a parameter array)
  that the compiled ODE integrator evaluates with the class's ``compiled_beta`` function;
* ``shifted(t0)``: the schedule ``t -> beta(t + t0)`` of a run restarted at time t0;
* ``label``: beta(t) in symbols (mathtext), for titles and legends;
* ``kind`` and ``describe()``: its name in JSON and TOML files, and its description there
  (`schedule_from_description`, `read_schedule`); ``cli_kind``, ``cli_options`` and
  ``cli_help``: its ``--anneal`` name and options on the command line
  (`schedule_from_options`).

The registries (`SCHEDULES`, `COMPILED_KINDS`, `CLI_KINDS`) are built from the classes as
they are defined.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from linvae.utils.validation import check_real

__all__ = [
    "CLI_KINDS",
    "COMPILED_KINDS",
    "SCHEDULES",
    "CallableSchedule",
    "CompiledSchedule",
    "Constant",
    "ExponentialAnneal",
    "LinearRamp",
    "Schedule",
    "Shifted",
    "StepSchedule",
    "Tabulated",
    "TanhAnneal",
    "as_schedule",
    "read_schedule",
    "schedule_from_description",
    "schedule_from_options",
]

#: Every schedule class by its ``kind`` (the name in JSON and TOML files), in definition order.
SCHEDULES: dict[str, type[Schedule]] = {}
#: The classes with a compiled form; a class's kind code is its index here.
COMPILED_KINDS: list[type[Schedule]] = []
#: The classes built from command-line options, by their ``--anneal`` name.
CLI_KINDS: dict[str, type[Schedule]] = {}


class CompiledSchedule(NamedTuple):
    """A schedule as compiled code sees it (`Schedule.compiled`).

    beta(t) is ``COMPILED_KINDS[kind].compiled_beta(values[1:], t + values[0])``: the first
    value is the schedule's time shift, the others its parameters.

    Attributes
    ----------
    kind : int
        Index of the schedule's class in `COMPILED_KINDS`.
    values : ndarray, shape (1 + n_parameters,)
        The time shift, then the parameters of ``compiled_beta``.
    breakpoints : ndarray, shape (n_breakpoints,)
        Increasing times where beta(t) kinks or jumps; the integration restarts there.
    """

    kind: int
    values: np.ndarray
    breakpoints: np.ndarray


class Schedule:
    """Base class of KL-weight schedules: ``schedule(t)`` gives beta at time(s) ``t``.

    Subclasses are frozen keyword-only dataclasses that define ``kind``, ``_evaluate`` (beta on
    an array of times) and ``final``; the other parts of a schedule have defaults (no
    breakpoints, beta_f reached in finite time, no compiled form, no command-line kind) that a
    subclass overrides where they do not hold.
    """

    #: Name in JSON and TOML descriptions.
    kind: ClassVar[str]
    #: Name of ``--anneal`` on the command line; None: not built from options.
    cli_kind: ClassVar[str | None] = None
    #: The command-line options the schedule takes besides ``--beta`` (its final value):
    #: option name (as in ``args``) -> (field, what the option is, for messages).
    cli_options: ClassVar[dict[str, tuple[str, str]]] = {}
    #: What ``--anneal cli_kind`` means, for the option's help.
    cli_help: ClassVar[str] = ""
    #: beta(t) of the compiled form: a function ``(parameters, t) -> beta`` in the subset of
    #: Python that numba compiles (``math`` and float arithmetic on an array); None: none.
    compiled_beta: ClassVar[Callable[[np.ndarray, float], float] | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            SCHEDULES[cls.kind] = cls
            if cls.__dict__.get("compiled_beta") is not None:
                COMPILED_KINDS.append(cls)
            if cls.__dict__.get("cli_kind") is not None:
                CLI_KINDS[cls.cli_kind] = cls

    def __call__(self, t):
        t_arr = np.asarray(t, dtype=np.float64)
        out = np.asarray(self._evaluate(t_arr), dtype=np.float64)
        out = np.broadcast_to(out, t_arr.shape).copy() if out.shape != t_arr.shape else out
        return float(out) if np.ndim(t) == 0 else out

    def _evaluate(self, t: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def final(self) -> float:
        """beta_f, the limit of beta(t) as t -> infinity."""
        raise NotImplementedError

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """Increasing times where beta(t) kinks or jumps (the ODE solvers restart there)."""
        return ()

    @property
    def final_decay_rate(self) -> float:
        """The rate r of the final approach ``|beta(t) - beta_f| ~ exp(-r t)``; ``inf`` when
        beta_f is reached in finite time."""
        return math.inf

    @property
    def horizon(self) -> float:
        """A time after which beta(t) holds beta_f (to 1e-8 relative for an exponential
        approach)."""
        return max((0.0, *self.breakpoints))

    @property
    def label(self) -> str:
        """beta(t) in symbols (mathtext), for titles and legends."""
        return rf"$\beta(t)$: {self.kind}"

    @property
    def has_compiled_form(self) -> bool:
        """Whether the compiled ODE integrator can evaluate this schedule."""
        return type(self).compiled_beta is not None

    def _compiled_parameters(self) -> tuple[float, ...]:
        """The parameters of ``compiled_beta``."""
        raise NotImplementedError

    def compiled(self) -> CompiledSchedule:
        """The compiled form: a kind code, the time shift and parameters, the breakpoints.

        Raises
        ------
        ValueError
            For a schedule without a compiled form (a Python callable).
        """
        if not self.has_compiled_form:
            raise ValueError(self._no_compiled_form())
        owner = next(c for c in type(self).__mro__ if c in COMPILED_KINDS)
        return CompiledSchedule(
            COMPILED_KINDS.index(owner),
            np.array([0.0, *self._compiled_parameters()], dtype=np.float64),
            np.array(self.breakpoints, dtype=np.float64),
        )

    def _no_compiled_form(self) -> str:
        return f"The schedule {self!r} has no compiled form."

    def shifted(self, t0: float) -> Schedule:
        """The schedule ``t -> beta(t + t0)``: this one seen from a run restarted at ``t0``.

        Examples
        --------
        >>> s = LinearRamp(beta_final=1.0, t_ramp=100.0).shifted(40.0)
        >>> s(0.0), s(60.0), s.breakpoints
        (0.4, 1.0, (60.0,))
        """
        t0 = check_real("t0", t0, f"{type(self).__name__}.shifted")
        return self if t0 == 0.0 else Shifted(schedule=self, t0=t0)

    def describe(self) -> dict:
        """JSON-able description: the kind and every parameter (`schedule_from_description`)."""
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}

    @classmethod
    def from_description(cls, params: dict) -> Schedule:
        """The schedule of a description's parameters (all keys but ``kind``)."""
        return cls(**params)

    @classmethod
    def example(cls) -> Schedule:
        """A typical instance (beta_f = 1.8, changing over t ~ 100 to 1000), for the docs and
        the tests that every schedule class passes."""
        raise NotImplementedError

    @classmethod
    def from_final(cls, beta_final: float, **params) -> Schedule:
        """The schedule with final value ``beta_final`` and the other fields ``params``."""
        return cls(beta_final=beta_final, **params)

    def _check(self, name: str, **bounds) -> None:
        """Validate the real parameter ``name`` in place (``check_real`` bounds)."""
        value = check_real(name, getattr(self, name), type(self).__name__, **bounds)
        object.__setattr__(self, name, value)


# --------------------------------------------------------------------------- compiled forms
# beta(t) of each compiled form, ``(p, t) -> beta`` with p the parameters: the compiled
# integrator compiles these functions with numba. Each computes the same floating-point
# operations as its class's ``_evaluate``, so that the two agree bit for bit.
def _constant_beta(p, t):
    return p[0]


def _tanh_beta(p, t):
    return p[0] * math.tanh(p[1] * t)


def _linear_beta(p, t):
    frac = min(max(t / p[1], 0.0), 1.0)
    return p[2] + (p[0] - p[2]) * frac


def _step_beta(p, t):
    return p[2] if t < p[1] else p[0]


def _tabulated_beta(p, t):
    # p = (n, t_0 .. t_{n-1}, v_0 .. v_{n-1})
    n = int(p[0])
    if n == 1 or t <= p[1]:
        return p[1 + n]
    if t >= p[n]:
        return p[2 * n]
    lo = 0
    hi = n - 1
    while hi - lo > 1:  # times[lo] <= t < times[hi]
        mid = (lo + hi) // 2
        if p[1 + mid] <= t:
            lo = mid
        else:
            hi = mid
    t_lo = p[1 + lo]
    v_lo = p[1 + n + lo]
    return v_lo + (p[2 + n + lo] - v_lo) * ((t - t_lo) / (p[2 + lo] - t_lo))


# --------------------------------------------------------------------------- schedules
@dataclass(frozen=True, kw_only=True)
class Constant(Schedule):
    """beta(t) = beta."""

    kind: ClassVar[str] = "constant"
    cli_kind: ClassVar[str | None] = "none"
    cli_help: ClassVar[str] = "none: constant beta"
    compiled_beta: ClassVar = staticmethod(_constant_beta)
    beta: float

    def __post_init__(self):
        self._check("beta", low=0.0, low_open=False)

    def _evaluate(self, t):
        return np.full(t.shape, self.beta)

    @property
    def final(self) -> float:
        return self.beta

    @property
    def label(self) -> str:
        return rf"$\beta = {self.beta:g}$"

    def _compiled_parameters(self):
        return (self.beta,)

    def shifted(self, t0: float) -> Schedule:
        check_real("t0", t0, "Constant.shifted")
        return self

    @classmethod
    def from_final(cls, beta_final: float, **params) -> Schedule:
        return cls(beta=beta_final, **params)

    @classmethod
    def example(cls) -> Schedule:
        return cls(beta=1.8)


@dataclass(frozen=True, kw_only=True)
class TanhAnneal(Schedule):
    """beta(t) = beta_final * tanh(gamma * t), the paper's schedule."""

    kind: ClassVar[str] = "tanh"
    cli_kind: ClassVar[str | None] = "tanh"
    cli_options: ClassVar[dict[str, tuple[str, str]]] = {"gamma": ("gamma", "the rate")}
    cli_help: ClassVar[str] = "tanh: beta tanh(gamma t)"
    compiled_beta: ClassVar = staticmethod(_tanh_beta)
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

    @property
    def final_decay_rate(self) -> float:
        # beta_f - beta(t) = beta_f (1 - tanh(gamma t)) ~ 2 beta_f exp(-2 gamma t)
        return 2.0 * self.gamma

    @property
    def horizon(self) -> float:
        # 1 - tanh(x) ~ 2 exp(-2 x) < 1e-8 beyond x = 10
        return 10.0 / self.gamma

    @property
    def label(self) -> str:
        factor = "" if self.beta_final == 1 else rf"{self.beta_final:g}\,"
        return rf"$\beta(t) = {factor}\tanh({self.gamma:g}\,t)$"

    def _compiled_parameters(self):
        return (self.beta_final, self.gamma)

    @classmethod
    def example(cls) -> Schedule:
        return cls(beta_final=1.8, gamma=0.004)


@dataclass(frozen=True, kw_only=True)
class LinearRamp(Schedule):
    """beta(t) = beta_initial + (beta_final - beta_initial) * min(t / t_ramp, 1)."""

    kind: ClassVar[str] = "linear"
    cli_kind: ClassVar[str | None] = "linear"
    cli_options: ClassVar[dict[str, tuple[str, str]]] = {"t_ramp": ("t_ramp", "the ramp length")}
    cli_help: ClassVar[str] = "linear: ramp to beta over --t-ramp"
    compiled_beta: ClassVar = staticmethod(_linear_beta)
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

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return (self.t_ramp,)

    @property
    def label(self) -> str:
        return (
            rf"$\beta(t)$ from ${self.beta_initial:g}$ to ${self.beta_final:g}$ linearly "
            rf"until $t = {self.t_ramp:g}$"
        )

    def _compiled_parameters(self):
        return (self.beta_final, self.t_ramp, self.beta_initial)

    @classmethod
    def example(cls) -> Schedule:
        return cls(beta_final=1.8, t_ramp=700.0, beta_initial=0.2)


@dataclass(frozen=True, kw_only=True)
class StepSchedule(Schedule):
    """beta(t) = beta_initial for t < t_switch, beta_final afterwards."""

    kind: ClassVar[str] = "step"
    cli_kind: ClassVar[str | None] = "step"
    cli_options: ClassVar[dict[str, tuple[str, str]]] = {"t_ramp": ("t_switch", "the switch time")}
    cli_help: ClassVar[str] = "step: 0 then beta from --t-ramp"
    compiled_beta: ClassVar = staticmethod(_step_beta)
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

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return (self.t_switch,)

    @property
    def label(self) -> str:
        return (
            rf"$\beta = {self.beta_initial:g}$, then ${self.beta_final:g}$ from "
            rf"$t = {self.t_switch:g}$"
        )

    def _compiled_parameters(self):
        return (self.beta_final, self.t_switch, self.beta_initial)

    @classmethod
    def example(cls) -> Schedule:
        return cls(beta_final=1.8, t_switch=400.0, beta_initial=0.3)


@dataclass(frozen=True, kw_only=True)
class Tabulated(Schedule):
    """Piecewise linear beta(t) through the points (times[k], values[k]).

    beta(t) = values[0] for t <= times[0], values[-1] for t >= times[-1], and in between
    ``v_k + (v_{k+1} - v_k) (t - t_k) / (t_{k+1} - t_k)`` on ``t_k <= t < t_{k+1}`` (exactly
    ``v_k`` at a knot). Any schedule can be tabulated; an optimal protocol is returned as one.

    Parameters
    ----------
    times : sequence of float, length n >= 1
        Strictly increasing, finite knots.
    values : sequence of float, length n
        beta at the knots, finite and >= 0.

    Examples
    --------
    >>> s = Tabulated(times=[0.0, 100.0, 300.0], values=[0.5, 1.0, 3.0])
    >>> s(50.0), s(200.0), s(1e6), s.final, s.breakpoints
    (0.75, 2.0, 3.0, 3.0, (0.0, 100.0, 300.0))
    """

    kind: ClassVar[str] = "tabulated"
    compiled_beta: ClassVar = staticmethod(_tabulated_beta)
    times: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self):
        owner = type(self).__name__
        arrays = {}
        for name in ("times", "values"):
            raw = getattr(self, name)
            try:
                arr = np.asarray(raw, dtype=np.float64)
            except (TypeError, ValueError):
                arr = None
            if arr is None or arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
                raise ValueError(
                    f"The `{name}` parameter of {owner} must be a non-empty sequence of finite "
                    f"real numbers. Got {raw!r}."
                )
            arrays[name] = arr
        times, values = arrays["times"], arrays["values"]
        if times.size != values.size:
            raise ValueError(
                f"The `values` parameter of {owner} must have one value per time "
                f"({times.size}). Got {values.size} values."
            )
        if np.any(np.diff(times) <= 0):
            k = int(np.argmax(np.diff(times) <= 0))
            raise ValueError(
                f"The `times` parameter of {owner} must be strictly increasing. Got "
                f"times[{k}] = {times[k]:g} >= times[{k + 1}] = {times[k + 1]:g}."
            )
        if np.any(values < 0):
            k = int(np.argmax(values < 0))
            raise ValueError(
                f"The `values` parameter of {owner} must be >= 0 (beta is a weight). Got "
                f"values[{k}] = {values[k]:g}."
            )
        object.__setattr__(self, "times", tuple(float(x) for x in times))
        object.__setattr__(self, "values", tuple(float(x) for x in values))

    def _evaluate(self, t):
        times = np.asarray(self.times)
        values = np.asarray(self.values)
        if times.size == 1:
            return np.full(t.shape, values[0])
        k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, times.size - 2)
        t_lo, v_lo = times[k], values[k]
        inside = v_lo + (values[k + 1] - v_lo) * ((t - t_lo) / (times[k + 1] - t_lo))
        return np.where(t <= times[0], values[0], np.where(t >= times[-1], values[-1], inside))

    @property
    def final(self) -> float:
        return self.values[-1]

    @property
    def breakpoints(self) -> tuple[float, ...]:
        # The knots where the slope changes (0 outside the table).
        times, values = np.asarray(self.times), np.asarray(self.values)
        slopes = np.concatenate([[0.0], np.diff(values) / np.diff(times), [0.0]])
        return tuple(float(x) for x in times[slopes[1:] != slopes[:-1]])

    @property
    def horizon(self) -> float:
        return max(0.0, self.times[-1])

    @property
    def label(self) -> str:
        return (
            rf"$\beta(t)$ piecewise linear on {len(self.times)} knots, from "
            rf"${self.values[0]:g}$ to ${self.values[-1]:g}$ at $t = {self.times[-1]:g}$"
        )

    def _compiled_parameters(self):
        return (float(len(self.times)), *self.times, *self.values)

    def describe(self) -> dict:
        return {"kind": self.kind, "times": list(self.times), "values": list(self.values)}

    @classmethod
    def example(cls) -> Schedule:
        return cls(times=[0.0, 150.0, 400.0, 900.0], values=[0.2, 0.3, 1.5, 1.8])


def _exponential_beta(p, t):
    return p[0] - (p[0] - p[2]) * math.exp(-p[1] * t)


@dataclass(frozen=True, kw_only=True)
class ExponentialAnneal(Schedule):
    """beta(t) = beta_final - (beta_final - beta_initial) * exp(-gamma * t).

    An exponential warm-up from beta_initial (0 by default) to beta_final: the same final
    approach as ``TanhAnneal`` at half its rate, with the steepest slope at t = 0.

    Examples
    --------
    >>> s = ExponentialAnneal(beta_final=2.0, gamma=0.01)
    >>> round(s(100.0), 6), s.final_decay_rate
    (1.264241, 0.01)
    """

    kind: ClassVar[str] = "exponential"
    cli_kind: ClassVar[str | None] = "exponential"
    cli_options: ClassVar[dict[str, tuple[str, str]]] = {"gamma": ("gamma", "the rate")}
    cli_help: ClassVar[str] = "exponential: beta (1 - exp(-gamma t))"
    compiled_beta: ClassVar = staticmethod(_exponential_beta)
    beta_final: float
    gamma: float
    beta_initial: float = 0.0

    def __post_init__(self):
        self._check("beta_final", low=0.0, low_open=False)
        self._check("beta_initial", low=0.0, low_open=False)
        self._check("gamma", low=0.0)

    def _evaluate(self, t):
        return self.beta_final - (self.beta_final - self.beta_initial) * np.exp(-self.gamma * t)

    @property
    def final(self) -> float:
        return self.beta_final

    @property
    def final_decay_rate(self) -> float:
        return self.gamma

    @property
    def horizon(self) -> float:
        # exp(-gamma t) < 1e-8 beyond gamma t = ln 1e8
        return math.log(1e8) / self.gamma

    @property
    def label(self) -> str:
        drop = self.beta_final - self.beta_initial
        if self.beta_initial == 0:
            factor = "" if self.beta_final == 1 else rf"{self.beta_final:g}\,"
            return rf"$\beta(t) = {factor}(1 - e^{{-{self.gamma:g}\,t}})$"
        return rf"$\beta(t) = {self.beta_final:g} - {drop:g}\,e^{{-{self.gamma:g}\,t}}$"

    def _compiled_parameters(self):
        return (self.beta_final, self.gamma, self.beta_initial)

    @classmethod
    def example(cls) -> Schedule:
        return cls(beta_final=1.8, gamma=0.004)


@dataclass(frozen=True, kw_only=True)
class Shifted(Schedule):
    """beta(t) = schedule(t + t0): a schedule seen from a run restarted at time t0.

    Made by `Schedule.shifted`. It keeps everything of the schedule it shifts: its
    breakpoints (moved by -t0), its final value and rate, and its compiled form (with the
    shift inside).
    """

    kind: ClassVar[str] = "shifted"
    schedule: Schedule
    t0: float

    def __post_init__(self):
        if not isinstance(self.schedule, Schedule):
            raise ValueError(
                f"The `schedule` parameter of Shifted must be a Schedule. Got {self.schedule!r}."
            )
        self._check("t0")

    def _evaluate(self, t):
        return self.schedule(t + self.t0)

    @property
    def final(self) -> float:
        return self.schedule.final

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return tuple(b - self.t0 for b in self.schedule.breakpoints)

    @property
    def final_decay_rate(self) -> float:
        return self.schedule.final_decay_rate

    @property
    def horizon(self) -> float:
        return max(0.0, self.schedule.horizon - self.t0)

    @property
    def label(self) -> str:
        return rf"{self.schedule.label} from $t = {self.t0:g}$"

    @property
    def has_compiled_form(self) -> bool:
        return self.schedule.has_compiled_form

    def compiled(self) -> CompiledSchedule:
        inner = self.schedule.compiled()
        values = inner.values.copy()
        values[0] += self.t0
        return CompiledSchedule(inner.kind, values, inner.breakpoints - self.t0)

    def shifted(self, t0: float) -> Schedule:
        t0 = check_real("t0", t0, "Shifted.shifted")
        return self if t0 == 0.0 else Shifted(schedule=self.schedule, t0=self.t0 + t0)

    def describe(self) -> dict:
        return {"kind": self.kind, "schedule": self.schedule.describe(), "t0": self.t0}

    @classmethod
    def from_description(cls, params: dict) -> Schedule:
        inner = params.get("schedule")
        if not isinstance(inner, dict):
            raise ValueError(
                "A shifted schedule's description needs `schedule`, the description of the "
                f"schedule it shifts. Got {inner!r}."
            )
        return cls(schedule=schedule_from_description(inner), t0=params.get("t0"))

    @classmethod
    def example(cls) -> Schedule:
        return cls(schedule=LinearRamp.example(), t0=250.0)


@dataclass(frozen=True, kw_only=True)
class CallableSchedule(Schedule):
    """Any user function of t. It is tried on an array of times first, then elementwise.

    ``final`` is the value at t = 1e12 unless ``final_value`` is given. It runs wherever beta
    is evaluated in Python (the simulator, `scipy.integrate` solvers) but has no compiled
    form, no breakpoints and no known final decay rate: tabulate it (`Tabulated`) for the
    compiled integrator.
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

    @property
    def horizon(self) -> float:
        raise ValueError(
            f"The schedule {self.name!r} is a Python callable: when it reaches its final value "
            "is unknown. Tabulate it (linvae.schedules.Tabulated) or use a library schedule."
        )

    @property
    def label(self) -> str:
        return rf"$\beta(t)$: {self.name}"

    def _no_compiled_form(self) -> str:
        return (
            f"The schedule {self.name!r} is a Python callable, which compiled code cannot call: "
            "it has no compiled form. Tabulate it (linvae.schedules.Tabulated, e.g. on a few "
            "hundred knots) or use a library schedule, or use a scipy solver "
            "(solve_ode(..., method='DOP853'))."
        )

    def describe(self) -> dict:
        return {"kind": self.kind, "name": self.name, "final": self.final}

    @classmethod
    def from_description(cls, params: dict) -> Schedule:
        warnings.warn(
            f"The schedule {params.get('name', 'callable')!r} was a Python callable and cannot "
            f"be rebuilt from a file; using a constant beta = {params['final']:g} (its final "
            "value).",
            stacklevel=3,
        )
        return Constant(beta=params["final"])

    @classmethod
    def example(cls) -> Schedule:
        return cls(func=_example_function, final_value=1.8, name="1.8 (1 - exp(-t / 300))")


def _example_function(t):
    return 1.8 * (1.0 - np.exp(-np.asarray(t) / 300.0))


# --------------------------------------------------------------------------- constructors
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
    """Inverse of ``Schedule.describe``: the schedule of a dict such as ``{"kind": "tanh",
    "beta_final": 1.0, "gamma": 0.01}``.

    A user callable cannot be rebuilt from its description: a `Constant` at its final
    value stands in for it, with a warning.

    Examples
    --------
    >>> schedule_from_description({"kind": "tabulated", "times": [0, 10], "values": [0, 1]})
    Tabulated(times=(0.0, 10.0), values=(0.0, 1.0))
    """
    if not isinstance(desc, dict):
        raise ValueError(
            f"A schedule description must be a dict with a `kind` (one of {sorted(SCHEDULES)}). "
            f"Got {desc!r}."
        )
    kind = desc.get("kind")
    if kind not in SCHEDULES:
        raise ValueError(
            f"Cannot rebuild a schedule of kind {kind!r} from its description: the `kind` must "
            f"be one of {sorted(SCHEDULES)}."
        )
    params = {k: v for k, v in desc.items() if k != "kind"}
    return SCHEDULES[kind].from_description(params)


def read_schedule(path: str | Path) -> Schedule:
    """The schedule described in a JSON file (the ``--schedule file.json`` of the command line).

    The file holds one description (`Schedule.describe`), for example
    ``{"kind": "tabulated", "times": [0, 500, 2000], "values": [0.2, 0.2, 1.8]}`` or
    ``{"kind": "tanh", "beta_final": 1.8, "gamma": 0.002}``, or a result that holds one under
    ``"schedule"`` (the ``--out`` file of ``linvae protocol``), whose schedule is read.

    Raises
    ------
    ValueError
        If the file cannot be read, is not JSON, or does not describe a schedule; the message
        names the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(
            f"The `path` parameter of read_schedule must name a readable JSON file. Got "
            f"{str(path)!r} ({err.strerror or err})."
        ) from None
    try:
        desc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"The schedule file {str(path)!r} is not valid JSON: {err}. Write one description, "
            'e.g. {"kind": "tabulated", "times": [0, 1000], "values": [0.2, 1.8]}.'
        ) from None
    if isinstance(desc, dict) and "kind" not in desc and isinstance(desc.get("schedule"), dict):
        desc = desc["schedule"]  # a result file: its schedule
    try:
        return schedule_from_description(desc)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"The schedule file {str(path)!r} does not describe a schedule: {err}"
        ) from None


def schedule_from_options(kind: str, beta: float, **options: Any) -> Schedule:
    """The schedule of the command line's ``--anneal kind`` with final value ``beta``.

    ``options`` are every schedule option of the command line by name (``gamma``, ``t_ramp``),
    None where not given; each schedule class says which ones it takes (``cli_options``).

    Raises
    ------
    ValueError
        For an unknown kind, a missing option, or an option that the kind does not take (the
        message names the option and the fix).

    Examples
    --------
    >>> schedule_from_options("step", 1.0, gamma=None, t_ramp=50.0)
    StepSchedule(beta_final=1.0, t_switch=50.0, beta_initial=0.0)
    """
    if kind not in CLI_KINDS:
        raise ValueError(f"--anneal must be one of {', '.join(CLI_KINDS)}. Got {kind!r}.")
    cls = CLI_KINDS[kind]
    for option, value in options.items():
        if value is not None and option not in cls.cli_options:
            users = [(k, c.cli_options[option][1]) for k, c in CLI_KINDS.items()
                     if option in c.cli_options]  # fmt: skip
            flag = "--" + option.replace("_", "-")
            kinds = " or ".join(k for k, _ in users)
            whats = list(dict.fromkeys(w for _, w in users))
            if len(whats) == 1:
                meaning = f"is {whats[0]} of --anneal {kinds}"
            else:
                meaning = f"belongs to --anneal {kinds} ({' or '.join(whats)})"
            raise ValueError(
                f"{flag} {meaning}; it has no meaning with --anneal {kind}. Add --anneal "
                f"{users[0][0]} or drop {flag}."
            )
    params = {}
    for option, (field, what) in cls.cli_options.items():
        if options.get(option) is None:
            flag = "--" + option.replace("_", "-")
            raise ValueError(f"--anneal {kind} needs {flag} ({what}; {cls.cli_help}).")
        params[field] = options[option]
    return cls.from_final(beta, **params)
