"""Compiled adaptive integration of the order-parameter ODEs: DOP853 in numba, one or many.

Symbols
-------
t, y     training time (step / N) and flat state (m, d, Q, E, R, D) of
         `linvae.observables.pack_state`; n its length
p        parameter vector of the compiled drift (`linvae.theory.rhs.parameter_vector`);
         the integrator writes beta(t) into its beta slot before every evaluation
h        step size; K the Runge-Kutta stages
rtol, atol  tolerances of the local error control
e(t)     eps_g(t) - eps_g*, the deviation that the convergence measure integrates
tol      tolerance of the measure on |e|; z the integrals of min(1, |e| / tol)

The method is DOP853 (Dormand and Prince's explicit Runge-Kutta pair of order 8 with an
embedded 5th- and 3rd-order error estimate and a 7th-order dense output; Hairer, Norsett and
Wanner, *Solving Ordinary Differential Equations I*, section II.10), in the form of
`scipy.integrate.DOP853`: the same coefficients, initial step, error norm and step
control, so that both take the same steps to round-off (a test checks it).

Error control. A step of size h from y to y_new is accepted when

    err = h * |E5 K / s|^2 / sqrt((|E5 K / s|^2 + 0.01 |E3 K / s|^2) n) < 1,
    s_i = atol + rtol * max(|y_i|, |y_new_i|),

(E5, E3 the two embedded error estimators, |.| the Euclidean norm over components), and the
next step is ``h * min(10, 0.9 err^(-1/8))`` (at least ``0.2 h`` after a rejection, and not
growing right after one). The local error per step is thus kept below atol + rtol |y|; the
global error grows with the number of steps (a few hundred for a trajectory to t = 1e4), which
is what the tests against `scipy.integrate.solve_ivp` bound. Output between steps comes
from the dense output, of order 7.

The ODEs are not stiff on the scales that matter: the fastest rate, D relaxing at
``tau beta / (2 D^2)``, is large only while beta(t) is close to 0, where the step-size control
keeps the explicit method stable; the tests compare with the implicit solvers there too.

Schedules. Each schedule class of `linvae.schedules` gives its compiled form
(`linvae.schedules.CompiledSchedule`: a kind code, a time shift and parameters, its
breakpoints) and a function ``compiled_beta(parameters, t)`` written in the subset of Python
that numba compiles. The generated kernel module holds those functions and ``beta_at``, which
dispatches on the kind code, all built from the classes (`schedule_source`): nothing here
names a schedule. The integration restarts at every breakpoint (a ramp's kink, a step's jump,
the knots of a table), as `linvae.theory.solve_ode` does. A schedule without a compiled form
(a Python callable) is integrated by `scipy.integrate.solve_ivp`.

This module is a kernel module: no validation, no Python objects in the compiled functions.
`linvae.theory.solve_ode` (``method="auto"``, its default, or ``"DOP853-numba"``) and
`linvae.analysis.annealing` (ensembles of initial conditions, maps) call it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import itertools
import math
import re
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np

from linvae.params import Model
from linvae.schedules import COMPILED_KINDS, CompiledSchedule, Schedule
from linvae.theory.dop853_tableau import E3 as _E3
from linvae.theory.dop853_tableau import E5 as _E5
from linvae.theory.dop853_tableau import A as _A
from linvae.theory.dop853_tableau import B as _B
from linvae.theory.dop853_tableau import C as _C
from linvae.theory.dop853_tableau import D as _D
from linvae.theory.rhs import JAC_NAME, RHS_NAME, CompiledODE, cache_dir
from linvae.utils.io import atomic_write

__all__ = [
    "EXCESS_STATUS",
    "STATUS_MESSAGES",
    "MeasureCode",
    "ScheduleCode",
    "beta_function",
    "dop853",
    "excess_error_integrals",
    "measure_code",
    "schedule_arrays",
    "schedule_code",
    "schedule_source",
]

_N_STAGES = 12
_SAFETY = 0.9
_MIN_FACTOR = 0.2
_MAX_FACTOR = 10.0
_EXPONENT = -1.0 / 8.0
_MAX_STEPS = 1_000_000

#: Status codes of the kernels.
OK, STEP_TOO_SMALL, INVALID, TOO_MANY_STEPS = 0, 1, 2, 3
STATUS_MESSAGES = {
    OK: "The solver successfully reached the end of the integration interval.",
    STEP_TOO_SMALL: "Required step size is less than spacing between numbers.",
    INVALID: "The solution left the valid region (non-finite values or D <= 0).",
    TOO_MANY_STEPS: f"More than {_MAX_STEPS} steps.",
}
EXCESS_STATUS = STATUS_MESSAGES

#: The compiled form of a schedule (`linvae.schedules.CompiledSchedule`).
ScheduleCode = CompiledSchedule


def schedule_code(schedule: Schedule) -> CompiledSchedule | None:
    """The compiled form of a schedule (`linvae.schedules.Schedule.compiled`), or None for
    one without (a Python callable).

    Examples
    --------
    >>> from linvae.schedules import TanhAnneal
    >>> code = schedule_code(TanhAnneal(beta_final=1.5, gamma=0.01))
    >>> code.kind, code.values.tolist(), code.breakpoints.tolist()
    (1, [0.0, 1.5, 0.01], [])
    """
    return schedule.compiled() if schedule.has_compiled_form else None


def schedule_arrays(codes: list[CompiledSchedule]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compiled schedules as the arrays of `excess_error_integrals`: kinds (n,), values
    (n, width) and breakpoints (n, n_breakpoints), padded with 0 and ``inf``.

    Examples
    --------
    >>> from linvae.schedules import Constant, LinearRamp
    >>> kinds, values, breaks = schedule_arrays(
    ...     [Constant(beta=1.0).compiled(), LinearRamp(beta_final=1.0, t_ramp=9.0).compiled()])
    >>> kinds.tolist(), values.shape, breaks.tolist()
    ([0, 2], (2, 4), [[inf], [9.0]])
    """
    n = len(codes)
    width = max(c.values.size for c in codes)
    n_breaks = max(1, max(c.breakpoints.size for c in codes))
    kinds = np.array([c.kind for c in codes], dtype=np.int64)
    values = np.zeros((n, width))
    breakpoints = np.full((n, n_breaks), np.inf)
    for k, c in enumerate(codes):
        values[k, : c.values.size] = c.values
        breakpoints[k, : c.breakpoints.size] = c.breakpoints
    return kinds, values, breakpoints


def schedule_source() -> str:
    """Python source of ``beta_at(kind, values, t)``, built from the schedule classes.

    Each class of `linvae.schedules.COMPILED_KINDS` contributes its ``compiled_beta``; the
    dispatcher calls the one of the kind code with the time shift applied
    (``values = (t0, parameters...)``). The generated kernel module compiles this text, so
    that its hash (the name of numba's cache) changes with any schedule's code.
    """
    parts = []
    calls = []
    for code, cls in enumerate(COMPILED_KINDS):
        source = textwrap.dedent(inspect.getsource(cls.compiled_beta))
        name = f"_beta_{code}"
        parts.append(re.sub(r"^def \w+\(", f"def {name}(", source, count=1, flags=re.M).rstrip())
        calls.append(f"    if kind == {code}:\n        return {name}(p, s)")
    dispatcher = "\n".join(
        [
            "def beta_at(kind, values, t):",
            '    """beta(t) of a compiled schedule (kind code, values = (t0, parameters))."""',
            "    p = values[1:]",
            "    s = t + values[0]",
            *calls,
            "    return math.nan",
        ]
    )
    return "\n\n\n".join([*parts, dispatcher]) + "\n"


_BETA: list = []


def beta_function():
    """``beta_at(kind, values, t)`` of `schedule_source`, compiled (in memory, once per
    process): the same beta(t) as the integrator's, for tests and checks.

    Examples
    --------
    >>> from linvae.schedules import Tabulated
    >>> code = Tabulated(times=[0.0, 10.0], values=[0.0, 1.0]).compiled()
    >>> beta_function()(code.kind, code.values, 2.5)
    0.25
    """
    if not _BETA:
        namespace = {"math": math, "np": np}
        exec(compile(schedule_source(), "<linvae schedules>", "exec"), namespace)
        for name in [k for k in namespace if k.startswith("_beta_")] + ["beta_at"]:
            namespace[name] = numba.njit(namespace[name])
        _BETA.append(namespace["beta_at"])
    return _BETA[0]


class MeasureCode(NamedTuple):
    """What compiled code needs to evaluate eps_g on the flat state (`measure_code`).

    Attributes
    ----------
    pairs : ndarray of int, shape (n_maps, n_pairs, 2)
        For every injective matching of factors and latents, the (flat index of m, factor)
        pairs it adds up; eps_g uses the best matching, as
        `linvae.generalization_error` does.
    sqrt_rho : ndarray, shape (M_star,)
    base : float
        sum_k rho_k T_kk.
    q_diagonal : ndarray of int, shape (M,)
        Flat indices of Q_ii.
    """

    pairs: np.ndarray
    sqrt_rho: np.ndarray
    base: float
    q_diagonal: np.ndarray


def measure_code(model: Model, T: np.ndarray | None = None) -> MeasureCode:
    """eps_g of `linvae.generalization_error` in the form of `MeasureCode`.

    Examples
    --------
    >>> from linvae import Model
    >>> code = measure_code(Model(M=2))
    >>> code.pairs.shape, code.q_diagonal.tolist()
    ((2, 1, 2), [4, 7])
    """
    M, M_star = model.M, model.M_star
    rho = model.rho_vector
    T_diag = np.ones(M_star) if T is None else np.diagonal(np.asarray(T, dtype=np.float64))
    maps = []
    if M >= M_star:
        for perm in itertools.permutations(range(M), M_star):
            maps.append([(perm[k] * M_star + k, k) for k in range(M_star)])
    else:
        for perm in itertools.permutations(range(M_star), M):
            maps.append([(i * M_star + perm[i], perm[i]) for i in range(M)])
    q0 = 2 * M * M_star
    return MeasureCode(
        pairs=np.array(maps, dtype=np.int64),
        sqrt_rho=np.sqrt(rho),
        base=float(rho @ T_diag),
        q_diagonal=np.array([q0 + i * M + i for i in range(M)], dtype=np.int64),
    )


# --------------------------------------------------------------------------- kernels
# Compiled helpers that do not depend on the drift.
@numba.njit(cache=True)
def eps_g_of_state(y, pairs, sqrt_rho, base, q_diagonal):
    """eps_g of the flat state ``y`` (compiled), with the fields of a `MeasureCode`."""
    best = -np.inf
    for a in range(pairs.shape[0]):
        total = 0.0
        for b in range(pairs.shape[1]):
            total += sqrt_rho[pairs[a, b, 1]] * abs(y[pairs[a, b, 0]])
        best = max(best, total)
    trace = 0.0
    for i in range(q_diagonal.size):
        trace += y[q_diagonal[i]]
    return base - 2.0 * best + trace


@numba.njit(cache=True)
def rms_norm(x):
    """Root mean square of ``x`` (compiled)."""
    return math.sqrt(np.sum(x * x) / x.size)


@numba.njit(cache=True)
def valid_state(Y, n, n_D):
    """Whether Y[:n] is finite and its last ``n_D`` entries (the variances D) are positive."""
    for i in range(n):
        if not math.isfinite(Y[i]):
            return False
    for i in range(n - n_D, n):
        if Y[i] <= 0.0:
            return False
    return True


# Templates of the kernels that call the drift. Each shape's drift is its own compiled
# function, and numba cannot cache a kernel that takes a compiled function as an argument, so
# `compile_integrator` writes these functions into a module beside the generated drift
# (in linvae.theory.rhs.cache_dir()), with the first parameter ``rhs`` removed so that ``rhs``
# is that module's drift, and compiles them there with numba's disk cache. Every argument and
# call that starts with ``rhs, `` is removed by that rewrite, so keep ``rhs`` first.
def _derivative(rhs, t, Y, n, p, beta_index, kind, values, measure, out):
    """dY/dt into ``out``: the drift for Y[:n], then min(1, |e| / tol_j) for the integrals."""
    pairs, sqrt_rho, base, q_diagonal, target, tols, _, _ = measure
    p[beta_index] = beta_at(kind, values, t)  # noqa: F821 (generated: schedule_source)
    rhs(Y, p, out)  # reads Y[:n], writes out[:n]
    if tols.size:
        e = abs(eps_g_of_state(Y, pairs, sqrt_rho, base, q_diagonal) - target)
        for j in range(tols.size):
            out[n + j] = min(1.0, e / tols[j])


def _initial_step(rhs, t0, Y, f0, n, p, beta_index, kind, values, measure, t1, rtol, atol):
    """scipy.integrate's select_initial_step for an error estimator of order 7."""
    interval = abs(t1 - t0)
    if interval == 0.0:
        return 0.0
    scale = atol + np.abs(Y) * rtol
    d0 = rms_norm(Y / scale)
    d1 = rms_norm(f0 / scale)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, interval)
    f1 = np.empty_like(Y)
    _derivative(rhs, t0 + h0, Y + h0 * f0, n, p, beta_index, kind, values, measure, f1)
    d2 = rms_norm((f1 - f0) / scale) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / 8.0)
    return min(100.0 * h0, h1, interval)


def _segment(rhs, Y, n, n_D, p, beta_index, kind, values, measure, t0, t1, t_eval, out, j,
             rtol, atol, counts):  # fmt: skip
    """Integrate Y (in place) from t0 to t1; write the state at t_eval[j:] <= t1 into out.

    Returns (status, time reached, index of the next output). counts[0] += function
    evaluations, counts[1] += accepted steps.
    """
    N = Y.size
    K = np.empty((16, N))
    f = np.empty(N)
    _derivative(rhs, t0, Y, n, p, beta_index, kind, values, measure, f)
    counts[0] += 1
    while j < t_eval.size and t_eval[j] <= t0:
        out[j, :] = Y[:n]
        j += 1
    h_abs = _initial_step(rhs, t0, Y, f, n, p, beta_index, kind, values, measure, t1, rtol, atol)
    counts[0] += 1
    t = t0
    y_new = np.empty(N)
    stage = np.empty(N)
    while t < t1:
        if counts[1] >= _MAX_STEPS:
            return TOO_MANY_STEPS, t, j
        min_step = 10.0 * abs(np.nextafter(t, np.inf) - t)
        if h_abs < min_step:
            h_abs = min_step
        rejected = False
        while True:
            if h_abs < min_step:
                return STEP_TOO_SMALL, t, j
            t_new = t + h_abs
            if t_new > t1:
                t_new = t1
            h = t_new - t
            h_abs = abs(h)
            K[0, :] = f
            for s in range(1, _N_STAGES):
                for i in range(N):
                    acc = 0.0
                    for r in range(s):
                        acc += _A[s, r] * K[r, i]
                    stage[i] = Y[i] + h * acc
                _derivative(rhs, t + _C[s] * h, stage, n, p, beta_index, kind, values, measure,
                            K[s])  # fmt: skip
            for i in range(N):
                acc = 0.0
                for r in range(_N_STAGES):
                    acc += _B[r] * K[r, i]
                y_new[i] = Y[i] + h * acc
            _derivative(rhs, t + h, y_new, n, p, beta_index, kind, values, measure, K[12])
            counts[0] += _N_STAGES
            err5 = 0.0
            err3 = 0.0
            for i in range(N):
                scale = atol + max(abs(Y[i]), abs(y_new[i])) * rtol
                a5 = 0.0
                a3 = 0.0
                for r in range(13):
                    a5 += _E5[r] * K[r, i]
                    a3 += _E3[r] * K[r, i]
                err5 += (a5 / scale) ** 2
                err3 += (a3 / scale) ** 2
            if err5 == 0.0 and err3 == 0.0:
                error = 0.0
            else:
                error = h_abs * err5 / math.sqrt((err5 + 0.01 * err3) * N)
            if error < 1.0:
                factor = (
                    _MAX_FACTOR if error == 0.0 else min(_MAX_FACTOR, _SAFETY * error**_EXPONENT)
                )
                if rejected:
                    factor = min(1.0, factor)
                h_abs *= factor
                break
            if math.isfinite(error):
                h_abs *= max(_MIN_FACTOR, _SAFETY * error**_EXPONENT)
            else:
                h_abs *= _MIN_FACTOR
            rejected = True
        if j < t_eval.size and t_eval[j] <= t_new:
            # dense output: three more stages and the interpolant of degree 7
            for s in range(13, 16):
                for i in range(N):
                    acc = 0.0
                    for r in range(s):
                        acc += _A[s, r] * K[r, i]
                    stage[i] = Y[i] + h * acc
                _derivative(rhs, t + _C[s] * h, stage, n, p, beta_index, kind, values, measure,
                            K[s])  # fmt: skip
            counts[0] += 3
            F = np.empty((7, n))
            for i in range(n):
                dy = y_new[i] - Y[i]
                F[0, i] = dy
                F[1, i] = h * K[0, i] - dy
                F[2, i] = 2.0 * dy - h * (K[12, i] + K[0, i])
                for q in range(4):
                    acc = 0.0
                    for r in range(16):
                        acc += _D[q, r] * K[r, i]
                    F[3 + q, i] = h * acc
            while j < t_eval.size and t_eval[j] <= t_new:
                x = (t_eval[j] - t) / h
                for i in range(n):
                    v = 0.0
                    for q in range(6, -1, -1):
                        v += F[q, i]
                        v *= x if (6 - q) % 2 == 0 else 1.0 - x
                    out[j, i] = Y[i] + v
                j += 1
        t = t_new
        Y[:] = y_new
        f[:] = K[12]
        counts[1] += 1
        if not valid_state(Y, n, n_D):
            return INVALID, t, j
        if measure[6] > 0.0 and _settled(Y, f, n, measure):
            return OK, t, j
    return OK, t, j


def _settled(Y, f, n, measure):
    """Whether |e| < stop_e and max |dy/dt| < stop_f: the rest of the approach is the final
    exponential, whose share of the integrals the caller adds in closed form."""
    pairs, sqrt_rho, base, q_diagonal, target, _, stop_e, stop_f = measure
    if abs(eps_g_of_state(Y, pairs, sqrt_rho, base, q_diagonal) - target) >= stop_e:
        return False
    for i in range(n):
        if abs(f[i]) >= stop_f:
            return False
    return True


def _solve(rhs, Y, n, n_D, p, beta_index, kind, values, breakpoints, measure, t_max, t_eval,
           out, rtol, atol, counts):  # fmt: skip
    """Integrate from 0 to t_max, restarting at the schedule's (increasing) breakpoints; only
    the last piece may stop early (`_settled`)."""
    j = 0
    t0 = 0.0
    first = (measure[0], measure[1], measure[2], measure[3], measure[4], measure[5], 0.0, 0.0)
    for b in breakpoints:
        if t0 < b < t_max:
            status, t, j = _segment(rhs, Y, n, n_D, p, beta_index, kind, values, first, t0, b,
                                    t_eval, out, j, rtol, atol, counts)  # fmt: skip
            if status != OK:
                return status, t
            t0 = b
    status, t, j = _segment(rhs, Y, n, n_D, p, beta_index, kind, values, measure, t0, t_max,
                            t_eval, out, j, rtol, atol, counts)  # fmt: skip
    return status, t


def _excess_batch(rhs, Y0, P, n_D, beta_index, kinds, values, breakpoints, t_max, targets, tols,
                  stop_e, stop_f, pairs, sqrt_rho, base, q_diagonal, rtol, atol, Z, e_end,
                  status, t_stop, nfev):  # fmt: skip
    n_traj, n = Y0.shape
    n_q = tols.size
    for k in numba.prange(n_traj):
        Y = np.zeros(n + n_q)
        Y[:n] = Y0[k]
        p = P[k].copy()
        counts = np.zeros(2, dtype=np.int64)
        measure = (pairs, sqrt_rho, base, q_diagonal, targets[k], tols, stop_e, stop_f[k])
        no_times = np.empty(0)
        no_output = np.empty((0, n))
        st, t = _solve(rhs, Y, n, n_D, p, beta_index, kinds[k], values[k], breakpoints[k],
                       measure, t_max[k], no_times, no_output, rtol, atol, counts)  # fmt: skip
        for q in range(n_q):
            Z[k, q] = Y[n + q]
        y = Y[:n].copy()
        e_end[k] = abs(eps_g_of_state(y, pairs, sqrt_rho, base, q_diagonal) - targets[k])
        status[k] = st
        t_stop[k] = t
        nfev[k] = counts[0]


# --------------------------------------------------------------------------- compilation
_TEMPLATES = (_derivative, _initial_step, _settled, _segment, _solve, _excess_batch)
_GENERATED_HEADER = "# Generated by linvae.theory.integrate for one compiled drift; do not edit."


class Kernels(NamedTuple):
    """The compiled integrator for one shape (`compile_integrator`).

    Attributes
    ----------
    solve : numba function
        One trajectory with dense output (``_solve`` of this module, with the drift bound).
    excess_batch : numba function
        Many trajectories in parallel with their excess-error integrals.
    path : Path or None
        The generated module, or None when compiled in memory.
    """

    solve: object
    excess_batch: object
    path: Path | None


def _drift_source(compiled: CompiledODE) -> str:
    """The generated drift as ``rhs(y, p, out)``, writing into ``out`` (no allocation)."""
    source = compiled.source[: compiled.source.index(f"def {JAC_NAME}(")].rstrip()
    source = source.replace(f"def {RHS_NAME}(y, p):", "def rhs(y, p, out):", 1)
    source = re.sub(r"\n    out = np\.empty\(\d+\)", "", source, count=1)
    return source.replace("\n    return out", "")


def _kernel_source(compiled: CompiledODE) -> str:
    """The module text: the drift, and the templates with the drift bound to its ``rhs``."""
    parts = [_drift_source(compiled)]
    for template in _TEMPLATES:
        parts.append(inspect.getsource(template).replace("(rhs, ", "("))
    constants = {
        "_N_STAGES": _N_STAGES,
        "_SAFETY": _SAFETY,
        "_MIN_FACTOR": _MIN_FACTOR,
        "_MAX_FACTOR": _MAX_FACTOR,
        "_EXPONENT": _EXPONENT,
        "_MAX_STEPS": _MAX_STEPS,
    }
    betas = [f"_beta_{code}" for code in range(len(COMPILED_KINDS))] + ["beta_at"]
    jit = [f"{name} = numba.njit(cache=True)({name})" for name in betas]
    jit += ["rhs = numba.njit(cache=True)(rhs)"]
    jit += [f"{t.__name__} = numba.njit(cache=True)({t.__name__})" for t in _TEMPLATES[:-1]]
    jit.append("_excess_batch = numba.njit(parallel=True, cache=True)(_excess_batch)")
    lines = [
        "import math",
        "",
        "import numba",
        "import numpy as np",
        "",
        "from linvae.theory.dop853_tableau import A as _A",
        "from linvae.theory.dop853_tableau import B as _B",
        "from linvae.theory.dop853_tableau import C as _C",
        "from linvae.theory.dop853_tableau import D as _D",
        "from linvae.theory.dop853_tableau import E3 as _E3",
        "from linvae.theory.dop853_tableau import E5 as _E5",
        "from linvae.theory.integrate import INVALID, OK, STEP_TOO_SMALL, TOO_MANY_STEPS",
        "from linvae.theory.integrate import eps_g_of_state, rms_norm, valid_state",
        "",
        *(f"{name} = {value!r}" for name, value in constants.items()),
        "",
        "",
        schedule_source(),
        "",
        "\n\n".join(parts),
        *jit,
        "",
    ]
    return "\n".join(lines)


_KERNELS: dict[tuple, Kernels] = {}


def _compile(compiled: CompiledODE) -> Kernels:
    # numba: every kernel is compiled on its first call, and read from numba's cache after.
    text = _kernel_source(compiled)
    key = hashlib.sha256(text.encode())
    key.update(numba.__version__.encode())
    name = f"linvae_dop853_M{compiled.M}_Ms{compiled.M_star}_{key.hexdigest()[:16]}"
    body = f"{_GENERATED_HEADER}\n{text}"
    path: Path | None = cache_dir() / f"{name}.py" if compiled.path is not None else None
    if path is not None:
        try:
            if not path.exists() or path.read_text() != body:
                atomic_write(path, lambda handle: handle.write(body.encode()))
        except OSError:
            path = None
    if path is None:
        namespace: dict = {}
        exec(compile(body, f"<{name}>", "exec"), namespace)
        return Kernels(namespace["_solve"], namespace["_excess_batch"], None)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache locates functions through their module
    spec.loader.exec_module(module)
    return Kernels(module._solve, module._excess_batch, path)


def compile_integrator(compiled: CompiledODE) -> Kernels:
    """The compiled DOP853 kernels for one drift (cached per process and on disk).

    The first call for a shape compiles for a few seconds (tens on a busy machine); later
    processes read numba's cache beside the generated drift (`linvae.theory.rhs.cache_dir`).

    Examples
    --------
    >>> from linvae.theory.rhs import compile_ode
    >>> kernels = compile_integrator(compile_ode(1, 1))
    >>> callable(kernels.solve)
    True
    """
    key = (compiled.M, compiled.M_star, compiled.source_hash, compiled.path)
    if key not in _KERNELS:
        _KERNELS[key] = _compile(compiled)
    return _KERNELS[key]


# --------------------------------------------------------------------------- Python faces
class Solution(NamedTuple):
    """Result of `dop853`.

    Attributes
    ----------
    y : ndarray, shape (len(t_eval), n)
        The state at the output times reached.
    y_end : ndarray, shape (n,)
        The state where the integration stopped.
    status : int
        0 on success; else a key of `STATUS_MESSAGES`.
    t_stop : float
        Where the integration stopped (``t_max`` on success).
    nfev, n_steps : int
        Right-hand side evaluations and accepted steps.
    """

    y: np.ndarray
    y_end: np.ndarray
    status: int
    t_stop: float
    nfev: int
    n_steps: int


def dop853(
    compiled: CompiledODE,
    y0: np.ndarray,
    p: np.ndarray,
    *,
    beta_index: int,
    n_D: int,
    schedule: ScheduleCode,
    t_max: float,
    t_eval: np.ndarray,
    rtol: float,
    atol: float,
) -> Solution:
    """Integrate ``dy/dt = rhs(y, p with beta(t))`` from 0 to ``t_max`` (compiled DOP853).

    Parameters
    ----------
    compiled : CompiledODE
        The drift (`linvae.theory.rhs.compile_ode`).
    y0 : ndarray, shape (n,)
    p : ndarray
        Parameter vector; copied, its ``beta_index`` slot is set to beta(t).
    beta_index : int
    n_D : int
        The last ``n_D`` components are variances, which must stay positive.
    schedule : CompiledSchedule
        `linvae.schedules.Schedule.compiled`.
    t_max : float
    t_eval : ndarray, shape (n_t,)
        Increasing output times in [0, t_max].
    rtol, atol : float

    Returns
    -------
    Solution
    """
    Y = np.array(y0, dtype=np.float64)
    t_eval = np.ascontiguousarray(t_eval, dtype=np.float64)
    out = np.full((t_eval.size, Y.size), np.nan)
    counts = np.zeros(2, dtype=np.int64)
    no_measure = (_NO_PAIRS, _NO_FLOATS, 0.0, _NO_INTS, 0.0, _NO_FLOATS, 0.0, 0.0)
    solve = compile_integrator(compiled).solve
    values = np.ascontiguousarray(schedule.values, dtype=np.float64)
    breakpoints = np.ascontiguousarray(schedule.breakpoints, dtype=np.float64)
    status, t_stop = solve(Y, Y.size, n_D, np.array(p, dtype=np.float64), beta_index,
                            schedule.kind, values, breakpoints, no_measure, float(t_max),
                            t_eval, out, float(rtol), float(atol), counts)  # fmt: skip
    return Solution(out, Y, int(status), float(t_stop), int(counts[0]), int(counts[1]))


_NO_PAIRS = np.zeros((0, 0, 2), dtype=np.int64)
_NO_FLOATS = np.zeros(0)
_NO_INTS = np.zeros(0, dtype=np.int64)


class ExcessIntegrals(NamedTuple):
    """Result of `excess_error_integrals`, one row per trajectory.

    Attributes
    ----------
    z : ndarray, shape (n_traj, n_tol)
        ``integral_0^t_max min(1, |eps_g(t) - eps_g*| / tol) dt`` for each tolerance.
    e_end : ndarray, shape (n_traj,)
        ``|eps_g(t_max) - eps_g*|``.
    status : ndarray of int, shape (n_traj,)
        0 on success (else a key of `STATUS_MESSAGES`).
    t_stop : ndarray, shape (n_traj,)
        Where each integration stopped.
    nfev : ndarray of int, shape (n_traj,)
    """

    z: np.ndarray
    e_end: np.ndarray
    status: np.ndarray
    t_stop: np.ndarray
    nfev: np.ndarray


def excess_error_integrals(
    compiled: CompiledODE,
    y0: np.ndarray,
    p: np.ndarray,
    *,
    beta_index: int,
    n_D: int,
    kinds: np.ndarray,
    values: np.ndarray,
    breakpoints: np.ndarray,
    t_max: np.ndarray,
    targets: np.ndarray,
    tols: np.ndarray,
    measure: MeasureCode,
    rtol: float,
    atol: float,
    rates: np.ndarray | None = None,
    settle: float = 1e-3,
) -> ExcessIntegrals:
    """Many trajectories at once (numba threads): each one's integrated excess error.

    Trajectory k starts at ``y0[k]`` with parameters ``p[k]`` and the compiled schedule
    ``(kinds[k], values[k], breakpoints[k])`` (`schedule_arrays`), runs to ``t_max[k]``, and
    integrates
    ``min(1, |eps_g - targets[k]| / tol)`` for every ``tol`` alongside the state (under the
    same error control).

    Parameters
    ----------
    compiled : CompiledODE
        The drift (`linvae.theory.rhs.compile_ode`).
    y0 : ndarray, shape (n_traj, n)
    p : ndarray, shape (n_traj, n_params)
    beta_index, n_D : int
        As in `dop853`.
    kinds : ndarray of int, shape (n_traj,)
    values : ndarray, shape (n_traj, width)
        The time shift and parameters of each compiled schedule, padded.
    breakpoints : ndarray, shape (n_traj, n_breakpoints) or (n_traj,)
        Increasing breakpoints of each schedule, padded with ``inf``.
    t_max, targets : ndarray, shape (n_traj,)
    tols : ndarray, shape (n_tol,)
    measure : MeasureCode
    rtol, atol : float
    rates : ndarray, shape (n_traj,), optional
        Final decay rates r. With them, a run stops before ``t_max`` once
        ``|e| < settle * min(tols)`` and ``max |dy/dt| < settle * min(tols) * r``: past that
        point e decays like exp(-r t) (to a relative error of order ``settle``), and the
        remaining integral, at most ``settle / r``, is ``|e| / (tol r)`` in closed form
        (`linvae.analysis.annealing.excess_time` adds it).
    settle : float

    Returns
    -------
    ExcessIntegrals
    """
    y0 = np.ascontiguousarray(y0, dtype=np.float64)
    n_traj = y0.shape[0]
    tols = np.ascontiguousarray(tols, dtype=np.float64)
    z = np.zeros((n_traj, tols.size))
    e_end = np.zeros(n_traj)
    status = np.zeros(n_traj, dtype=np.int64)
    t_stop = np.zeros(n_traj)
    nfev = np.zeros(n_traj, dtype=np.int64)
    stop_e = settle * float(tols.min()) if (rates is not None and tols.size) else 0.0
    stop_f = stop_e * np.ones(n_traj) if rates is None else stop_e * np.asarray(rates, float)
    compile_integrator(compiled).excess_batch(
        y0,
        np.ascontiguousarray(p, dtype=np.float64),
        n_D,
        beta_index,
        np.ascontiguousarray(kinds, dtype=np.int64),
        np.ascontiguousarray(values, dtype=np.float64),
        np.ascontiguousarray(np.reshape(breakpoints, (n_traj, -1)), dtype=np.float64),
        np.ascontiguousarray(t_max, dtype=np.float64),
        np.ascontiguousarray(targets, dtype=np.float64),
        tols,
        stop_e,
        np.ascontiguousarray(stop_f, dtype=np.float64),
        measure.pairs,
        np.ascontiguousarray(measure.sqrt_rho, dtype=np.float64),
        float(measure.base),
        measure.q_diagonal,
        float(rtol),
        float(atol),
        z,
        e_end,
        status,
        t_stop,
        nfev,
    )
    return ExcessIntegrals(z, e_end, status, t_stop, nfev)
