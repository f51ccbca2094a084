"""Information imbalance between two representations of the same points (Glielmo et al.).

``Delta(A -> B)`` is twice the mean B-rank of each point's nearest A-neighbour(s), over N:
~0 when A predicts B's neighbourhoods, ~1 when it carries no information about them. The
ranks are counts of strictly closer points, from the exact float64 distances of
`conv_study.estimators.distances`; equidistant A-neighbours count with their expected
rank under random tie-breaking, so the result does not depend on the order of the points.
The definition, the tie convention and the study's use of it are in the estimators page
(docs/conv-study-estimators.md).

Symbols
-------
N : number of points.
k : neighbours averaged.
Delta(A -> B) : information imbalance from space A to space B.

References
----------
.. [1] A. Glielmo, C. Zeni, B. Cheng, G. Csányi, A. Laio, "Ranking the information content of
   distance measures", PNAS Nexus 1, pgac039 (2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from conv_study.estimators.distances import (
    DEFAULT_MAX_MEMORY,
    ScreenedLayer,
    neighbours_and_ranks,
)
from conv_study.estimators.validation import (
    PRECISIONS,
    Precision,
    as_points,
    check_k,
    check_memory,
    distinct_points,
    refuse_coincident,
    warn_few_points,
)
from linvae.utils.validation import check_choice
from linvae.utils.version import __version__

__all__ = [
    "Imbalance",
    "imbalance_from_ranks",
    "information_imbalance",
    "relative_imbalance_difference",
    "study_pairs",
]


@dataclass(frozen=True)
class Imbalance:
    """Result of `information_imbalance`.

    Attributes
    ----------
    a_to_b, b_to_a : float
        ``Delta(A -> B)`` and ``Delta(B -> A)``.
    ranks_a_to_b, ranks_b_to_a : ndarray of float64, shape (N, k)
        Expected B-ranks of the first k A-neighbours of each point (and vice versa) under
        random tie-breaking among equidistant A-neighbours; rank 1 is the nearest. Integers
        where A has no ties.
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


def information_imbalance(
    A,
    B,
    *,
    k: int = 1,
    precision: Precision = "float32",
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> Imbalance:
    """Information imbalance between two representations of the same points, both ways.

    $$
    \\Delta(A \\to B) = \\frac{2}{N}\\, \\frac{1}{N k} \\sum_{i=1}^{N}
        \\sum_{m=1}^{k} r^B_i\\big(n^A_m(i)\\big),
    \\qquad r^B_i(j) = 1 + \\#\\{l \\ne i : d_B(i, l) < d_B(i, j)\\},
    $$

    with ``n^A_m(i)`` the m-th nearest neighbour of ``i`` in A, the sum taken in expectation
    over a uniformly random order of equidistant A-neighbours. ~0: A predicts B's
    neighbourhoods; ~1: no information.

    Parameters
    ----------
    A, B : array_like, shapes (N, D_A) and (N, D_B)
        The same N points in two spaces.
    k : int, default 1
        Number of A-neighbours whose B-ranks are averaged.
    precision, max_memory :
        Screening options (see `nearest_neighbors`).

    Returns
    -------
    Imbalance
        ``a_to_b``, ``b_to_a``, ``ranks_a_to_b``, ``ranks_b_to_a``, ``k``, ``n_points``.

    Raises
    ------
    ValueError
        If the arrays disagree in N, are not finite (N, D) arrays, ``k`` is out of range, or
        the points of A or of B all coincide (every distance 0: no neighbour is nearer than
        another, and the value would only reflect N).

    Warns
    -----
    UserWarning
        When A or B holds fewer than ``MIN_RELIABLE_POINTS`` (25) distinct points: the value
        is returned, but it cannot go below ``2 / n`` (0.08 at 25 points).

    Notes
    -----
    Degenerate data are treated as by `twonn_id` (the policy of
    `conv_study.estimators.validation`): refused when undefined, warned when unreliable.

    Full ranks over all N - 1 neighbours (a rank is a count of strictly closer points).
    Ties in B: a point's rank is the *minimum* rank of its tie group (1 + strictly closer
    points); exact duplicates in B all get rank 1. Ties in A: the k nearest A-neighbours are
    all points closer than the k-th distance ``t`` (``s`` of them) and ``k - s`` of the ``g``
    points at distance ``t``, drawn uniformly at random; each of the ``g`` contributes its
    B-rank with weight ``(k - s) / g`` (for k = 1: the mean B-rank of the nearest group).
    The result is therefore the same for any order of the points (the final mean is an
    exactly rounded sum).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((500, 4))
    >>> res = information_imbalance(X, X[:, :2])
    >>> res.a_to_b < res.b_to_a
    True
    """
    func = "information_imbalance"
    A = as_points(A, "A", func, min_points=2)
    B = as_points(B, "B", func, min_points=2)
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            f"The `A` and `B` arguments of {func} must hold the same points (rows). "
            f"Got {A.shape[0]} and {B.shape[0]}."
        )
    k = check_k(k, A.shape[0], func)
    check_choice("precision", precision, func, PRECISIONS)
    max_memory = check_memory(max_memory, func)
    refuse_coincident(A, "A", func)
    refuse_coincident(B, "B", func)
    n = A.shape[0]
    nn_j, nn_d, ranks = neighbours_and_ranks(
        [ScreenedLayer(A, precision), ScreenedLayer(B, precision)],
        k,
        ((0, 1), (1, 0)),
        k,
        max_memory=max_memory,
    )
    distinct = min(distinct_points(j[:, 0], d[:, 0]) for j, d in zip(nn_j, nn_d, strict=True))
    warn_few_points(distinct, "information imbalance", func)
    return Imbalance(
        a_to_b=imbalance_from_ranks(ranks[(0, 1)]),
        b_to_a=imbalance_from_ranks(ranks[(1, 0)]),
        ranks_a_to_b=ranks[(0, 1)],
        ranks_b_to_a=ranks[(1, 0)],
        k=k,
        n_points=n,
    )


def imbalance_from_ranks(ranks: np.ndarray) -> float:
    """Information imbalance ``2 mean(ranks) / N`` from (expected) ranks of shape (N, k).

    The sum is exactly rounded (``math.fsum``), so reordering the points cannot change the
    last bit.
    """
    n, k = ranks.shape
    return 2.0 * math.fsum(ranks.ravel()) / (n * k) / n


def relative_imbalance_difference(a_to_b, b_to_a):
    """Relative difference of the two imbalances between consecutive layers.

    $$
    \\frac{\\Delta(l \\to l+1) - \\Delta(l+1 \\to l)}
        {(|\\Delta(l \\to l+1)| + |\\Delta(l+1 \\to l)|) / 2}
    $$

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
