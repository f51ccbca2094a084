"""KL annealing: the critical rate and the convergence time.

The mathematics is on the results page (docs/results.md, section "Claim 2: KL annealing and
the critical rate").

Symbols
-------
beta(t)   KL schedule; the paper's is beta_f tanh(gamma t)
beta_f    its final value; gamma its rate
J_max     largest real part of the Jacobian's eigenvalues at the attractor of beta_f (< 0)
gamma_c   critical rate -J_max / 2
eps_g*    eps_g at that attractor
T_conv    first time after which |eps_g(t) - eps_g*| stays below a tolerance

Late in training the schedule's tail, ``beta(t) - beta_f ~ -2 beta_f exp(-2 gamma t)``, drives
the state, so the distance to the fixed point decays like ``exp(-min(2 gamma, |J_max|) t)``.
Annealing slower than gamma_c slows the end of training; around gamma_c it can beat constant
beta, because a small early beta leaves the plateau near the collapsed point faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import minimize_scalar

from linvae.analysis.stability import FixedPoint, Stability, fixed_points
from linvae.observables import OrderParameters
from linvae.params import Model
from linvae.schedules import Constant, Schedule, TanhAnneal
from linvae.theory.solve import solve_ode
from linvae.trajectory import Trajectory
from linvae.utils.validation import check_int, check_real

__all__ = [
    "AnnealingOptimum",
    "ConvergenceTime",
    "CriticalRate",
    "attractor",
    "convergence_time",
    "critical_rate",
    "optimal_annealing_rate",
    "settling_time",
]


def attractor(model: Model, *, sgd_noise: bool = True) -> FixedPoint:
    """The fixed point that training converges to at beta = ``model.schedule.final``.

    The first stable (else marginal) point of `fixed_points`, which lists points with the
    most learned latents first: the learned point for beta < beta*, the collapsed one above.

    Examples
    --------
    >>> from linvae import Model
    >>> attractor(Model(beta=1.0)).name
    'learned'
    """
    points = fixed_points(model, sgd_noise=sgd_noise)
    for wanted in (Stability.STABLE, Stability.MARGINAL):
        for point in points:
            if point.stability is wanted:
                return point
    raise RuntimeError(f"No stable or marginal fixed point found for {model!r}.")


@dataclass(frozen=True, kw_only=True)
class CriticalRate:
    """Result of `critical_rate`.

    Attributes
    ----------
    model : Model
        The model; its schedule's final value is beta_f.
    beta_final : float
    sgd_noise : bool
        Whether the O(tau^2) terms were kept.
    J_max : float
        Largest real part of the eigenvalues at the attractor (negative when it is stable).
    gamma_c : float
        -J_max / 2.
    attractor : FixedPoint
        The fixed point of beta_f that training converges to.
    """

    model: Model
    beta_final: float
    sgd_noise: bool
    J_max: float
    gamma_c: float
    attractor: FixedPoint = field(repr=False)


def critical_rate(model: Model, *, sgd_noise: bool = True) -> CriticalRate:
    """J_max at the attractor of beta_f and the critical annealing rate gamma_c = -J_max / 2.

    Parameters
    ----------
    model : Model
        beta_f is ``model.schedule.final`` (a constant beta is its own beta_f).
    sgd_noise : bool
        Eigenvalues of the full drift (finite tau, what `linvae.theory.solve_ode`
        integrates by default) or of its tau -> 0 part.

    Returns
    -------
    CriticalRate
        ``J_max``, ``gamma_c``, ``attractor`` and the inputs.

    Examples
    --------
    >>> from linvae import Model
    >>> rate = critical_rate(Model(rho=1.0, eta=1.0, beta=1.0, tau=0.01), sgd_noise=False)
    >>> round(rate.J_max, 8), round(rate.gamma_c, 8)  # -tau (3 - sqrt 5) / 2
    (-0.00381966, 0.00190983)
    """
    point = attractor(model, sgd_noise=sgd_noise)
    J_max = point.top_eigenvalue
    return CriticalRate(
        model=model,
        beta_final=point.beta,
        sgd_noise=bool(sgd_noise),
        J_max=J_max,
        gamma_c=-J_max / 2.0,
        attractor=point,
    )


def settling_time(t: np.ndarray, eps_g: np.ndarray, target: float, tol: float) -> float:
    """First time after which ``|eps_g - target|`` stays below ``tol``.

    Linear interpolation between the last grid point at or above ``tol`` and the next one.

    Parameters
    ----------
    t : ndarray, shape (n,)
    eps_g : ndarray, shape (n,)
    target, tol : float

    Returns
    -------
    float
        0 if it is below from the start; ``inf`` if it is not below at the last time.

    Examples
    --------
    >>> settling_time(np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.5, 0.0]), 0.0, 0.75)
    0.5
    """
    err = np.abs(np.asarray(eps_g, dtype=np.float64) - target)
    above = np.flatnonzero(err >= tol)
    if above.size == 0:
        return float(t[0])
    k = int(above[-1])
    if k == err.size - 1:
        return math.inf
    e0, e1 = err[k], err[k + 1]
    frac = (e0 - tol) / (e0 - e1) if e0 > e1 else 0.0
    return float(t[k] + frac * (t[k + 1] - t[k]))


@dataclass(frozen=True, kw_only=True)
class ConvergenceTime:
    """Result of `convergence_time`.

    Attributes
    ----------
    model : Model
        The model with its schedule.
    tol : float
        Tolerance on |eps_g - eps_g*|.
    eps_g_star : float
        eps_g at the attractor of beta_f.
    t_conv : float
        The convergence time (``inf`` if not reached by ``t_max``).
    converged : bool
        Whether ``t_conv`` is finite.
    trajectory : Trajectory
        The ODE solution it was read from.
    """

    model: Model
    tol: float
    eps_g_star: float
    t_conv: float
    converged: bool
    trajectory: Trajectory = field(repr=False)


def _default_t_max(model: Model, tol: float) -> float:
    rate = critical_rate(replace(model, beta=model.schedule.final), sgd_noise=False)
    return 6.0 * (math.log(1.0 / tol) + 6.0) / abs(rate.J_max)


def convergence_time(
    model: Model,
    *,
    init: OrderParameters | Trajectory,
    tol: float = 1e-3,
    t_max: float | None = None,
    n_points: int = 4000,
    sgd_noise: bool = True,
    rtol: float = 1e-8,
    atol: float = 1e-11,
    eps_g_star: float | None = None,
) -> ConvergenceTime:
    """T_conv: the first time after which ``|eps_g(t) - eps_g*| < tol``, from the ODE.

    Parameters
    ----------
    model : Model
        Any schedule; eps_g* is that of the attractor of its final value.
    init : OrderParameters or Trajectory
        Initial condition (e.g. `linvae.theory.initial.initial_order_parameters`).
    tol : float
        Tolerance on eps_g (> 0).
    t_max : float, optional
        Integration time; default ``6 (ln(1/tol) + 6) / |J_max|``.
    n_points : int
        Output grid points; T_conv is interpolated between them.
    sgd_noise : bool
        Keep the O(tau^2) terms (in the ODE and in eps_g*).
    rtol, atol : float
        ODE solver tolerances.
    eps_g_star : float, optional
        Target (default: eps_g of `attractor`, computed once per call).

    Returns
    -------
    ConvergenceTime

    Examples
    --------
    >>> from linvae import Model
    >>> from linvae.theory.initial import initial_order_parameters
    >>> model = Model(beta=1.0, tau=0.05)
    >>> res = convergence_time(model, init=initial_order_parameters(model), tol=1e-3)
    >>> res.converged, 100 < res.t_conv < 1000
    (True, True)
    """
    owner = "convergence_time"
    tol = check_real("tol", tol, owner, low=0.0)
    n_points = check_int("n_points", n_points, owner, low=2)
    if eps_g_star is None:
        eps_g_star = attractor(model, sgd_noise=sgd_noise).eps_g
    if t_max is None:
        t_max = _default_t_max(model, tol)
    t_max = check_real("t_max", t_max, owner, low=0.0)
    t_eval = np.linspace(0.0, t_max, n_points)
    traj = solve_ode(
        model, t_max=t_max, init=init, t_eval=t_eval, sgd_noise=sgd_noise, rtol=rtol, atol=atol
    )
    t_conv = settling_time(traj.t, traj.eps_g[0], eps_g_star, tol)
    return ConvergenceTime(
        model=model,
        tol=tol,
        eps_g_star=float(eps_g_star),
        t_conv=t_conv,
        converged=math.isfinite(t_conv),
        trajectory=traj,
    )


@dataclass(frozen=True, kw_only=True)
class AnnealingOptimum:
    """Result of `optimal_annealing_rate`.

    Attributes
    ----------
    model : Model
        The model; its schedule's final value is beta_f (the schedule itself is replaced).
    beta_final, tol : float
    J_max, gamma_c : float
        From `critical_rate` (same ``sgd_noise``).
    gammas : ndarray, shape (n,)
        Every rate evaluated (grid and refinement), increasing.
    t_conv : ndarray, shape (n,)
        T_conv at each of them (``inf`` where not converged by ``t_max``).
    gamma_opt : float
        The rate that minimizes T_conv.
    t_conv_opt : float
    t_conv_constant : float
        T_conv at constant beta = beta_f.
    speedup : float
        t_conv_constant / t_conv_opt (< 1: no rate in the range beats constant beta).
    interior : bool
        Whether the optimum lies strictly inside ``gammas`` (False: at an end of the range,
        e.g. the largest rate when annealing does not help and gamma -> inf is best).
    t_max : float
    schedule_name : str
        The schedule family (e.g. "tanh").
    """

    model: Model
    beta_final: float
    tol: float
    J_max: float
    gamma_c: float
    gammas: np.ndarray = field(repr=False)
    t_conv: np.ndarray = field(repr=False)
    gamma_opt: float
    t_conv_opt: float
    t_conv_constant: float
    speedup: float
    interior: bool
    t_max: float
    schedule_name: str

    def as_dict(self) -> dict:
        """JSON-able summary (the keys of ``linvae anneal``)."""
        return {
            "beta_final": self.beta_final,
            "J_max": self.J_max,
            "gamma_c": self.gamma_c,
            "gamma_opt": self.gamma_opt,
            "T_conv_constant": self.t_conv_constant,
            "T_conv_opt": self.t_conv_opt,
            "speedup": self.speedup,
            "interior": self.interior,
            "tol": self.tol,
            "t_max": self.t_max,
            "schedule": self.schedule_name,
        }


def _tanh(beta_final: float, gamma: float) -> Schedule:
    return TanhAnneal(beta_final=beta_final, gamma=gamma)


def optimal_annealing_rate(
    model: Model,
    *,
    init: OrderParameters | Trajectory,
    tol: float = 1e-3,
    t_max: float | None = None,
    schedule: Callable[[float, float], Schedule] = _tanh,
    gamma_range: tuple[float, float] | None = None,
    n_grid: int = 12,
    sgd_noise: bool = True,
    refine: bool = True,
) -> AnnealingOptimum:
    """The annealing rate gamma that minimizes T_conv, and the speed-up over constant beta.

    T_conv(gamma) is evaluated on a log-spaced grid, then refined by a bounded scalar
    minimization of T_conv(exp(u)) on the two grid cells around the best grid point.

    Parameters
    ----------
    model : Model
        beta_f = ``model.schedule.final``.
    init : OrderParameters or Trajectory
        Initial condition shared by every run.
    tol : float
        Tolerance of T_conv on eps_g.
    t_max : float, optional
        Integration time of every run (default as `convergence_time`).
    schedule : callable ``(beta_final, gamma) -> Schedule``
        The schedule family; default ``TanhAnneal``.
    gamma_range : (float, float), optional
        Grid bounds; default ``(gamma_c / 10, 20 gamma_c)``.
    n_grid : int
        Grid points (>= 3).
    sgd_noise : bool
        Keep the O(tau^2) terms.
    refine : bool
        Refine with `scipy.optimize.minimize_scalar` (``bounded``).

    Returns
    -------
    AnnealingOptimum

    Examples
    --------
    >>> from linvae import Model
    >>> from linvae.theory.initial import initial_order_parameters
    >>> model = Model(beta=1.0, tau=0.05)
    >>> opt = optimal_annealing_rate(model, init=initial_order_parameters(model), n_grid=4,
    ...                              refine=False)
    >>> opt.gammas.size, opt.speedup > 0
    (4, True)
    """
    owner = "optimal_annealing_rate"
    n_grid = check_int("n_grid", n_grid, owner, low=3 if refine else 1)
    beta_f = float(model.schedule.final)
    base = replace(model, beta=Constant(beta=beta_f))
    rate = critical_rate(base, sgd_noise=sgd_noise)
    target = rate.attractor.eps_g
    if t_max is None:
        t_max = _default_t_max(base, tol)
    if gamma_range is None:
        gamma_range = (rate.gamma_c / 10.0, 20.0 * rate.gamma_c)
    lo = check_real("gamma_range[0]", gamma_range[0], owner, low=0.0)
    hi = check_real("gamma_range[1]", gamma_range[1], owner, low=lo)

    def t_conv_at(gamma: float) -> float:
        run = replace(base, beta=schedule(beta_f, gamma))
        res = convergence_time(
            run, init=init, tol=tol, t_max=t_max, sgd_noise=sgd_noise, eps_g_star=target
        )
        return res.t_conv

    constant = convergence_time(
        base, init=init, tol=tol, t_max=t_max, sgd_noise=sgd_noise, eps_g_star=target
    ).t_conv
    evaluated: dict[float, float] = {}
    for gamma in np.geomspace(lo, hi, n_grid):
        evaluated[float(gamma)] = t_conv_at(float(gamma))
    if refine:
        grid = np.array(sorted(evaluated))
        best = int(np.argmin([evaluated[g] for g in grid]))
        a, b = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]

        def objective(u: float) -> float:
            gamma = float(math.exp(u))
            value = t_conv_at(gamma)
            evaluated[gamma] = value
            return value if math.isfinite(value) else 10.0 * t_max

        minimize_scalar(
            objective,
            bounds=(math.log(a), math.log(b)),
            method="bounded",
            options={"xatol": 1e-3},
        )
    gammas = np.array(sorted(evaluated))
    values = np.array([evaluated[g] for g in gammas])
    k = int(np.argmin(values))
    return AnnealingOptimum(
        model=model,
        beta_final=beta_f,
        tol=float(tol),
        J_max=rate.J_max,
        gamma_c=rate.gamma_c,
        gammas=gammas,
        t_conv=values,
        gamma_opt=float(gammas[k]),
        t_conv_opt=float(values[k]),
        t_conv_constant=float(constant),
        speedup=float(constant / values[k]),
        interior=bool(0 < k < gammas.size - 1),
        t_max=float(t_max),
        schedule_name=schedule(beta_f, 1.0).describe()["kind"],
    )
