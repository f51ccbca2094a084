"""The top of the sample covariance: its largest eigenvalue s and the overlap c of its eigenvector.

The finite-data theory (docs/offline.md) sees a training set only through these two numbers.

Symbols
-------
N, n      input dimension, number of training samples; alpha = n / N
rho, eta  signal and noise strengths: population covariance eta I + (rho / N) W_star W_star^T
C         the sample covariance (1/n) sum_mu x^mu x^mu^T (N x N)
s         the largest eigenvalue of C
psi       its unit eigenvector
c         |psi . W_star| / sqrt(N), the cosine between psi and the signal direction

As N -> infinity at fixed alpha (spiked covariance, Baik-Ben Arous-Peche transition at
``alpha_BBP = (eta / rho)^2``):

* ``alpha > alpha_BBP``: ``s = (rho + eta)(1 + eta / (alpha rho))``,
  ``c^2 = (1 - eta^2 / (alpha rho^2)) / (1 + eta / (alpha rho))``;
* otherwise the spike is lost in the Marchenko-Pastur bulk: ``s = eta (1 + alpha^-1/2)^2``,
  ``c = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh

from linvae.utils.validation import check_array, check_real

__all__ = ["Spectrum", "bbp_threshold", "sample_spectrum", "spiked_spectrum"]


@dataclass(frozen=True, kw_only=True)
class Spectrum:
    """The top eigenvalue and eigenvector overlap of a sample covariance.

    Attributes
    ----------
    s : float or ndarray
        Largest eigenvalue of the sample covariance.
    c : float or ndarray
        Cosine |psi . W_star| / (|psi| |W_star|) of its eigenvector with the signal, in [0, 1].
    alpha : float or ndarray
        Samples per dimension n / N (``inf`` for the population).
    """

    s: float | np.ndarray
    c: float | np.ndarray
    alpha: float | np.ndarray


def bbp_threshold(rho: float, eta: float) -> float:
    """alpha_BBP = (eta / rho)^2: below it the top eigenvector of C carries no signal.

    Examples
    --------
    >>> bbp_threshold(1.0, 1.0), bbp_threshold(2.0, 1.0)
    (1.0, 0.25)
    """
    rho = check_real("rho", rho, "bbp_threshold", low=0.0)
    eta = check_real("eta", eta, "bbp_threshold", low=0.0)
    return (eta / rho) ** 2


def spiked_spectrum(alpha, *, rho: float = 1.0, eta: float = 1.0) -> Spectrum:
    """s(alpha) and c(alpha) as N -> infinity (module docstring), vectorized over alpha.

    Parameters
    ----------
    alpha : float or array
        Samples per dimension, > 0; ``inf`` gives the population values ``s = rho + eta``,
        ``c = 1``.
    rho, eta : float
        Signal and noise strengths, > 0.

    Returns
    -------
    Spectrum
        ``s`` and ``c`` with the shape of ``alpha`` (floats for a scalar).

    Examples
    --------
    >>> sp = spiked_spectrum([0.25, 4.0, float("inf")])
    >>> sp.s.tolist(), np.round(sp.c**2, 12).tolist()
    ([9.0, 2.5, 2.0], [0.0, 0.6, 1.0])
    """
    rho = check_real("rho", rho, "spiked_spectrum", low=0.0)
    eta = check_real("eta", eta, "spiked_spectrum", low=0.0)
    a = np.asarray(alpha, dtype=np.float64)
    if np.any(~(a > 0)):
        raise ValueError(
            f"The `alpha` parameter of spiked_spectrum must be > 0 (samples per dimension). "
            f"Got {alpha!r}."
        )
    with np.errstate(divide="ignore"):
        g = eta / (a * rho)  # eta / (alpha rho); 0 at alpha = inf
        above = a * rho**2 > eta**2
        s_spike = (rho + eta) * (1.0 + g)
        s_bulk = eta * (1.0 + 1.0 / np.sqrt(a)) ** 2
        c2 = np.where(above, (1.0 - g * eta / rho) / (1.0 + g), 0.0)
    s = np.where(above, s_spike, s_bulk)
    c = np.sqrt(np.clip(c2, 0.0, 1.0))
    if a.ndim == 0:
        return Spectrum(s=float(s), c=float(c), alpha=float(a))
    return Spectrum(s=s, c=c, alpha=a)


def sample_spectrum(X: np.ndarray, W_star: np.ndarray | None = None) -> Spectrum:
    """s and c of the sample covariance of one data set (rows are samples).

    Parameters
    ----------
    X : array, shape (n, N)
        The training set, one sample per row.
    W_star : array, shape (N,) or (N, 1), optional
        The signal direction (default all ones, the authors' teacher).

    Returns
    -------
    Spectrum
        Floats ``s``, ``c`` and ``alpha = n / N``.

    Examples
    --------
    >>> X = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, -1.0]])   # C = [[1, 1/3], [1/3, 1]]
    >>> sp = sample_spectrum(X)
    >>> round(sp.s, 12), round(sp.c, 12), sp.alpha
    (1.333333333333, 1.0, 1.5)
    """
    X = check_array("X", X, "sample_spectrum", shape=(None, None))
    n, N = X.shape
    w = np.ones(N) if W_star is None else np.asarray(W_star, dtype=np.float64).reshape(-1)
    w = check_array("W_star", w, "sample_spectrum", shape=(N,))
    # The top eigenpair of C = X^T X / n, from the smaller of C and the Gram matrix X X^T / n.
    if n >= N:
        top, vec = eigh(X.T @ X / n, subset_by_index=[N - 1, N - 1])
        psi = vec[:, 0]
    else:
        top, vec = eigh(X @ X.T / n, subset_by_index=[n - 1, n - 1])
        psi = X.T @ vec[:, 0]
        psi /= np.linalg.norm(psi)
    return Spectrum(
        s=float(top[0]),
        c=float(abs(psi @ w) / np.linalg.norm(w)),
        alpha=n / N,
    )
