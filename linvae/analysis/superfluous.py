"""Superfluous latents, M > M_star.

The mathematics is on the results page (docs/results.md, section "Claim 3: superfluous
latents").

Symbols
-------
M, M_star   latent dimension and number of true factors
nu_k        rho_k + eta; eta the noise bulk
eps_g*      eps_g at the attractor
share_i(t)  m_i^2 / sum_j m_j^2: the part of a factor that latent i carries at time t

A collapsed spare latent sees only the noise bulk; its growth rate is the top eigenvalue of
``tau [[-(1 + lam), eta], [eta, -(eta beta + lam)]]``, positive iff
``beta < eta / (1 + lam) - lam / eta``. For lam = 0:

* beta < eta: every spare latent fits background noise (``Q_kk -> eta - beta``), so
  ``eps_g* = sum_k (sqrt(rho_k) - sqrt(nu_k - beta))^2 + (M - M_star)(eta - beta)``;
* beta = eta: the spare mode is marginal and the approach is algebraic, ``~ 1/t``;
* beta > eta: spare latents collapse, slowly just above eta.

Early on several latents pick up the same factor (entangled); the slowest mode is the spare
latents shedding their share of it (disentangling), which makes training with spare latents slow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from linvae.analysis.convergence import settling_time, stable_point
from linvae.analysis.stability import FixedPoint
from linvae.observables import OrderParameters
from linvae.params import Model
from linvae.theory.initial import initial_order_parameters
from linvae.theory.solve import solve_ode
from linvae.trajectory import Trajectory
from linvae.utils.validation import check_real

__all__ = [
    "ConvergenceVsM",
    "SuperfluousDynamics",
    "convergence_vs_latents",
    "decay_exponent",
    "superfluous_dynamics",
    "superfluous_error",
]


def superfluous_error(M, beta, *, rho=1.0, eta=1.0, M_star: int = 1):
    """eps_g* in the tau -> 0 limit with lam = 0, including the noise-fitting spare latents.

    ``eps_g* = sum_k (sqrt(rho_k) - sqrt(nu_k - beta)_+)^2 + (M - n_learned)(eta - beta)_+``,
    where the min(M, #{k: beta < nu_k}) strongest factors are learned (equal rho: the first).

    Parameters
    ----------
    M : int or array of int
        Latent dimension(s).
    beta : float or array
        KL weight(s), > 0 (broadcast against M).
    rho : float or sequence of M_star floats
    eta : float
    M_star : int

    Returns
    -------
    ndarray or float

    Examples
    --------
    >>> float(superfluous_error(3, 0.5))  # (1 - sqrt 1.5)^2 + 2 (1 - 0.5)
    1.0505102572168219
    """
    rho_vec = np.broadcast_to(np.asarray(rho, dtype=np.float64), (M_star,))
    order = np.argsort(-rho_vec, kind="stable")
    M_arr, beta_arr = np.broadcast_arrays(
        np.asarray(M, dtype=np.int64), np.asarray(beta, dtype=np.float64)
    )
    total = np.zeros(beta_arr.shape)
    n_learned = np.zeros(beta_arr.shape, dtype=np.int64)
    for k in order:
        nu = rho_vec[k] + eta
        learned = (beta_arr < nu) & (n_learned < M_arr)
        err = (np.sqrt(rho_vec[k]) - np.sqrt(np.clip(nu - beta_arr, 0.0, None))) ** 2
        total += np.where(learned, err, rho_vec[k])
        n_learned += learned
    total += (M_arr - n_learned) * np.clip(eta - beta_arr, 0.0, None)
    return float(total) if total.ndim == 0 else total


def decay_exponent(t: np.ndarray, distance: np.ndarray, *, t_min: float) -> float:
    """Slope of log(distance) against log(t) for t >= t_min (least squares): -1 for ~1/t.

    Examples
    --------
    >>> t = np.geomspace(1.0, 1e4, 50)
    >>> round(decay_exponent(t, 3.0 / t, t_min=10.0), 12)
    -1.0
    """
    t = np.asarray(t, dtype=np.float64)
    d = np.abs(np.asarray(distance, dtype=np.float64))
    sel = (t >= t_min) & (d > 0)
    if sel.sum() < 2:
        raise ValueError(
            f"The `t_min` parameter of decay_exponent leaves {int(sel.sum())} points with a "
            f"nonzero distance; at least 2 are needed. Got t_min = {t_min:g}."
        )
    return float(np.polyfit(np.log(t[sel]), np.log(d[sel]), 1)[0])


@dataclass(frozen=True, kw_only=True)
class SuperfluousDynamics:
    """Result of `superfluous_dynamics`.

    Attributes
    ----------
    model : Model
    tol : float
        Tolerance of ``t_conv`` on eps_g.
    attractor : FixedPoint
        Where training ends (learned+noise for beta < eta, learned+collapsed above).
    eps_g_star : float
        eps_g at the attractor (same ``sgd_noise`` as the run).
    eps_g_formula : float
        The tau -> 0, lam = 0 formula (`superfluous_error`).
    trajectory : Trajectory
        The ODE solution.
    t_conv : float
        First time after which |eps_g - eps_g*| < tol (inf if not reached).
    share : ndarray, shape (n_t, M)
        share_i(t) of factor 0: which latent carries it over time.
    carrier : ndarray of int, shape (n_t,)
        argmax_i share_i(t).
    t_disentangle : float
        First time after which the carrier's share stays above ``1 - tol``.
    """

    model: Model
    tol: float
    attractor: FixedPoint = field(repr=False)
    eps_g_star: float
    eps_g_formula: float
    trajectory: Trajectory = field(repr=False)
    t_conv: float
    share: np.ndarray = field(repr=False)
    carrier: np.ndarray = field(repr=False)
    t_disentangle: float


def superfluous_dynamics(
    model: Model,
    *,
    init: OrderParameters | Trajectory | None = None,
    t_max: float,
    tol: float = 1e-3,
    t_eval: np.ndarray | None = None,
    n_points: int = 2000,
    sgd_noise: bool = True,
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> SuperfluousDynamics:
    """Integrate the ODE with M latents and read off convergence and disentanglement.

    Parameters
    ----------
    model : Model
        Typically M > M_star.
    init : OrderParameters or Trajectory, optional
        Default `linvae.theory.initial.initial_order_parameters` (N = 200, seed 0):
        distinct latents, as in a simulation.
    t_max : float
        Integration time.
    tol : float
        Tolerance on eps_g (and on the carrier's share).
    t_eval : array, optional
        Output times (default ``n_points`` evenly spaced).
    n_points : int
    sgd_noise : bool
        Keep the O(tau^2) terms.
    rtol, atol : float
        Solver tolerances.

    Returns
    -------
    SuperfluousDynamics

    Examples
    --------
    >>> from linvae import Model
    >>> res = superfluous_dynamics(Model(M=2, beta=0.5, tau=0.05), t_max=4000.0)
    >>> res.attractor.name, round(res.eps_g_formula, 6)
    ('learned+noise', 0.55051)
    """
    owner = "superfluous_dynamics"
    t_max = check_real("t_max", t_max, owner, low=0.0)
    tol = check_real("tol", tol, owner, low=0.0)
    if init is None:
        init = initial_order_parameters(model)
    if t_eval is None:
        t_eval = np.linspace(0.0, t_max, n_points)
    point = stable_point(model, sgd_noise=sgd_noise)
    traj = solve_ode(
        model, t_max=t_max, init=init, t_eval=t_eval, sgd_noise=sgd_noise, rtol=rtol, atol=atol
    )
    m2 = traj.m[0, :, :, 0] ** 2
    share = m2 / np.maximum(m2.sum(axis=1, keepdims=True), np.finfo(float).tiny)
    carrier = np.argmax(share, axis=1)
    top = share[np.arange(share.shape[0]), carrier]
    final_carrier = carrier[-1]
    # Disentangled: the final carrier holds all but tol of the factor from then on.
    carried = np.where(carrier == final_carrier, top, 0.0)
    t_dis = settling_time(traj.t, 1.0 - carried, 0.0, tol)
    formula = superfluous_error(
        model.M,
        float(model.schedule.final),
        rho=model.rho_vector,
        eta=model.eta,
        M_star=model.M_star,
    )
    return SuperfluousDynamics(
        model=model,
        tol=float(tol),
        attractor=point,
        eps_g_star=point.eps_g,
        eps_g_formula=float(formula),
        trajectory=traj,
        t_conv=settling_time(traj.t, traj.eps_g[0], point.eps_g, tol),
        share=share,
        carrier=carrier,
        t_disentangle=t_dis,
    )


@dataclass(frozen=True, kw_only=True)
class ConvergenceVsM:
    """Result of `convergence_vs_latents`.

    Attributes
    ----------
    model : Model
        The base model (its M is replaced by each of ``Ms``).
    Ms : ndarray of int, shape (k,)
    t_conv : ndarray, shape (k,)
        Convergence time for each M (inf if not reached by ``t_max``).
    t_disentangle : ndarray, shape (k,)
    eps_g_star : ndarray, shape (k,)
        eps_g at the attractor for each M.
    eps_g_formula : ndarray, shape (k,)
        `superfluous_error` for each M.
    tol, t_max : float
    runs : tuple of SuperfluousDynamics
    """

    model: Model
    Ms: np.ndarray
    t_conv: np.ndarray
    t_disentangle: np.ndarray
    eps_g_star: np.ndarray
    eps_g_formula: np.ndarray
    tol: float
    t_max: float
    runs: tuple = field(repr=False)

    def as_dict(self) -> dict:
        """JSON-able summary."""
        return {
            "M": self.Ms.tolist(),
            "t_conv": [None if math.isinf(v) else v for v in self.t_conv.tolist()],
            "t_disentangle": [None if math.isinf(v) else v for v in self.t_disentangle.tolist()],
            "eps_g_star": self.eps_g_star.tolist(),
            "eps_g_formula": self.eps_g_formula.tolist(),
            "tol": self.tol,
            "t_max": self.t_max,
        }


def convergence_vs_latents(
    model: Model,
    Ms: Sequence[int],
    *,
    t_max: float,
    tol: float = 1e-3,
    N: int = 200,
    rng=0,
    sgd_noise: bool = True,
    n_points: int = 2000,
) -> ConvergenceVsM:
    """Convergence time and eps_g* as the number of latents M grows (M_star fixed).

    Each M starts from its own `linvae.theory.initial.initial_order_parameters`
    (N, rng). The first compilation of the ODE for a new M takes seconds (M = 3: about a minute
    for the Jacobian), cached on disk afterwards.

    Parameters
    ----------
    model : Model
        Base model; its M is replaced.
    Ms : sequence of int
        Latent dimensions, each >= 1.
    t_max, tol, N, rng, sgd_noise, n_points
        As `superfluous_dynamics` and `initial_order_parameters`.

    Returns
    -------
    ConvergenceVsM

    Examples
    --------
    >>> from linvae import Model
    >>> res = convergence_vs_latents(Model(beta=0.5, tau=0.05), [1, 2], t_max=4000.0)
    >>> bool(res.t_conv[1] > res.t_conv[0])
    True
    """
    runs = []
    for M in Ms:
        m = replace(model, M=int(M))
        init = initial_order_parameters(m, N=N, rng=rng)
        runs.append(
            superfluous_dynamics(
                m, init=init, t_max=t_max, tol=tol, sgd_noise=sgd_noise, n_points=n_points
            )
        )
    return ConvergenceVsM(
        model=model,
        Ms=np.array([int(M) for M in Ms]),
        t_conv=np.array([r.t_conv for r in runs]),
        t_disentangle=np.array([r.t_disentangle for r in runs]),
        eps_g_star=np.array([r.eps_g_star for r in runs]),
        eps_g_formula=np.array([r.eps_g_formula for r in runs]),
        tol=float(tol),
        t_max=float(t_max),
        runs=tuple(runs),
    )
