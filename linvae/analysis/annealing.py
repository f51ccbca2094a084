"""KL annealing: the critical rate, the convergence time and the best annealing rate.

The mathematics is on the results page (docs/results.md, section "Claim 2: KL annealing and
the critical rate").

Symbols
-------
beta(t)   KL schedule; the paper's is beta_f tanh(gamma t)
beta_f    its final value; gamma its rate
J_max     largest real part of the Jacobian's eigenvalues at the attractor of beta_f (< 0)
gamma_c   critical rate -J_max / 2
eps_g*    eps_g at that attractor; e(t) = eps_g(t) - eps_g*
r         final decay rate of e: min(2 gamma, |J_max|) for tanh, |J_max| otherwise
T_conv    convergence time at tolerance tol (`linvae.analysis.convergence`)
N         input dimension whose random initialization the ODE starts from

The convergence measures, `critical_rate`, `convergence_time` and the batched
`convergence_times` live in `linvae.analysis.convergence`, and `attractor` (the point training
reaches from given starts) in `linvae.analysis.attractors`; they are re-exported here. The
target eps_g* and J_max are those of the point the ensemble reaches at constant beta_f.

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

from linvae.analysis.attractors import Attractor, attractor
from linvae.analysis.convergence import (
    MEASURES,
    ConvergenceTime,
    CriticalRate,
    Measure,
    convergence_time,
    convergence_times,
    critical_rate,
    default_t_max,
    excess_time,
    final_rate,
    has_compiled_form,
    settling_time,
)
from linvae.analysis.stability import FixedPoint
from linvae.observables import OrderParameters, pack_state, unpack_state
from linvae.params import Model
from linvae.schedules import Constant, Schedule, TanhAnneal
from linvae.theory.initial import initial_ensemble
from linvae.theory.solve import initial_conditions_from
from linvae.trajectory import Trajectory
from linvae.utils.validation import check_int, check_real

__all__ = [
    "MEASURES",
    "AnnealingOptimum",
    "Attractor",
    "ConvergenceTime",
    "CriticalRate",
    "attractor",
    "convergence_time",
    "convergence_times",
    "critical_rate",
    "excess_time",
    "final_rate",
    "optimal_annealing_rate",
    "settling_time",
]


@dataclass(frozen=True, kw_only=True)
class AnnealingOptimum:
    """Result of `optimal_annealing_rate`: the best rate and the speed-up, with spreads.

    Central values are over the ensemble of initial states (the mean T_conv of every rate);
    each ``*_spread`` is half the 16-84 percentile range of that quantity from one initial state
    to another (the standard deviation for a normal distribution; 0 for a single state): what
    a user starting from one random initialization can expect it to vary by.

    Attributes
    ----------
    model : Model
        The model; its schedule's final value is beta_f (the schedule itself is replaced).
    beta_final, tol : float
    J_max, gamma_c : float
        From `critical_rate` (same ``sgd_noise``) at ``target``.
    target : FixedPoint
        The point converged to: eps_g* is its eps_g.
    reached : Attractor or None
        Where the initial states end at constant beta_f (`attractor`); its point is
        ``target`` (None when ``target`` was given).
    measure : {"excess", "band"}
    gammas : ndarray, shape (n,)
        Every rate evaluated (grid and refinement), increasing.
    t_conv : ndarray, shape (n,)
        Mean T_conv over the initial states at each of them (``inf`` if any did not converge).
    t_conv_all : ndarray, shape (n, n_init)
        T_conv of every initial state.
    gamma_opt : float
        The rate that minimizes the mean T_conv.
    gamma_opt_spread : float
        Standard deviation of each initial state's own best rate (parabolic interpolation in
        log gamma between evaluated rates).
    t_conv_opt, t_conv_opt_spread : float
        Mean and spread of T_conv at ``gamma_opt``.
    t_conv_constant, t_conv_constant_spread : float
        Mean and spread of T_conv at constant beta = beta_f.
    speedup : float
        ``t_conv_constant / t_conv_opt`` (< 1: no rate in the range beats constant beta).
    speedup_spread : float
        Spread of the per-state ratio T_conv(constant) / T_conv(gamma_opt).
    speedup_range : (float, float)
        16th and 84th percentiles of that ratio.
    time_saved, time_saved_spread : float
        T_conv(constant) - T_conv(gamma_opt): mean and spread. Above gamma_c it does not depend
        on ``tol`` (both approach at |J_max|), while the speed-up tends to 1 as tol -> 0.
    helps : bool
        Whether annealing helps beyond the spread over initial states: an interior optimum
        at which at least 84 % of the initial states converge faster than at constant beta
        (``speedup_range[0] > 1``).
    message : str
        One sentence saying so, with the numbers.
    interior : bool
        Whether the optimum lies strictly inside ``gammas``.
    t_max : float
    schedule_name : str
        The schedule family (e.g. "tanh").
    n_init : int
        Number of initial states.
    N : int or None
        The input dimension the initial states imitate (None when ``init`` was given).
    """

    model: Model
    beta_final: float
    tol: float
    J_max: float
    gamma_c: float
    target: FixedPoint = field(repr=False)
    reached: Attractor | None = field(repr=False)
    measure: str
    gammas: np.ndarray = field(repr=False)
    t_conv: np.ndarray = field(repr=False)
    t_conv_all: np.ndarray = field(repr=False)
    gamma_opt: float
    gamma_opt_spread: float
    t_conv_opt: float
    t_conv_opt_spread: float
    t_conv_constant: float
    t_conv_constant_spread: float
    speedup: float
    speedup_spread: float
    speedup_range: tuple[float, float]
    time_saved: float
    time_saved_spread: float
    helps: bool
    message: str
    interior: bool
    t_max: float
    schedule_name: str
    n_init: int
    N: int | None

    def as_dict(self) -> dict:
        """JSON-able summary (the keys of ``linvae anneal``)."""
        return {
            "beta_final": self.beta_final,
            "J_max": self.J_max,
            "gamma_c": self.gamma_c,
            "gamma_opt": self.gamma_opt,
            "gamma_opt_spread": self.gamma_opt_spread,
            "gamma_opt_over_gamma_c": self.gamma_opt / self.gamma_c,
            "target": self.target.name,
            "eps_g_star": self.target.eps_g,
            "T_conv_constant": self.t_conv_constant,
            "T_conv_constant_spread": self.t_conv_constant_spread,
            "T_conv_opt": self.t_conv_opt,
            "T_conv_opt_spread": self.t_conv_opt_spread,
            "speedup": self.speedup,
            "speedup_spread": self.speedup_spread,
            "speedup_range": list(self.speedup_range),
            "time_saved": self.time_saved,
            "time_saved_spread": self.time_saved_spread,
            "helps": self.helps,
            "message": self.message,
            "interior": self.interior,
            "tol": self.tol,
            "measure": self.measure,
            "n_init": self.n_init,
            "N": self.N,
            "t_max": self.t_max,
            "schedule": self.schedule_name,
        }


def _tanh(beta_final: float, gamma: float) -> Schedule:
    return TanhAnneal(beta_final=beta_final, gamma=gamma)


def _spread(x: np.ndarray) -> float:
    """Half the 16-84 percentile range (the standard deviation of a normal distribution),
    robust to the long tail of initial states that start very close to m = 0."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2:
        return 0.0
    if not np.all(np.isfinite(x)):
        return math.inf
    q16, q84 = np.percentile(x, [16.0, 84.0])
    return float(q84 - q16) / 2.0


def _own_optimum(gammas: np.ndarray, values: np.ndarray) -> float:
    """Each state's best rate: parabola in log gamma through its best evaluated rate and its
    two neighbours (the rate itself at an end of the range)."""
    k = int(np.argmin(values))
    if k == 0 or k == gammas.size - 1 or not np.all(np.isfinite(values[k - 1 : k + 2])):
        return float(gammas[k])
    u = np.log(gammas[k - 1 : k + 2])
    a, b, _ = np.polyfit(u, values[k - 1 : k + 2], 2)
    if a <= 0:
        return float(gammas[k])
    return float(np.exp(np.clip(-b / (2 * a), u[0], u[2])))


def optimal_annealing_rate(
    model: Model,
    *,
    init: OrderParameters | Trajectory | None = None,
    tol: float = 1e-3,
    t_max: float | None = None,
    schedule: Callable[[float, float], Schedule] = _tanh,
    gamma_range: tuple[float, float] | None = None,
    n_grid: int = 12,
    sgd_noise: bool = True,
    refine: bool = True,
    measure: Measure = "excess",
    n_init: int = 64,
    N: int = 200,
    rng=0,
    target: FixedPoint | None = None,
) -> AnnealingOptimum:
    """The annealing rate gamma that minimizes T_conv, and the speed-up over constant beta.

    T_conv(gamma) is computed for an ensemble of random initial states (by default
    ``n_init`` draws of `linvae.theory.initial.initial_order_parameters` at size ``N``),
    averaged over it, evaluated on a log-spaced grid of rates and refined by a bounded scalar
    minimization of the mean on the two grid cells around the best grid point. Every answer
    comes with its spread over the initial states.

    Parameters
    ----------
    model : Model
        beta_f = ``model.schedule.final``.
    init : OrderParameters or Trajectory, optional
        One initial state, or an ensemble with a leading axis (then ``n_init``, ``N`` and
        ``rng`` are not used). Default: ``initial_ensemble(model, n_init, N=N, rng=rng)``.
    tol : float
        Tolerance of T_conv on eps_g.
    t_max : float, optional
        Integration time of every run (default as `convergence_time`; runs not
        converged by then are repeated with t_max doubled, twice).
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
    measure : {"excess", "band"}
        The convergence measure (`convergence_time`). "band" is the last exit from the
        tolerance band, kept for comparison: it jumps between neighbouring rates.
    n_init : int
        Size of the default ensemble of initial states.
    N : int
        Input dimension the default initial states imitate: m(0), d(0) = O(N^-1/2), and the
        time to leave the plateau near the collapsed point grows like ln N.
    rng : int, Generator or None
        Seed of the default ensemble.
    target : FixedPoint, optional
        The point to converge to. Default: the one the initial states reach at constant beta_f
        (`attractor`); if they do not all reach the same point (in a first-order strip, where
        a learned and the collapsed point are both stable) a ValueError asks for it.

    Returns
    -------
    AnnealingOptimum

    Raises
    ------
    ValueError
        When the initial states end at different points at constant beta_f and no ``target``
        is given.

    Examples
    --------
    >>> from linvae import Model
    >>> opt = optimal_annealing_rate(Model(beta=1.8, tau=0.05), n_grid=6, n_init=4)
    >>> opt.gammas.size > 6, opt.speedup > 1, opt.helps
    (True, True, True)
    """
    owner = "optimal_annealing_rate"
    n_grid = check_int("n_grid", n_grid, owner, low=3 if refine else 1)
    if measure not in MEASURES:
        raise ValueError(f"The `measure` parameter of {owner} must be one of {MEASURES}. Got "
                         f"{measure!r}.")  # fmt: skip
    tol = check_real("tol", tol, owner, low=0.0)
    beta_f = float(model.schedule.final)
    base = replace(model, beta=Constant(beta=beta_f))
    if init is None:
        n_init = check_int("n_init", n_init, owner, low=1)
        init = initial_ensemble(base, n_init, N=N, rng=rng)
        N_used: int | None = int(N)
    else:
        N_used = None
    T_matrix = init.T_matrix if isinstance(init, Trajectory) else None
    states = _states(init, owner)
    ensemble = unpack_state(states, base.M, base.M_star)
    reached = None
    if target is None:
        reached = attractor(base, start=states, sgd_noise=sgd_noise)
        if not reached.unanimous:
            raise ValueError(
                f"The initial states of {owner} end at different points at constant beta_f: "
                f"{reached.message} Pass `target` (e.g. one of `attractor(...).points`), or "
                "initial states that share one end point."
            )
        target = reached.point
    rate = critical_rate(base, sgd_noise=sgd_noise, point=target)
    fixed_t_max = t_max is not None
    if t_max is None:
        t_max = default_t_max(base, tol)
    if gamma_range is None:
        gamma_range = (rate.gamma_c / 10.0, 20.0 * rate.gamma_c)
    lo = check_real("gamma_range[0]", gamma_range[0], owner, low=0.0)
    hi = check_real("gamma_range[1]", gamma_range[1], owner, low=lo)

    def times(schedules: list[Schedule]) -> np.ndarray:
        """T_conv, shape (len(schedules), n_init)."""
        if measure == "excess" and all(has_compiled_form(replace(base, beta=s)) for s in schedules):
            return convergence_times(
                base, schedules, init=ensemble, tol=tol, t_max=t_max if fixed_t_max else None,
                sgd_noise=sgd_noise, T=T_matrix, target=target,
            )  # fmt: skip
        out = np.empty((len(schedules), states.shape[0]))
        for i, s in enumerate(schedules):
            for j, y in enumerate(states):
                res = convergence_time(
                    replace(base, beta=s), init=unpack_state(y, base.M, base.M_star), tol=tol,
                    t_max=t_max, sgd_noise=sgd_noise, measure=measure, target=target,
                )  # fmt: skip
                out[i, j] = res.t_conv
        return out

    constant = times([base.schedule])[0]
    evaluated: dict[float, np.ndarray] = {}
    grid = [float(g) for g in np.geomspace(lo, hi, n_grid)]
    for gamma, values in zip(grid, times([schedule(beta_f, g) for g in grid]), strict=True):
        evaluated[gamma] = values
    mean = {g: float(np.mean(v)) for g, v in evaluated.items()}
    if refine:
        order = np.array(sorted(evaluated))
        best = int(np.argmin([mean[g] for g in order]))
        a, b = order[max(best - 1, 0)], order[min(best + 1, order.size - 1)]

        def objective(u: float) -> float:
            gamma = float(math.exp(u))
            evaluated[gamma] = times([schedule(beta_f, gamma)])[0]
            mean[gamma] = float(np.mean(evaluated[gamma]))
            return mean[gamma] if math.isfinite(mean[gamma]) else 10.0 * t_max

        minimize_scalar(
            objective,
            bounds=(math.log(a), math.log(b)),
            method="bounded",
            options={"xatol": 1e-3},
        )
    gammas = np.array(sorted(evaluated))
    all_times = np.array([evaluated[g] for g in gammas])
    values = all_times.mean(axis=1)
    k = int(np.argmin(values))
    at_opt = all_times[k]
    own = [_own_optimum(gammas, all_times[:, i]) for i in range(all_times.shape[1])]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = constant / at_opt
    speedup = float(np.mean(constant) / values[k])
    spread = _spread(ratios)
    interior = bool(0 < k < gammas.size - 1)
    finite = np.all(np.isfinite(ratios))
    rng_ratio = tuple(float(q) for q in np.percentile(ratios, [16.0, 84.0])) if finite else (
        0.0, math.inf)  # fmt: skip
    helps = bool(interior and rng_ratio[0] > 1.0)
    gamma_opt = float(gammas[k])
    summary = dict(
        gamma_opt=gamma_opt, gamma_c=rate.gamma_c, speedup=speedup, low=rng_ratio[0],
        high=rng_ratio[1],
        beta_f=beta_f, t_opt=float(values[k]), t_const=float(np.mean(constant)), tol=tol,
        n=states.shape[0], N=N_used,
    )  # fmt: skip
    return AnnealingOptimum(
        model=model,
        beta_final=beta_f,
        tol=float(tol),
        J_max=rate.J_max,
        gamma_c=rate.gamma_c,
        target=target,
        reached=reached,
        measure=measure,
        gammas=gammas,
        t_conv=values,
        t_conv_all=all_times,
        gamma_opt=gamma_opt,
        gamma_opt_spread=_spread(own),
        t_conv_opt=float(values[k]),
        t_conv_opt_spread=_spread(at_opt),
        t_conv_constant=float(np.mean(constant)),
        t_conv_constant_spread=_spread(constant),
        speedup=speedup,
        speedup_spread=spread,
        speedup_range=rng_ratio,
        time_saved=float(np.mean(constant - at_opt)),
        time_saved_spread=_spread(constant - at_opt),
        helps=helps,
        message=_verdict(helps, interior, **summary),
        interior=interior,
        t_max=float(t_max),
        schedule_name=schedule(beta_f, 1.0).describe()["kind"],
        n_init=int(states.shape[0]),
        N=N_used,
    )


def _states(init, owner: str) -> np.ndarray:
    """Flat initial states, shape (n_init, n): one state, an ensemble, or a run's t = 0."""
    if isinstance(init, Trajectory):
        init = initial_conditions_from(init)
    if not isinstance(init, OrderParameters):
        raise TypeError(
            f"The `init` parameter of {owner} must be OrderParameters (one state or an ensemble "
            f"with a leading axis) or a Trajectory. Got {type(init).__name__}."
        )
    y = pack_state(init)
    return y[None] if y.ndim == 1 else y.reshape(-1, y.shape[-1])


def _verdict(helps, interior, *, gamma_opt, gamma_c, speedup, low, high, beta_f, t_opt,
             t_const, tol, n, N) -> str:  # fmt: skip
    """One plain sentence: does annealing help here, by how much."""
    where = f"{n} initial states" + (f" at N = {N}" if N is not None else "")
    if helps:
        return (
            f"Annealing helps at beta_f = {beta_f:g}: gamma = {gamma_opt:.3g} "
            f"({gamma_opt / gamma_c:.2f} gamma_c) converges {speedup:.2f} times faster than "
            f"constant beta on average (T_conv {t_opt:.4g} vs {t_const:.4g} at tol {tol:g}), "
            f"{low:.2f} to {high:.2f} times for 68 % of {where}."
        )
    reason = (
        "the fastest rates are best, i.e. constant beta"
        if not interior
        else f"at its best rate the speed-up is {low:.2f} to {high:.2f} for 68 % of {where}, "
        f"{speedup:.2f} on average, not reliably above 1"
    )
    return (
        f"Annealing does not help at beta_f = {beta_f:g} (tol {tol:g}): {reason}. "
        "Train at constant beta."
    )
