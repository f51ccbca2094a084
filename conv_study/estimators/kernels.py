"""numba kernels of the screened neighbour search and rank counts (no validation).

Called by `conv_study.estimators.distances` only, on arrays it has prepared: ``G`` a
block of rows of the screening Gram matrix, ``nrm`` the float64 squared norms of the same
screened vectors, ``X`` the exact data, ``c`` the screening coefficient (margin
``c (n_i + n_j)``). The symbols are those of `conv_study.estimators`.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "center_rows",
    "expected_ranks",
    "knn_block",
    "rank_block",
    "tie_rank_sums",
]


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


@numba.njit(cache=True)
def _scan_ties(G, r, i, nrm, X, t, jlast, c, out):
    # Points j > jlast at exact squared distance t from i: counted, and written to ``out`` when
    # it has room. d_ij = t implies a screened lower bound <= t, so nothing is missed.
    N = G.shape[1]
    n = 0
    for j in range(jlast + 1, N):
        if j == i:
            continue
        s = nrm[i] + nrm[j] - 2.0 * G[r, j]
        if s - c * (nrm[i] + nrm[j]) <= t and _sqdist(X, i, j) == t:
            if n < out.shape[0]:
                out[n] = j
            n += 1
    return n


@numba.njit(parallel=True, cache=True)
def knn_block(G, row0, nrm, X, kk, c, k_tie):
    """Exact kk nearest neighbours of rows row0..row0+b-1 from a screened Gram block.

    Returns indices, squared distances (sorted by (distance, index)) and, for ``k_tie > 0``,
    the number of points tied with the ``k_tie``-th neighbour but left out of the first
    ``k_tie`` (0 for every row when ``k_tie == 0``).
    """
    b, N = G.shape
    out_j = np.empty((b, kk), np.int64)
    out_d = np.empty((b, kk), np.float64)
    n_extra = np.zeros(b, np.int64)
    no_room = np.empty(0, np.int64)
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
        if k_tie > 0:
            # Ties of the k_tie-th neighbour have larger indices than the ones kept (the list
            # is sorted by (distance, index)).
            n_extra[r] = _scan_ties(
                G, r, i, nrm, X, best_d[k_tie - 1], best_j[k_tie - 1], c, no_room
            )
    return out_j, out_d, n_extra


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


@numba.njit(cache=True)
def _ranks_by_thresholds(G, r, i, nrm, X, nb, c, out):
    # All m thresholds of the row are sorted once, so each point j costs O(log m): the
    # thresholds it is surely below form a suffix, the undecided ones a range (difference
    # array, summed at the end). Costs m exact distances.
    N = G.shape[1]
    m = nb.shape[0]
    t = np.empty(m)
    for q in range(m):
        t[q] = _sqdist(X, i, nb[q])
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
        out[order[q]] = 1 + cnt


@numba.njit(cache=True)
def _ranks_by_sorting(G, r, i, nrm, X, nb, c, out):
    # Rank the row by sorting: sort the screened intervals [s - m, s + m] by their lower ends;
    # a point whose lower end exceeds every upper end before it is strictly farther than all
    # of them, which cuts the row into clusters. Exact distances are needed only inside
    # clusters of two or more that hold a listed point. Costs O(N log N) comparisons.
    N = G.shape[1]
    n = N - 1
    listed = np.zeros(N, np.bool_)
    for q in range(nb.shape[0]):
        listed[nb[q]] = True
    lo = np.empty(n)
    hi = np.empty(n)
    idx = np.empty(n, np.int64)
    q = 0
    for j in range(N):
        if j != i:
            s = nrm[i] + nrm[j] - 2.0 * G[r, j]
            mg = c * (nrm[i] + nrm[j])
            lo[q] = s - mg
            hi[q] = s + mg
            idx[q] = j
            q += 1
    order = np.argsort(lo)
    rank = np.zeros(N, np.int64)
    exact = np.empty(n)
    pos = np.empty(n, np.int64)
    p = 0
    while p < n:
        top = hi[order[p]]
        wanted = listed[idx[order[p]]]
        e = p + 1
        while e < n and lo[order[e]] <= top:
            top = max(top, hi[order[e]])
            wanted |= listed[idx[order[e]]]
            e += 1
        size = e - p
        if size == 1:
            rank[idx[order[p]]] = 1 + p
        elif wanted:
            for q in range(size):
                exact[q] = _sqdist(X, i, idx[order[p + q]])
            _sort_positions(exact, pos, size)
            first = 0
            for q in range(size):
                # Equal distances share the minimum rank of their group.
                if q == 0 or exact[pos[q]] != exact[pos[q - 1]]:
                    first = 1 + p + q
                rank[idx[order[p + pos[q]]]] = first
        p = e
    for q in range(nb.shape[0]):
        out[q] = rank[nb[q]]


@numba.njit(cache=True)
def _sort_positions(values, pos, size):
    # pos[:size] = the positions 0..size-1 ordered by values; insertion sort for the tiny
    # clusters that are the rule, a merge sort for large ones.
    if size > 32:
        pos[:size] = np.argsort(values[:size], kind="mergesort")
        return
    for q in range(size):
        v = values[q]
        w = q
        while w > 0 and values[pos[w - 1]] > v:
            pos[w] = pos[w - 1]
            w -= 1
        pos[w] = q


@numba.njit(cache=True)
def _ranks_of(G, r, i, nrm, X, nb, c, out, sort_above):
    # The two ways give identical ranks; sorting the whole row wins for long lists.
    if nb.shape[0] > sort_above:
        _ranks_by_sorting(G, r, i, nrm, X, nb, c, out)
    else:
        _ranks_by_thresholds(G, r, i, nrm, X, nb, c, out)


@numba.njit(parallel=True, cache=True)
def rank_block(G, row0, nrm, X, nbrs, c, sort_above):
    """B-ranks (1 + number of strictly closer points) of given neighbours of block rows.

    Lists longer than ``sort_above`` are ranked by sorting the whole row, shorter ones by
    counting against their sorted thresholds.
    """
    b = G.shape[0]
    m = nbrs.shape[1]
    ranks = np.empty((b, m), np.int64)
    for r in numba.prange(b):
        _ranks_of(G, r, row0 + r, nrm, X, nbrs[r], c, ranks[r], sort_above)
    return ranks


@numba.njit(parallel=True, cache=True)
def tie_rank_sums(rows, row0, GA, nrmA, XA, cA, t, jlast, n_extra, GB, nrmB, XB, cB, sort_above):
    """Sum of the B-ranks of the A-neighbours tied with the k-th one and left out of the k.

    For block rows ``rows``: the points j > ``jlast`` at exact squared A-distance ``t`` (there
    are ``n_extra`` of them, counted by `knn_block`) are found again and ranked in B.
    """
    sums = np.zeros(rows.shape[0], np.int64)
    for q in numba.prange(rows.shape[0]):
        r = rows[q]
        i = row0 + r
        members = np.empty(n_extra[q], np.int64)
        # The same scan as knn_block's: the same members (the slice only guards the bounds).
        found = min(_scan_ties(GA, r, i, nrmA, XA, t[q], jlast[q], cA, members), n_extra[q])
        ranks = np.empty(found, np.int64)
        _ranks_of(GB, r, i, nrmB, XB, members[:found], cB, ranks, sort_above)
        sums[q] = ranks.sum()
    return sums


@numba.njit(cache=True)
def expected_ranks(ranks, d2, n_extra, extra_sums):
    """Expected B-rank of each of the k A-neighbour slots under random tie-breaking.

    A slot holds, with equal probability, any member of its group of equidistant
    A-neighbours, so its expected rank is the group's mean rank. Groups before the k-th
    distance lie inside the k slots; the group at the k-th distance also has ``n_extra``
    members outside them, whose ranks sum to ``extra_sums``.
    """
    b, k = ranks.shape
    out = np.empty((b, k))
    for r in range(b):
        start = 0
        while start < k:
            stop = start + 1
            while stop < k and d2[r, stop] == d2[r, start]:
                stop += 1
            total = 0
            for q in range(start, stop):
                total += ranks[r, q]
            count = stop - start
            if stop == k:
                total += extra_sums[r]
                count += n_extra[r]
            mean = total / count
            for q in range(start, stop):
                out[r, q] = mean
            start = stop
    return out


@numba.njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def center_rows(X, mean, out):
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
