"""Argument checks shared by the estimators, and their one policy for degenerate data.

One message template, that of `linvae.utils.validation` (which these build on): the
parameter, its owner, the allowed values, the value got.

Degenerate data, the same way in the 2NN ID and the information imbalance (and in
`conv_study.estimators.layer_geometry`, which computes both):

* **Refused** (``ValueError``): points that all coincide (every distance 0: no neighbour is
  nearer than another, so neither estimator is defined), and fewer distinct points than the
  estimator needs: 3 for the 2NN (each point needs two neighbours at nonzero distance, after
  duplicates are dropped), 2 for the imbalance (a rank needs a nonzero distance).
* **Warned** (``UserWarning``, the estimate is still returned): fewer than
  `MIN_RELIABLE_POINTS` distinct points. The 2NN estimate from n points has a relative
  standard error of about ``1 / sqrt(n)`` (the maximum-likelihood estimate is
  ``(n - 1) / sum(log mu)``, a sum of n exponential variables), above 20% below 25 points;
  the imbalance cannot go below ``2 / n`` (every nearest neighbour ranked first), 0.08 at
  25 points, so it cannot tell a perfect predictor from a good one.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from conv_study.constants import TWONN_METHODS, TwoNNMethod
from linvae.utils.validation import check_int, check_real

__all__ = [
    "METHODS",
    "MIN_RELIABLE_POINTS",
    "ON_DUPLICATES",
    "PRECISIONS",
    "Method",
    "OnDuplicates",
    "Precision",
    "as_points",
    "check_discard",
    "check_k",
    "check_memory",
    "distinct_points",
    "refuse_coincident",
    "warn_few_points",
]

Method = TwoNNMethod
Precision = Literal["float32", "float64"]
OnDuplicates = Literal["drop", "raise"]
METHODS: tuple[str, ...] = TWONN_METHODS
PRECISIONS: tuple[str, ...] = ("float32", "float64")
ON_DUPLICATES: tuple[str, ...] = ("drop", "raise")
#: Below this many distinct points an estimate comes with a warning (see the module notes).
MIN_RELIABLE_POINTS = 25


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


def refuse_coincident(X: np.ndarray, name: str, func: str) -> None:
    """Refuse points that all coincide: no estimator of neighbourhoods is defined on them."""
    if X.shape[0] > 0 and not np.any(X != X[0]):
        raise ValueError(
            f"The `{name}` argument of {func} holds {X.shape[0]} copies of one point: every "
            "distance is 0, so no neighbour is nearer than another and the estimate is "
            "undefined. Check that the data vary (a collapsed layer, a constant feature)."
        )


def distinct_points(first_index: np.ndarray, first_distance: np.ndarray) -> int:
    """Distinct points from each point's nearest neighbour (equidistant ones by lower index
    first): a point is a repeat when its nearest neighbour is an earlier copy of it."""
    n = first_index.shape[0]
    return n - int(np.count_nonzero((first_distance == 0) & (first_index < np.arange(n))))


def warn_few_points(n_distinct: int, what: str, func: str, *, stacklevel: int = 3) -> None:
    """Warn when fewer than `MIN_RELIABLE_POINTS` distinct points carry an estimate."""
    if n_distinct < MIN_RELIABLE_POINTS:
        why = (
            "its relative standard error, about 1/sqrt(n), is above 20%"
            if what.startswith("2NN")
            else "it cannot go below 2/n, so a perfect predictor is hard to tell from a good one"
        )
        warnings.warn(
            f"{func}: the {what} rests on {n_distinct} distinct points, fewer than "
            f"{MIN_RELIABLE_POINTS}; it is unreliable ({why}). Use more points.",
            UserWarning,
            stacklevel=stacklevel,
        )
