"""Jitted one-pass SGD of the linear VAE (no validation, no Python objects).

Symbols (spec sections 1-4): N input dimension, M latents, M_star factors; W, V (N x M)
decoder / encoder weights (stored transposed, (M, N), so each latent's weights are contiguous
and the loops over i vectorize), D (M) encoder variances, Q = W^T W / N kept up to date in the loop;
x = sqrt(rho/N) W_star c + sqrt(eta) n one fresh sample per step; a = W^T x / sqrt N,
mu = V^T x / sqrt N; g = -a + (Q + beta I) mu; tau the learning rate of W, V and tau_D that of
D; lam the L2 penalty. One step:

    W <- W (I - (tau/N) (mu mu^T + diag D + lam I)) + (tau / sqrt N) x mu^T
    V <- V (1 - tau lam / N) - (tau / sqrt N) x g^T
    D_k <- D_k - tau_D (Q_kk + beta (1 - 1/D_k)) / 2

all gradients at the pre-update parameters. Three passes over i = 1..N per step: the first
draws n_i (branchy ziggurat, scalar), the second forms x_i and accumulates a, mu (vectorized),
the third updates W, V and accumulates the new Q (vectorized). The plain-numpy reference is
:func:`linvae.sgd.reference.sgd_step`.

Status codes returned per seed: 0 running, 1 non-finite state, 2 D_k <= 0.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from linvae.sgd.rng import KI, candidate, next_normal, normal_slow, xoshiro_step

OK, NONFINITE, NONPOSITIVE_D = 0, 1, 2
# fastmath lets LLVM reassociate the sums (vectorized, several accumulators); the result is
# still a deterministic function of the inputs, so seeds stay bit-reproducible on one machine.
_FAST = {"reassoc", "contract", "nsz"}
# Rows of the weights updated together in the generic-M update (fits in L1 with M <= 8).
_BLOCK = 256


@nb.njit(cache=True, fastmath=_FAST)
def _record(W, V, D, W_star, out_m, out_d, out_Q, out_E, out_R, out_D, k):
    M, N = W.shape
    M_star = W_star.shape[0]
    for p in range(M):
        out_D[k, p] = D[p]
        for q in range(M_star):
            sm = 0.0
            sd = 0.0
            for i in range(N):
                sm += W[p, i] * W_star[q, i]
                sd += V[p, i] * W_star[q, i]
            out_m[k, p, q] = sm / N
            out_d[k, p, q] = sd / N
        for q in range(M):
            sq = 0.0
            se = 0.0
            sr = 0.0
            for i in range(N):
                sq += W[p, i] * W[q, i]
                se += V[p, i] * V[q, i]
                sr += W[p, i] * V[q, i]
            out_Q[k, p, q] = sq / N
            out_E[k, p, q] = se / N
            out_R[k, p, q] = sr / N


@nb.njit(cache=True)
def gram(W):
    """W W^T / N for W stored as (M, N)."""
    M, N = W.shape
    Q = np.zeros((M, M))
    for p in range(M):
        for q in range(M):
            acc = 0.0
            for i in range(N):
                acc += W[p, i] * W[q, i]
            Q[p, q] = acc / N
    return Q


@nb.njit(cache=True)
def draw_normals(state, c, z):
    """Fill ``c`` (M_star) then ``z`` (N) with standard normals from ``state`` (uint64[4]).

    The hot loop keeps the xoshiro256++ state in registers; it is the same sequence as
    :func:`linvae.sgd.rng.fill_normals` on ``concatenate([c, z])``.
    """
    for l in range(c.shape[0]):
        c[l] = next_normal(state)
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for i in range(z.shape[0]):
        r, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
        idx, rabs, v = candidate(r)
        if rabs >= KI[idx]:
            state[0], state[1], state[2], state[3] = s0, s1, s2, s3
            v = normal_slow(state, idx, rabs, v)
            s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
        z[i] = v
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@nb.njit(cache=True, fastmath=_FAST)
def local_fields(W, V, Ws, c, sqrt_eta, x, a, mu):
    """x <- sqrt(eta) x + Ws^T c (in place: x holds n on entry); a = W x / sqrt N,
    mu = V x / sqrt N (weights stored transposed, (M, N))."""
    M, N = W.shape
    M_star = Ws.shape[0]
    for i in range(N):
        x[i] *= sqrt_eta
    for l in range(M_star):
        cl = c[l]
        for i in range(N):
            x[i] += Ws[l, i] * cl
    inv_sqrt_n = 1.0 / math.sqrt(N)
    for p in range(M):
        sa = 0.0
        sm = 0.0
        for i in range(N):
            sa += W[p, i] * x[i]
            sm += V[p, i] * x[i]
        a[p] = sa * inv_sqrt_n
        mu[p] = sm * inv_sqrt_n


@nb.njit(cache=True, fastmath=_FAST)
def update_weights(W, V, Q, x, A, cw, cv, shrink_v, w_new):
    """W <- A^T W + cw x^T; V <- shrink_v V + cv x^T; Q <- W W^T / N (new W).

    Weights are stored transposed, (M, N); ``w_new`` is an (M, _BLOCK) scratch buffer.
    """
    M, N = W.shape
    for p in range(M):
        cvp = cv[p]
        for i in range(N):
            V[p, i] = V[p, i] * shrink_v + x[i] * cvp
    if M == 1:
        a00 = A[0, 0]
        cw0 = cw[0]
        q00 = 0.0
        for i in range(N):
            wi = W[0, i] * a00 + x[i] * cw0
            W[0, i] = wi
            q00 += wi * wi
        Q[0, 0] = q00 / N
        return
    for p in range(M):
        for q in range(M):
            Q[p, q] = 0.0
    for start in range(0, N, _BLOCK):
        stop = min(start + _BLOCK, N)
        n = stop - start
        xb = x[start:stop]
        # 1-D slices indexed by range() counters: LLVM vectorizes these loops.
        for p in range(M):
            wp = w_new[p, :n]
            cwp = cw[p]
            for j in range(n):
                wp[j] = xb[j] * cwp
            for q in range(M):
                wq = W[q, start:stop]
                aqp = A[q, p]
                for j in range(n):
                    wp[j] += wq[j] * aqp
        for p in range(M):
            wp = w_new[p, :n]
            Wp = W[p, start:stop]
            for j in range(n):
                Wp[j] = wp[j]
            for q in range(p + 1):
                wq = w_new[q, :n]
                acc = 0.0
                for j in range(n):
                    acc += wp[j] * wq[j]
                Q[p, q] += acc
    for p in range(M):
        for q in range(p + 1):
            Q[p, q] /= N
            Q[q, p] = Q[p, q]


@nb.njit(cache=True)
def run_seed(
    W,
    V,
    D,
    Q,
    x,
    state,
    Ws,
    sqrt_eta,
    s_begin,
    s_end,
    include_end,
    betas,
    tau,
    tau_D,
    lam,
    rec_steps,
    k,
    W_star,
    out_m,
    out_d,
    out_Q,
    out_E,
    out_R,
    out_D,
):
    """Advance one seed from step s_begin to s_end, recording at rec_steps[k:].

    Weights are stored transposed: W, V (M, N); W_star and ``Ws`` (M_star, N), ``Ws`` with row
    l scaled by sqrt(rho_l / N); ``betas[s - s_begin]`` is beta at t = s / N.
    Returns (status, step at which it stopped, next record index).
    """
    M, N = W.shape
    n_rec = rec_steps.shape[0]
    M_star = Ws.shape[0]
    inv_sqrt_n = 1.0 / math.sqrt(N)
    a = np.empty(M)
    mu = np.empty(M)
    c = np.empty(M_star)
    A = np.empty((M, M))
    cw = np.empty(M)
    cv = np.empty(M)
    w_new = np.empty((M, _BLOCK))
    shrink_v = 1.0 - tau * lam / N
    last = s_end + 1 if include_end else s_end
    for s in range(s_begin, last):
        if k < n_rec and rec_steps[k] == s:
            _record(W, V, D, W_star, out_m, out_d, out_Q, out_E, out_R, out_D, k)
            k += 1
        if s == s_end:
            break
        beta = betas[s - s_begin]
        draw_normals(state, c, x)
        local_fields(W, V, Ws, c, sqrt_eta, x, a, mu)
        finite = True
        for p in range(M):
            finite = finite and math.isfinite(a[p]) and math.isfinite(mu[p])
        if not finite:
            return NONFINITE, s, k
        # Coefficients of the rank-one updates (gradients at the pre-update parameters).
        for p in range(M):
            gp = -a[p] + beta * mu[p]
            for q in range(M):
                gp += Q[p, q] * mu[q]
            cw[p] = tau * inv_sqrt_n * mu[p]
            cv[p] = -tau * inv_sqrt_n * gp
            for q in range(M):
                A[q, p] = -(tau / N) * mu[q] * mu[p]
            A[p, p] += 1.0 - (tau / N) * (D[p] + lam)
        bad_d = False
        for p in range(M):
            D[p] -= tau_D * 0.5 * (Q[p, p] + beta * (1.0 - 1.0 / D[p]))
            bad_d = bad_d or not (D[p] > 0.0)
        update_weights(W, V, Q, x, A, cw, cv, shrink_v, w_new)
        if bad_d:
            for p in range(M):
                if not math.isfinite(D[p]):
                    return NONFINITE, s + 1, k
            return NONPOSITIVE_D, s + 1, k
        for p in range(M):
            if not math.isfinite(Q[p, p]):
                return NONFINITE, s + 1, k
    return OK, s_end, k


@nb.njit(cache=True)
def _advance_seed(j, arrays, consts, status, stop_step):
    W, V, D, Q, X, states, out_m, out_d, out_Q, out_E, out_R, out_D = arrays
    Ws, W_star, sqrt_eta, s_begin, s_end, include_end, betas, tau, tau_D, lam, rec, k0 = consts
    st, stop, _ = run_seed(
        W[j], V[j], D[j], Q[j], X[j], states[j], Ws, sqrt_eta, s_begin, s_end, include_end,
        betas, tau, tau_D, lam, rec, k0, W_star,
        out_m[j], out_d[j], out_Q[j], out_E[j], out_R[j], out_D[j],
    )  # fmt: skip
    status[j] = st
    stop_step[j] = stop


@nb.njit(cache=True, parallel=True)
def run_chunk(arrays, consts, status, stop_step):
    """Advance every seed in parallel (one numba thread per seed at a time).

    ``arrays = (W, V, D, Q, X, states, out_m, out_d, out_Q, out_E, out_R, out_D)``, each with a
    leading seed axis; ``consts = (Ws, W_star, sqrt_eta, s_begin, s_end, include_end, betas,
    tau, tau_D, lam, rec_steps, k0)`` shared by all seeds (see :func:`run_seed`). Seeds whose
    ``status`` is not OK are skipped. Each seed's stream is its own, so results do not depend
    on the number of threads.
    """
    for j in nb.prange(status.shape[0]):
        if status[j] == OK:
            _advance_seed(j, arrays, consts, status, stop_step)


@nb.njit(cache=True)
def run_chunk_serial(arrays, consts, status, stop_step):
    """:func:`run_chunk` on the calling thread only (no parallel region): safe to call from
    several Python threads at once (e.g. a threaded Dask worker), bitwise the same results."""
    for j in range(status.shape[0]):
        if status[j] == OK:
            _advance_seed(j, arrays, consts, status, stop_step)
