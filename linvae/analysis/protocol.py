"""Optimal annealing protocols: the beta(t) within bounds that minimizes a stated objective.

The mathematics is on the protocols page (docs/protocols.md).

Symbols
-------
y        flat state (m, d, Q, E, R, D) of one initial condition (`linvae.observables`)
beta(t)  the control, beta_min <= beta(t) <= beta_max, ending at beta_f
beta_f   the final value: the protocol ends at the attractor of constant beta_f
tol      tolerance of the convergence measure on eps_g
e(t)     eps_g(t) - eps_g*, eps_g* the error at that attractor
r        final decay rate |J_max| of e at the attractor
T_c      the control time: beta(t) is free on [0, T_c] and beta_f afterwards
K        number of control intervals (piecewise linear beta on K + 1 knots)
T_h      horizon of the surrogate integration (convergence time) or of the error (final error)

Two objectives, both ensemble means over ``n_init`` fresh initial states:

* "convergence-time": the excess convergence time of `linvae.analysis.convergence`,
  ``T = integral_0^inf min(1, |e| / tol) dt - 1 / r``, the measure of ``linvae anneal``;
* "final-error": eps_g(T_h) with beta(T_h) = beta_f (a Mayer objective).

Method: direct single shooting. beta(t) is piecewise linear on K + 1 knots (its last value
beta_f); the ensemble is integrated by fixed-step RK4 in CasADi's symbolic graph (the drift of
`linvae.theory.derive.derive_ode`, compiled to C when a compiler is present), which gives the
exact gradient of the discretised objective by reverse-mode automatic differentiation
(`linvae.analysis.shooting.ShootingObjective`); the bounded problem is solved by L-BFGS-B.
The non-smooth ``min(1, |e| / tol)`` is smoothed for the optimizer only: every number
reported is re-measured with the package's own measure on its compiled integrator
(`linvae.analysis.convergence.convergence_times`, `linvae.theory.solve_ode`), so that it is
comparable with the best tanh of `linvae.analysis.annealing`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy.optimize import minimize

from linvae.analysis.annealing import optimal_annealing_rate
from linvae.analysis.attractors import attractor
from linvae.analysis.convergence import convergence_times, critical_rate
from linvae.analysis.shooting import ShootingObjective
from linvae.analysis.stability import FixedPoint
from linvae.observables import pack_state, unpack_state
from linvae.params import Model
from linvae.schedules import Constant, LinearRamp, Schedule, StepSchedule, Tabulated, TanhAnneal
from linvae.theory.initial import initial_ensemble
from linvae.theory.solve import solve_ode
from linvae.utils.progress import make_progress
from linvae.utils.validation import check_choice, check_int, check_real

__all__ = ["OBJECTIVES", "OptimalProtocol", "ProtocolBaseline", "optimal_protocol"]

Objective = Literal["convergence-time", "final-error"]
#: The objectives of `optimal_protocol`.
OBJECTIVES = ("convergence-time", "final-error")


@dataclass(frozen=True, kw_only=True)
class ProtocolBaseline:
    """The best schedule of one family for the same objective, bounds and ensemble.

    Attributes
    ----------
    name : str
        "tanh" (beta_f tanh(gamma t), from 0 as in the paper), "step" (two levels) or
        "linear" (a ramp from beta_initial to beta_f).
    schedule : Schedule
        The best member found.
    value : float
        Its objective (ensemble mean).
    speedup : float
        Objective at constant beta_f over ``value``.
    """

    name: str
    schedule: Schedule
    value: float
    speedup: float

    def as_dict(self) -> dict:
        """JSON-able summary."""
        return {
            "schedule": self.schedule.describe(),
            "value": self.value,
            "speedup": self.speedup,
        }


@dataclass(frozen=True, kw_only=True)
class OptimalProtocol:
    """Result of `optimal_protocol`.

    Attributes
    ----------
    model : Model
        The model with the optimal schedule.
    objective : {"convergence-time", "final-error"}
    schedule : Tabulated
        The optimal beta(t): piecewise linear on ``n_intervals + 1`` knots over [0, T_c],
        beta_f afterwards.
    beta_final, beta_min, beta_max, tol : float
        The inputs.
    horizon : float
        T_h: where eps_g is read (final error) or how far the surrogate integrates
        (convergence time).
    control_time : float
        T_c, the last knot.
    value : float
        The objective of ``schedule``, re-measured: the ensemble-mean excess convergence
        time (``linvae anneal``'s measure) or the ensemble-mean eps_g(T_h).
    values : ndarray, shape (n_init,)
        Per initial state.
    value_spread : float
        Half the 16-84 percentile range of ``values``.
    constant_value : float
        The objective at constant beta_f, same ensemble.
    speedup : float
        ``constant_value / value``: the speed-up for "convergence-time", the reduction of the
        final error for "final-error".
    time_saved : float or None
        ``constant_value - value`` (convergence time; None for the final error).
    baselines : dict of str -> ProtocolBaseline
        The best "tanh", "step" and "linear" schedules of the same objective.
    best_tanh_speedup : float
        ``baselines["tanh"].speedup``.
    surrogate_start, surrogate_value : float
        The smoothed objective of the optimizer at its start (the best step schedule) and at
        the optimum (convergence time: in units of t, not re-measured).
    success : bool
        Whether the optimizer reported convergence.
    solver_status : str
        Its message.
    iterations, evaluations : int
        Optimizer iterations and objective-and-gradient evaluations.
    target : FixedPoint
        The attractor of beta_f the ensemble converges to (eps_g* is its eps_g).
    n_intervals, n_init : int
    N : int
        The input dimension the initial states imitate.
    wall_time_s : float
        Seconds of the whole computation (baselines included).
    """

    model: Model
    objective: str
    schedule: Tabulated
    beta_final: float
    beta_min: float
    beta_max: float
    tol: float
    horizon: float
    control_time: float
    value: float
    values: np.ndarray = field(repr=False)
    value_spread: float
    constant_value: float
    speedup: float
    time_saved: float | None
    baselines: dict = field(repr=False)
    surrogate_start: float
    surrogate_value: float
    success: bool
    solver_status: str
    iterations: int
    evaluations: int
    target: FixedPoint = field(repr=False)
    n_intervals: int
    n_init: int
    N: int
    wall_time_s: float

    @property
    def best_tanh_speedup(self) -> float:
        return self.baselines["tanh"].speedup

    def as_dict(self) -> dict:
        """JSON-able summary (the output of ``linvae protocol``)."""
        return {
            "objective": self.objective,
            "speedup": self.speedup,
            "best_tanh_speedup": self.best_tanh_speedup,
            "time_saved": self.time_saved,
            "value": self.value,
            "value_spread": self.value_spread,
            "constant_value": self.constant_value,
            "baselines": {name: b.as_dict() for name, b in self.baselines.items()},
            "schedule": self.schedule.describe(),
            "control_time": self.control_time,
            "horizon": self.horizon,
            "beta_final": self.beta_final,
            "beta_min": self.beta_min,
            "beta_max": self.beta_max,
            "tol": self.tol,
            "eps_g_star": self.target.eps_g,
            "surrogate_start": self.surrogate_start,
            "surrogate_value": self.surrogate_value,
            "success": self.success,
            "solver_status": self.solver_status,
            "iterations": self.iterations,
            "evaluations": self.evaluations,
            "n_intervals": self.n_intervals,
            "n_init": self.n_init,
            "N": self.N,
            "wall_time_s": self.wall_time_s,
        }


def _spread(x: np.ndarray) -> float:
    """Half the 16-84 percentile range (a normal distribution's standard deviation)."""
    if x.size < 2:
        return 0.0
    if not np.all(np.isfinite(x)):
        return math.inf
    q16, q84 = np.percentile(x, [16.0, 84.0])
    return float(q84 - q16) / 2.0


# --------------------------------------------------------------------------- measuring
def _measure_factory(base: Model, states: np.ndarray, *, objective: str, tol: float,
                     horizon: float | None, target: FixedPoint, sgd_noise: bool):  # fmt: skip
    """``measure(schedules) -> (n_schedules, n_init)``: the objective on the package's engine."""
    ensemble = unpack_state(states, base.M, base.M_star)
    if objective == "convergence-time":

        def measure(schedules):
            return convergence_times(
                base, list(schedules), init=ensemble, tol=tol, sgd_noise=sgd_noise, target=target
            )

        return measure

    def measure(schedules):
        out = np.empty((len(schedules), states.shape[0]))
        for i, s in enumerate(schedules):
            model = replace(base, beta=s)
            for j, y in enumerate(states):
                sol = solve_ode(
                    model, t_max=horizon, init=unpack_state(y, base.M, base.M_star),
                    t_eval=np.array([0.0, horizon]), sgd_noise=sgd_noise,
                )  # fmt: skip
                out[i, j] = sol.eps_g[0, -1]
        return out

    return measure


def _best_in_family(name, make, grids, bounds, measure, constant_value, *, refine=True):
    """The best member of a two-parameter (or one-parameter) family: a grid, then Nelder-Mead.

    ``make(*params) -> Schedule``; ``grids`` one array per parameter; ``bounds`` their ranges.
    Returns a `ProtocolBaseline`.
    """
    mesh = np.array(np.meshgrid(*grids, indexing="ij")).reshape(len(grids), -1)
    points = [tuple(p) for p in mesh.T]
    values = measure([make(*p) for p in points]).mean(axis=1)
    values = np.where(np.isfinite(values), values, np.inf)
    k = int(np.argmin(values))
    best, best_value = points[k], float(values[k])
    if refine:
        cache: dict = {}

        def f(p):
            key = tuple(np.clip(p, [b[0] for b in bounds], [b[1] for b in bounds]))
            if key not in cache:
                v = float(measure([make(*key)]).mean())
                cache[key] = v if math.isfinite(v) else 10.0 * constant_value
            return cache[key]

        res = minimize(f, np.array(best), method="Nelder-Mead", bounds=bounds,
                       options={"maxfev": 24, "xatol": 1e-3, "fatol": 1e-3})  # fmt: skip
        if res.fun < best_value:
            best = tuple(np.clip(res.x, [b[0] for b in bounds], [b[1] for b in bounds]))
            best_value = float(res.fun)
    return ProtocolBaseline(name=name, schedule=make(*best), value=best_value,
                            speedup=constant_value / best_value)  # fmt: skip


def _baselines(base, *, beta_min, beta_max, objective, measure, constant_value, ensemble,
               tol, target, sgd_noise, time_scale):  # fmt: skip
    """The best tanh, two-level step and linear ramp within the bounds."""
    beta_f = float(base.schedule.final)
    out = {}
    if objective == "convergence-time":
        # The paper's family, searched exactly as `linvae anneal` does (it starts at beta = 0).
        opt = optimal_annealing_rate(base, init=ensemble, tol=tol, sgd_noise=sgd_noise,
                                     target=target)  # fmt: skip
        out["tanh"] = ProtocolBaseline(
            name="tanh",
            schedule=TanhAnneal(beta_final=beta_f, gamma=opt.gamma_opt),
            value=opt.t_conv_opt,
            speedup=constant_value / opt.t_conv_opt,
        )
    else:
        out["tanh"] = _best_in_family(
            "tanh", lambda lg: TanhAnneal(beta_final=beta_f, gamma=math.exp(lg)),
            [np.linspace(math.log(0.3 / time_scale), math.log(30.0 / time_scale), 10)],
            [(math.log(0.1 / time_scale), math.log(100.0 / time_scale))], measure,
            constant_value,
        )  # fmt: skip
    levels = np.unique(np.clip([beta_min, (beta_min + beta_f) / 2, beta_max], beta_min, beta_max))
    times = np.log(np.geomspace(0.02, 1.0, 10) * time_scale)
    level_bounds = (beta_min, beta_max)
    time_bounds = (math.log(0.005 * time_scale), math.log(2.0 * time_scale))
    out["step"] = _best_in_family(
        "step",
        lambda b, lt: StepSchedule(beta_final=beta_f, beta_initial=b, t_switch=math.exp(lt)),
        [levels, times], [level_bounds, time_bounds], measure, constant_value,
    )  # fmt: skip
    out["linear"] = _best_in_family(
        "linear",
        lambda b, lt: LinearRamp(beta_final=beta_f, beta_initial=b, t_ramp=math.exp(lt)),
        [levels, times], [level_bounds, time_bounds], measure, constant_value,
    )  # fmt: skip
    return out


def _start(step: StepSchedule, K: int, Tc: float) -> np.ndarray:
    """The knot values of the best step schedule on K intervals of [0, Tc]."""
    t = np.linspace(0.0, Tc, K + 1)[:-1]
    return np.where(t < step.t_switch, step.beta_initial, step.beta_final)


# --------------------------------------------------------------------------- the API
def optimal_protocol(
    model: Model,
    *,
    beta_min: float,
    beta_max: float,
    objective: Objective = "convergence-time",
    horizon: float | None = None,
    n_init: int = 64,
    N: int = 200,
    rng=0,
    tol: float = 1e-3,
    n_intervals: int = 60,
    sgd_noise: bool = True,
    max_iter: int = 100,
    jit: bool | None = None,
    progress: bool | Callable[[float, float], None] = False,
) -> OptimalProtocol:
    """The annealing protocol beta(t) in [beta_min, beta_max] that minimizes an objective.

    Minimizes over all piecewise linear beta(t) on ``n_intervals`` intervals, ending at beta_f
    = ``model.schedule.final``, the ensemble mean over ``n_init`` fresh initial states of

    * ``"convergence-time"``: the excess convergence time at tolerance ``tol``
      (``integral_0^inf min(1, |eps_g - eps_g*| / tol) dt - 1/r``, the measure of
      `linvae.analysis.annealing.optimal_annealing_rate`); the control time T_c, after which
      beta = beta_f, is optimized too;
    * ``"final-error"``: eps_g at ``horizon`` (beta(horizon) = beta_f).

    The optimizer starts from the best two-level step schedule. The result is re-measured with
    the package's measure and integrator and compared with the best tanh, two-level step and
    linear ramp of the same objective, bounds and ensemble.

    Parameters
    ----------
    model : Model
        rho, eta, lam, tau and beta_f (``model.schedule.final``); M = M_star = 1 or any shape.
    beta_min, beta_max : float
        Bounds of beta(t); 0 < beta_min <= beta_f <= beta_max (at beta = 0 the variance D
        reaches 0 in finite time).
    objective : {"convergence-time", "final-error"}
    horizon : float, optional
        The time T_h at which the final error is read (required for "final-error"). For the
        convergence time, how far the optimizer integrates (default: the best step
        schedule's convergence time plus 3 / |J_max|; beyond it the error is extrapolated at
        the rate |J_max|, and the reported times do not depend on it).
    n_init, N, rng
        The ensemble of initial states: ``initial_ensemble(model, n_init, N=N, rng=rng)``, as
        ``linvae anneal`` draws it.
    tol : float
        Tolerance of the convergence measure.
    n_intervals : int
        K, the intervals of the piecewise linear control (>= 2).
    sgd_noise : bool
        Keep the O(tau^2) SGD-noise terms of the drift.
    max_iter : int
        Iterations of L-BFGS-B.
    jit : bool, optional
        Compile the integrator's graph to C (needs a C compiler; several times faster per
        evaluation, seconds to compile). Default: for large problems (64 states at tau = 0.01),
        falling back to no compilation, with a warning, where compiling fails.
    progress : bool or callable
        A progress bar of the optimizer's iterations (`linvae.utils.progress`).

    Returns
    -------
    OptimalProtocol

    Raises
    ------
    ValueError
        For bounds that do not contain beta_f, beta_min <= 0, a missing horizon for the final
        error, or an ensemble that does not reach one attractor at constant beta_f.

    Notes
    -----
    Without its O(tau^2) terms the drift is affine in beta, so the optimal control is
    bang-bang (at a bound) wherever it is not singular; the piecewise linear control resolves
    a switch to one interval, T_c / K. Gradients are those of the discretised surrogate (RK4 at
    a step of about 0.12 / tau, the smoothed integrand), exact up to round-off.

    Examples
    --------
    >>> from linvae import Model
    >>> res = optimal_protocol(Model(beta=1.0, tau=0.05), beta_min=0.2, beta_max=2.0,
    ...                        n_init=4, n_intervals=10, max_iter=20)
    >>> res.speedup > res.baselines["step"].speedup > 1
    True
    """
    start_clock = time.perf_counter()
    owner = "optimal_protocol"
    if not isinstance(model, Model):
        raise TypeError(f"The `model` parameter of {owner} must be a Model. Got {model!r}.")
    check_choice("objective", objective, owner, OBJECTIVES)
    beta_f = float(model.schedule.final)
    beta_min = check_real("beta_min", beta_min, owner, low=0.0,
                          fix="At beta = 0 the variance D reaches 0 in finite time.")  # fmt: skip
    beta_max = check_real("beta_max", beta_max, owner, low=beta_min,
                          fix="Pass beta_min < beta_max.")  # fmt: skip
    if not beta_min <= beta_f <= beta_max:
        raise ValueError(
            f"The final value beta_f = {beta_f:g} of {owner} must lie within [beta_min, "
            f"beta_max] = [{beta_min:g}, {beta_max:g}]. Widen the bounds or change beta_f."
        )
    tol = check_real("tol", tol, owner, low=0.0)
    n_init = check_int("n_init", n_init, owner, low=1)
    n_intervals = check_int("n_intervals", n_intervals, owner, low=2)
    max_iter = check_int("max_iter", max_iter, owner, low=1)
    if objective == "final-error":
        if horizon is None:
            raise ValueError(f"The `horizon` parameter of {owner} is required for the objective "
                             "'final-error': the time T at which eps_g is read.")  # fmt: skip
        horizon = check_real("horizon", horizon, owner, low=0.0)
    elif horizon is not None:
        horizon = check_real("horizon", horizon, owner, low=0.0)
    base = replace(model, beta=Constant(beta=beta_f))
    ensemble = initial_ensemble(base, n_init, N=N, rng=rng)
    states = pack_state(ensemble).reshape(n_init, -1)
    reached = attractor(base, start=states, sgd_noise=sgd_noise)
    if not reached.unanimous:
        raise ValueError(
            f"The initial states of {owner} end at different points at constant beta_f: "
            f"{reached.message} Choose beta_f where one attractor is reached."
        )
    target = reached.point
    rate = abs(critical_rate(base, sgd_noise=sgd_noise, point=target).J_max)
    measure = _measure_factory(base, states, objective=objective, tol=tol, horizon=horizon,
                               target=target, sgd_noise=sgd_noise)  # fmt: skip
    constant_all = measure([base.schedule])[0]
    constant_value = float(np.mean(constant_all))
    time_scale = constant_value if objective == "convergence-time" else horizon
    baselines = _baselines(
        base, beta_min=beta_min, beta_max=beta_max, objective=objective, measure=measure,
        constant_value=constant_value, ensemble=ensemble, tol=tol, target=target,
        sgd_noise=sgd_noise, time_scale=time_scale,
    )  # fmt: skip
    step = baselines["step"].schedule
    if objective == "convergence-time":
        if horizon is None:
            horizon = baselines["step"].value + 3.0 / rate
        # T_c may grow to 3 times the step's switch, or to 0.9 T_h where the best step
        # switches late (or never before it converges, as with a collapsed target).
        control_max = min(0.9 * horizon, 6.0 * max(step.t_switch, 0.05 * horizon))
        Tc0 = min(2.0 * step.t_switch, control_max)
    else:
        control_max = Tc0 = horizon
    setup = dict(
        objective=objective, n_intervals=n_intervals, horizon=horizon,
        control_time_max=control_max, target=target.eps_g, rate=rate, tol=tol,
        sgd_noise=sgd_noise,
    )  # fmt: skip
    try:
        surrogate = ShootingObjective(base, states, jit=jit, **setup)
    except RuntimeError as err:
        if jit is False:
            raise
        warnings.warn(
            f"optimal_protocol could not compile its integrator to C ({str(err)[:200]}); "
            "evaluating it uncompiled, several times slower. Install a C compiler (gcc) or "
            "pass jit=False to skip the attempt.",
            stacklevel=2,
        )
        surrogate = ShootingObjective(base, states, jit=False, **setup)
    x0 = _start(step, n_intervals, Tc0)
    bounds = [(beta_min, beta_max)] * n_intervals
    if objective == "convergence-time":
        x0 = np.append(x0, Tc0 / surrogate.time_scale)
        bounds.append((0.05 * control_max / surrogate.time_scale, 2.0))
    scale = abs(float(surrogate.value(x0))) or 1.0
    report = make_progress(progress, max_iter, "optimal protocol", unit="iterations",
                           warmup="compiling")  # fmt: skip
    counter = {"evaluations": 0, "iterations": 0}

    def fun(x):
        counter["evaluations"] += 1
        f, g = surrogate(x)
        return f / scale, g / scale

    def callback(xk):
        counter["iterations"] += 1
        report(counter["iterations"])

    try:
        res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds, callback=callback,
                       options={"maxiter": max_iter, "ftol": 1e-7, "gtol": 1e-6})  # fmt: skip
    finally:
        report.close()
    schedule = surrogate.schedule(res.x, horizon)
    start = surrogate.schedule(x0, horizon)
    values, start_values = measure([schedule, start])
    value = float(np.mean(values))
    status = str(res.message)
    if float(np.mean(start_values)) < value:
        # The surrogate's smoothing or discretisation misled the optimizer (rare; seen only
        # where it stopped at its start): keep the tabulated start, and say so.
        schedule, values, value = start, start_values, float(np.mean(start_values))
        status += "; the start (the best step, tabulated) measured better and is returned"
    return OptimalProtocol(
        model=replace(base, beta=schedule),
        objective=objective,
        schedule=schedule,
        beta_final=beta_f,
        beta_min=beta_min,
        beta_max=beta_max,
        tol=tol,
        horizon=float(horizon),
        control_time=float(schedule.times[-1]),
        value=value,
        values=values,
        value_spread=_spread(values),
        constant_value=constant_value,
        speedup=constant_value / value,
        time_saved=constant_value - value if objective == "convergence-time" else None,
        baselines=baselines,
        surrogate_start=scale,
        surrogate_value=float(res.fun) * scale,
        success=bool(res.success),
        solver_status=status,
        iterations=int(res.nit),
        evaluations=counter["evaluations"],
        target=target,
        n_intervals=n_intervals,
        n_init=n_init,
        N=int(N),
        wall_time_s=time.perf_counter() - start_clock,
    )
