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
mu2 = E_x[mu mu^T]   (M x M)         second moment of the encoder mean mu = V^T x / sqrt(N)
cross                (M x M)         E_x[(W_i^T x)(V_j^T x)] / N = W_i^T C V_j / N
rate, distortion                     E_x KL(q(z|x) || p(z)) and the reconstruction error
                                     (docs/offline.md, "Rate and distortion")

Every function here accepts arbitrary leading (batch) axes: a seed axis, a time axis, a grid,
or none. The simulator records (m, d, Q, E, R, D) and the ODE integrates them; both then call
`generalization_error` on the same arrays, so the two can be compared directly. The phase
diagrams and the finite-data theory and training call the same functions, so each observable
has one definition.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ORDER_PARAMETER_NAMES",
    "OrderParameters",
    "distortion",
    "encoder_moments",
    "generalization_error",
    "order_parameters",
    "pack_state",
    "rate",
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


def _factor_strengths(rho, M_star: int) -> np.ndarray:
    """rho as an array of shape (M_star,) or (..., M_star): a scalar is shared by the factors."""
    rho = np.asarray(rho, dtype=np.float64)
    if rho.ndim == 0:
        return np.broadcast_to(rho, (M_star,))
    return np.broadcast_to(rho, (*rho.shape[:-1], M_star))


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
    rho : float or array, shape (M_star,) or (..., M_star)
        Signal strengths; with leading axes (a grid of rho) they broadcast with those of m.
    T : array, shape (M_star, M_star), optional
        W_star^T W_star / N; the identity by default. Only its diagonal enters.

    Returns
    -------
    eps_g : array, shape (...)

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([[[0.0]], [[1.0]]])              # collapsed, then learned (M = M_star = 1)
    >>> Q = np.array([[[0.0]], [[1.0]]])
    >>> generalization_error(m, Q, 1.0).tolist()      # rho - 2 sqrt(rho) |m| + Q
    [1.0, 0.0]
    >>> generalization_error(m, Q, np.array([[1.0], [4.0]])).tolist()   # one rho per point
    [1.0, 1.0]
    """
    m = np.asarray(m, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    M_star = m.shape[-1]
    rho_vec = _factor_strengths(rho, M_star)
    T_diag = np.ones(M_star) if T is None else np.diagonal(np.asarray(T, dtype=np.float64))
    score = np.abs(m) * np.sqrt(rho_vec)[..., None, :]
    overlap = _best_matching(score)
    return rho_vec @ T_diag - 2.0 * overlap + np.trace(Q, axis1=-2, axis2=-1)


def encoder_moments(
    m: np.ndarray,
    d: np.ndarray,
    E: np.ndarray,
    R: np.ndarray,
    *,
    rho: float | np.ndarray,
    eta: float | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Second moments of the encoder mean over fresh data (T the identity).

    For x = W_star diag(sqrt(rho)) c / sqrt(N) + sqrt(eta) n and mu = V^T x / sqrt(N):

    mu2_ij   = E_x[mu_i mu_j]               = sum_k rho_k d_ik d_jk + eta E_ij,
    cross_ij = E_x[(W_i^T x)(V_j^T x)] / N  = sum_k rho_k m_ik d_jk + eta R_ij.

    On a training set with covariance C the same moments are ``V^T C V / N`` and
    ``W^T C V / N``; `rate` and `distortion` take either.

    Parameters
    ----------
    m, d : array, shape (..., M, M_star)
    E, R : array, shape (..., M, M)
    rho : float or array, shape (M_star,) or (..., M_star)
    eta : float or array, shape (...)

    Returns
    -------
    mu2, cross : arrays, shape (..., M, M)

    Examples
    --------
    >>> import numpy as np
    >>> one = np.ones((1, 1))
    >>> mu2, cross = encoder_moments(one, 0.5 * one, 0.25 * one, 0.5 * one, rho=1.0, eta=1.0)
    >>> float(mu2[0, 0]), float(cross[0, 0])          # rho d^2 + eta E, rho m d + eta R
    (0.5, 1.0)
    """
    m, d, E, R = (np.asarray(x, dtype=np.float64) for x in (m, d, E, R))
    rho_k = _factor_strengths(rho, m.shape[-1])[..., None, None, :]
    eta = np.asarray(eta, dtype=np.float64)[..., None, None]
    # Summed over the factors in this order so that M = M_star = 1 gives rho d^2 + eta E and
    # (rho m) d + eta R to the last bit, the scalar formulas of the finite-data theory.
    mu2 = np.sum(rho_k * (d[..., :, None, :] * d[..., None, :, :]), axis=-1) + eta * E
    cross = np.sum((rho_k * m[..., :, None, :]) * d[..., None, :, :], axis=-1) + eta * R
    return mu2, cross


def rate(mu2: np.ndarray, D: np.ndarray) -> np.ndarray:
    """The rate E_x KL(q(z|x) || p(z)) of the Gaussian encoder N(mu, diag D) against N(0, I).

    rate = (1/2) [tr mu2 + sum_i (D_i - ln D_i - 1)].

    Parameters
    ----------
    mu2 : array, shape (..., M, M)
        E_x[mu mu^T] (`encoder_moments`, or ``V^T C V / N`` on a training set).
    D : array, shape (..., M)
        Encoder variances, > 0 (NaN where not).

    Returns
    -------
    rate : array, shape (...)

    Examples
    --------
    >>> import numpy as np
    >>> float(rate(np.array([[0.5]]), np.array([0.5])))   # (0.5 + 0.5 - ln 0.5 - 1) / 2
    0.3465735902799727
    """
    mu2 = np.asarray(mu2, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    kl = np.sum(D - np.log(D) - 1.0, axis=-1)
    return 0.5 * (np.trace(mu2, axis1=-2, axis2=-1) + kl)


def distortion(
    cross: np.ndarray,
    Q: np.ndarray,
    mu2: np.ndarray,
    D: np.ndarray,
    *,
    rho: float | np.ndarray,
    eta: float | np.ndarray,
) -> np.ndarray:
    """The reconstruction error E ||x - W z / sqrt(N)||^2 - (N - 1) eta, z ~ q(z|x).

    distortion = sum_k rho_k + eta - 2 tr cross + tr(Q (mu2 + diag D)):
    the (N - 1) eta of the directions that no code of the signal describes is subtracted, and
    the data's squared norm is its mean sum_k rho_k + N eta (on a training set too).

    Parameters
    ----------
    cross, mu2 : array, shape (..., M, M)
        The moments of `encoder_moments` (or ``W^T C V / N`` and ``V^T C V / N``).
    Q : array, shape (..., M, M)
    D : array, shape (..., M)
    rho : float or array, shape (M_star,) or (..., M_star)
        The signal strength of each factor: only their sum enters, so pass one per factor (a
        float is one factor, M_star = 1).
    eta : float or array, shape (...)

    Returns
    -------
    distortion : array, shape (...)

    Examples
    --------
    >>> import numpy as np
    >>> one = np.ones((1, 1))                         # the online learned point at beta = 1
    >>> mu2, cross = encoder_moments(one, 0.5 * one, 0.25 * one, 0.5 * one, rho=1.0, eta=1.0)
    >>> float(distortion(cross, one, mu2, np.array([0.5]), rho=1.0, eta=1.0))   # = beta
    1.0
    """
    cross, Q, mu2 = (np.asarray(x, dtype=np.float64) for x in (cross, Q, mu2))
    D = np.asarray(D, dtype=np.float64)
    M = D.shape[-1]
    rho_vec = np.atleast_1d(np.asarray(rho, dtype=np.float64))
    second = mu2 + D[..., :, None] * np.eye(M)
    reconstruction = np.sum(Q * np.swapaxes(second, -1, -2), axis=(-2, -1))
    signal = np.sum(rho_vec, axis=-1) + np.asarray(eta, dtype=np.float64)
    return signal - 2.0 * np.trace(cross, axis1=-2, axis2=-1) + reconstruction


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
