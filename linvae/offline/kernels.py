"""numba kernels of offline training: full-batch Adam and GD, multi-epoch minibatch SGD.

No validation, no Python objects (the caller, `linvae.offline.train`, checks inputs).
Each kernel loops over independent stacks (one data set and initialization each) with
``prange``; inside a stack every sum runs in a fixed order, so results are bitwise the same
whatever the thread count.

Symbols
-------
S        stacks (data set x seed); N input dimension; n samples of a stack, alpha = n / N
C        sample covariance (1/n) X^T X of a stack (N x N)
W, V, D  decoder, encoder, encoder variance (M = 1)
lam_eff  the penalty per sample, lam / alpha

Per-sample loss (docs/offline.md) and its gradients, with e_C = V^T C V / N:
N dl/dW = -C V + (e_C + D + lam') W,  N dl/dV = -C W + (Q + beta) C V + lam' V,
dl/dD = Q/2 + (beta/2)(1 - 1/D). The summed loss of n samples multiplies each by n.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "N_RECORD",
    "adam_covariance",
    "gd_eigenbasis",
    "record",
    "sample_moments",
    "sgd_minibatch",
]

#: Recorded per stack and record point: m, d, Q, E, R, D.
N_RECORD = 6


@numba.njit(cache=True, inline="always")
def _sym_matvec2(C, w, v, cw, cv):
    # cw = C w, cv = C v (C symmetric, read by rows): one pass over C, four rows at a time so
    # that cw and cv are loaded and stored a quarter as often. Each cw[i] is still summed over
    # j in order, so the result is bitwise that of the plain loop; the loop over i vectorizes
    # without reassociating any sum.
    N = w.size
    for i in range(N):
        cw[i] = 0.0
        cv[i] = 0.0
    j = 0
    while j + 4 <= N:
        w0, w1, w2, w3 = w[j], w[j + 1], w[j + 2], w[j + 3]
        v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
        C0, C1, C2, C3 = C[j], C[j + 1], C[j + 2], C[j + 3]
        for i in range(N):
            c0, c1, c2, c3 = C0[i], C1[i], C2[i], C3[i]
            cw[i] = cw[i] + c0 * w0 + c1 * w1 + c2 * w2 + c3 * w3
            cv[i] = cv[i] + c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3
        j += 4
    while j < N:
        wj, vj = w[j], v[j]
        for i in range(N):
            c = C[j, i]
            cw[i] += c * wj
            cv[i] += c * vj
        j += 1


@numba.njit(cache=True, inline="always")
def _record(rec, k, w, v, D, wstar):
    N = w.size
    m = d = Q = E = R = 0.0
    for i in range(N):
        m += w[i] * wstar[i]
        d += v[i] * wstar[i]
        Q += w[i] * w[i]
        E += v[i] * v[i]
        R += w[i] * v[i]
    rec[k, 0] = m / N
    rec[k, 1] = d / N
    rec[k, 2] = Q / N
    rec[k, 3] = E / N
    rec[k, 4] = R / N
    rec[k, 5] = D


@numba.njit(cache=True)
def record(W, V, D, wstar, out):
    """out[s] = (m, d, Q, E, R, D) of every stack s (fixed summation order)."""
    for s in range(W.shape[0]):
        _record(out, s, W[s], V[s], D[s], wstar)


@numba.njit(cache=True)
def sample_moments(X, w, v):
    """(|X v|^2, (X w) . (X v)) of one data set X (n, N), in a fixed summation order."""
    n, N = X.shape
    ee = 0.0
    rr = 0.0
    for k in range(n):
        a = 0.0
        mu = 0.0
        for i in range(N):
            a += X[k, i] * w[i]
            mu += X[k, i] * v[i]
        ee += mu * mu
        rr += a * mu
    return ee, rr


@numba.njit(cache=True, parallel=True)
def adam_covariance(
    C,
    W,
    V,
    D,
    moments,
    moments_D,
    wstar,
    n,
    beta,
    lam_eff,
    lr,
    b1,
    b2,
    eps,
    t0,
    epochs,
    record_every,
    rec,
    status,
):
    """``epochs`` epochs of full-batch Adam on the summed loss of each stack, from epoch ``t0``.

    In place on W, V (S, N), D (S,) and the Adam moments: ``moments`` (S, 4, N) holds the
    first and second moments of W, then of V, ``moments_D`` (S, 2) those of D. ``rec`` (S,
    epochs // record_every, N_RECORD) receives the order parameters after every
    ``record_every``-th epoch of the call. ``status[s]`` is 0, or the epoch + 1 at which
    D <= 0 or the weights went non-finite (the stack stops there and is skipped later).
    """
    S, N = W.shape
    for s in numba.prange(S):
        if status[s] != 0:
            continue
        w, v, Cs, ws = W[s], V[s], C[s], wstar
        mw, vw, mv, vv = moments[s, 0], moments[s, 1], moments[s, 2], moments[s, 3]
        gw = np.empty(N)
        gv = np.empty(N)
        cw = np.empty(N)
        cv = np.empty(N)
        md = moments_D[s, 0]
        vd = moments_D[s, 1]
        Ds = D[s]
        scale = n[s]  # the summed loss: n times the per-sample gradient
        la = lam_eff[s]
        for ep in range(t0, t0 + epochs):
            _sym_matvec2(Cs, w, v, cw, cv)
            Q = 0.0
            eC = 0.0
            for i in range(N):
                Q += w[i] * w[i]
                eC += v[i] * cv[i]
            Q /= N
            eC /= N
            a = eC + Ds + la
            for i in range(N):
                gw[i] = scale / N * (-cv[i] + a * w[i])
                gv[i] = scale / N * (-cw[i] + (Q + beta) * cv[i] + la * v[i])
            gd = scale * (0.5 * Q + 0.5 * beta * (1.0 - 1.0 / Ds))
            # Powers, not running products: the same bits whatever the chunking.
            c1 = 1.0 - b1 ** (ep + 1)
            c2 = 1.0 - b2 ** (ep + 1)
            for i in range(N):
                mw[i] = b1 * mw[i] + (1.0 - b1) * gw[i]
                vw[i] = b2 * vw[i] + (1.0 - b2) * gw[i] * gw[i]
                w[i] -= lr * (mw[i] / c1) / (np.sqrt(vw[i] / c2) + eps)
                mv[i] = b1 * mv[i] + (1.0 - b1) * gv[i]
                vv[i] = b2 * vv[i] + (1.0 - b2) * gv[i] * gv[i]
                v[i] -= lr * (mv[i] / c1) / (np.sqrt(vv[i] / c2) + eps)
            md = b1 * md + (1.0 - b1) * gd
            vd = b2 * vd + (1.0 - b2) * gd * gd
            Ds -= lr * (md / c1) / (np.sqrt(vd / c2) + eps)
            if not (Ds > 0.0) or not np.isfinite(Q):
                status[s] = ep + 1
                break
            if (ep + 1 - t0) % record_every == 0:
                _record(rec[s], (ep - t0) // record_every, w, v, Ds, ws)
        D[s] = Ds
        moments_D[s, 0] = md
        moments_D[s, 1] = vd


@numba.njit(cache=True, parallel=True)
def gd_eigenbasis(lam_c, w, v, D, wstar_e, beta, lam_eff, lr, max_steps, gtol, steps, gnorm):
    """Full-batch GD on the per-sample loss in the eigenbasis of each stack's C (diagonal
    ``lam_c`` (S, N)), in place on w, v (S, N), D (S,).

    The step is ``lr`` times (N dl/dW, N dl/dV, dl/dD); GD commutes with rotations, so this is
    GD in the original basis, rotated. Stops when the largest gradient component is below
    ``gtol``; ``steps[s]`` and ``gnorm[s]`` receive the step count and that component.
    """
    S, N = w.shape
    for s in numba.prange(S):
        x, y, lc = w[s], v[s], lam_c[s]
        Ds = D[s]
        la = lam_eff[s]
        g = np.inf
        k = 0
        while k < max_steps:
            Q = 0.0
            eC = 0.0
            for i in range(N):
                Q += x[i] * x[i]
                eC += lc[i] * y[i] * y[i]
            Q /= N
            eC /= N
            a = eC + Ds + la
            g = abs(0.5 * Q + 0.5 * beta * (1.0 - 1.0 / Ds))
            for i in range(N):
                gx = -lc[i] * y[i] + a * x[i]
                gy = -lc[i] * x[i] + ((Q + beta) * lc[i] + la) * y[i]
                g = max(g, abs(gx), abs(gy))
                x[i] -= lr[s] * gx
                y[i] -= lr[s] * gy
            Ds -= lr[s] * (0.5 * Q + 0.5 * beta * (1.0 - 1.0 / Ds))
            k += 1
            if g < gtol:
                break
        D[s] = Ds
        steps[s] = k
        gnorm[s] = g


@numba.njit(cache=True, parallel=True)
def sgd_minibatch(X, W, V, D, wstar, order, batch, beta, lam_eff, tau, rec, status):
    """Multi-epoch minibatch SGD, in place on W, V (S, N) and D (S,).

    ``X`` (S, n, N) holds each stack's data set; ``order`` (S, epochs, n) the sample order of
    each epoch. A step averages the per-sample gradients of ``batch`` samples (the online
    simulator's step for batch = 1: lr tau for W and V, tau / N for D). ``rec`` (S, epochs + 1,
    N_RECORD) receives the order parameters after each epoch; ``status`` as in
    `adam_covariance`.
    """
    S, n, N = X.shape
    epochs = order.shape[1]
    sq = np.sqrt(N)
    for s in numba.prange(S):
        w, v, Xs = W[s], V[s], X[s]
        Ds = D[s]
        la = lam_eff[s]
        gw = np.empty(N)
        gv = np.empty(N)
        _record(rec[s], 0, w, v, Ds, wstar)
        failed = False
        for ep in range(epochs):
            for start in range(0, n, batch):
                stop = min(start + batch, n)
                nb = stop - start
                Q = 0.0
                for i in range(N):
                    Q += w[i] * w[i]
                    gw[i] = 0.0
                    gv[i] = 0.0
                Q /= N
                mu2 = 0.0
                for b in range(start, stop):
                    x = Xs[order[s, ep, b]]
                    a = 0.0
                    mu = 0.0
                    for i in range(N):
                        a += w[i] * x[i]
                        mu += v[i] * x[i]
                    a /= sq
                    mu /= sq
                    mu2 += mu * mu
                    gmu = -a + (Q + beta) * mu
                    for i in range(N):
                        gw[i] -= x[i] * mu
                        gv[i] += x[i] * gmu
                for i in range(N):
                    w_old = w[i]
                    w[i] -= tau * (gw[i] / (sq * nb) + w_old * (mu2 / nb + Ds + la) / N)
                    v[i] -= tau * (gv[i] / (sq * nb) + la * v[i] / N)
                Ds -= tau / N * (0.5 * Q + 0.5 * beta * (1.0 - 1.0 / Ds))
                if not (Ds > 0.0) or not np.isfinite(Q):
                    status[s] = ep + 1
                    failed = True
                    break
            if failed:
                break
            _record(rec[s], ep + 1, w, v, Ds, wstar)
        D[s] = Ds
