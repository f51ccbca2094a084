"""Plain-numpy references of the jitted kernels: the tests' oracle (readable, slow).

Written from the model's equations (docs/simulator.md, section "The model"), independently of
the kernels; it imports nothing from linvae, and nothing in linvae imports it.

Symbols as in `linvae.sgd.kernels`: W, V (N x M), D (M), W_star (N x M_star), x (N),
a = W^T x / sqrt N, mu = V^T x / sqrt N, Q = W^T W / N, g = -a + (Q + beta I) mu.
"""

from __future__ import annotations

import numpy as np


def sample_input(W_star, rho, eta, c, n):
    """x = W_star diag(sqrt(rho / N)) c + sqrt(eta) n for given draws c (M_star[, S]),
    n (N[, S])."""
    N, M_star = W_star.shape
    scale = np.sqrt(np.broadcast_to(np.asarray(rho, dtype=np.float64), (M_star,)) / N)
    c = np.asarray(c)
    return W_star @ (scale.reshape(M_star, *[1] * (c.ndim - 1)) * c) + np.sqrt(eta) * n


def sgd_step(W, V, D, x, *, beta, tau, tau_D, lam):
    """One SGD step on the per-sample loss, written from its gradients (both in
    docs/simulator.md, section "The model"). Returns new (W, V, D); the inputs are not
    modified."""
    N = W.shape[0]
    sqrt_n = np.sqrt(N)
    Q = W.T @ W / N
    a = W.T @ x / sqrt_n
    mu = V.T @ x / sqrt_n
    g = -a + (Q + beta * np.eye(len(D))) @ mu
    grad_W = (
        -np.outer(x, mu) / sqrt_n + W @ (np.outer(mu, mu) + np.diag(D) + lam * np.eye(len(D))) / N
    )
    grad_V = np.outer(x, g) / sqrt_n + lam * V / N
    grad_D = 0.5 * np.diag(Q) + 0.5 * beta * (1.0 - 1.0 / D)
    return W - tau * grad_W, V - tau * grad_V, D - tau_D * grad_D
