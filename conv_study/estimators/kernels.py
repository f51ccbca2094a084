"""numba kernels of the screened neighbour search and rank counts (no validation).

Called by `conv_study.estimators.distances` only, on arrays it has prepared: ``G`` a
block of rows of the screening Gram matrix, ``nrm`` the float64 squared norms of the same
screened vectors, ``X`` the exact data, ``c`` the screening coefficient (margin
``c (n_i + n_j)``). The symbols are those of `conv_study.estimators`.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["center_rows", "knn_block", "rank_block"]


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
def knn_block(G, row0, nrm, X, kk, c):
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
def rank_block(G, row0, nrm, X, nbrs, c):
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
