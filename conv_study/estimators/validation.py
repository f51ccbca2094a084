"""Argument checks shared by the estimators.

One message template, that of `linvae.utils.validation` (which these build on): the
parameter, its owner, the allowed values, the value got.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from conv_study.constants import TWONN_METHODS, TwoNNMethod
from linvae.utils.validation import check_int, check_real

__all__ = [
    "METHODS",
    "ON_DUPLICATES",
    "PRECISIONS",
    "Method",
    "OnDuplicates",
    "Precision",
    "as_points",
    "check_discard",
    "check_k",
    "check_memory",
]

Method = TwoNNMethod
Precision = Literal["float32", "float64"]
OnDuplicates = Literal["drop", "raise"]
METHODS: tuple[str, ...] = TWONN_METHODS
PRECISIONS: tuple[str, ...] = ("float32", "float64")
ON_DUPLICATES: tuple[str, ...] = ("drop", "raise")


def as_points(X, name: str, func: str, min_points: int = 3) -> np.ndarray:
    """``X`` as a C-contiguous finite (N, D) float32 or float64 array, one point per row."""
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(
            f"The `{name}` argument of {func} must be an array of shape (N, D) with one point "
            f"per row. Got shape {X.shape}."
        )
    if X.shape[0] < min_points:
        raise ValueError(
            f"The `{name}` argument of {func} needs at least {min_points} points "
            f"(rows). Got {X.shape[0]}."
        )
    if not np.issubdtype(X.dtype, np.floating) or X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"The `{name}` argument of {func} contains NaN or inf values.")
    return np.ascontiguousarray(X)


def check_discard(discard: float, func: str) -> float:
    """The fraction of the largest ``mu`` left out of the 2NN fit, in [0, 1)."""
    return check_real("discard", discard, func, low=0.0, high=1.0, low_open=False)


def check_memory(max_memory: int, func: str) -> int:
    """A positive number of bytes."""
    return check_int("max_memory", max_memory, func, low=1)


def check_k(k: int, n: int, func: str) -> int:
    """Neighbours averaged among N points: an integer in [1, N - 1]."""
    k = check_int("k", k, func, low=1)
    if k > n - 1:
        raise ValueError(
            f"The `k` parameter of {func} must be in [1, N - 1] = [1, {n - 1}]. Got {k}."
        )
    return k
