"""The convergence time of the order-parameter ODEs, one run or many at once.

The mathematics is on the results page (docs/results.md, section "Claim 2: KL annealing and
the critical rate", "How long convergence takes: the measure").

Symbols
-------
beta(t)   KL schedule with final value beta_f (the paper's: beta_f tanh(gamma t))
J_max     largest real part of the Jacobian's eigenvalues at the attractor of beta_f (< 0)
gamma_c   critical rate -J_max / 2
eps_g*    eps_g at that attractor; e(t) = eps_g(t) - eps_g*
r         final decay rate of e: min(2 gamma, |J_max|) for tanh, |J_max| otherwise
T_conv    convergence time at tolerance tol, by one of two measures:
          "excess" (default)  integral_0^inf min(1, |e(t)| / tol) dt - 1 / r
          "band"              last time |e(t)| >= tol (`settling_time`)

Both measures agree when e approaches 0 as a pure exponential (then |e| = tol e^(-r (t - T))
after T, whose integral is 1 / r), and differ by less than 1 / r otherwise. The band measure
jumps when an overshoot of eps_g* peaks near tol (a small change of gamma decides whether the
overshoot leaves the band); the excess measure changes continuously with gamma and with the
initial state. `convergence_times` runs many (schedule, initial state) pairs in one
threaded batch of the compiled integrator (`linvae.theory.integrate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from linvae.analysis.stability import FixedPoint, Stability, fixed_points
from linvae.observables import OrderParameters, pack_state
from linvae.params import Model
from linvae.schedules import Constant, Schedule
from linvae.theory.drift import Drift
from linvae.theory.solve import COMPILED_METHOD, initial_conditions_from, solve_ode
from linvae.trajectory import Trajectory
from linvae.utils.validation import check_int, check_real

Measure = Literal["excess", "band"]
#: The convergence measures: the integrated excess error (default) and the band's last exit.
MEASURES = ("excess", "band")

__all__ = [
    "MEASURES",
    "ConvergenceTime",
    "CriticalRate",
    "convergence_time",
    "convergence_times",
    "critical_rate",
    "default_t_max",
    "excess_time",
    "final_rate",
    "has_compiled_form",
    "settling_time",
    "stable_point",
]


def stable_point(model: Model, *, sgd_noise: bool = True) -> FixedPoint:
    """The first stable (else marginal) point of `fixed_points` at beta = ``model.schedule.final``.

    `fixed_points` lists points with the most learned latents first, so this is the learned
    point wherever one is stable. Where a stable learned point coexists with the stable
    collapsed one (the first-order strip of lam > 0) training from a fresh start may end at
    either: `linvae.analysis.attractors.attractor` integrates to find out which.

    Examples
    --------
    >>> from linvae import Model
    >>> stable_point(Model(beta=1.0)).name
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
        The fixed point of beta_f whose J_max this is: the one given to `critical_rate`, else
        `stable_point`.
    """

    model: Model
    beta_final: float
    sgd_noise: bool
    J_max: float
    gamma_c: float
    attractor: FixedPoint = field(repr=False)


def critical_rate(
    model: Model, *, sgd_noise: bool = True, point: FixedPoint | None = None
) -> CriticalRate:
    """J_max at the attractor of beta_f and the critical annealing rate gamma_c = -J_max / 2.

    Parameters
    ----------
    model : Model
        beta_f is ``model.schedule.final`` (a constant beta is its own beta_f).
    sgd_noise : bool
        Eigenvalues of the full drift (finite tau, what `linvae.theory.solve_ode`
        integrates by default) or of its tau -> 0 part.
    point : FixedPoint, optional
        The attractor, e.g. ``attractor(model, start=...).point`` (the point training reaches
        from given starts; `linvae.analysis.attractors.attractor`). Default `stable_point`.

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
    if point is None:
        point = stable_point(model, sgd_noise=sgd_noise)
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


def final_rate(schedule: Schedule, J_max: float) -> float:
    """The rate r at which eps_g - eps_g* finally decays: the slower of the state's own rate
    ``|J_max|`` and the schedule's ``final_decay_rate`` (``2 gamma`` for ``beta_f tanh(gamma
    t)``, whose tail ``-2 beta_f exp(-2 gamma t)`` drives the state; ``inf`` for a schedule that
    reaches beta_f in finite time).

    Examples
    --------
    >>> from linvae.schedules import TanhAnneal
    >>> final_rate(TanhAnneal(beta_final=1.0, gamma=0.001), -0.004)
    0.002
    """
    return min(float(schedule.final_decay_rate), abs(float(J_max)))


def excess_time(integral, e_end, tol, rate):
    """T_conv of the excess measure from the integral of ``min(1, |e| / tol)`` up to t_max.

    ``T = integral + |e(t_max)| / (tol r) - 1 / r``: the tail beyond t_max is that of an
    exponential at the final rate r, and 1 / r is what a pure exponential approach adds to
    the band's last exit. ``inf`` where ``|e(t_max)| >= tol`` (not converged by t_max).

    Parameters
    ----------
    integral : float or ndarray
        ``integral_0^t_max min(1, |e(t)| / tol) dt``.
    e_end : float or ndarray
        ``|e(t_max)|``.
    tol, rate : float or ndarray (broadcast)

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> round(float(excess_time(110.0, 1e-4, 1e-3, 0.1)), 9)  # 110 + 1 - 10
    101.0
    """
    integral, e_end = np.asarray(integral, float), np.asarray(e_end, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = integral + e_end / (tol * rate) - 1.0 / rate
    out = np.where(e_end < tol, value, np.inf)
    return float(out) if out.ndim == 0 else out


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
    measure : {"excess", "band"}
        Which measure ``t_conv`` is.
    t_conv : float
        The convergence time (``inf`` if not reached by ``t_max``).
    t_conv_band : float
        The band's last exit (`settling_time` on ``trajectory``), whatever ``measure``.
    rate : float
        The final decay rate r of `final_rate`.
    converged : bool
        Whether ``t_conv`` is finite.
    trajectory : Trajectory
        The ODE solution the band measure was read from.
    """

    model: Model
    tol: float
    eps_g_star: float
    measure: str
    t_conv: float
    t_conv_band: float
    rate: float
    converged: bool
    trajectory: Trajectory = field(repr=False)


def default_t_max(model: Model, tol: float) -> float:
    """Default integration time ``6 (ln(1/tol) + 6) / |J_max|`` (noiseless J_max of beta_f)."""
    rate = critical_rate(replace(model, beta=model.schedule.final), sgd_noise=False)
    return 6.0 * (math.log(1.0 / tol) + 6.0) / abs(rate.J_max)


def _check_measure(measure: str, owner: str) -> str:
    if measure not in MEASURES:
        raise ValueError(f"The `measure` parameter of {owner} must be one of {MEASURES}. Got "
                         f"{measure!r}.")  # fmt: skip
    return measure


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
    measure: Measure = "excess",
    target: FixedPoint | None = None,
) -> ConvergenceTime:
    """T_conv of one ODE run: how long eps_g takes to settle within ``tol`` of eps_g*.

    ``measure="excess"`` (default): ``integral_0^inf min(1, |eps_g - eps_g*| / tol) dt - 1/r``,
    continuous in the rate and the initial state; ``measure="band"``: the last time
    ``|eps_g - eps_g*| >= tol``. Both are computed; ``t_conv`` is the chosen one.

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
        Output grid points of ``trajectory``; the band measure is interpolated between them.
    sgd_noise : bool
        Keep the O(tau^2) terms (in the ODE and in eps_g*).
    rtol, atol : float
        ODE solver tolerances.
    eps_g_star : float, optional
        Target (default: eps_g of ``target``).
    measure : {"excess", "band"}
    target : FixedPoint, optional
        The point converged to (its J_max sets the final rate); default `stable_point` of
        beta_f. Pass ``attractor(...).point`` where the point reached depends on the start.

    Returns
    -------
    ConvergenceTime

    Examples
    --------
    >>> from linvae import Model
    >>> from linvae.theory.initial import initial_order_parameters
    >>> model = Model(beta=1.0, tau=0.05)
    >>> res = convergence_time(model, init=initial_order_parameters(model), tol=1e-3)
    >>> res.converged, 100 < res.t_conv < 1000, abs(res.t_conv - res.t_conv_band) < 1 / res.rate
    (True, True, True)
    """
    owner = "convergence_time"
    tol = check_real("tol", tol, owner, low=0.0)
    n_points = check_int("n_points", n_points, owner, low=2)
    measure = _check_measure(measure, owner)
    if isinstance(init, Trajectory):
        init = initial_conditions_from(init)
    rate = critical_rate(
        replace(model, beta=model.schedule.final), sgd_noise=sgd_noise, point=target
    )
    if eps_g_star is None:
        eps_g_star = rate.attractor.eps_g
    if t_max is None:
        t_max = default_t_max(model, tol)
    t_max = check_real("t_max", t_max, owner, low=0.0)
    t_eval = np.linspace(0.0, t_max, n_points)
    compiled = has_compiled_form(model)
    traj = solve_ode(
        model,
        t_max=t_max,
        init=init,
        t_eval=t_eval,
        sgd_noise=sgd_noise,
        rtol=rtol,
        atol=atol,
        method=COMPILED_METHOD if compiled else "LSODA",
    )
    band = settling_time(traj.t, traj.eps_g[0], eps_g_star, tol)
    r = final_rate(model.schedule, rate.J_max)
    if compiled:
        excess = _excess_times(
            model, [model.schedule], pack_state(init)[None], tols=[tol], t_max=[t_max],
            targets=[eps_g_star], rates=[r], sgd_noise=sgd_noise, rtol=rtol, atol=atol,
            T=traj.T_matrix, retries=0,
        )[0, 0, 0]  # fmt: skip
    else:
        err = np.minimum(1.0, np.abs(traj.eps_g[0] - eps_g_star) / tol)
        integral = float(np.sum(np.diff(traj.t) * (err[1:] + err[:-1]) / 2.0))
        excess = excess_time(integral, abs(traj.eps_g[0, -1] - eps_g_star), tol, r)
    t_conv = excess if measure == "excess" else band
    return ConvergenceTime(
        model=model,
        tol=tol,
        eps_g_star=float(eps_g_star),
        measure=measure,
        t_conv=float(t_conv),
        t_conv_band=float(band),
        rate=float(r),
        converged=math.isfinite(t_conv),
        trajectory=traj,
    )


def has_compiled_form(model: Model) -> bool:
    """Whether the compiled integrator handles the model's schedule (every library schedule;
    not a Python callable)."""
    return model.schedule.has_compiled_form


def _excess_times(base, schedules, y0, *, tols, t_max, targets, rates, sgd_noise, rtol, atol,
                  T=None, retries=2):  # fmt: skip
    """Excess-measure T_conv, shape (n_schedules, n_init, n_tol), all runs in one batch.

    Runs not converged by their t_max are run again with t_max doubled, ``retries`` times.
    """
    # numba: the integrator's module loads numba; imported only when an ODE is solved.
    from linvae.theory.integrate import (
        INVALID,
        STATUS_MESSAGES,
        excess_error_integrals,
        measure_code,
        schedule_arrays,
    )

    drift = Drift(base, T=T, sgd_noise=sgd_noise, owner="convergence_times")
    compiled = drift.compiled
    codes = [s.compiled() for s in schedules]
    n_s, n_i = len(schedules), y0.shape[0]
    tols = np.asarray(tols, dtype=np.float64)
    t_max = np.broadcast_to(np.asarray(t_max, dtype=np.float64), (n_s,)).copy()
    targets = np.broadcast_to(np.asarray(targets, dtype=np.float64), (n_s,))
    rates = np.broadcast_to(np.asarray(rates, dtype=np.float64), (n_s,))
    index_s = np.repeat(np.arange(n_s), n_i)
    Y0 = np.tile(y0, (n_s, 1))
    P = np.broadcast_to(drift.at_beta(0.0).parameters, (Y0.shape[0], compiled.layout.size))
    kinds, values, breakpoints = (a[index_s] for a in schedule_arrays(codes))
    out = np.full((n_s * n_i, tols.size), np.inf)
    todo = np.arange(n_s * n_i)
    horizon = t_max[index_s]
    for attempt in range(retries + 1):
        res = excess_error_integrals(
            compiled, Y0[todo], P[todo], beta_index=compiled.layout.beta, n_D=base.M,
            kinds=kinds[todo], values=values[todo], breakpoints=breakpoints[todo],
            t_max=horizon[todo], targets=targets[index_s[todo]], tols=tols,
            measure=measure_code(base, drift.T), rtol=rtol, atol=atol,
            rates=rates[index_s[todo]],
        )  # fmt: skip
        failed = res.status != 0
        if np.any(failed):
            k = int(np.argmax(failed))
            schedule = schedules[index_s[todo[k]]]
            what = STATUS_MESSAGES[int(res.status[k])]
            fix = (
                f"Reduce `tau` (now {base.tau:g}) or tighten `rtol`/`atol`."
                if res.status[k] == INVALID
                else "Try a smaller `rtol`/`atol` or a smaller `tau`."
            )
            raise ValueError(f"The ODE run with beta = {schedule!r} failed at t = "
                             f"{res.t_stop[k]:g}: {what} {fix}")  # fmt: skip
        r = rates[index_s[todo]][:, None]
        out[todo] = excess_time(res.z, res.e_end[:, None], tols[None, :], r)
        late = ~np.all(np.isfinite(out[todo]), axis=1)
        if not np.any(late) or attempt == retries:
            break
        todo = todo[late]
        horizon[todo] *= 2.0
    return out.reshape(n_s, n_i, tols.size)


def _as_ensemble(init, model: Model) -> np.ndarray:
    """Initial states as an array (n_init, n): one state, an ensemble, or a run's t = 0."""
    if isinstance(init, Trajectory):
        init = initial_conditions_from(init)
    if not isinstance(init, OrderParameters):
        raise TypeError(
            "The `init` parameter must be OrderParameters (one state or an ensemble with a "
            f"leading axis, e.g. initial_ensemble(model, 16)) or a Trajectory. Got "
            f"{type(init).__name__}."
        )
    y = pack_state(init)
    y = y[None] if y.ndim == 1 else y.reshape(-1, y.shape[-1])
    if y.shape[-1] != 2 * model.M * model.M_star + 3 * model.M**2 + model.M:
        raise ValueError(
            f"The `init` parameter has order parameters of M = {init.M}, M_star = {init.M_star};"
            f" the model has M = {model.M}, M_star = {model.M_star}."
        )
    return np.ascontiguousarray(y)


def convergence_times(
    model: Model,
    schedules: Sequence[Schedule] | None = None,
    *,
    init: OrderParameters | Trajectory,
    tol: float | Sequence[float] = 1e-3,
    t_max: float | None = None,
    sgd_noise: bool = True,
    rtol: float = 1e-8,
    atol: float = 1e-11,
    T: np.ndarray | None = None,
    target: FixedPoint | None = None,
) -> np.ndarray:
    """Excess-measure T_conv for many schedules and initial states at once (compiled, threaded).

    Every (schedule, initial state) pair is one ODE run of the compiled integrator
    (`linvae.theory.integrate`), which integrates ``min(1, |e| / tol)`` alongside the state;
    runs not converged by ``t_max`` are repeated with ``t_max`` doubled, twice.

    Parameters
    ----------
    model : Model
        The problem; its schedule is used when ``schedules`` is None.
    schedules : sequence of Schedule, optional
        Schedules with a compiled form (any library schedule, not a callable), all with the same
        final value (their beta_f; eps_g* and J_max are those of its attractor).
    init : OrderParameters or Trajectory
        One initial state, or an ensemble with a leading axis
        (`linvae.theory.initial.initial_ensemble`).
    tol : float or sequence of float
        Tolerance(s), all from one run.
    t_max : float, optional
        Default ``6 (ln(1/min tol) + 6) / |J_max|`` (noiseless J_max).
    sgd_noise : bool
    rtol, atol : float
    T : ndarray, shape (M_star, M_star), optional
        W_star^T W_star / N: the run's when ``init`` is a Trajectory, else the identity.
    target : FixedPoint, optional
        The point converged to (its eps_g is eps_g*, its J_max sets the final rates); default
        `stable_point` of beta_f. Pass ``attractor(...).point`` in a first-order strip, where
        the point reached depends on the start.

    Returns
    -------
    ndarray, shape (n_schedules, n_init) or (n_schedules, n_init, n_tol)
        The last axis only when ``tol`` is a sequence. ``inf`` where not converged.

    Examples
    --------
    >>> from linvae import Model, TanhAnneal
    >>> from linvae.theory.initial import initial_ensemble
    >>> model = Model(beta=1.0, tau=0.05)
    >>> ens = initial_ensemble(model, 4, N=200, rng=0)
    >>> T = convergence_times(model, [model.schedule, TanhAnneal(beta_final=1.0, gamma=0.03)],
    ...                       init=ens)
    >>> T.shape, bool(np.all(np.isfinite(T)))
    ((2, 4), True)
    """
    owner = "convergence_times"
    schedules = [model.schedule] if schedules is None else list(schedules)
    finals = {float(s.final) for s in schedules}
    if len(finals) != 1:
        raise ValueError(f"The `schedules` parameter of {owner} must share one final value "
                         f"beta_f. Got {sorted(finals)}.")  # fmt: skip
    many = not np.isscalar(tol)
    tols = np.atleast_1d(np.asarray(tol, dtype=np.float64))
    for t in tols:
        check_real("tol", float(t), owner, low=0.0)
    if T is None and isinstance(init, Trajectory):
        T = init.T_matrix
    y0 = _as_ensemble(init, model)
    base = replace(model, beta=Constant(beta=finals.pop()))
    rate = critical_rate(base, sgd_noise=sgd_noise, point=target)
    rates = [final_rate(s, rate.J_max) for s in schedules]
    if t_max is None:
        # slow annealing decays at 2 gamma < |J_max|: a longer run (fewer repeats)
        t_max = default_t_max(base, float(tols.min())) * abs(rate.J_max) / np.array(rates)
    else:
        t_max = check_real("t_max", t_max, owner, low=0.0)
    if not all(has_compiled_form(replace(base, beta=s)) for s in schedules):
        raise ValueError(f"The `schedules` parameter of {owner} must hold schedules with a "
                         "compiled form (any library schedule; tabulate a callable with "
                         "linvae.schedules.Tabulated); use convergence_time for any "
                         "other.")  # fmt: skip
    out = _excess_times(
        base, schedules, y0, tols=tols, t_max=t_max, targets=rate.attractor.eps_g, rates=rates,
        sgd_noise=sgd_noise, rtol=rtol, atol=atol, T=T,
    )  # fmt: skip
    return out if many else out[..., 0]
