"""Intrinsic dimension (2NN) and information imbalance with exact float64 neighbours.

Both estimators only need, for every point, who its nearest neighbours are and where a given
point ranks among its neighbours. Distances are screened with a float32 Gram matrix (BLAS,
fast) and every comparison the screen cannot decide within a proven (or, for float32 rank
counts, a probabilistic) error bound is redone with the exact distance
``sqrt(sum((x_i - x_j)**2))`` accumulated in float64. The results are therefore those of exact
float64 distances, without the ``|x|^2 + |y|^2 - 2 x.y`` round-off that makes ``r1 = 0``.

Symbol table
------------
N
    number of points.
D
    embedding dimension (width of one representation).
r1, r2
    distances from a point to its first and second nearest neighbour (self excluded).
mu
    ``r2 / r1``.
Delta(A -> B)
    information imbalance from space A to space B.
s_ij
    screened squared distance ``n_i + n_j - 2 g_ij`` (``g`` the float32 Gram matrix of the
    centred data, ``n_i`` the float64 squared norms of the same float32 vectors).
m_ij
    screening margin, ``c (n_i + n_j)``, with ``|s_ij - d_ij^2| <= m_ij``.

References
----------
.. [1] E. Facco, M. d'Errico, A. Rodriguez, A. Laio, "Estimating the intrinsic dimension of
   datasets by a minimal neighborhood information", Sci. Rep. 7, 12140 (2017).
.. [2] A. Glielmo, C. Zeni, B. Cheng, G. Csányi, A. Laio, "Ranking the information content of
   distance measures", PNAS Nexus 1, pgac039 (2022).
.. [3] N. J. Higham, T. Mary, "A new approach to probabilistic rounding error analysis",
   SIAM J. Sci. Comput. 41, A2815 (2019).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numba
import numpy as np

from conv_study import __version__

__all__ = [
    "IDScaling",
    "Imbalance",
    "LayerGeometry",
    "Neighbors",
    "TwoNN",
    "information_imbalance",
    "layer_geometry",
    "nearest_neighbors",
    "relative_imbalance_difference",
    "study_pairs",
    "twonn_from_mu",
    "twonn_id",
    "twonn_scaling",
]

logger = logging.getLogger(__name__)

Method = Literal["base", "ml"]
Precision = Literal["float32", "float64"]
OnDuplicates = Literal["drop", "raise"]

# Width of the probabilistic error band of a float32 inner product, in units of sqrt(D) u
# (Higham & Mary 2019): the bound fails with probability below 2 exp(-LAMBDA**2 / 2) ~ 4e-22
# per entry under their model of independent, mean-zero rounding errors.
_LAMBDA = 10.0
_DEFAULT_MAX_MEMORY = 2 * 1024**3


# --------------------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Neighbors:
    """Exact nearest neighbours (self excluded) of every point.

    Attributes
    ----------
    indices : ndarray of int64, shape (N, k)
        Neighbour indices, nearest first; equidistant neighbours in increasing index order.
    distances : ndarray of float64, shape (N, k)
        Euclidean distances ``sqrt(sum((x_i - x_j)**2))`` accumulated in float64.
    """

    indices: np.ndarray
    distances: np.ndarray


@dataclass(frozen=True)
class TwoNN:
    """Result of :func:`twonn_id`.

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
    """Result of :func:`twonn_scaling`: the 2NN estimate as a function of scale.

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
        As in :class:`TwoNN`.
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
    version: str = __version__


@dataclass(frozen=True)
class Imbalance:
    """Result of :func:`information_imbalance`.

    Attributes
    ----------
    a_to_b, b_to_a : float
        ``Delta(A -> B)`` and ``Delta(B -> A)``.
    ranks_a_to_b, ranks_b_to_a : ndarray of int64, shape (N, k)
        B-ranks of the first k A-neighbours of each point (and vice versa); rank 1 is the
        nearest.
    k : int
        Number of neighbours averaged.
    n_points : int
        N.
    version : str
        ``conv_study`` version.
    """

    a_to_b: float
    b_to_a: float
    ranks_a_to_b: np.ndarray = field(repr=False)
    ranks_b_to_a: np.ndarray = field(repr=False)
    k: int = 1
    n_points: int = 0
    version: str = __version__


@dataclass(frozen=True)
class LayerGeometry:
    """Result of :func:`layer_geometry`: ID per representation and imbalances between them.

    Attributes
    ----------
    id : ndarray of float64, shape (L,)
        2NN estimate per representation (``nan`` where duplicates made it undefined and
        ``on_duplicates="drop"`` was not applicable; see :func:`layer_geometry`).
    n_duplicates : ndarray of int64, shape (L,)
        Points with an identical earlier point, per representation.
    imbalance : ndarray of float64, shape (L, L)
        ``imbalance[a, b] = Delta(a -> b)``; ``nan`` for pairs not computed, 0 on the diagonal
        is never filled (``Delta(a -> a) = (k + 1) / N`` by definition).
    pairs : tuple of (int, int)
        Ordered pairs computed.
    k : int
        Neighbours averaged in the imbalance.
    n_points : int
        N.
    method, discard :
        2NN options used.
    version : str
        ``conv_study`` version.
    """

    id: np.ndarray
    n_duplicates: np.ndarray
    imbalance: np.ndarray
    pairs: tuple[tuple[int, int], ...]
    k: int
    n_points: int
    method: str
    discard: float
    version: str = __version__


# --------------------------------------------------------------------------------------
# Kernels (numba; no validation)
# --------------------------------------------------------------------------------------


# Reassociation lets LLVM vectorize the float64 sum (several partial sums); the result is
# still a float64 accumulation of exact float32 differences, and symmetric in (i, j). No
# numba-level inline="always": it would inline the body into callers without these flags
# (measured 6x slower); LLVM inlines the call anyway.
@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _sqdist(X, i, j):
    xi = X[i]
    xj = X[j]
    acc = 0.0
    for q in range(xi.shape[0]):
        diff = np.float64(xi[q]) - np.float64(xj[q])
        acc += diff * diff
    return acc


@numba.njit(cache=True, inline="always")
def _insert(best_d, best_j, d, j):
    # Keep best_d/best_j sorted by (d, j); drop the last entry.
    kk = best_d.shape[0]
    if d > best_d[kk - 1] or (d == best_d[kk - 1] and j >= best_j[kk - 1]):
        return
    pos = kk - 1
    while pos > 0 and (d < best_d[pos - 1] or (d == best_d[pos - 1] and j < best_j[pos - 1])):
        best_d[pos] = best_d[pos - 1]
        best_j[pos] = best_j[pos - 1]
        pos -= 1
    best_d[pos] = d
    best_j[pos] = j


@numba.njit(parallel=True, cache=True)
def _knn_block(G, row0, nrm, X, kk, c):
    """Exact kk nearest neighbours of rows row0..row0+b-1 from a screened Gram block."""
    b, N = G.shape
    out_j = np.empty((b, kk), np.int64)
    out_d = np.empty((b, kk), np.float64)
    for r in numba.prange(b):
        i = row0 + r
        scr_d = np.full(kk, np.inf)
        scr_j = np.full(kk, N, np.int64)
        for j in range(N):
            if j != i:
                _insert(scr_d, scr_j, nrm[i] + nrm[j] - 2.0 * G[r, j], j)
        # U bounds the exact kk-th neighbour distance from above: kk distinct points lie
        # within it. Every point whose screened lower bound exceeds U is farther.
        U = 0.0
        for q in range(kk):
            U = max(U, _sqdist(X, i, scr_j[q]))
        best_d = np.full(kk, np.inf)
        best_j = np.full(kk, N, np.int64)
        for j in range(N):
            if j != i:
                s = nrm[i] + nrm[j] - 2.0 * G[r, j]
                if s - c * (nrm[i] + nrm[j]) <= U:
                    _insert(best_d, best_j, _sqdist(X, i, j), j)
        for q in range(kk):
            out_j[r, q] = best_j[q]
            out_d[r, q] = best_d[q]
    return out_j, out_d


@numba.njit(cache=True, inline="always")
def _first_above(ts, v):
    # Index of the first sorted threshold > v (searchsorted side="right").
    lo, hi = 0, ts.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if ts[mid] > v:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(parallel=True, cache=True)
def _rank_block(G, row0, nrm, X, nbrs, c):
    """B-ranks (1 + number of strictly closer points) of given neighbours of block rows.

    All m thresholds of a row are sorted once, so each point j costs O(log m): the
    thresholds it is surely below form a suffix, the undecided ones a range (difference
    array, summed at the end).
    """
    b, N = G.shape
    m = nbrs.shape[1]
    ranks = np.empty((b, m), np.int64)
    for r in numba.prange(b):
        i = row0 + r
        t = np.empty(m)
        for q in range(m):
            t[q] = _sqdist(X, i, nbrs[r, q])
        order = np.argsort(t, kind="mergesort")
        ts = t[order]
        tmax = ts[m - 1]
        diff = np.zeros(m + 1, np.int64)
        for j in range(N):
            if j == i:
                continue
            s = nrm[i] + nrm[j] - 2.0 * G[r, j]
            mg = c * (nrm[i] + nrm[j])
            lo = s - mg
            if lo >= tmax:
                continue
            a = _first_above(ts, s + mg)  # ts[a:] > hi: surely farther than j
            diff[a] += 1
            first = _first_above(ts, lo)  # ts[first:a] in (lo, hi]: undecided
            if first < a:
                cut = max(first, _first_above(ts, _sqdist(X, i, j)))
                if cut < a:
                    diff[cut] += 1
                    diff[a] -= 1
        cnt = 0
        for q in range(m):
            cnt += diff[q]
            ranks[r, order[q]] = 1 + cnt
    return ranks


# --------------------------------------------------------------------------------------
# Math layer: screened Gram blocks for several representations at once
# --------------------------------------------------------------------------------------


def _unit_roundoff(precision: str) -> float:
    return float(np.finfo(np.float32 if precision == "float32" else np.float64).eps) / 2


def _margins(D: int, precision: str) -> tuple[float, float]:
    """Screening coefficients c (margin = c (n_i + n_j)) for neighbour search and ranks.

    ``|fl(x.y) - x.y| <= gamma_D sum|x_k y_k| <= gamma_D (n_i + n_j) / 2`` for any summation
    order (gamma_D = D u / (1 - D u)); rounding the centred data to the screening precision
    moves each distance by at most u (|x_i| + |x_j|), which adds at most 4 u (n_i + n_j) to
    the squared distance; 8 u covers that and the float64 arithmetic forming s_ij. The rank
    counts of float32 screens use the probabilistic bound lambda sqrt(D) u instead of gamma_D
    (the worst case would send ~15% of all pairs to the exact path for concentrated,
    high-dimensional distances).
    """
    u = _unit_roundoff(precision)
    if D * u >= 0.5:
        raise ValueError(
            f"Representations of width D = {D} are too wide for {precision} screening; "
            "use precision='float64'."
        )
    gamma = D * u / (1 - D * u)
    c_nn = gamma + 8 * u
    c_rank = c_nn if precision == "float64" else min(gamma, _LAMBDA * math.sqrt(D) * u) + 8 * u
    return c_nn * (1 + 1e-6), c_rank * (1 + 1e-6)


class _Layer:
    """One representation prepared for screening: exact data, centre, float64 norms.

    The centred copy in the screening precision is made (with the norms ``nrm`` of exactly
    that copy) in one pass when a Gram block is requested, and not kept.
    """

    def __init__(self, X: np.ndarray, precision: str):
        self.X = X
        self.dtype = np.float32 if precision == "float32" else np.float64
        self.mean = X.mean(axis=0, dtype=np.float64)
        self.nrm: np.ndarray | None = None
        self.c_nn, self.c_rank = _margins(X.shape[1], precision)

    def gram_rows(self, start: int, stop: int, device: str | None = None) -> np.ndarray:
        Xc = np.empty(self.X.shape, self.dtype)
        nrm = _center(self.X, self.mean, Xc)
        if self.nrm is None:
            self.nrm = nrm
        if device is not None:
            return _torch_gram_rows(Xc, start, stop, device)
        if start == 0 and stop == Xc.shape[0]:
            return Xc @ Xc.T  # numpy calls syrk for A @ A.T: half the flops
        return Xc[start:stop] @ Xc.T


@numba.njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _center(X, mean, out):
    """out = X - mean rounded to out's precision; returns the float64 squared norms of out."""
    n, D = X.shape
    nrm = np.empty(n)
    for i in numba.prange(n):
        acc = 0.0
        for q in range(D):
            v = out.dtype.type(np.float64(X[i, q]) - mean[q])
            out[i, q] = v
            acc += np.float64(v) * np.float64(v)
        nrm[i] = acc
    return nrm


def _torch_gram_rows(Xc: np.ndarray, start: int, stop: int, device: str) -> np.ndarray:
    """The same Gram block with torch on ``device`` (e.g. a GPU); returned as numpy.

    TF32 and reduced-precision reductions are switched off for the call: the screening margins
    assume true float32 (or float64) products and sums, in any order.
    """
    try:
        import torch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The `gram_device` option needs torch (the `conv` extra): pip install 'linvae[conv]'. "
            "Pass gram_device=None to use numpy."
        ) from err
    previous = torch.get_float32_matmul_precision()
    previous_reduced = torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    try:
        with torch.no_grad():
            X = torch.from_numpy(Xc).to(device)
            G = X[start:stop] @ X.T
            return G.cpu().numpy()
    finally:
        torch.set_float32_matmul_precision(previous)
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = previous_reduced


def _block_rows(n: int, n_layers: int, itemsize: int, max_memory: int) -> int:
    return int(max(1, min(n, max_memory // max(1, n_layers * n * itemsize))))


def _neighbours_and_ranks(
    layers: Sequence[_Layer],
    n_neighbors: int,
    pairs: Sequence[tuple[int, int]],
    k: int,
    max_memory: int,
    progress: Callable[[int, int], None] | None,
    gram_device: str | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], dict[tuple[int, int], np.ndarray]]:
    """Exact neighbours of every layer and the ranks for every pair, one Gram per layer.

    Rows are processed in blocks small enough that the screened Gram blocks of all layers fit
    in ``max_memory`` bytes; a single block (the common case for N = 5000) uses syrk.
    """
    n = layers[0].X.shape[0]
    L = len(layers)
    itemsize = np.dtype(layers[0].dtype).itemsize
    b = _block_rows(n, L, itemsize, max_memory)
    nn_j = [np.empty((n, n_neighbors), np.int64) for _ in range(L)]
    nn_d = [np.empty((n, n_neighbors), np.float64) for _ in range(L)]
    ranks = {p: np.empty((n, k), np.int64) for p in pairs}
    targets: dict[int, list[int]] = {}
    for a, bb in pairs:
        targets.setdefault(bb, []).append(a)
    n_blocks = -(-n // b)
    for blk, start in enumerate(range(0, n, b)):
        stop = min(n, start + b)
        grams = []
        for l, lay in enumerate(layers):
            G = lay.gram_rows(start, stop, gram_device)
            # ``start`` shifts block rows to global indices inside the kernels.
            nn_j[l][start:stop], nn_d[l][start:stop] = _knn_block(
                G, start, lay.nrm, lay.X, n_neighbors, lay.c_nn
            )
            grams.append(G)
        for bb, sources in targets.items():
            # All sources of one target in one pass: a pair in several bands is recomputed once.
            lay = layers[bb]
            nbrs = np.ascontiguousarray(np.hstack([nn_j[a][start:stop, :k] for a in sources]))
            R = _rank_block(grams[bb], start, lay.nrm, lay.X, nbrs, lay.c_rank)
            for m, a in enumerate(sources):
                ranks[(a, bb)][start:stop] = R[:, m * k : (m + 1) * k]
        del grams
        logger.debug("neighbour/rank block %d of %d done", blk + 1, n_blocks)
        if progress is not None:
            progress(stop, n)
    return nn_j, [np.sqrt(d) for d in nn_d], ranks


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def _as_points(X, name: str, func: str, min_points: int = 3) -> np.ndarray:
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


def _check_choice(value, allowed: Sequence, name: str, func: str) -> None:
    if value not in allowed:
        raise ValueError(
            f"The `{name}` parameter of {func} must be one of {list(allowed)}. Got {value!r}."
        )


def _check_discard(discard: float, func: str) -> float:
    discard = float(discard)
    if not 0.0 <= discard < 1.0:
        raise ValueError(f"The `discard` parameter of {func} must be in [0, 1). Got {discard}.")
    return discard


def _check_memory(max_memory: int, func: str) -> int:
    if int(max_memory) <= 0:
        raise ValueError(
            f"The `max_memory` parameter of {func} must be a positive number of bytes. "
            f"Got {max_memory}."
        )
    return int(max_memory)


def nearest_neighbors(
    X,
    *,
    k: int = 2,
    precision: Precision = "float32",
    max_memory: int = _DEFAULT_MAX_MEMORY,
) -> Neighbors:
    """Exact k nearest neighbours (self excluded) of every point.

    Distances are ``d_ij = sqrt(sum_q (x_iq - x_jq)^2)`` accumulated in float64; a float32
    (or float64) Gram matrix only screens candidates, with a rigorous rounding-error margin.

    Parameters
    ----------
    X : array_like, shape (N, D)
        Points, one per row.
    k : int, default 2
        Number of neighbours, ``1 <= k <= N - 1``.
    precision : {"float32", "float64"}, default "float32"
        Precision of the screening Gram matrix; the result is the same, only the speed
        differs (float32 is faster, also counting the larger exact-recompute band).
    max_memory : int, default 2 GiB
        Bytes allowed for screened Gram blocks.

    Returns
    -------
    Neighbors
        ``indices`` (N, k) and ``distances`` (N, k), nearest first; ties in increasing index.

    Raises
    ------
    ValueError
        If ``X`` is not a finite (N, D) array or ``k`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> nearest_neighbors(np.array([[0.0], [1.0], [3.0]]), k=1).indices.ravel().tolist()
    [1, 0, 1]
    """
    X = _as_points(X, "X", "nearest_neighbors", min_points=2)
    n = X.shape[0]
    if not 1 <= int(k) <= n - 1:
        raise ValueError(
            f"The `k` parameter of nearest_neighbors must be in [1, N - 1] = [1, {n - 1}]. Got {k}."
        )
    _check_choice(precision, ("float32", "float64"), "precision", "nearest_neighbors")
    max_memory = _check_memory(max_memory, "nearest_neighbors")
    (J,), (R,), _ = _neighbours_and_ranks([_Layer(X, precision)], int(k), (), 1, max_memory, None)
    return Neighbors(indices=J, distances=R)


def twonn_from_mu(mu, *, discard: float = 0.1, method: Method = "base") -> float:
    """2NN intrinsic dimension from the ratios ``mu = r2 / r1``.

    "base" (DADApy's default): sort ``x = log(mu)`` ascending, keep the first
    ``n_eff = min(int(N (1 - discard)), N - 1)``, set ``y_i = -log(1 - i / N)`` for
    ``i = 1..n_eff`` (the empirical CDF over the *full* N) and fit ``y = d x`` by least squares,

    .. math:: d = \\frac{\\sum_i x_i y_i}{\\sum_i x_i^2}.

    "ml": :math:`d = (N - 1) / \\sum_i \\log \\mu_i` over all points (``discard`` unused).

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
    discard = _check_discard(discard, "twonn_from_mu")
    _check_choice(method, ("base", "ml"), "method", "twonn_from_mu")
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


def _twonn_core(
    X: np.ndarray,
    discard: float,
    method: str,
    on_duplicates: str,
    precision: str,
    max_memory: int,
    func: str,
) -> TwoNN:
    nb = nearest_neighbors(X, k=2, precision=precision, max_memory=max_memory)
    return _twonn_from_neighbors(X, nb, discard, method, on_duplicates, precision, max_memory, func)


def _twonn_from_neighbors(
    X: np.ndarray,
    nb: Neighbors,
    discard: float,
    method: str,
    on_duplicates: str,
    precision: str,
    max_memory: int,
    func: str,
) -> TwoNN:
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
            raise ValueError(f"{func}: fewer than 3 distinct points ({kept.size}).")
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
    max_memory: int = _DEFAULT_MAX_MEMORY,
) -> TwoNN:
    """Intrinsic dimension by the 2NN estimator (Facco et al. 2017), DADApy conventions.

    With ``r1, r2`` the exact distances to the two nearest neighbours and ``mu = r2 / r1``,
    ``mu`` follows ``P(mu) = d mu^{-d-1}`` on a locally uniform d-dimensional manifold, so
    ``-log(1 - F(mu)) = d log(mu)``; see :func:`twonn_from_mu` for the fit.

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
        Bad input or options, or duplicates with ``on_duplicates="raise"``.

    Notes
    -----
    DADApy returns an error bar of 0 without decimation; use :func:`twonn_scaling` for one.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((2000, 3))
    >>> 2.7 < twonn_id(X).id < 3.3
    True
    """
    func = "twonn_id"
    X = _as_points(X, "X", func)
    discard = _check_discard(discard, func)
    _check_choice(method, ("base", "ml"), "method", func)
    _check_choice(on_duplicates, ("drop", "raise"), "on_duplicates", func)
    _check_choice(precision, ("float32", "float64"), "precision", func)
    max_memory = _check_memory(max_memory, func)
    return _twonn_core(X, discard, method, on_duplicates, precision, max_memory, func)


def twonn_scaling(
    X,
    *,
    min_points: int = 10,
    discard: float = 0.1,
    method: Method = "base",
    rng: int | np.random.Generator | None = None,
    precision: Precision = "float32",
    max_memory: int = _DEFAULT_MAX_MEMORY,
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
        As in :func:`twonn_id`.
    rng : int, numpy.random.Generator or None
        Randomness for the subsets.

    Returns
    -------
    IDScaling
        ``n_points``, ``id``, ``id_err``, ``scale``, ``n_repeats``, ``method``, ``discard``.

    Raises
    ------
    ValueError
        Bad input or options.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((400, 2))
    >>> res = twonn_scaling(X, rng=1)
    >>> res.n_points.tolist()
    [400, 200, 100, 50, 25, 12]
    """
    func = "twonn_scaling"
    X = _as_points(X, "X", func)
    if int(min_points) < 2:
        raise ValueError(
            f"The `min_points` parameter of {func} must be an integer >= 2. Got {min_points}."
        )
    discard = _check_discard(discard, func)
    _check_choice(method, ("base", "ml"), "method", func)
    _check_choice(precision, ("float32", "float64"), "precision", func)
    max_memory = _check_memory(max_memory, func)
    rng = np.random.default_rng(rng)
    full = _twonn_core(X, discard, method, "drop", precision, max_memory, func)
    X = X[full.kept]
    n = X.shape[0]
    sizes, ids, errs, scales, reps = [], [], [], [], []
    size = n
    while size > min_points and size >= 3:
        nrep = max(1, round(n / size))
        est, sc = [], []
        for _ in range(nrep):
            sub = X if size == n else X[np.sort(rng.choice(n, size=size, replace=False))]
            res = (
                full
                if size == n
                else _twonn_core(sub, discard, method, "drop", precision, max_memory, func)
            )
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
    )


def _check_k(k: int, n: int, func: str) -> int:
    if not 1 <= int(k) <= n - 1:
        raise ValueError(
            f"The `k` parameter of {func} must be in [1, N - 1] = [1, {n - 1}]. Got {k}."
        )
    return int(k)


def information_imbalance(
    A,
    B,
    *,
    k: int = 1,
    precision: Precision = "float32",
    max_memory: int = _DEFAULT_MAX_MEMORY,
) -> Imbalance:
    """Information imbalance between two representations of the same points, both ways.

    .. math::

        \\Delta(A \\to B) = \\frac{2}{N}\\, \\frac{1}{N k} \\sum_{i=1}^{N}
            \\sum_{m=1}^{k} r^B_i\\big(n^A_m(i)\\big),
        \\qquad r^B_i(j) = 1 + \\#\\{l \\ne i : d_B(i, l) < d_B(i, j)\\},

    with ``n^A_m(i)`` the m-th nearest neighbour of ``i`` in A. ~0: A predicts B's
    neighbourhoods; ~1: no information.

    Parameters
    ----------
    A, B : array_like, shapes (N, D_A) and (N, D_B)
        The same N points in two spaces.
    k : int, default 1
        Number of A-neighbours whose B-ranks are averaged.
    precision, max_memory :
        Screening options (see :func:`nearest_neighbors`).

    Returns
    -------
    Imbalance
        ``a_to_b``, ``b_to_a``, ``ranks_a_to_b``, ``ranks_b_to_a``, ``k``, ``n_points``.

    Raises
    ------
    ValueError
        If the arrays disagree in N, are not finite (N, D) arrays, or ``k`` is out of range.

    Notes
    -----
    Full ranks over all N - 1 neighbours; no sorting (a rank is a count of strictly closer
    points). Ties: a point's rank is the *minimum* rank of its tie group (1 + strictly closer
    points); equidistant A-neighbours are taken in increasing index order. Exact duplicates
    in B all get rank 1.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((500, 4))
    >>> res = information_imbalance(X, X[:, :2])
    >>> res.a_to_b < res.b_to_a
    True
    """
    func = "information_imbalance"
    A = _as_points(A, "A", func, min_points=2)
    B = _as_points(B, "B", func, min_points=2)
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            f"The `A` and `B` arguments of {func} must hold the same points (rows). "
            f"Got {A.shape[0]} and {B.shape[0]}."
        )
    k = _check_k(k, A.shape[0], func)
    _check_choice(precision, ("float32", "float64"), "precision", func)
    max_memory = _check_memory(max_memory, func)
    n = A.shape[0]
    _, _, ranks = _neighbours_and_ranks(
        [_Layer(A, precision), _Layer(B, precision)],
        k,
        ((0, 1), (1, 0)),
        k,
        max_memory,
        None,
    )
    return Imbalance(
        a_to_b=float(2.0 * ranks[(0, 1)].mean() / n),
        b_to_a=float(2.0 * ranks[(1, 0)].mean() / n),
        ranks_a_to_b=ranks[(0, 1)],
        ranks_b_to_a=ranks[(1, 0)],
        k=k,
        n_points=n,
    )


def relative_imbalance_difference(a_to_b, b_to_a):
    """Relative difference of the two imbalances between consecutive layers.

    .. math:: \\frac{\\Delta(l \\to l+1) - \\Delta(l+1 \\to l)}
              {(|\\Delta(l \\to l+1)| + |\\Delta(l+1 \\to l)|) / 2}

    Negative reads "compression" (layer l+1 is predicted by l better than the converse),
    positive "expansion".

    Parameters
    ----------
    a_to_b, b_to_a : float or array_like
        ``Delta(l -> l+1)`` and ``Delta(l+1 -> l)``.

    Returns
    -------
    float or ndarray
        The relative difference in [-2, 2] (``nan`` where both are 0).

    Examples
    --------
    >>> relative_imbalance_difference(0.1, 0.3)
    -1.0
    """
    a = np.asarray(a_to_b, dtype=np.float64)
    b = np.asarray(b_to_a, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a - b) / ((np.abs(a) + np.abs(b)) / 2)
    return float(out) if out.ndim == 0 else out


def study_pairs(n_layers: int) -> tuple[tuple[int, int], ...]:
    """Ordered pairs the layer study needs: consecutive both ways, every layer to first and last.

    ``Delta(l -> l + 1)``, ``Delta(l + 1 -> l)``, ``Delta(l -> 0)`` and ``Delta(l -> L - 1)``.

    Parameters
    ----------
    n_layers : int
        Number of representations L (11 in the paper).

    Returns
    -------
    tuple of (int, int)
        Sorted, without repeats or self-pairs.

    Examples
    --------
    >>> study_pairs(3)
    ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1))
    """
    last = n_layers - 1
    pairs = set()
    for layer in range(n_layers):
        for other in (layer - 1, layer + 1, 0, last):
            if 0 <= other < n_layers and other != layer:
                pairs.add((layer, other))
        if layer + 1 < n_layers:
            pairs.add((layer + 1, layer))
    return tuple(sorted(pairs))


def layer_geometry(
    representations: Sequence,
    *,
    pairs: Literal["study", "all"] | Sequence[tuple[int, int]] = "study",
    k: int = 1,
    discard: float = 0.1,
    method: Method = "base",
    on_duplicates: OnDuplicates = "drop",
    precision: Precision = "float32",
    max_memory: int = _DEFAULT_MAX_MEMORY,
    progress: Callable[[int, int], None] | None = None,
    gram_device: str | None = None,
) -> LayerGeometry:
    """2NN ID of every representation and the imbalances between them, one Gram each.

    Each representation's screened Gram matrix is computed once (in row blocks bounded by
    ``max_memory``) and serves both its neighbours (ID, and the neighbours it lends as
    source A) and its ranks (as target B).

    Parameters
    ----------
    representations : sequence of array_like, each shape (N, D_l)
        The same N points in L spaces (e.g. the 11 layers of the conv VAE).
    pairs : "study", "all" or sequence of (a, b), default "study"
        Ordered pairs ``Delta(a -> b)`` to compute: "study" is :func:`study_pairs`
        (consecutive both ways, every layer to the first and last), "all" every ordered pair.
    k : int, default 1
        Neighbours averaged in the imbalance.
    discard, method, on_duplicates, precision, max_memory :
        As in :func:`twonn_id`; duplicates affect only the ID (ranks are defined with ties).
    progress : callable(done, total) or None
        Called after every row block with the number of rows done.
    gram_device : str or None, default None
        None: screening Gram blocks with numpy's BLAS. A torch device string (``"cuda"``,
        ``"cpu"``): with torch on that device (needs the ``conv`` extra; TF32 is switched off
        for the call). The result is the same either way.

    Returns
    -------
    LayerGeometry
        ``id``, ``n_duplicates``, ``imbalance`` (L, L), ``pairs``, ``k``, ``n_points``,
        ``method``, ``discard``.

    Raises
    ------
    ValueError
        On inconsistent N, bad arrays or options, duplicates with ``on_duplicates="raise"``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((300, 5))
    >>> geo = layer_geometry([X, X[:, :3], X[:, :1]])
    >>> bool(geo.imbalance[0, 2] < geo.imbalance[2, 0])
    True
    """
    func = "layer_geometry"
    if gram_device is not None and not isinstance(gram_device, str):
        raise ValueError(
            f"The `gram_device` parameter of {func} must be None or a torch device string such "
            f"as 'cuda' or 'cpu'. Got {gram_device!r}."
        )
    if len(representations) < 1:
        raise ValueError(f"The `representations` argument of {func} must not be empty.")
    reps = [_as_points(X, f"representations[{i}]", func) for i, X in enumerate(representations)]
    n = reps[0].shape[0]
    for i, X in enumerate(reps):
        if X.shape[0] != n:
            raise ValueError(
                f"All representations passed to {func} must hold the same N points. "
                f"representations[0] has {n}, representations[{i}] has {X.shape[0]}."
            )
    L = len(reps)
    if isinstance(pairs, str):
        _check_choice(pairs, ("study", "all"), "pairs", func)
        pairs = (
            study_pairs(L)
            if pairs == "study"
            else tuple((a, b) for a in range(L) for b in range(L) if a != b)
        )
    else:
        pairs = tuple((int(a), int(b)) for a, b in pairs)
        for a, b in pairs:
            if not (0 <= a < L and 0 <= b < L) or a == b:
                raise ValueError(
                    f"The `pairs` parameter of {func} must hold distinct layer indices in "
                    f"[0, {L - 1}]. Got {(a, b)}."
                )
    k = _check_k(k, n, func)
    discard = _check_discard(discard, func)
    _check_choice(method, ("base", "ml"), "method", func)
    _check_choice(on_duplicates, ("drop", "raise"), "on_duplicates", func)
    _check_choice(precision, ("float32", "float64"), "precision", func)
    max_memory = _check_memory(max_memory, func)
    layers = [_Layer(X, precision) for X in reps]
    nn_j, nn_d, ranks = _neighbours_and_ranks(
        layers, max(2, k), pairs, k, max_memory, progress, gram_device
    )
    ids = np.empty(L)
    n_dup = np.zeros(L, np.int64)
    for i, X in enumerate(reps):
        nb = Neighbors(indices=nn_j[i][:, :2], distances=nn_d[i][:, :2])
        res = _twonn_from_neighbors(
            X, nb, discard, method, on_duplicates, precision, max_memory, func
        )
        ids[i] = res.id
        n_dup[i] = res.n_duplicates
    imb = np.full((L, L), np.nan)
    for (a, b), r in ranks.items():
        imb[a, b] = 2.0 * r.mean() / n
    return LayerGeometry(
        id=ids,
        n_duplicates=n_dup,
        imbalance=imb,
        pairs=pairs,
        k=k,
        n_points=n,
        method=method,
        discard=discard,
    )
