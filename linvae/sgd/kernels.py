"""Jitted one-pass SGD of the linear VAE (no validation, no Python objects).

Symbols
-------
N           input dimension; M latents; M_star true factors
W, V        decoder / encoder weights (N x M), stored transposed, (M, N), so that each
            latent's weights are contiguous and the loops over i vectorize
D           encoder variances (M)
Q           W^T W / N, kept up to date in the loop
x           sqrt(rho/N) W_star c + sqrt(eta) n, one fresh sample per step
a, mu       W^T x / sqrt N, V^T x / sqrt N
g           -a + (Q + beta I) mu
tau, tau_D  learning rates of W, V and of D; lam the L2 penalty

One step (the model and its gradients: docs/simulator.md, section "The model"):

    W <- W (I - (tau/N) (mu mu^T + diag D + lam I)) + (tau / sqrt N) x mu^T
    V <- V (1 - tau lam / N) - (tau / sqrt N) x g^T
    D_k <- D_k - tau_D (Q_kk + beta (1 - 1/D_k)) / 2

all gradients at the pre-update parameters. Three passes over i = 1..N per step: the first
draws n_i (branchy ziggurat, scalar), the second forms x_i and accumulates a, mu (vectorized),
the third updates W, V and accumulates the new Q (vectorized). The plain-numpy reference is
``linvae.sgd.reference.sgd_step`` (used by the tests).

The boundary with Python has names: `KernelState` (the per-seed arrays the kernels
update in place, built by `kernel_state`) and `KernelConstants` (what every seed
of one chunk of steps shares, built by `kernel_constants`). Per-seed status codes:
`OK` running, `NONFINITE` non-finite state, `NONPOSITIVE_D` some D_k <= 0.
"""

from __future__ import annotations

import math
from typing import NamedTuple

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
    `linvae.sgd.rng.fill_normals` on ``concatenate([c, z])``.
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


class KernelState(NamedTuple):
    """The per-seed arrays that the kernels update in place; leading axis: seed (S).

    Weights are stored transposed. Built by `kernel_state`.
    """

    W: np.ndarray  # (S, M, N) decoder weights, transposed
    V: np.ndarray  # (S, M, N) encoder weights, transposed
    D: np.ndarray  # (S, M) encoder variances
    Q: np.ndarray  # (S, M, M) W^T W / N of the current W
    x: np.ndarray  # (S, N) scratch: the current input
    streams: np.ndarray  # (S, 4) uint64 xoshiro256++ states, one stream per seed
    m: np.ndarray  # (S, T, M, M_star) recorded order parameters, one row per record
    d: np.ndarray  # (S, T, M, M_star)
    Q_rec: np.ndarray  # (S, T, M, M)
    E: np.ndarray  # (S, T, M, M)
    R: np.ndarray  # (S, T, M, M)
    D_rec: np.ndarray  # (S, T, M)
    status: np.ndarray  # (S,) int64: OK, NONFINITE or NONPOSITIVE_D
    stop_step: np.ndarray  # (S,) int64: the step at which a seed stopped


class KernelConstants(NamedTuple):
    """What every seed of one chunk of steps shares (read only). Built by
    `kernel_constants`; `chunk` moves it to the next chunk."""

    Ws: np.ndarray  # (M_star, N): row l is W_star[:, l] sqrt(rho_l / N)
    W_star: np.ndarray  # (M_star, N): W_star transposed, for the recorded overlaps
    sqrt_eta: float
    s_begin: int  # first step of the chunk
    s_end: int  # the chunk updates steps s_begin ... s_end - 1
    include_end: bool  # also record at s_end (the run's last chunk)
    betas: np.ndarray  # (s_end - s_begin,): betas[s - s_begin] is beta at t = s / N
    tau: float
    tau_D: float
    lam: float
    rec_steps: np.ndarray  # (T,) int64, increasing: the steps at which to record
    k0: int  # index of the first entry of rec_steps >= s_begin

    def chunk(self, s_begin: int, betas: np.ndarray, *, last: bool) -> KernelConstants:
        """The constants of the chunk that starts at step ``s_begin`` and uses ``betas``
        (one per step); ``last`` records at its end step too."""
        betas = np.ascontiguousarray(betas, dtype=np.float64)
        return self._replace(
            s_begin=int(s_begin),
            s_end=int(s_begin) + betas.shape[0],
            include_end=bool(last),
            betas=betas,
            k0=int(np.searchsorted(self.rec_steps, s_begin)),
        )


def kernel_state(
    W: np.ndarray, V: np.ndarray, D: np.ndarray, streams: np.ndarray, *, M_star: int, n_rec: int
) -> KernelState:
    """Fresh `KernelState` from weights in the user's layout (copies; Q computed).

    ``W, V`` (S, N, M), ``D`` (S, M), ``streams`` (S, 4) uint64 xoshiro256++ states (see
    `linvae.sgd.rng.seed_states`); the ``n_rec`` records start as NaN.
    """
    W = np.array(np.transpose(W, (0, 2, 1)), dtype=np.float64, order="C")
    V = np.array(np.transpose(V, (0, 2, 1)), dtype=np.float64, order="C")
    S, M, N = W.shape
    return KernelState(
        W=W,
        V=V,
        D=np.array(D, dtype=np.float64, order="C"),
        Q=np.stack([gram(W[j]) for j in range(S)]),
        x=np.empty((S, N)),
        streams=np.array(streams, dtype=np.uint64, order="C"),
        m=np.full((S, n_rec, M, M_star), np.nan),
        d=np.full((S, n_rec, M, M_star), np.nan),
        Q_rec=np.full((S, n_rec, M, M), np.nan),
        E=np.full((S, n_rec, M, M), np.nan),
        R=np.full((S, n_rec, M, M), np.nan),
        D_rec=np.full((S, n_rec, M), np.nan),
        status=np.zeros(S, dtype=np.int64),
        stop_step=np.zeros(S, dtype=np.int64),
    )


def kernel_constants(
    W_star: np.ndarray,
    rho: float | np.ndarray,
    eta: float,
    *,
    tau: float,
    tau_D: float,
    lam: float,
    rec_steps: np.ndarray | None = None,
    betas: np.ndarray = (),
) -> KernelConstants:
    """`KernelConstants` for teacher ``W_star`` (N, M_star), signal ``rho`` (scalar or
    (M_star,)), noise ``eta`` and the learning rates; the first chunk starts at step 0 with
    ``betas`` (`KernelConstants.chunk` moves on). ``rec_steps=None`` records nothing."""
    N, M_star = W_star.shape
    W_star_t = np.ascontiguousarray(np.transpose(W_star), dtype=np.float64)
    rho_vec = np.broadcast_to(np.asarray(rho, dtype=np.float64), (M_star,))
    Ws = np.ascontiguousarray(W_star_t * np.sqrt(rho_vec / N)[:, None])
    rec = np.empty(0, dtype=np.int64) if rec_steps is None else rec_steps
    base = KernelConstants(
        Ws=Ws,
        W_star=W_star_t,
        sqrt_eta=math.sqrt(eta),
        s_begin=0,
        s_end=0,
        include_end=False,
        betas=np.empty(0),
        tau=float(tau),
        tau_D=float(tau_D),
        lam=float(lam),
        rec_steps=np.ascontiguousarray(rec, dtype=np.int64),
        k0=0,
    )
    return base.chunk(0, betas, last=False)


@nb.njit(cache=True)
def _advance_seed(j, state, c):
    st, stop, _ = run_seed(
        state.W[j], state.V[j], state.D[j], state.Q[j], state.x[j], state.streams[j], c.Ws,
        c.sqrt_eta, c.s_begin, c.s_end, c.include_end, c.betas, c.tau, c.tau_D, c.lam,
        c.rec_steps, c.k0, c.W_star, state.m[j], state.d[j], state.Q_rec[j], state.E[j],
        state.R[j], state.D_rec[j],
    )  # fmt: skip
    state.status[j] = st
    state.stop_step[j] = stop


@nb.njit(cache=True, parallel=True)
def run_chunk(state, consts):
    """Advance every seed of ``state`` (`KernelState`) through the chunk of steps
    described by ``consts`` (`KernelConstants`), in parallel: one numba thread per
    seed at a time (see `run_seed`). Seeds whose ``status`` is not OK are skipped. Each
    seed's stream is its own, so results do not depend on the number of threads.
    """
    for j in nb.prange(state.status.shape[0]):
        if state.status[j] == OK:
            _advance_seed(j, state, consts)


@nb.njit(cache=True)
def run_chunk_serial(state, consts):
    """`run_chunk` on the calling thread only (no parallel region): safe to call from
    several Python threads at once (e.g. a threaded Dask worker), bitwise the same results."""
    for j in range(state.status.shape[0]):
        if state.status[j] == OK:
            _advance_seed(j, state, consts)
