"""Exact neighbours and rank counts, screened by a Gram matrix (the math layer).

Distances are screened with a float32 (or float64) Gram matrix of the centred data (BLAS,
fast), and every comparison the screen cannot decide within a proven (or, for float32 rank
counts, a probabilistic) error bound is redone with the exact distance
``sqrt(sum((x_i - x_j)**2))`` accumulated in float64 (the kernels of
`conv_study.estimators.kernels`). The results are therefore those of exact float64
distances, without the ``|x|^2 + |y|^2 - 2 x.y`` round-off that makes ``r1 = 0``.

Symbols
-------
s_ij
    screened squared distance ``n_i + n_j - 2 g_ij`` (``g`` the Gram matrix of the centred
    data in the screening precision, ``n_i`` the float64 squared norms of the same vectors).
m_ij
    screening margin, ``c (n_i + n_j)``, with ``|s_ij - d_ij^2| <= m_ij``.
u
    unit round-off of the screening precision.

References
----------
.. [1] N. J. Higham, T. Mary, "A new approach to probabilistic rounding error analysis",
   SIAM J. Sci. Comput. 41, A2815 (2019).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from conv_study.estimators.kernels import (
    center_rows,
    expected_ranks,
    knn_block,
    rank_block,
    tie_rank_sums,
)
from conv_study.estimators.validation import (
    PRECISIONS,
    Precision,
    as_points,
    check_k,
    check_memory,
)
from linvae.utils.validation import check_choice

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "Neighbors",
    "ScreenedLayer",
    "nearest_neighbors",
    "neighbours_and_ranks",
]

logger = logging.getLogger(__name__)

# Width of the probabilistic error band of a float32 inner product, in units of sqrt(D) u
# (Higham & Mary 2019): the bound fails with probability below 2 exp(-LAMBDA**2 / 2) ~ 4e-22
# per entry under their model of independent, mean-zero rounding errors.
_LAMBDA = 10.0
#: Default bound on the bytes of screened Gram blocks held at once.
DEFAULT_MAX_MEMORY = 2 * 1024**3


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


class ScreenedLayer:
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
        nrm = center_rows(self.X, self.mean, Xc)
        if self.nrm is None:
            self.nrm = nrm
        if device is not None:
            return _torch_gram_rows(Xc, start, stop, device)
        if start == 0 and stop == Xc.shape[0]:
            return Xc @ Xc.T  # numpy calls syrk for A @ A.T: half the flops
        return Xc[start:stop] @ Xc.T


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


def _sort_above(n: int, width: int) -> int:
    """Longest neighbour list ranked by thresholds (m exact distances of ``width``) rather
    than by sorting the row (O(N log N) comparisons): the two costs meet near m D ~ 4 N log N.
    """
    return max(8, int(4 * n * math.log2(max(n, 2)) / max(width, 1)))


def neighbours_and_ranks(
    layers: Sequence[ScreenedLayer],
    n_neighbors: int,
    pairs: Sequence[tuple[int, int]],
    k: int,
    *,
    max_memory: int,
    progress: Callable[[int, int], None] | None = None,
    gram_device: str | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], dict[tuple[int, int], np.ndarray]]:
    """Exact neighbours of every layer and the expected ranks for every pair, one Gram per layer.

    The ranks of pair (a, b) are, per point and slot, the expected B-rank of its k nearest
    A-neighbours when equidistant A-neighbours are ordered at random: the mean B-rank of the
    slot's group of equidistant A-neighbours, including, for the group at the k-th distance,
    its members beyond the first k (float64, shape (N, k)). Rows are processed in blocks
    small enough that the screened Gram blocks of all layers fit in ``max_memory`` bytes; a
    single block (the common case for N = 5000) uses syrk.
    """
    n = layers[0].X.shape[0]
    L = len(layers)
    itemsize = np.dtype(layers[0].dtype).itemsize
    b = _block_rows(n, L, itemsize, max_memory)
    nn_j = [np.empty((n, n_neighbors), np.int64) for _ in range(L)]
    nn_d = [np.empty((n, n_neighbors), np.float64) for _ in range(L)]
    ranks = {p: np.empty((n, k), np.float64) for p in pairs}
    sources = {a for a, _ in pairs}
    targets: dict[int, list[int]] = {}
    for a, bb in pairs:
        targets.setdefault(bb, []).append(a)
    sort_above = [_sort_above(n, lay.X.shape[1]) for lay in layers]
    n_blocks = -(-n // b)
    for blk, start in enumerate(range(0, n, b)):
        stop = min(n, start + b)
        grams, extra = [], []
        for l, lay in enumerate(layers):
            G = lay.gram_rows(start, stop, gram_device)
            # ``start`` shifts block rows to global indices inside the kernels.
            nn_j[l][start:stop], nn_d[l][start:stop], n_extra = knn_block(
                G, start, lay.nrm, lay.X, n_neighbors, lay.c_nn, k if l in sources else 0
            )
            grams.append(G)
            extra.append(n_extra)
        for bb, srcs in targets.items():
            # All sources of one target in one pass: a pair in several bands is recomputed once.
            lay = layers[bb]
            nbrs = np.ascontiguousarray(np.hstack([nn_j[a][start:stop, :k] for a in srcs]))
            R = rank_block(grams[bb], start, lay.nrm, lay.X, nbrs, lay.c_rank, sort_above[bb])
            for m, a in enumerate(srcs):
                sums = np.zeros(stop - start, np.int64)
                rows = np.flatnonzero(extra[a])
                if rows.size:
                    src = layers[a]
                    sums[rows] = tie_rank_sums(
                        rows, start, grams[a], src.nrm, src.X, src.c_nn,
                        nn_d[a][start + rows, k - 1], nn_j[a][start + rows, k - 1],
                        extra[a][rows], grams[bb], lay.nrm, lay.X, lay.c_rank, sort_above[bb],
                    )  # fmt: skip
                ranks[(a, bb)][start:stop] = expected_ranks(
                    np.ascontiguousarray(R[:, m * k : (m + 1) * k]),
                    np.ascontiguousarray(nn_d[a][start:stop, :k]),
                    extra[a],
                    sums,
                )
        del grams
        logger.debug("neighbour/rank block %d of %d done", blk + 1, n_blocks)
        if progress is not None:
            progress(stop, n)
    return nn_j, [np.sqrt(d) for d in nn_d], ranks


def nearest_neighbors(
    X,
    *,
    k: int = 2,
    precision: Precision = "float32",
    max_memory: int = DEFAULT_MAX_MEMORY,
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
    func = "nearest_neighbors"
    X = as_points(X, "X", func, min_points=2)
    k = check_k(k, X.shape[0], func)
    check_choice("precision", precision, func, PRECISIONS)
    max_memory = check_memory(max_memory, func)
    (J,), (R,), _ = neighbours_and_ranks(
        [ScreenedLayer(X, precision)], k, (), 1, max_memory=max_memory
    )
    return Neighbors(indices=J, distances=R)
