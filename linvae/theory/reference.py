"""Plain-numpy matrix forms of the order-parameter ODEs: the reference.

The equations are on the theory page (docs/theory.md, section "The result").

Symbols
-------
m, d     (M x M_star) decoder- and encoder-signal overlaps
Q, E, R  (M x M) Gram matrices of W, V and W^T V / N
D        (M) encoder variances
T        (M_star x M_star) W_star^T W_star / N
P        diag(rho_k): per-factor signal strengths
eta, beta, lam, tau as in `linvae.params`; xi = 1 keeps the O(tau^2) SGD-noise terms

With the field moments A = m P m^T + eta Q, B = d P d^T + eta E, C = m P d^T + eta R,
K = B + diag(D) + lam I and Qb = Q + beta I:

    dm/dt = tau [ d P T + eta d - K m ]
    dd/dt = tau [ m P T + eta m - Qb (d P T + eta d) - lam d ]
    dQ/dt = tau [ C + C^T - Q K - K Q ] + xi tau^2 eta B
    dE/dt = tau [ C + C^T - B Qb - Qb B - 2 lam E ] + xi tau^2 eta [ A - C Qb - Qb C^T + Qb B Qb ]
    dR/dt = tau [ A + B - K R - C Qb - lam R ] - xi tau^2 eta [ B Qb - C^T ]
    dD_k/dt = -(tau/2) [ Q_kk + beta - beta / D_k ]

This module is transcribed from the matrix forms, independently of the sympy derivation
(`linvae.theory.derive`); tests compare the two, and the benchmark times both.
"""

from __future__ import annotations

import numpy as np

__all__ = ["matrix_form_drift"]


def matrix_form_drift(
    y: np.ndarray,
    *,
    M: int,
    M_star: int,
    rho: np.ndarray,
    T: np.ndarray,
    eta: float,
    beta: float,
    lam: float,
    tau: float,
    xi: float = 1.0,
) -> np.ndarray:
    """dy/dt of the flat order-parameter state from the matrix forms (docs/theory.md, "The result").

    Parameters
    ----------
    y : ndarray, shape (state_size(M, M_star),)
        State in the layout of `linvae.observables.pack_state`. Q and E are used as given
        (they should be symmetric).
    M, M_star : int
        Shape of the problem.
    rho : ndarray, shape (M_star,)
        Per-factor signal strengths.
    T : ndarray, shape (M_star, M_star)
        W_star^T W_star / N.
    eta, beta, lam, tau : float
        Noise strength, KL weight at the current time, L2 penalty, learning rate.
    xi : float
        1 keeps the O(tau^2) SGD-noise terms, 0 drops them.

    Returns
    -------
    ndarray, shape (state_size(M, M_star),)
        The drift in the same layout.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0.1, 0.1, 1.0, 1.0, 0.0, 1.0])
    >>> dy = matrix_form_drift(y, M=1, M_star=1, rho=np.ones(1), T=np.eye(1),
    ...                        eta=1.0, beta=1.0, lam=0.0, tau=0.01)
    >>> dy.shape
    (6,)
    """
    n1 = M * M_star
    n2 = M * M
    m = y[:n1].reshape(M, M_star)
    d = y[n1 : 2 * n1].reshape(M, M_star)
    o = 2 * n1
    Q = y[o : o + n2].reshape(M, M)
    E = y[o + n2 : o + 2 * n2].reshape(M, M)
    R = y[o + 2 * n2 : o + 3 * n2].reshape(M, M)
    D = y[o + 3 * n2 :]
    P = np.diag(rho)
    eye = np.eye(M)

    A = m @ P @ m.T + eta * Q
    B = d @ P @ d.T + eta * E
    C = m @ P @ d.T + eta * R
    K = B + np.diag(D) + lam * eye
    Qb = Q + beta * eye
    d_nu = d @ P @ T + eta * d  # E[mu nu^T]
    m_nu = m @ P @ T + eta * m  # E[a nu^T]

    dm = tau * (d_nu - K @ m)
    dd = tau * (m_nu - Qb @ d_nu - lam * d)
    dQ = tau * (C + C.T - Q @ K - K @ Q) + xi * tau**2 * eta * B
    dE = tau * (C + C.T - B @ Qb - Qb @ B - 2 * lam * E) + xi * tau**2 * eta * (
        A - C @ Qb - Qb @ C.T + Qb @ B @ Qb
    )
    dR = tau * (A + B - K @ R - C @ Qb - lam * R) - xi * tau**2 * eta * (B @ Qb - C.T)
    dD = -0.5 * tau * (np.diagonal(Q) + beta - beta / D)
    return np.concatenate([dm.ravel(), dd.ravel(), dQ.ravel(), dE.ravel(), dR.ravel(), dD])
