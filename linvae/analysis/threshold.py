"""The posterior-collapse threshold beta*.

The mathematics is on the results page (docs/results.md, section "Claim 1: the
posterior-collapse threshold").

Symbols
-------
nu_k     rho_k T_kk + eta, the data variance along factor k (T = I here: rho_k + eta)
lam      L2 penalty on W and V
beta*    KL weight above which the collapsed point (m = d = 0, D = 1) attracts factor k

At the collapsed point the (m, d) block of the Jacobian decouples, one 2 x 2 block per latent
and factor k:

    tau [[-(1 + lam), nu_k], [nu_k, -(nu_k beta + lam)]],

whose determinant vanishes at ``beta_k* = nu_k / (1 + lam) - lam / nu_k`` (``nu_k`` when
lam = 0). Factor k is learned iff beta < beta_k*; total collapse needs beta >= max_k beta_k*.
A spare latent sees only the noise bulk (``nu -> eta``): it fits noise iff
``beta < eta / (1 + lam) - lam / eta``. None of these depends on tau.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import brentq

from linvae.observables import state_size
from linvae.params import Model
from linvae.theory.drift import Drift

__all__ = ["CollapseThreshold", "collapse_threshold", "threshold_formula"]


def threshold_formula(rho, eta, lam=0.0):
    """beta* = nu / (1 + lam) - lam / nu with nu = rho + eta, vectorized.

    Parameters
    ----------
    rho, eta, lam : float or array (broadcastable)
        Signal strength (0 gives the spare-latent threshold), noise strength, L2 penalty.

    Returns
    -------
    ndarray or float
        A negative value means collapse for every beta >= 0.

    Examples
    --------
    >>> float(threshold_formula(1.0, 1.0))
    2.0
    >>> round(float(threshold_formula(1.0, 1.0, 0.1)), 12)  # 2 / 1.1 - 0.05
    1.768181818182
    """
    nu = np.asarray(rho, dtype=np.float64) + np.asarray(eta, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    out = nu / (1.0 + lam) - lam / nu
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True, kw_only=True)
class CollapseThreshold:
    """Result of `collapse_threshold`.

    Attributes
    ----------
    model : Model
        rho_k, eta, lam (M, beta and tau do not enter).
    method : {"analytic", "numerical"}
    beta_star : float
        Total-collapse threshold max_k beta_k*: for beta above it collapse is the only attractor.
    per_factor : ndarray, shape (M_star,)
        beta_k*: factor k is learned iff beta < beta_k*.
    spare_latent : float
        eta / (1 + lam) - lam / eta: a spare latent fits noise iff beta is below it.
    brackets : ndarray or None, shape (M_star, 2)
        The brackets of the root finder (numerical method).
    """

    model: Model
    method: Literal["analytic", "numerical"]
    beta_star: float
    per_factor: np.ndarray = field(repr=False)
    spare_latent: float
    brackets: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        """JSON-able summary."""
        return {
            "beta_star": self.beta_star,
            "per_factor": self.per_factor.tolist(),
            "spare_latent": self.spare_latent,
            "method": self.method,
            "rho": self.model.rho_vector.tolist(),
            "eta": self.model.eta,
            "lam": self.model.lam,
        }


def _collapsed_signal_top(drift: Drift, beta: float, factor: int) -> float:
    """Top real eigenvalue of the (m, d) block for one factor at the collapsed point."""
    M, M_star = drift.model.M, drift.model.M_star
    n = state_size(M, M_star)
    y = np.zeros(n)
    y[n - M :] = 1.0
    J = drift.at_beta(beta).jacobian(y)
    idx = [i * M_star + factor for i in range(M)]
    idx = idx + [M * M_star + k for k in idx]
    return float(np.max(np.linalg.eigvals(J[np.ix_(idx, idx)]).real))


def collapse_threshold(
    model: Model,
    *,
    method: Literal["analytic", "numerical"] = "analytic",
    xtol: float = 1e-13,
) -> CollapseThreshold:
    """The posterior-collapse threshold beta*, per factor and in total.

    ``beta_k* = nu_k / (1 + lam) - lam / nu_k``, ``nu_k = rho_k + eta`` (``rho + eta`` when
    lam = 0); ``beta* = max_k beta_k*``.

    Parameters
    ----------
    model : Model
        rho (or rho_k), eta, lam; T = I.
    method : {"analytic", "numerical"}
        The formula, or the zero crossing (`scipy.optimize.brentq`) of the top eigenvalue
        of each factor's (m, d) block of the derived Jacobian at the collapsed point.
    xtol : float
        Absolute tolerance of brentq on beta.

    Returns
    -------
    CollapseThreshold
        ``beta_star``, ``per_factor``, ``spare_latent``, and the inputs.

    Notes
    -----
    At the collapsed point the (m, d) block decouples from (Q, E, R, D), which depend on m, d
    quadratically. For beta >= 0 above the spare-latent threshold its top eigenvalue is the top
    eigenvalue of the whole Jacobian, so the crossing is where the collapsed point turns stable.
    The eigenvalue is tau times a function of beta, so beta* does not depend on tau; the crossing
    is followed to negative beta when lam makes beta* < 0 (collapse at every beta >= 0).

    References
    ----------
    Y. Ichikawa and K. Hukushima, AISTATS 2024, arXiv 2310.15440, Theorem on posterior collapse.

    Examples
    --------
    >>> from linvae import Model
    >>> collapse_threshold(Model(rho=1.0, eta=1.0)).beta_star
    2.0
    >>> round(collapse_threshold(Model(rho=1.0, eta=1.0), method="numerical").beta_star, 10)
    2.0
    """
    if not isinstance(model, Model):
        raise TypeError(
            f"The `model` parameter of collapse_threshold must be a Model. Got {model!r}."
        )
    if method not in ("analytic", "numerical"):
        raise ValueError(
            "The `method` parameter of collapse_threshold must be 'analytic' or 'numerical'. "
            f"Got {method!r}."
        )
    rho, eta, lam = model.rho_vector, model.eta, model.lam
    spare = float(threshold_formula(0.0, eta, lam))
    brackets = None
    if method == "analytic":
        per_factor = np.atleast_1d(threshold_formula(rho, eta, lam)).astype(np.float64)
    else:
        M_star = model.M_star
        drift = Drift(model, sgd_noise=False)
        per_factor = np.empty(M_star)
        brackets = np.empty((M_star, 2))
        for k in range(M_star):

            def top(beta, k=k):
                return _collapsed_signal_top(drift, beta, k)

            # beta_k* <= nu_k: the block's determinant is positive beyond it.
            hi = float(rho[k] + eta) + 1.0
            lo = 0.0
            while top(lo) <= 0.0:
                lo = 2.0 * lo - 1.0
            per_factor[k] = brentq(top, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps)
            brackets[k] = lo, hi
    per_factor.setflags(write=False)
    return CollapseThreshold(
        model=model,
        method=method,
        beta_star=float(per_factor.max()),
        per_factor=per_factor,
        spare_latent=spare,
        brackets=brackets,
    )
