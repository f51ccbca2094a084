"""All the geometry of one set of representations at once: ID of each, imbalances between them.

`layer_geometry` computes each representation's screening Gram matrix once and uses it
for the representation's neighbours (its 2NN ID, `conv_study.estimators.twonn`, and the
neighbours it lends as source A) and for its ranks (as target B,
`conv_study.estimators.imbalance`): the per-checkpoint workload of the layer study
(docs/conv-study-estimators.md).

Symbols
-------
N : number of points.
L : number of representations.
Delta(a -> b) : information imbalance from representation a to representation b.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from conv_study.estimators.distances import (
    DEFAULT_MAX_MEMORY,
    Neighbors,
    ScreenedLayer,
    neighbours_and_ranks,
)
from conv_study.estimators.imbalance import imbalance_from_ranks, study_pairs
from conv_study.estimators.twonn import twonn_from_neighbors
from conv_study.estimators.validation import (
    METHODS,
    ON_DUPLICATES,
    PRECISIONS,
    Method,
    OnDuplicates,
    Precision,
    as_points,
    check_discard,
    check_k,
    check_memory,
    refuse_coincident,
    warn_few_points,
)
from linvae.utils.validation import check_choice
from linvae.utils.version import __version__

__all__ = ["LayerGeometry", "layer_geometry"]


@dataclass(frozen=True)
class LayerGeometry:
    """Result of `layer_geometry`: ID per representation and imbalances between them.

    Attributes
    ----------
    id : ndarray of float64, shape (L,)
        2NN estimate per representation (``nan`` where duplicates made it undefined and
        ``on_duplicates="drop"`` was not applicable; see `layer_geometry`).
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


def layer_geometry(
    representations: Sequence,
    *,
    pairs: Literal["study", "all"] | Sequence[tuple[int, int]] = "study",
    k: int = 1,
    discard: float = 0.1,
    method: Method = "base",
    on_duplicates: OnDuplicates = "drop",
    precision: Precision = "float32",
    max_memory: int = DEFAULT_MAX_MEMORY,
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
        Ordered pairs ``Delta(a -> b)`` to compute: "study" is `study_pairs`
        (consecutive both ways, every layer to the first and last), "all" every ordered pair.
    k : int, default 1
        Neighbours averaged in the imbalance.
    discard, method, on_duplicates, precision, max_memory :
        As in `twonn_id`; duplicates affect only the ID (ranks are defined with ties).
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
        On inconsistent N, bad arrays or options, duplicates with ``on_duplicates="raise"``,
        a representation whose points all coincide or that has fewer than 3 distinct points
        (the message names it).

    Warns
    -----
    UserWarning
        When a representation has fewer than ``MIN_RELIABLE_POINTS`` (25) distinct points
        (the policy of `twonn_id` and `information_imbalance`).

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
    reps = [as_points(X, f"representations[{i}]", func) for i, X in enumerate(representations)]
    for i, X in enumerate(reps):
        refuse_coincident(X, f"representations[{i}]", func)
    n = reps[0].shape[0]
    for i, X in enumerate(reps):
        if X.shape[0] != n:
            raise ValueError(
                f"All representations passed to {func} must hold the same N points. "
                f"representations[0] has {n}, representations[{i}] has {X.shape[0]}."
            )
    L = len(reps)
    if isinstance(pairs, str):
        check_choice("pairs", pairs, func, ("study", "all"))
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
    k = check_k(k, n, func)
    discard = check_discard(discard, func)
    check_choice("method", method, func, METHODS)
    check_choice("on_duplicates", on_duplicates, func, ON_DUPLICATES)
    check_choice("precision", precision, func, PRECISIONS)
    max_memory = check_memory(max_memory, func)
    layers = [ScreenedLayer(X, precision) for X in reps]
    nn_j, nn_d, ranks = neighbours_and_ranks(
        layers,
        max(2, k),
        pairs,
        k,
        max_memory=max_memory,
        progress=progress,
        gram_device=gram_device,
    )
    ids = np.empty(L)
    n_dup = np.zeros(L, np.int64)
    for i, X in enumerate(reps):
        nb = Neighbors(indices=nn_j[i][:, :2], distances=nn_d[i][:, :2])
        res = twonn_from_neighbors(
            X,
            nb,
            discard=discard,
            method=method,
            on_duplicates=on_duplicates,
            precision=precision,
            max_memory=max_memory,
            func=func,
            name=f"representations[{i}]",
        )
        ids[i] = res.id
        n_dup[i] = res.n_duplicates
    fewest = int(np.argmin(n - n_dup))
    warn_few_points(int(n - n_dup[fewest]), f"2NN ID of representations[{fewest}]", func)
    imb = np.full((L, L), np.nan)
    for (a, b), r in ranks.items():
        imb[a, b] = imbalance_from_ranks(r)
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
