"""The (alpha, beta) phase diagram of the offline linear VAE (M = M_star = 1).

The mathematics is on the finite-data page (docs/offline.md, "Phase diagram").

Symbols
-------
alpha      samples per dimension n / N (horizontal axis)
beta       KL weight (vertical axis)
beta_c     collapse threshold of the global minimum, a function of alpha (and lam)
alpha_BBP  (eta / rho)^2: below it the top eigenvector of the sample covariance carries no signal
nu         rho + eta, the online threshold, the limit of beta_c as alpha -> infinity

Each grid point is labelled by its global minimum (`OfflinePhase`): collapsed (Q = 0),
learned (Q > 0 and eps_g < rho: the code beats the prior) or over-fitting (Q > 0 but
eps_g >= rho: what was learned is mostly noise, as always below alpha_BBP).
"""

from __future__ import annotations

import enum
import time

import numpy as np

from linvae.analysis.phase import PhaseDiagram
from linvae.analysis.threshold import transition_betas
from linvae.offline.spectrum import bbp_threshold, spiked_spectrum
from linvae.offline.theory import collapse_threshold, solve_offline
from linvae.params import Model

__all__ = ["OfflinePhase", "offline_phase_diagram"]


class OfflinePhase(enum.Enum):
    """Labels of the (alpha, beta) diagram (stored as strings in ``values["phase"]``)."""

    COLLAPSED = "collapsed"
    LEARNED = "learned"
    OVERFITTING = "over-fitting"


def offline_phase_diagram(
    alphas, betas, *, rho: float = 1.0, eta: float = 1.0, lam: float = 0.0
) -> PhaseDiagram:
    """Collapsed / learned / over-fitting over (alpha, beta), with eps_g of the global minimum.

    Parameters
    ----------
    alphas : array, shape (nx,)
        Samples per dimension, > 0 (horizontal axis).
    betas : array, shape (ny,)
        KL weights, > 0 (vertical axis).
    rho, eta : float
        Signal and noise strengths, > 0.
    lam : float
        L2 penalty of the summed loss, >= 0.

    Returns
    -------
    PhaseDiagram
        ``kind = "alpha-beta"``; ``values``: ``phase`` (str), ``eps_g``, ``Q``, ``rate``,
        ``distortion``, ``coexistence`` (1.0 where a learned and a collapsed local minimum
        coexist: the first-order region); ``boundary``: ``beta_c`` (nx,: beta_c(alpha)),
        ``beta_star`` (nx,: the collapsed point is a local minimum above it),
        ``beta_spinodal`` (nx,: the learned local minimum exists below it) and
        ``beta_coexistence`` (nx,: equal loss, which is beta_c where the transition is first
        order), from `linvae.analysis.threshold.transition_betas` with the top sample
        eigenvalue s(alpha) as the variance and lam / alpha as the penalty; ``alpha_bbp`` and
        ``beta_online`` (rho + eta), as arrays of one value.

    Examples
    --------
    >>> pd = offline_phase_diagram([0.5, 4.0], [1.0, 3.0], lam=1.0)
    >>> pd.values["phase"].tolist()
    [['over-fitting', 'learned'], ['collapsed', 'collapsed']]
    """
    start = time.perf_counter()
    alphas = np.asarray(alphas, dtype=np.float64)
    betas = np.asarray(betas, dtype=np.float64)
    if alphas.ndim != 1 or betas.ndim != 1 or alphas.size == 0 or betas.size == 0:
        raise ValueError(
            "The `alphas` and `betas` parameters of offline_phase_diagram must be non-empty "
            f"1-D arrays. Got shapes {alphas.shape}, {betas.shape}."
        )
    sol = solve_offline(alphas[None, :], rho=rho, eta=eta, beta=betas[:, None], lam=lam)
    # Per sample the loss is the online one along a direction of variance s(alpha) with the
    # penalty lam / alpha: the same cubic, so the same three transition lines.
    lines = transition_betas(spiked_spectrum(alphas, rho=rho, eta=eta).s, lam / alphas)
    collapsed = np.asarray(sol.collapsed)
    phase = np.where(
        collapsed,
        OfflinePhase.COLLAPSED.value,
        np.where(sol.eps_g < rho, OfflinePhase.LEARNED.value, OfflinePhase.OVERFITTING.value),
    )
    return PhaseDiagram(
        kind="alpha-beta",
        x_name="alpha",
        y_name="beta",
        x=alphas,
        y=betas,
        values={
            "phase": phase,
            "eps_g": sol.eps_g,
            "Q": sol.Q,
            "rate": sol.rate,
            "distortion": sol.distortion,
            "coexistence": np.asarray(sol.coexistence, dtype=np.float64),
        },
        default_value="eps_g",
        boundary={
            "beta_c": np.atleast_1d(collapse_threshold(alphas, rho=rho, eta=eta, lam=lam)),
            "beta_star": np.atleast_1d(lines.beta_star),
            "beta_spinodal": np.atleast_1d(lines.beta_spinodal),
            "beta_coexistence": np.atleast_1d(lines.beta_coexistence),
            "alpha_bbp": np.array([bbp_threshold(rho, eta)]),
            "beta_online": np.array([rho + eta]),
        },
        model=Model(rho=rho, eta=eta, lam=lam),
        wall_time_s=time.perf_counter() - start,
        meta={"phases": [p.value for p in OfflinePhase], "lam_convention": "summed loss"},
    )
