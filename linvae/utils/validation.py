"""Validation at the API boundary: one message template for every parameter.

"The `tau` parameter of Model must be in (0, inf). Got -0.1."
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np


def _fail(name: str, owner: str, requirement: str, value: object, fix: str | None = None):
    message = f"The `{name}` parameter of {owner} must be {requirement}. Got {value!r}."
    if fix:
        message += f" {fix}"
    raise ValueError(message)


def check_real(
    name: str,
    value: object,
    owner: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = True,
    high_open: bool = True,
    fix: str | None = None,
) -> float:
    """Return ``value`` as a float after checking it is a finite real number in the interval."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        _fail(name, owner, f"a real number in {interval}", value, fix)
    x = float(value)
    if math.isnan(x):
        _fail(name, owner, f"a real number in {interval}", value, fix)
    below = x <= low if low_open else x < low
    above = x >= high if high_open else x > high
    if below or above:
        _fail(name, owner, f"in {interval}", value, fix)
    return x


def check_int(
    name: str, value: object, owner: str, *, low: int = 1, high: float = math.inf, fix=None
) -> int:
    """Return ``value`` as an int after checking it is an integer in [low, high]."""
    requirement = f"an integer in [{low}, {high:g}]" if high < math.inf else f"an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, Integral | np.integer):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            _fail(name, owner, requirement, value, fix)
    x = int(value)
    if x < low or x > high:
        _fail(name, owner, requirement, value, fix)
    return x


def check_choice(
    name: str, value: object, owner: str, allowed: Iterable, *, fix: str | None = None
) -> None:
    """Raise unless ``value`` is one of ``allowed`` (listed in the message, comma separated)."""
    allowed = tuple(allowed)
    if value not in allowed:
        _fail(name, owner, "one of " + ", ".join(str(a) for a in allowed), value, fix)


def check_array(
    name: str,
    value: object,
    owner: str,
    *,
    shape: tuple[int | None, ...],
    fix: str | None = None,
) -> np.ndarray:
    """Return ``value`` as a finite float64 array of the given shape (None = any length)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(name, owner, "a real array", type(value).__name__, fix)
    want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
    if arr.ndim != len(shape) or any(
        s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)
    ):
        _fail(name, owner, f"an array of shape {want}", f"shape {arr.shape}", fix)
    if not np.all(np.isfinite(arr)):
        _fail(name, owner, "finite (no NaN or inf)", "an array with non-finite entries", fix)
    return arr
