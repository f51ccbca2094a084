"""Intrinsic dimension by the 2NN estimator (Facco et al. 2017), DADApy conventions.

With ``r1, r2`` the exact distances of a point to its two nearest neighbours (self excluded,
`conv_study.estimators.distances`) and ``mu = r2 / r1``, ``mu`` follows
``P(mu) = d mu^{-d-1}`` on a locally uniform d-dimensional manifold; `twonn_from_mu`
fits d. The estimator and its differences from DADApy are described in the estimators page
(docs/conv-study-estimators.md).

Symbols
-------
N : number of points.
r1, r2 : distances to the first and second nearest neighbour.
mu : ``r2 / r1``.
d : intrinsic dimension.

References
----------
.. [1] E. Facco, M. d'Errico, A. Rodriguez, A. Laio, "Estimating the intrinsic dimension of
   datasets by a minimal neighborhood information", Sci. Rep. 7, 12140 (2017).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from conv_study.estimators.distances import DEFAULT_MAX_MEMORY, Neighbors, nearest_neighbors
from conv_study.estimators.validation import (
    METHODS,
    ON_DUPLICATES,
    PRECISIONS,
    Method,
    OnDuplicates,
    Precision,
    as_points,
    check_discard,
    check_memory,
    refuse_coincident,
    warn_few_points,
)
from linvae.utils.validation import check_choice, check_int
from linvae.utils.version import __version__

__all__ = [
    "IDScaling",
    "TwoNN",
    "twonn_from_mu",
    "twonn_from_neighbors",
    "twonn_id",
    "twonn_scaling",
]


@dataclass(frozen=True)
class TwoNN:
    """Result of `twonn_id`.

    Attributes
    ----------
    id : float
        Intrinsic-dimension estimate.
    method : {"base", "ml"}
        Least-squares fit of the empirical CDF (DADApy "base") or maximum likelihood.
    discard : float
        Fraction of the largest ``mu`` left out of the "base" fit (DADApy ``fraction`` is
        ``1 - discard``).
    n_points : int
        Number of points used (after dropping duplicates).
    n_duplicates : int
        Number of points dropped because an identical earlier point exists.
    mu : ndarray of float64, shape (n_points,)
        ``r2 / r1`` per used point.
    r1, r2 : ndarray of float64, shape (n_points,)
        First and second neighbour distances.
    kept : ndarray of int64, shape (n_points,)
        Indices (into the input) of the points used.
    version : str
        ``conv_study`` version that produced the result.
    """

    id: float
    method: str
    discard: float
    n_points: int
    n_duplicates: int
    mu: np.ndarray = field(repr=False)
    r1: np.ndarray = field(repr=False)
    r2: np.ndarray = field(repr=False)
    kept: np.ndarray = field(repr=False)
    version: str = __version__


@dataclass(frozen=True)
class IDScaling:
    """Result of `twonn_scaling`: the 2NN estimate as a function of scale.

    Attributes
    ----------
    n_points : ndarray of int64, shape (S,)
        Subset sizes N, N/2, N/4, ...
    id, id_err : ndarray of float64, shape (S,)
        Mean estimate over the subsets and its standard error ``std / sqrt(n_repeats)``
        (0 for the full set, as in DADApy).
    scale : ndarray of float64, shape (S,)
        Mean of ``(r1 + r2) / 2`` over points and subsets: the length scale probed.
    n_repeats : ndarray of int64, shape (S,)
        Number of random subsets, ``round(N / n_points)``.
    method, discard :
        As in `TwoNN`.
    full : TwoNN
        The estimate on the whole set (the first entry), as `twonn_id` gives it with
        ``on_duplicates="drop"``.
    version : str
        ``conv_study`` version.
    """

    n_points: np.ndarray
    id: np.ndarray
    id_err: np.ndarray
    scale: np.ndarray
    n_repeats: np.ndarray
    method: str
    discard: float
    full: TwoNN | None = field(default=None, repr=False)
    version: str = __version__


def twonn_from_mu(mu, *, discard: float = 0.1, method: Method = "base") -> float:
    """2NN intrinsic dimension from the ratios ``mu = r2 / r1``.

    "base" (DADApy's default): sort ``x = log(mu)`` ascending, keep the first
    ``n_eff = min(int(N (1 - discard)), N - 1)``, set ``y_i = -log(1 - i / N)`` for
    ``i = 1..n_eff`` (the empirical CDF over the *full* N) and fit ``y = d x`` by least squares,

    $$
    d = \\frac{\\sum_i x_i y_i}{\\sum_i x_i^2}.
    $$

    "ml": $d = (N - 1) / \\sum_i \\log \\mu_i$ over all points (``discard`` unused).

    Parameters
    ----------
    mu : array_like, shape (N,)
        Ratios, all ``>= 1`` and finite.
    discard : float, default 0.1
        Fraction of the largest ``mu`` left out of the "base" fit.
    method : {"base", "ml"}, default "base"

    Returns
    -------
    float
        The estimate.

    Raises
    ------
    ValueError
        If ``mu`` has non-finite values or values below 1, or an option is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> mu = (1 - np.random.default_rng(0).random(100_000)) ** (-1 / 3)  # Pareto, d = 3
    >>> round(twonn_from_mu(mu), 1)
    3.0
    """
    mu = np.asarray(mu, dtype=np.float64).ravel()
    discard = check_discard(discard, "twonn_from_mu")
    check_choice("method", method, "twonn_from_mu", METHODS)
    if mu.size < 2 or not np.all(np.isfinite(mu)) or np.any(mu < 1):
        raise ValueError(
            "The `mu` argument of twonn_from_mu must hold at least 2 finite ratios r2/r1 >= 1. "
            "Infinite ratios come from duplicate points (r1 = 0): drop them first."
        )
    n = mu.size
    log_mu = np.log(mu)
    if method == "ml":
        return float((n - 1) / np.sum(log_mu))
    # i = N would give y = inf: the largest mu is always left out (DADApy fails there).
    n_eff = min(int(n * (1.0 - discard)), n - 1)
    x = np.sort(log_mu)[:n_eff]
    y = -np.log(1.0 - np.arange(1, n_eff + 1) / n)
    return float(np.dot(x, y) / np.dot(x, x))


def twonn_from_neighbors(
    X: np.ndarray,
    nb: Neighbors | None = None,
    *,
    discard: float,
    method: str,
    on_duplicates: str,
    precision: str,
    max_memory: int,
    func: str,
    name: str = "X",
) -> TwoNN:
    """The 2NN estimate of checked points ``X`` from their two nearest neighbours ``nb``.

    ``nb`` is computed when not given. No validation (callers check first); ``func`` and
    ``name`` name the caller and its argument in messages. Duplicate points (``r1 = 0``) are
    dropped with a warning (their neighbours recomputed) or raise, as ``on_duplicates`` says;
    fewer than 3 distinct points raise. Call it directly from the public function, so that
    the warning points at the user's line.
    """
    if nb is None:
        nb = nearest_neighbors(X, k=2, precision=precision, max_memory=max_memory)
    n = X.shape[0]
    kept = np.arange(n)
    r1, r2 = nb.distances[:, 0], nb.distances[:, 1]
    dup = (r1 == 0) & (nb.indices[:, 0] < kept)
    n_dup = int(dup.sum())
    if n_dup:
        if on_duplicates == "raise":
            raise ValueError(
                f"{func}: {n_dup} of {n} points duplicate an earlier point (r1 = 0), so "
                "mu = r2/r1 is undefined. Pass on_duplicates='drop' to drop them."
            )
        warnings.warn(
            f"{func}: dropped {n_dup} of {n} points that duplicate an earlier point (r1 = 0).",
            stacklevel=3,
        )
        kept = kept[~dup]
        if kept.size < 3:
            raise ValueError(
                f"The `{name}` argument of {func} holds {kept.size} distinct points ({n_dup} "
                f"of {n} are duplicates); the 2NN estimator needs at least 3 (two neighbours "
                "at nonzero distance per point)."
            )
        nb = nearest_neighbors(X[kept], k=2, precision=precision, max_memory=max_memory)
        r1, r2 = nb.distances[:, 0], nb.distances[:, 1]
    mu = r2 / r1
    return TwoNN(
        id=twonn_from_mu(mu, discard=discard, method=method),
        method=method,
        discard=discard,
        n_points=int(kept.size),
        n_duplicates=n_dup,
        mu=mu,
        r1=r1,
        r2=r2,
        kept=kept,
    )


def twonn_id(
    X,
    *,
    discard: float = 0.1,
    method: Method = "base",
    on_duplicates: OnDuplicates = "drop",
    precision: Precision = "float32",
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> TwoNN:
    """Intrinsic dimension by the 2NN estimator (Facco et al. 2017), DADApy conventions.

    With ``r1, r2`` the exact distances to the two nearest neighbours and ``mu = r2 / r1``,
    ``mu`` follows ``P(mu) = d mu^{-d-1}`` on a locally uniform d-dimensional manifold, so
    ``-log(1 - F(mu)) = d log(mu)``; see `twonn_from_mu` for the fit.

    Parameters
    ----------
    X : array_like, shape (N, D)
        Points, one per row.
    discard : float, default 0.1
        Fraction of the largest ``mu`` left out of the fit ("base" only).
    method : {"base", "ml"}, default "base"
        Least squares on the empirical CDF (DADApy ``algorithm="base"``) or maximum
        likelihood ``(N - 1) / sum(log mu)``.
    on_duplicates : {"drop", "raise"}, default "drop"
        Identical points give ``r1 = 0``. "drop" keeps the first copy of each (with a
        warning and ``n_duplicates`` in the result); "raise" raises ``ValueError``.
    precision : {"float32", "float64"}, default "float32"
        Screening precision (does not change the result).
    max_memory : int, default 2 GiB
        Bytes allowed for screened Gram blocks.

    Returns
    -------
    TwoNN
        ``id``, ``method``, ``discard``, ``n_points``, ``n_duplicates``, ``mu``, ``r1``, ``r2``,
        ``kept``, ``version``.

    Raises
    ------
    ValueError
        Bad input or options, duplicates with ``on_duplicates="raise"``, points that all
        coincide, or fewer than 3 distinct points.

    Warns
    -----
    UserWarning
        When duplicates are dropped, and when fewer than ``MIN_RELIABLE_POINTS`` (25) distinct
        points remain: the estimate is returned, but its relative standard error, about
        ``1 / sqrt(n)``, is above 20%.

    Notes
    -----
    Degenerate data are treated as by `information_imbalance` (the policy of
    `conv_study.estimators.validation`): refused when undefined, warned when unreliable.
    DADApy returns an error bar of 0 without decimation; use `twonn_scaling` for one.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((2000, 3))
    >>> 2.7 < twonn_id(X).id < 3.3
    True
    """
    func = "twonn_id"
    X = as_points(X, "X", func)
    discard = check_discard(discard, func)
    check_choice("method", method, func, METHODS)
    check_choice("on_duplicates", on_duplicates, func, ON_DUPLICATES)
    check_choice("precision", precision, func, PRECISIONS)
    max_memory = check_memory(max_memory, func)
    refuse_coincident(X, "X", func)
    result = twonn_from_neighbors(
        X,
        discard=discard,
        method=method,
        on_duplicates=on_duplicates,
        precision=precision,
        max_memory=max_memory,
        func=func,
    )
    warn_few_points(result.n_points, "2NN ID", func)
    return result


def twonn_scaling(
    X,
    *,
    min_points: int = 10,
    discard: float = 0.1,
    method: Method = "base",
    rng: int | np.random.Generator | None = None,
    precision: Precision = "float32",
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> IDScaling:
    """2NN estimate versus scale by decimation (DADApy ``return_id_scaling_2NN``).

    For subset sizes ``n = N, N/2, N/4, ...`` (integer division, ``n > min_points``) average
    the estimate over ``round(N / n)`` random subsets drawn without replacement:
    ``id = mean``, ``id_err = std / sqrt(repeats)``, ``scale = mean((r1 + r2) / 2)``.

    Parameters
    ----------
    X : array_like, shape (N, D)
        Points (duplicates are dropped first, with a warning).
    min_points : int, default 10
        Subsets must have more points than this.
    discard, method, precision, max_memory :
        As in `twonn_id`.
    rng : int, numpy.random.Generator or None
        Randomness for the subsets.

    Returns
    -------
    IDScaling
        ``n_points``, ``id``, ``id_err``, ``scale``, ``n_repeats``, ``method``, ``discard``,
        ``full`` (the `TwoNN` of the whole set).

    Raises
    ------
    ValueError
        Bad input or options, points that all coincide, fewer than 3 distinct points.

    Warns
    -----
    UserWarning
        As `twonn_id`, for the whole set (the decimated subsets are small by design).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((400, 2))
    >>> res = twonn_scaling(X, rng=1)
    >>> res.n_points.tolist()
    [400, 200, 100, 50, 25, 12]
    """
    func = "twonn_scaling"
    X = as_points(X, "X", func)
    min_points = check_int("min_points", min_points, func, low=2)
    discard = check_discard(discard, func)
    check_choice("method", method, func, METHODS)
    check_choice("precision", precision, func, PRECISIONS)
    max_memory = check_memory(max_memory, func)
    refuse_coincident(X, "X", func)
    rng = np.random.default_rng(rng)
    options = {
        "discard": discard,
        "method": method,
        "on_duplicates": "drop",
        "precision": precision,
        "max_memory": max_memory,
        "func": func,
    }
    full = twonn_from_neighbors(X, **options)
    warn_few_points(full.n_points, "2NN ID", func)
    X = X[full.kept]
    n = X.shape[0]
    sizes, ids, errs, scales, reps = [], [], [], [], []
    size = n
    while size > min_points and size >= 3:
        nrep = max(1, round(n / size))
        est, sc = [], []
        for _ in range(nrep):
            sub = X if size == n else X[np.sort(rng.choice(n, size=size, replace=False))]
            res = full if size == n else twonn_from_neighbors(sub, **options)
            est.append(res.id)
            sc.append(np.mean((res.r1 + res.r2) / 2))
        sizes.append(size)
        ids.append(np.mean(est))
        errs.append(np.std(est) / np.sqrt(nrep))
        scales.append(np.mean(sc))
        reps.append(nrep)
        size //= 2
    return IDScaling(
        n_points=np.array(sizes, np.int64),
        id=np.array(ids),
        id_err=np.array(errs),
        scale=np.array(scales),
        n_repeats=np.array(reps, np.int64),
        method=method,
        discard=discard,
        full=full,
    )
