"""Observables of the linear VAE: one definition each, for SGD trajectories and ODE solutions.

Symbols
-------
m = W^T W_star / N  (M x M_star)    decoder-signal overlap
d = V^T W_star / N  (M x M_star)    encoder-signal overlap
Q = W^T W / N, E = V^T V / N, R = W^T V / N  (M x M; R is not symmetric)
D                    (M)             encoder variances
T = W_star^T W_star / N (M_star x M_star), the identity for the default W_star
eps_g                                generalization error (docs/simulator.md, "What is
                                     recorded")

Every function here accepts arbitrary leading (batch) axes: a seed axis, a time axis, or none.
The simulator records (m, d, Q, E, R, D) and the ODE integrates them; both then call
`generalization_error` on the same arrays, so the two can be compared directly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ORDER_PARAMETER_NAMES",
    "OrderParameters",
    "generalization_error",
    "order_parameters",
    "pack_state",
    "state_size",
    "unpack_state",
]

ORDER_PARAMETER_NAMES = ("m", "d", "Q", "E", "R", "D")


@dataclass(frozen=True)
class OrderParameters:
    """Order parameters with shapes ``(..., M, M_star)`` for m, d; ``(..., M, M)`` for Q, E, R;
    ``(..., M)`` for D."""

    m: np.ndarray
    d: np.ndarray
    Q: np.ndarray
    E: np.ndarray
    R: np.ndarray
    D: np.ndarray

    @property
    def M(self) -> int:
        return self.m.shape[-2]

    @property
    def M_star(self) -> int:
        return self.m.shape[-1]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ORDER_PARAMETER_NAMES}


def order_parameters(
    W: np.ndarray, V: np.ndarray, D: np.ndarray, W_star: np.ndarray
) -> OrderParameters:
    """Order parameters of weights ``W, V`` (N x M), variances ``D`` (M), teacher ``W_star``.

    m = W^T W_star / N, d = V^T W_star / N, Q = W^T W / N, E = V^T V / N, R = W^T V / N.
    """
    N = W.shape[0]
    return OrderParameters(
        m=W.T @ W_star / N,
        d=V.T @ W_star / N,
        Q=W.T @ W / N,
        E=V.T @ V / N,
        R=W.T @ V / N,
        D=np.array(D, dtype=np.float64, copy=True),
    )


def _best_matching(score: np.ndarray) -> np.ndarray:
    """Max over injective maps factor -> latent of sum_k score[..., pi(k), k].

    ``score`` has shape (..., M, M_star). Small problems are solved by enumerating the
    injective maps (vectorized over the batch); large ones by the Hungarian algorithm per entry.
    """
    M, M_star = score.shape[-2:]
    n_pairs = min(M, M_star)
    if M_star == 1:
        return score[..., :, 0].max(axis=-1)
    if M == 1:
        return score[..., 0, :].max(axis=-1)
    n_maps = 1
    for i in range(n_pairs):
        n_maps *= max(M, M_star) - i
    if n_maps <= 720:
        best = None
        if M >= M_star:
            for perm in itertools.permutations(range(M), M_star):
                total = sum(score[..., perm[k], k] for k in range(M_star))
                best = total if best is None else np.maximum(best, total)
        else:
            for perm in itertools.permutations(range(M_star), M):
                total = sum(score[..., i, perm[i]] for i in range(M))
                best = total if best is None else np.maximum(best, total)
        return best
    # scipy.optimize costs ~0.5 s to import; only large M and M_star need it, so it is loaded
    # here and every command-line start (which imports this module) stays fast.
    from scipy.optimize import linear_sum_assignment

    flat = score.reshape(-1, M, M_star)
    out = np.empty(flat.shape[0])
    for i, s in enumerate(flat):
        rows, cols = linear_sum_assignment(s, maximize=True)
        out[i] = s[rows, cols].sum()
    return out.reshape(score.shape[:-2])


def generalization_error(
    m: np.ndarray,
    Q: np.ndarray,
    rho: float | np.ndarray,
    *,
    T: np.ndarray | None = None,
) -> np.ndarray:
    """Generalization error eps_g, up to sign and permutation of the latents.

    eps_g = (1/N) E_c || (sqrt(rho) W_star - W P) c ||^2
          = sum_k rho_k T_kk - 2 max_pi sum_k sqrt(rho_k) |m_{pi(k) k}| + tr Q,

    which is ``rho - 2 sqrt(rho) |m| + Q`` for M = M_star = 1. The matching pi (each factor to
    its own latent) maximizes the overlap; unmatched latents count through tr Q.

    Parameters
    ----------
    m : array, shape (..., M, M_star)
    Q : array, shape (..., M, M)
    rho : float or array, shape (M_star,)
    T : array, shape (M_star, M_star), optional
        W_star^T W_star / N; the identity by default. Only its diagonal enters.

    Returns
    -------
    eps_g : array, shape (...)
    """
    m = np.asarray(m, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    M_star = m.shape[-1]
    rho_vec = np.broadcast_to(np.asarray(rho, dtype=np.float64), (M_star,))
    T_diag = np.ones(M_star) if T is None else np.diagonal(np.asarray(T, dtype=np.float64))
    score = np.abs(m) * np.sqrt(rho_vec)
    overlap = _best_matching(score)
    return float(rho_vec @ T_diag) - 2.0 * overlap + np.trace(Q, axis1=-2, axis2=-1)


def state_size(M: int, M_star: int) -> int:
    """Length of the flat state vector of `pack_state`."""
    return 2 * M * M_star + 3 * M * M + M


def pack_state(op: OrderParameters) -> np.ndarray:
    """Flatten order parameters into one vector (..., state_size): the ODE's state layout.

    Layout: m, d (row-major M x M_star), Q, E, R (row-major M x M, all entries), D (M).
    """
    lead = op.m.shape[:-2]
    parts = [np.reshape(getattr(op, name), (*lead, -1)) for name in ORDER_PARAMETER_NAMES]
    return np.concatenate(parts, axis=-1)


def unpack_state(y: np.ndarray, M: int, M_star: int) -> OrderParameters:
    """Inverse of `pack_state`; ``y`` has shape (..., state_size(M, M_star))."""
    y = np.asarray(y, dtype=np.float64)
    if y.shape[-1] != state_size(M, M_star):
        raise ValueError(
            f"The state vector must have length {state_size(M, M_star)} for M = {M}, "
            f"M_star = {M_star}. Got {y.shape[-1]}."
        )
    lead = y.shape[:-1]
    sizes = [M * M_star, M * M_star, M * M, M * M, M * M, M]
    shapes = [(M, M_star), (M, M_star), (M, M), (M, M), (M, M), (M,)]
    out, start = {}, 0
    for name, size, shape in zip(ORDER_PARAMETER_NAMES, sizes, shapes, strict=True):
        out[name] = y[..., start : start + size].reshape(*lead, *shape)
        start += size
    return OrderParameters(**out)
