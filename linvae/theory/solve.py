"""Integrate the order-parameter ODEs: the deterministic twin of one-pass SGD.

Symbols
-------
t        training time, step / N
m, d     (M x M_star) overlaps; Q, E, R (M x M); D (M)      see `linvae.observables`
T        (M_star x M_star) W_star^T W_star / N
beta(t)  the model's KL schedule, evaluated at the solver's times
xi       1 keeps the O(tau^2) SGD-noise terms (``sgd_noise=True``), 0 drops them

The right-hand side is `linvae.theory.drift.Drift`: the sympy-derived drift of
`linvae.theory.derive`, compiled by `linvae.theory.rhs`; ``rhs="matrix-form"``
integrates the plain-numpy matrix forms (`linvae.theory.reference`; the theory page,
docs/theory.md, section "The result") instead, as a cross-check. The result is a
`linvae.Trajectory` (source "ode", one "seed"), whose ``eps_g`` comes from the same
`linvae.generalization_error` as a simulation's.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np

from linvae.observables import OrderParameters, pack_state, unpack_state
from linvae.params import Model
from linvae.theory.drift import Drift
from linvae.trajectory import Trajectory
from linvae.utils.validation import check_array, check_real
from linvae.utils.version import __version__

__all__ = ["AUTO_FALLBACK", "COMPILED_METHOD", "METHODS", "initial_conditions_from", "solve_ode"]

_LOG = logging.getLogger(__name__)
#: The methods `solve_ode` accepts: "auto" (the default), `scipy.integrate.solve_ivp`'s, and
#: "DOP853-numba", the compiled integrator of `linvae.theory.integrate`.
METHODS = ("auto", "LSODA", "RK45", "RK23", "DOP853", "Radau", "BDF", "DOP853-numba")
COMPILED_METHOD = "DOP853-numba"
#: The scipy method of ``method="auto"`` where the compiled integrator does not apply.
AUTO_FALLBACK = "LSODA"
_IMPLICIT = ("LSODA", "Radau", "BDF")


def initial_conditions_from(
    trajectory: Trajectory, *, index: int = 0, align_signs: bool = True
) -> OrderParameters:
    """The measured order parameters of a run at one time, averaged over seeds.

    Q and E are symmetrized (they are Gram matrices; round-off can break the symmetry).

    Parameters
    ----------
    trajectory : Trajectory
        A simulation (or ODE) result.
    index : int
        Time index; 0 (the initial condition) by default.
    align_signs : bool
        Before averaging, flip latent k of each seed (``W_k, V_k -> -W_k, -V_k``, a symmetry
        of the loss) so that its largest overlap ``m[k, l]`` is positive. Without it, random
        signs of m(0) = O(N^-1/2) cancel in the mean and the ODE starts artificially close to
        the invariant manifold m = d = 0. eps_g is unchanged by the flip.

    Returns
    -------
    OrderParameters
        Shapes (M, M_star) for m, d; (M, M) for Q, E, R; (M,) for D.

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model, OrderParameters, Trajectory
    >>> op = OrderParameters(m=np.full((2, 1, 1, 1), 0.1), d=np.zeros((2, 1, 1, 1)),
    ...                      Q=np.ones((2, 1, 1, 1)), E=np.ones((2, 1, 1, 1)),
    ...                      R=np.zeros((2, 1, 1, 1)), D=np.ones((2, 1, 1)))
    >>> run = Trajectory.from_order_parameters(np.zeros(1), op, model=Model(), source="sgd")
    >>> float(initial_conditions_from(run).m[0, 0])
    0.1
    """
    if not isinstance(trajectory, Trajectory):
        raise TypeError(
            "The `trajectory` parameter of initial_conditions_from must be a Trajectory. "
            f"Got {type(trajectory).__name__}."
        )
    n_times = trajectory.t.shape[0]
    if not -n_times <= index < n_times:
        raise ValueError(
            f"The `index` parameter of initial_conditions_from must be in [{-n_times}, "
            f"{n_times - 1}]. Got {index}."
        )
    op = trajectory.at(index)
    values = op.as_dict()
    if align_signs:
        values = _aligned(values)
    mean = {name: np.mean(value, axis=0) for name, value in values.items()}
    for name in ("Q", "E"):
        mean[name] = 0.5 * (mean[name] + mean[name].T)
    return OrderParameters(**mean)


def _aligned(values: dict) -> dict:
    """Flip latents per seed so that each latent's largest |m[k, l]| is positive."""
    m = values["m"]  # (S, M, M_star)
    largest = np.take_along_axis(m, np.abs(m).argmax(axis=-1)[..., None], axis=-1)[..., 0]
    sign = np.where(largest < 0, -1.0, 1.0)  # (S, M)
    out = dict(values)
    out["m"] = sign[..., None] * m
    out["d"] = sign[..., None] * values["d"]
    flip = sign[..., :, None] * sign[..., None, :]
    for name in ("Q", "E", "R"):
        out[name] = flip * values[name]
    return out


def _check_init(init: OrderParameters, model: Model) -> OrderParameters:
    M, M_star = model.M, model.M_star
    shapes = {"m": (M, M_star), "d": (M, M_star), "Q": (M, M), "E": (M, M), "R": (M, M)}
    shapes["D"] = (M,)
    values = {}
    for name, shape in shapes.items():
        values[name] = check_array(
            f"init.{name}",
            getattr(init, name),
            "solve_ode",
            shape=shape,
            fix=f"The model has M = {M}, M_star = {M_star}; for a run's order parameters "
            "use initial_conditions_from(run).",
        )
    if np.any(values["D"] <= 0):
        raise ValueError(
            f"The `init.D` parameter of solve_ode must be positive (encoder variances). "
            f"Got {values['D']}."
        )
    for name in ("Q", "E"):
        values[name] = 0.5 * (values[name] + values[name].T)
    return OrderParameters(**values)


def solve_ode(
    model: Model,
    *,
    t_max: float,
    init: OrderParameters | Trajectory,
    dt: float = 1.0,
    t_eval: Sequence[float] | np.ndarray | None = None,
    method: str = "auto",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    T: np.ndarray | None = None,
    sgd_noise: bool = True,
    jacobian: bool = True,
    rhs: Literal["derived", "matrix-form"] = "derived",
) -> Trajectory:
    """Integrate the order-parameter ODEs of one-pass SGD from ``t = 0`` to ``t_max``.

    ``dy/dt = tau F1(y; beta(t)) + xi tau^2 F2(y; beta(t))`` for the flat state
    ``y = (m, d, Q, E, R, D)``, with the drift derived by sympy from the model (the theory page,
    docs/theory.md, sections "The derivation" and "The result").

    Parameters
    ----------
    model : Model
        Problem and learning rate; ``model.schedule`` gives beta(t) (any schedule).
    t_max : float
        End time (> 0), in units of step / N.
    init : OrderParameters or Trajectory
        Initial order parameters (shapes (M, M_star), (M, M), (M,)), or a simulation whose
        measured t = 0 values, averaged over seeds, are used (`initial_conditions_from`).
    dt : float
        Spacing of the output grid ``0, dt, 2 dt, ... <= t_max`` (ignored if ``t_eval`` is given).
    t_eval : array, optional
        Output times, increasing, starting at 0 and not beyond ``t_max``. Pass a run's ``t`` to
        compare with it point by point.
    method : {"auto", "LSODA", "RK45", "RK23", "DOP853", "Radau", "BDF", "DOP853-numba"}
        "DOP853-numba": DOP853 compiled with numba, right-hand side and schedule inside the
        compiled loop (`linvae.theory.integrate`; the steps of scipy's DOP853, tens of times
        faster than the scipy methods; needs ``rhs="derived"`` and a schedule with a compiled
        form: every library schedule, not a Python callable). Or a
        `scipy.integrate.solve_ivp` method. "auto" (default): "DOP853-numba" wherever it
        applies, else "LSODA"; ``meta["method"]`` says which ran and ``meta["method_note"]``
        why.
    rtol, atol : float
        Solver tolerances.
    T : array, shape (M_star, M_star), optional
        W_star^T W_star / N. Default: the trajectory's ``T_matrix`` when ``init`` is one, else I.
    sgd_noise : bool
        Keep the O(tau^2) SGD-noise terms (needed to match simulations at finite tau).
    jacobian : bool
        Give implicit methods (LSODA, Radau, BDF) the derived Jacobian. Its first compilation for
        a shape takes seconds to tens of seconds (M = 3); it is cached on disk afterwards.
    rhs : {"derived", "matrix-form"}
        The sympy-derived compiled drift, or the plain-numpy matrix forms of
        `linvae.theory.reference` (slower; for cross-checks and benchmarks; no Jacobian).

    Returns
    -------
    Trajectory
        ``source="ode"``, one seed: ``t`` (n_t,), ``m, d`` (1, n_t, M, M_star),
        ``Q, E, R`` (1, n_t, M, M), ``D`` (1, n_t, M), ``eps_g`` (1, n_t); ``meta`` records the
        solver settings, ``nfev``, ``njev``, ``success``, ``message`` and the generated code's hash.

    Raises
    ------
    ValueError
        For invalid arguments, or if the solution leaves the valid region (non-finite values or
        D <= 0): the message says when, and what to change.

    Warns
    -----
    UserWarning
        When started on the invariant manifold m = d = 0, which the dynamics never leaves.

    Notes
    -----
    The ODEs hold as N -> infinity with tau fixed; SGD at finite N fluctuates around them by
    O(N^-1/2). Start from the *measured* initial order parameters of the run to compare with:
    m(0), d(0) = O(N^-1/2) decide when the plateau near the collapsed point is left.

    References
    ----------
    Y. Ichikawa and K. Hukushima, AISTATS 2024, arXiv 2310.15440.

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model, OrderParameters
    >>> init = OrderParameters(m=np.array([[0.01]]), d=np.array([[0.12]]), Q=np.eye(1),
    ...                        E=np.eye(1), R=np.zeros((1, 1)), D=np.ones(1))
    >>> sol = solve_ode(Model(tau=0.1), t_max=100.0, init=init)
    >>> sol.eps_g.shape
    (1, 101)
    """
    owner = "solve_ode"
    if not isinstance(model, Model):
        raise TypeError(f"The `model` parameter of {owner} must be a Model. Got {model!r}.")
    t_max = check_real("t_max", t_max, owner, low=0.0)
    if method not in METHODS:
        raise ValueError(
            f"The `method` parameter of {owner} must be one of {METHODS}. Got {method!r}."
        )
    requested = method
    rtol = check_real("rtol", rtol, owner, low=0.0)
    atol = check_real("atol", atol, owner, low=0.0)
    if isinstance(init, Trajectory):
        if T is None and init.T_matrix is not None:
            T = init.T_matrix
        init_op = initial_conditions_from(init)
        init_note = "measured t = 0 order parameters of a run (mean over seeds)"
    elif isinstance(init, OrderParameters):
        init_op = init
        init_note = "given"
    else:
        raise TypeError(
            f"The `init` parameter of {owner} must be OrderParameters or a Trajectory. "
            f"Got {type(init).__name__}."
        )
    init_op = _check_init(init_op, model)
    M, M_star = model.M, model.M_star
    if t_eval is None:
        dt = check_real("dt", dt, owner, low=0.0)
        t_eval = np.arange(int(np.floor(t_max / dt * (1 + 1e-12))) + 1) * dt
    else:
        t_eval = check_array("t_eval", t_eval, owner, shape=(None,))
        if t_eval.size == 0 or t_eval[0] != 0.0 or np.any(np.diff(t_eval) <= 0):
            raise ValueError(
                f"The `t_eval` parameter of {owner} must be increasing and start at 0. "
                f"Got {t_eval.size} times starting at {t_eval[:1]}."
            )
        if t_eval[-1] > t_max * (1 + 1e-12):
            raise ValueError(
                f"The `t_eval` parameter of {owner} must not go beyond t_max = {t_max:g}. "
                f"Got a last time {t_eval[-1]:g}."
            )
    # Drift checks `rhs` and `T` (in the name of solve_ode) and compiles the right-hand side.
    drift = Drift(model, T=T, sgd_noise=sgd_noise, rhs=rhs, owner=owner)
    if np.all(init_op.m == 0) and np.all(init_op.d == 0):
        warnings.warn(
            "solve_ode starts on the invariant manifold m = d = 0: the ODE never leaves it "
            "and never learns the signal. Start from the measured initial order parameters of "
            "a simulation (init=run), or from small nonzero m, d (O(N^-1/2)).",
            stacklevel=2,
        )

    y0 = pack_state(init_op)
    method, method_note = _chosen_method(requested, drift, model)
    meta: dict = {"method": method, "method_requested": requested, "method_note": method_note}
    meta.update(rtol=rtol, atol=atol, sgd_noise=bool(sgd_noise))
    meta.update(init=init_note, rhs=rhs, linvae_version=__version__)
    if drift.compiled is not None:
        compiled = drift.compiled
        _LOG.info(
            "ODE code for M=%d, M_star=%d: derived in %.2f s, compiled in %.2f s.",
            M,
            M_star,
            compiled.derivation_seconds,
            compiled.compile_seconds,
        )
        meta["generated_code_sha256"] = compiled.source_hash
    use_jac = jacobian and method in _IMPLICIT and drift.has_jacobian
    meta["jacobian"] = "derived" if use_jac else "solver's finite differences or none"

    if method == COMPILED_METHOD:
        y, nfev = _solve_compiled(drift, model, y0, t_max, t_eval, rtol, atol)
        meta.update(nfev=nfev, njev=0, success=True, message=_OK_MESSAGE)
        meta["jacobian"] = "none (explicit method)"
        op = unpack_state(y[None], M, M_star)
        return Trajectory.from_order_parameters(
            t_eval, op, model=model, source="ode", T_matrix=drift.T, meta=meta
        )

    # Integrate piece by piece between the schedule's jumps/kinks.
    edges = [0.0, *[b for b in model.schedule.breakpoints if 0.0 < b < t_max], t_max]
    ys, ts = [], []
    nfev = njev = 0
    y_start = y0
    messages = []
    for lo, hi in itertools.pairwise(edges):
        last = hi == t_max
        inside = (t_eval >= lo) & ((t_eval <= hi) if last else (t_eval < hi))
        options = {"jac": drift.jacobian} if use_jac else {}
        # scipy.integrate costs ~0.5 s to import: loaded when an ODE is solved, so the
        # command line (which reads METHODS from here) starts fast.
        from scipy.integrate import solve_ivp

        sol = solve_ivp(
            drift,
            (lo, hi),
            y_start,
            method=method,
            t_eval=np.concatenate([t_eval[inside], [] if last else [hi]]),
            rtol=rtol,
            atol=atol,
            **options,
        )
        nfev += int(sol.nfev)
        njev += int(sol.njev)
        messages.append(sol.message)
        _check_solution(sol, M=M, M_star=M_star, tau=model.tau)
        n_in = int(inside.sum())
        ys.append(sol.y[:, :n_in])
        ts.append(sol.t[:n_in])
        y_start = np.ascontiguousarray(sol.y[:, -1])
    y = np.concatenate(ys, axis=1).T
    meta.update(nfev=nfev, njev=njev, success=True, message=" | ".join(messages))
    op = unpack_state(y[None], M, M_star)
    return Trajectory.from_order_parameters(
        np.concatenate(ts), op, model=model, source="ode", T_matrix=drift.T, meta=meta
    )


_OK_MESSAGE = "The solver successfully reached the end of the integration interval."


def _chosen_method(method: str, drift: Drift, model: Model) -> tuple[str, str]:
    """The method that runs for the requested one, and why (``"auto"`` picks)."""
    if method != "auto":
        return method, "requested"
    if drift.compiled is None:
        why = f"rhs={drift.rhs!r} has no compiled drift"
    elif not model.schedule.has_compiled_form:
        why = f"the schedule {model.schedule!r} has no compiled form"
    else:
        return COMPILED_METHOD, "auto: the compiled integrator handles this model"
    return AUTO_FALLBACK, f"auto: fell back to scipy's {AUTO_FALLBACK} because {why}"


def _solve_compiled(drift: Drift, model: Model, y0, t_max, t_eval, rtol, atol):
    """The compiled DOP853 of linvae.theory.integrate: states at t_eval and nfev."""
    # numba: the compiled integrator loads on first use, keeping the command line light.
    from linvae.theory.integrate import INVALID, STATUS_MESSAGES, dop853

    if drift.compiled is None or not model.schedule.has_compiled_form:
        raise ValueError(
            f"The `method` parameter of solve_ode is {COMPILED_METHOD!r}, which needs "
            "rhs='derived' and a schedule with a compiled form (any library schedule; not a "
            f"Python callable). Got rhs={drift.rhs!r} and {type(model.schedule).__name__}. Use "
            "method='DOP853' (the same algorithm in scipy) or method='auto' instead."
        )
    code = model.schedule.compiled()
    layout = drift.compiled.layout
    sol = dop853(
        drift.compiled,
        y0,
        drift.at_beta(0.0).parameters,
        beta_index=layout.beta,
        n_D=model.M,
        schedule=code,
        t_max=t_max,
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
    )
    if sol.status == INVALID:
        raise ValueError(
            f"The ODE solution left the valid region at t = {sol.t_stop:g} (non-finite values "
            f"or an encoder variance D <= 0). Reduce `tau` (now {model.tau:g}) or tighten "
            "`rtol`/`atol`."
        )
    if sol.status != 0:
        raise ValueError(
            f"The ODE solver failed at t = {sol.t_stop:g}: {STATUS_MESSAGES[sol.status]} Try a "
            "smaller `rtol`/`atol`, another `method` (e.g. 'Radau'), or a smaller `tau`."
        )
    return sol.y, sol.nfev


def _check_solution(sol, *, M: int, M_star: int, tau: float) -> None:
    """Stop with an error that says where and what to change when the solution is invalid."""
    if not sol.success:
        raise ValueError(
            f"The ODE solver failed at t = {sol.t[-1]:g}: {sol.message} Try a smaller `rtol`/"
            "`atol`, another `method` (e.g. 'Radau'), or a smaller `tau`."
        )
    y = sol.y
    bad = ~np.all(np.isfinite(y), axis=0)
    D = y[-M:]
    bad |= np.any(D <= 0, axis=0)
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ValueError(
            f"The ODE solution left the valid region at t = {sol.t[k]:g} (non-finite values or "
            f"an encoder variance D <= 0). Reduce `tau` (now {tau:g}) or tighten `rtol`/`atol`."
        )
