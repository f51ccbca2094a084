"""The sweep file: one schema for every key, its type and its range, checked before any work.

A sweep file is a TOML file (see the sweeps page, ``docs/sweeps.md``) holding either a
``[grid]`` table (a `linvae.sweep.Sweep`) or a ``[finite_size]`` table (the finite-size-scaling
sweep of `linvae.analysis.finite_size.finite_size_scaling`). `read_sweep_toml` parses it and
`check_description` checks the whole of it at once: unknown keys (named, with the closest
allowed name), tables where values go and values where tables go, types, ranges, the ``[ode]``
solver options and every grid value. A bad file is refused with one line that names the file,
the key and the fix, before a single point runs. ``Sweep.from_description`` applies the same
schema to a description given in Python or read from a ``sweep.json``.

The schema is data: `TOP_LEVEL`, `MODEL_TABLE`, `ODE_TABLE` and `FINITE_SIZE_TABLE` map each
key to its spec, and a grid axis takes the spec of the parameter it sweeps. What the schema
cannot see alone (a swept schedule parameter the base schedule lacks, ``M > N`` at some point,
a recording interval shorter than one SGD step) is checked by `linvae.sweep.Sweep` itself.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from linvae.params import Model
from linvae.schedules import SCHEDULES
from linvae.theory.solve import COMPILED_METHOD, METHODS
from linvae.trajectory import OBSERVABLE_NAMES

__all__ = [
    "FINITE_SIZE_TABLE",
    "MODEL_PARAMETERS",
    "MODEL_TABLE",
    "ODE_TABLE",
    "RUN_PARAMETERS",
    "SCHEDULE_PARAMETERS",
    "TOP_LEVEL",
    "check_description",
    "check_model_table",
    "check_ode_options",
    "read_sweep_toml",
]

MODEL_PARAMETERS = ("M", "M_star", "rho", "eta", "beta", "lam", "tau")
SCHEDULE_PARAMETERS = ("beta_final", "gamma", "t_ramp", "t_switch", "beta_initial")
RUN_PARAMETERS = ("N", "t_max", "dt", "n_seeds", "tau_D", "W_star")
REPLICATE = "replicate"

# Every schedule a file can describe: the library's, built from the classes (a Python
# function cannot be written in a file).
_SCHEDULES = {kind: cls for kind, cls in SCHEDULES.items() if kind != "callable"}


class SchemaError(ValueError):
    """A value that does not fit its spec: what was required, the value, and the fix. The key
    that holds the value is added by `Spec.validate`."""

    def __init__(self, requirement: str, value: Any, fix: str = ""):
        super().__init__(requirement)
        self.requirement, self.value, self.fix = requirement, value, fix


def _describe(value: Any) -> str:
    """A value as a message shows it: "the string 'eps_g'", "the integer 5", "a table"."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Integral):
        return f"the integer {value}"
    if isinstance(value, Real):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return f"a table with keys {sorted(value)}" if value else "an empty table"
    if isinstance(value, list | tuple):
        return f"the list {list(value)!r}" if value else "an empty list"
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------- value specs
@dataclass(frozen=True)
class Spec:
    """What one key holds.

    A value spec overrides ``check``, which returns the value (normalized) or raises
    `SchemaError`; `validate` turns that into the one-line message naming the key. A spec of
    a table overrides `validate` itself, to name the keys inside it.
    """

    def check(self, value: Any) -> Any:
        return value

    def validate(self, value: Any, key: str) -> Any:
        """``value`` checked, or ValueError "`key` must be ..., got ... . <fix>"."""
        try:
            return self.check(value)
        except SchemaError as err:
            text = f"`{key}` must be {err.requirement}, got {_describe(err.value)}."
            raise ValueError(f"{text} {err.fix}".rstrip()) from None


@dataclass(frozen=True)
class RealSpec(Spec):
    """A finite real number in an interval."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = True
    optional: bool = False

    def check(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        interval = f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g})"
        need = f"a real number in {interval}"
        if isinstance(value, bool) or not isinstance(value, Real):
            raise SchemaError(need, value)
        x = float(value)
        if math.isnan(x) or (x <= self.low if self.low_open else x < self.low) or x >= self.high:
            raise SchemaError(need, value)
        return value


@dataclass(frozen=True)
class IntSpec(Spec):
    """An integer >= low."""

    low: int = 1

    def check(self, value: Any) -> Any:
        need = f"an integer >= {self.low}"
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise SchemaError(need, value, "Write a whole number, without quotes.")
        if value < self.low:
            raise SchemaError(need, value)
        return int(value)


@dataclass(frozen=True)
class BoolSpec(Spec):
    """true or false."""

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise SchemaError("true or false", value, "Write true or false without quotes.")
        return value


@dataclass(frozen=True)
class ChoiceSpec(Spec):
    """One of a few names."""

    choices: tuple[str, ...]
    optional: bool = False

    def check(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if value not in self.choices:
            need = "one of " + ", ".join(repr(c) for c in self.choices)
            raise SchemaError(need, value, _suggest(value, self.choices))
        return value


@dataclass(frozen=True)
class NamesSpec(Spec):
    """A non-empty list of names out of ``choices`` (a single string is refused, not split)."""

    choices: tuple[str, ...]

    def check(self, value: Any) -> Any:
        need = f"a list of names among {', '.join(self.choices)}"
        if isinstance(value, str):
            raise SchemaError("a list of names", value, f'Write it as a list: ["{value}"].')
        if not isinstance(value, list | tuple) or not value:
            raise SchemaError(need, value)
        for name in value:
            if name not in self.choices:
                raise SchemaError(
                    need, value, f"{name!r} is not one. {_suggest(name, self.choices)}"
                )
        return list(value)


@dataclass(frozen=True)
class RhoSpec(Spec):
    """rho: a positive number, or a list of them (one per factor)."""

    def check(self, value: Any) -> Any:
        one = RealSpec(low=0.0)
        if isinstance(value, list | tuple):
            if not value:
                raise SchemaError("a positive number or a non-empty list of them", value)
            try:
                return [one.check(v) for v in value]
            except SchemaError:
                raise SchemaError("a positive number or a list of them", value) from None
        try:
            return one.check(value)
        except SchemaError:
            raise SchemaError("a positive number or a list of them", value) from None


@dataclass(frozen=True)
class ScheduleSpec(Spec):
    """beta: a number (a constant schedule) or a schedule table ``{kind = "tanh", ...}``."""

    def check(self, value: Any) -> Any:
        kinds = ", ".join(repr(k) for k in _SCHEDULES)
        if isinstance(value, Real) and not isinstance(value, bool):
            return RealSpec(low=0.0, low_open=False).check(value)
        if not isinstance(value, Mapping):
            raise SchemaError(
                "a number or a schedule table",
                value,
                'e.g. beta = 1.0 or beta = { kind = "tanh", beta_final = 1.0, gamma = 0.01 }.',
            )
        kind = value.get("kind")
        if kind not in _SCHEDULES:
            raise SchemaError(
                f"a schedule table whose `kind` is one of {kinds}",
                value,
                f"Got kind = {kind!r}. {_suggest(kind, tuple(_SCHEDULES))}",
            )
        cls = _SCHEDULES[kind]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        required = [
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        example = ", ".join(f"{name} = ..." for name in required)
        for key in value:
            if key != "kind" and key not in fields:
                raise SchemaError(
                    f"a {kind} schedule, whose keys are kind, {', '.join(fields)}",
                    value,
                    f"{key!r} is not one. {_suggest(key, tuple(fields))}",
                )
        missing = [name for name in required if name not in value]
        if missing:
            raise SchemaError(
                f"a {kind} schedule with {', '.join(required)}",
                value,
                f"Add {', '.join(missing)}: {{ kind = {kind!r}, {example} }}.".replace("'", '"'),
            )
        for key, v in value.items():
            if key != "kind":
                # A number, or a list of them (a tabulated schedule's times and values); the
                # schedule class checks the rest when the model is built.
                try:
                    for number in v if isinstance(v, list) else [v]:
                        RealSpec(low=-math.inf).check(number)
                except SchemaError:
                    raise SchemaError(
                        f"a {kind} schedule whose {key} is a real number (or a list of them)",
                        value,
                    ) from None
        return dict(value)


@dataclass(frozen=True)
class AnySpec(Spec):
    """Any number or string (the labels of the ``replicate`` axis)."""

    def check(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            raise SchemaError("a number or a string", value)
        return value


@dataclass(frozen=True)
class SizesSpec(Spec):
    """A list of at least two distinct positive integers (the N of a finite-size sweep)."""

    def check(self, value: Any) -> Any:
        whole = isinstance(value, list | tuple) and all(
            not isinstance(v, bool)
            and (isinstance(v, Integral) or (isinstance(v, float) and v.is_integer()))
            and v >= 1
            for v in value
        )
        if not whole or len({int(v) for v in value}) < 2:
            raise SchemaError(
                "a list of at least two distinct integers >= 1", value, "e.g. N = [100, 200, 400]."
            )
        return [int(v) for v in value]


@dataclass(frozen=True)
class TableSpec(Spec):
    """A table whose keys each have a spec; unknown keys are refused with a suggestion."""

    keys: Mapping[str, Spec]

    def validate(self, value: Any, key: str) -> Any:
        return _check_table(value, self.keys, key)


@dataclass(frozen=True)
class GridSpec(Spec):
    """The ``[grid]`` table: parameter = [values], each value checked by the parameter's spec."""

    def validate(self, value: Any, key: str) -> Any:
        return _check_grid(value, key)


def _suggest(name: Any, allowed: Sequence[str]) -> str:
    """ "Did you mean 'beta'?" when a close match exists, else ""."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    return f"Did you mean {close[0]!r}?" if close else ""


_POSITIVE = RealSpec(low=0.0)
_COUNT = IntSpec(low=1)

#: The model table: the fields of `linvae.Model` (any may be left out: Model's defaults).
MODEL_TABLE: dict[str, Spec] = {
    "M": _COUNT,
    "M_star": _COUNT,
    "rho": RhoSpec(),
    "eta": _POSITIVE,
    "beta": ScheduleSpec(),
    "lam": RealSpec(low=0.0, low_open=False),
    "tau": _POSITIVE,
}
#: The ``[ode]`` table: options of `linvae.theory.solve_ode`.
ODE_TABLE: dict[str, Spec] = {
    "method": ChoiceSpec(METHODS),
    "rtol": _POSITIVE,
    "atol": _POSITIVE,
    "sgd_noise": BoolSpec(),
    "jacobian": BoolSpec(),
    "rhs": ChoiceSpec(("derived", "matrix-form")),
}
_RUN: dict[str, Spec] = {
    "N": _COUNT,
    "t_max": _POSITIVE,
    "dt": _POSITIVE,
    "n_seeds": _COUNT,
    "tau_D": RealSpec(low=0.0, optional=True),
    "W_star": ChoiceSpec(("ones", "orthogonal"), optional=True),
}
#: The ``[finite_size]`` table (`linvae.analysis.finite_size.finite_size_scaling`).
FINITE_SIZE_TABLE: dict[str, Spec] = {
    "N": SizesSpec(),
    "observable": ChoiceSpec(OBSERVABLE_NAMES),
    "t_max": _POSITIVE,
    "dt": _POSITIVE,
    "n_seeds": _COUNT,
    "seed": IntSpec(low=0),
}
#: The top level of a sweep file (or of a sweep description, ``sweep.json``).
TOP_LEVEL: dict[str, Spec] = {
    "format": IntSpec(low=1),
    "kind": ChoiceSpec(("sgd", "ode", "both")),
    **_RUN,
    "seed": IntSpec(low=0),
    "observables": NamesSpec(OBSERVABLE_NAMES),
    "model": TableSpec(MODEL_TABLE),
    "ode": TableSpec(ODE_TABLE),
    "grid": GridSpec(),
    "finite_size": TableSpec(FINITE_SIZE_TABLE),
}
# What each grid axis holds, value by value.
_AXES: dict[str, Spec] = {
    **MODEL_TABLE,
    **{name: RealSpec() for name in SCHEDULE_PARAMETERS},
    **_RUN,
    REPLICATE: AnySpec(),
}


def _check_table(table: Any, specs: Mapping[str, Spec], where: str) -> dict:
    """Check every key of ``table`` against ``specs``; ``where`` prefixes the key names."""
    prefix = f"{where}." if where else ""
    if isinstance(table, Model) and specs is MODEL_TABLE:
        return table  # a Model given in Python checked itself
    if not isinstance(table, Mapping):
        raise ValueError(
            f"`{where}` must be a table ([{where}] with keys among {', '.join(specs)}), got "
            f"{_describe(table)}."
        )
    out = {}
    for key, value in table.items():
        if key not in specs:
            hint = _suggest(key, tuple(specs))
            raise ValueError(
                f"unknown key `{prefix}{key}`; allowed: {', '.join(specs)}."
                + (f" {hint}" if hint else "")
            )
        out[key] = specs[key].validate(value, f"{prefix}{key}")
    return out


def _check_grid(grid: Any, where: str) -> dict:
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(
            f"`{where}` must be a non-empty table of parameter = [values], e.g. [grid] with "
            f"N = [100, 200]; got {_describe(grid)}."
        )
    out = {}
    for name, values in grid.items():
        if name not in _AXES:
            hint = _suggest(name, tuple(_AXES))
            raise ValueError(
                f"unknown sweep parameter `{where}.{name}`; sweepable: {', '.join(_AXES)}."
                + (f" {hint}" if hint else "")
            )
        key = f"{where}.{name}"
        if isinstance(values, Mapping) or (isinstance(values, list | tuple) and not values):
            raise ValueError(
                f"`{key}` must be a non-empty list of values, got {_describe(values)}."
            )
        items = values if isinstance(values, list | tuple) else [values]
        out[name] = [_AXES[name].validate(v, f"{key}[{i}]") for i, v in enumerate(items)]
    return out


def check_description(desc: Any, where: str = "the sweep description") -> dict:
    """Check a parsed sweep file or description against the schema; return it normalized.

    Parameters
    ----------
    desc : mapping
        The parsed TOML file, or `Sweep.describe`'s output.
    where : str
        What ``desc`` is, for the messages (a file name).

    Returns
    -------
    dict
        ``desc`` with its values normalized (integers written as ``2.0`` become 2, one grid
        value becomes a one-value list).

    Raises
    ------
    ValueError
        One line naming ``where``, the key and the fix: an unknown key (with the closest
        allowed name), a value of the wrong type or out of range, a missing table, a
        ``[finite_size]`` next to a ``[grid]``.

    Examples
    --------
    >>> check_description({"grid": {"N": [100.0, 200]}, "seed": 3}, "my.toml")
    {'grid': {'N': [100, 200]}, 'seed': 3}
    >>> check_description({"grid": {"N": [1]}, "observables": "eps_g"}, "a")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a: `observables` must be a list of names, got the string 'eps_g'. ...
    """
    try:
        if not isinstance(desc, Mapping) or not desc:
            raise ValueError(
                "is empty: a sweep needs a [grid] table (parameter = [values]) or a "
                "[finite_size] table; see docs/sweeps.md."
            )
        checked = _check_table(desc, TOP_LEVEL, "")
        if "finite_size" in checked:
            if "grid" in checked:
                raise ValueError(
                    "has both [grid] and [finite_size]: a finite-size sweep sweeps N itself; "
                    "remove one of them."
                )
            extra = set(checked) - {
                "finite_size",
                "model",
                "ode",
                "t_max",
                "dt",
                "n_seeds",
                "seed",
                "kind",
            }
            if extra:
                raise ValueError(
                    f"has {', '.join(sorted(extra))} next to [finite_size], which uses only "
                    "model, ode, t_max, dt, n_seeds and seed; remove them."
                )
        elif "grid" not in checked:
            raise ValueError(
                "has no [grid] table: a sweep needs one (parameter = [values], e.g. "
                "N = [100, 200]), or a [finite_size] table."
            )
    except ValueError as err:
        text = str(err)
        sep = " " if text.startswith(("is ", "has ")) else ": "
        raise ValueError(f"{where}{sep}{text}") from None
    return checked


def check_model_table(table: Any) -> dict:
    """A model table (the fields of `linvae.Model`, any may be left out) checked against
    `MODEL_TABLE`.

    Raises
    ------
    ValueError
        "The `model` table of the sweep is invalid: ...": an unknown key (with the closest
        name), a value of the wrong type or out of range, a schedule table without its
        parameters.
    """
    try:
        return dict(_check_table(table, MODEL_TABLE, "model"))
    except ValueError as err:
        raise ValueError(f"The `model` table of the sweep is invalid: {err}") from None


def check_ode_options(ode: Any, owner: str) -> dict:
    """The ``ode`` options of a sweep, each checked against `ODE_TABLE`.

    Raises
    ------
    ValueError
        "The `ode` parameter of Sweep ...": an unknown option (with the closest name), or a
        value of the wrong type or out of range.
    """
    try:
        options = _check_table(ode, ODE_TABLE, "ode")
    except ValueError as err:
        raise ValueError(f"The `ode` parameter of {owner} is invalid: {err}") from None
    if options.get("method") == COMPILED_METHOD and options.get("rhs") == "matrix-form":
        raise ValueError(
            f"The `ode` parameter of {owner} is invalid: method = {COMPILED_METHOD!r} compiles "
            "the derived drift and cannot integrate rhs = 'matrix-form'; drop one of them."
        )
    return options


def read_sweep_toml(path: str | Path) -> dict:
    """Read a sweep file (TOML) and check the whole of it against the schema.

    Parameters
    ----------
    path : path
        A TOML file with a ``[grid]`` table or a ``[finite_size]`` table (docs/sweeps.md).

    Returns
    -------
    dict
        The checked, normalized content (see `check_description`).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        One line naming the file, the key and the fix: not TOML, empty, an unknown key (with
        the closest allowed name), a value of the wrong type or out of range, a schedule table
        without its parameters.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "grid.toml"
    >>> _ = path.write_text('t_max = 2.0\\n[model]\\ntau = 0.1\\n[grid]\\nN = [50, 100]\\n')
    >>> read_sweep_toml(path)["grid"]
    {'N': [50, 100]}
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No sweep file at {path}.")
    try:
        with open(path, "rb") as f:
            parsed = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a TOML file ({err}); see docs/sweeps.md.") from None
    return check_description(parsed, str(path))
