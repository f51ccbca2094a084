"""The discretised objective of `linvae.analysis.protocol` as a CasADi graph (direct shooting).

The mathematics is on the protocols page (docs/protocols.md, section "The method").

Symbols
-------
y        flat state (m, d, Q, E, R, D) of one initial condition
z        y with the running integral of the smoothed min(1, |e| / tol) appended
beta     the control, piecewise linear on K + 1 knots over [0, T_c], beta_f afterwards
e        eps_g(y) - eps_g*; r = |J_max|; tol the tolerance of the convergence measure
T_h      the horizon; h the fixed RK4 step

The sympy-derived drift (`linvae.theory.derive.derive_ode`) is evaluated on CasADi symbols,
integrated by fixed-step RK4 for every initial state at once (``map``) and every interval
(``fold``), and differentiated by CasADi's reverse mode: `ShootingObjective` gives the
objective and its exact gradient with respect to the knot values and T_c.
"""

from __future__ import annotations

import math
import tempfile

import numpy as np

from linvae.params import Model
from linvae.schedules import Tabulated
from linvae.theory.rhs import parameter_layout, parameter_vector

__all__ = ["ShootingObjective"]

# Fixed-step RK4 of the surrogate, in units of t at tau = 0.01 (the drift scales with tau).
# The fastest relaxation rate of the drift there is about 0.11 (beta in [0.2, 3.6]) and at
# most 0.08 once beta = beta_f: h |lambda| <= 2.4 stays inside RK4's stability interval
# (2.78), and the slow modes that set the convergence time are integrated to well under 1 %
# (the surrogate's optimum and its re-measured value agree to 0.1 % at beta_f = 1.8).
_STEP_LENGTH = 20.0
_TAIL_STEP_LENGTH = 30.0
# C compilation of the integrator's graph: -O1 evaluates fastest here (-O0 2.7 times slower,
# -O2 no faster, both measured at 64 states); below _JIT_WORK state-steps per evaluation
# the compile time (seconds) is not worth it.
_JIT_FLAGS = ["-O1"]
_JIT_WORK = 5000
_SMOOTHING = 20.0  # sharpness of the smooth min(1, x) (softplus)
_ABS_FLOOR = 1e-3  # |e| ~ sqrt(e^2 + (floor tol)^2): a tail contribution below 1e-3 per t


class ShootingObjective:
    """The discretised protocol objective and its gradient, CasADi functions of the knots.

    ``objective(x) -> (value, gradient)``; ``value(x)`` alone (a CasADi function). Variables
    ``x``: the K free knot values (the last knot is beta_f), then, for the convergence time,
    ``s = T_c / time_scale``.

    Parameters
    ----------
    base : Model
        The model at constant beta_f (its parameters other than beta are the drift's).
    states : ndarray, shape (n_init, n)
        The initial states, flat (`linvae.observables.pack_state`).
    objective : {"convergence-time", "final-error"}
    n_intervals : int
        K.
    horizon : float
        T_h.
    control_time_max : float
        The largest T_c the RK4 step is sized for; ``time_scale`` is half of it.
    target, rate, tol : float
        eps_g*, |J_max| and the tolerance of the convergence measure.
    sgd_noise : bool
        Keep the O(tau^2) terms of the drift.
    jit : bool or None
        Compile the graph to C; None: where the work per evaluation makes it pay.

    Attributes
    ----------
    n_variables : int
    time_scale : float or None
        T_c = s * time_scale (convergence time only).
    jit : bool
        Whether the graph was compiled.
    value, value_and_gradient : casadi.Function
    """

    def __init__(self, base: Model, states: np.ndarray, *, objective: str, n_intervals: int,
                 horizon: float, control_time_max: float, target: float, rate: float,
                 tol: float, sgd_noise: bool, jit: bool | None):  # fmt: skip
        # casadi: loaded on first use (heavy); only this computation needs it.
        import casadi as ca

        self.ca = ca
        self.objective = objective
        self.K = n_intervals
        self.beta_final = float(base.schedule.final)
        tau = base.tau
        step = _STEP_LENGTH * 0.01 / tau
        drift, eps_g, n = _casadi_drift(base, sgd_noise=sgd_noise)
        y = ca.SX.sym("y", n)
        beta = ca.SX.sym("beta")
        e = eps_g(y) - target
        x = ca.sqrt(e**2 + (_ABS_FLOOR * tol) ** 2) / tol
        smooth_min = 1.0 - ca.log1p(ca.exp(_SMOOTHING * (1.0 - x))) / _SMOOTHING
        F = ca.Function("F", [y, beta], [ca.vertcat(drift(y, beta), smooth_min)])
        z = ca.SX.sym("z", n + 1)  # the state and the running integral of smooth_min
        b0, b1, dt = ca.SX.sym("b0"), ca.SX.sym("b1"), ca.SX.sym("dt")
        if objective == "convergence-time":
            n_sub = max(1, math.ceil(control_time_max / n_intervals / step))
        else:
            n_sub = max(1, math.ceil(horizon / n_intervals / step))
        n_init = states.shape[0]
        tail_step = _TAIL_STEP_LENGTH * 0.01 / tau
        n_tail = 0
        if objective == "convergence-time":
            n_tail = max(1, math.ceil((horizon - 0.05 * control_time_max) / tail_step / n_sub))
        if jit is None:  # compiling (seconds) pays off only for a large ensemble or horizon
            jit = n_init * (n_intervals + n_tail) * n_sub >= _JIT_WORK
        self.jit = bool(jit)
        options = {}
        if jit:
            # CasADi writes the generated C, object and library beside the working directory
            # unless told otherwise: a private folder, removed with this object, keeps them
            # out of the user's directory (and works where that directory is read-only).
            # The folder removes the files, not CasADi, which would warn about files already
            # gone when its functions are freed after the folder.
            self._jit_dir = tempfile.TemporaryDirectory(prefix="linvae-casadi-")
            options = {"jit": True, "compiler": "shell", "jit_cleanup": False,
                       "jit_options": {"flags": _JIT_FLAGS, "verbose": False, "cleanup": False,
                                       "directory": self._jit_dir.name}}  # fmt: skip
        interval = ca.Function(
            "interval", [z, b0, b1, dt], [_rk4(F, z, n, b0, b1, dt, n_sub)], options
        )
        mapped = interval.map(n_init)
        # One interval of the whole ensemble with scalar beta and dt, so that `fold` takes one
        # column per interval (a fold of `mapped` itself would take one per state).
        Zs = ca.MX.sym("Z", n + 1, n_init)
        b0s, b1s, dts = ca.MX.sym("b0"), ca.MX.sym("b1"), ca.MX.sym("dt")
        ensemble = ca.Function("ensemble", [Zs, b0s, b1s, dts], [mapped(Zs, b0s, b1s, dts)])
        Z0 = ca.DM(np.vstack([states.T, np.zeros((1, n_init))]))
        u = ca.MX.sym("u", n_intervals)
        knots = ca.vertcat(u, self.beta_final)
        if objective == "convergence-time":
            self.time_scale = control_time_max / 2.0
            s = ca.MX.sym("s")
            Tc = s * self.time_scale
            X = ca.vertcat(u, s)
            Z = ensemble.fold(n_intervals)(
                Z0, knots[:-1].T, knots[1:].T, ca.repmat(Tc / n_intervals, 1, n_intervals)
            )
            Z = ensemble.fold(n_tail)(
                Z,
                ca.DM.ones(1, n_tail) * self.beta_final,
                ca.DM.ones(1, n_tail) * self.beta_final,
                ca.repmat((horizon - Tc) / n_tail, 1, n_tail),
            )
            e_end = ca.fabs(_eps_g_rows(eps_g, Z[:n, :]) - target)
            J = ca.sum2(Z[n, :] + e_end / (tol * rate) - 1.0 / rate) / n_init
        else:
            self.time_scale = None
            X = u
            h = horizon / n_intervals
            Z = ensemble.fold(n_intervals)(
                Z0, knots[:-1].T, knots[1:].T, ca.repmat(h, 1, n_intervals)
            )
            J = ca.sum2(_eps_g_rows(eps_g, Z[:n, :])) / n_init
        self.n_variables = X.shape[0]
        self.value = ca.Function("value", [X], [J])
        self.value_and_gradient = ca.Function("value_and_gradient", [X], [J, ca.gradient(J, X)])

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = self.value_and_gradient(x)
        return float(f), np.asarray(g, dtype=np.float64).ravel()

    def schedule(self, x: np.ndarray, horizon: float) -> Tabulated:
        """The Tabulated schedule of the variables ``x``."""
        K = self.K
        Tc = x[K] * self.time_scale if self.objective == "convergence-time" else horizon
        times = np.linspace(0.0, Tc, K + 1)
        values = np.append(x[:K], self.beta_final)
        return Tabulated(times=times, values=values)


def _rk4(F, z, n, b0, b1, dt, n_sub):
    """``n_sub`` RK4 steps over one interval of length ``dt``, beta linear from b0 to b1."""
    h = dt / n_sub
    for j in range(n_sub):
        bA = b0 + (b1 - b0) * (j / n_sub)
        bM = b0 + (b1 - b0) * ((j + 0.5) / n_sub)
        bB = b0 + (b1 - b0) * ((j + 1) / n_sub)
        k1 = F(z[:n], bA)
        k2 = F(z[:n] + h / 2 * k1[:n], bM)
        k3 = F(z[:n] + h / 2 * k2[:n], bM)
        k4 = F(z[:n] + h * k3[:n], bB)
        z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return z


def _eps_g_rows(eps_g, Y):
    """eps_g of every column of Y (a CasADi matrix, one state per column), as a row."""
    return eps_g.map(Y.shape[1])(Y)


def _casadi_drift(model: Model, *, sgd_noise: bool):
    """The derived drift and eps_g as CasADi functions: ``(drift(y, beta), eps_g(y), n)``.

    The sympy expressions of `linvae.theory.derive.derive_ode` are evaluated on CasADi
    symbols (they are polynomials in the state and 1/D); the parameters other than beta are
    the model's numbers (`linvae.theory.rhs.parameter_vector`, T = identity as for fresh
    initial states). A symbol shared by two entries of the flat state (Q_ij = Q_ji) reads
    their mean, as the compiled drift does.
    """
    # casadi, sympy (derive), numba (integrate): heavy, loaded on first use.
    import casadi as ca
    import sympy as sp

    # sympy and numba: the derivation and the integrator's module load them.
    from linvae.theory.derive import derive_ode
    from linvae.theory.integrate import measure_code

    derived = derive_ode(model.M, model.M_star)
    layout = derived.state_layout
    n = len(layout)
    y = ca.SX.sym("y", n)
    beta = ca.SX.sym("beta")
    positions: dict = {}
    for i, symbol in enumerate(layout):
        positions.setdefault(symbol, []).append(i)
    state_values = [sum(y[i] for i in idx) / len(idx) for idx in positions.values()]
    p = parameter_vector(model, sgd_noise=sgd_noise)
    params = [float(v) for v in p]
    params[parameter_layout(model.M_star).beta] = beta
    f = sp.lambdify(list(positions) + list(derived.parameter_symbols), list(derived.drift), "math")
    drift = ca.Function("drift", [y, beta], [ca.vertcat(*f(*state_values, *params))])
    code = measure_code(model)
    matchings = [
        sum(float(code.sqrt_rho[k]) * ca.fabs(y[int(i)]) for i, k in pairs) for pairs in code.pairs
    ]
    best = matchings[0]
    for other in matchings[1:]:
        best = ca.fmax(best, other)
    trace = sum(y[int(i)] for i in code.q_diagonal)
    eps_g = ca.Function("eps_g", [y], [code.base - 2.0 * best + trace])
    return drift, eps_g, n
