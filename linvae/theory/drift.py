"""The drift of the order-parameter ODEs, bound to one model: ``dy/dt = f(y; beta(t))``.

Symbols
-------
t        training time, step / N
y        flat state (m, d, Q, E, R, D) in the layout of `linvae.observables.pack_state`
p        parameter vector of the compiled functions (`linvae.theory.rhs.parameter_vector`)
beta(t)  the model's KL schedule
f        dy/dt = tau F1(y; beta) + xi tau^2 F2(y; beta); J = df/dy its Jacobian
xi       1 keeps the O(tau^2) SGD-noise terms (``sgd_noise=True``), 0 drops them
rho, eta, lam, tau, T  as in `linvae.params` and the theory page (docs/theory.md,
         section "Conventions")

`Drift` is the one place where a model meets the compiled right-hand side of
`linvae.theory.rhs`: it holds the compiled functions, the parameter vector and the schedule,
and writes beta(t) into the parameter vector before each evaluation. The solver integrates
``Drift(model)(t, y)``; the fixed-point, threshold and phase-diagram analyses use the
autonomous drift at a fixed beta, `Drift.at_beta`, or the batched
`Drift.jacobians` over a parameter grid.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import numpy as np

from linvae.params import Model
from linvae.schedules import COMPILED_KINDS, Schedule
from linvae.theory.reference import matrix_form_drift
from linvae.theory.rhs import CompiledODE, compile_ode, parameter_layout, parameter_vector
from linvae.utils.validation import check_array

__all__ = ["Drift", "FrozenDrift"]

RhsKind = Literal["derived", "matrix-form"]


def _scalar_schedule(schedule: Schedule) -> Callable[[float], float]:
    """beta(t) for one float t, without the array machinery of ``Schedule.__call__``.

    The right-hand side is called thousands of times per solve. A schedule with a compiled
    form is evaluated by its class's ``compiled_beta`` on plain floats (the same operations as
    the schedule's own value, so the same numbers); any other through ``schedule(t)``.

    Examples
    --------
    >>> from linvae.schedules import TanhAnneal
    >>> round(_scalar_schedule(TanhAnneal(beta_final=1.0, gamma=0.5))(2.0), 6)
    0.761594
    """
    if not schedule.has_compiled_form:
        return lambda t: float(schedule(float(t)))
    code = schedule.compiled()
    beta = COMPILED_KINDS[code.kind].compiled_beta
    shift, params = float(code.values[0]), tuple(float(v) for v in code.values[1:])
    if shift == 0.0:
        return lambda t: beta(params, t)
    return lambda t: beta(params, t + shift)


def _matrix_form(y, p, *, model: Model, T: np.ndarray, beta_index: int, xi: float):
    """The plain-numpy drift with the signature ``(y, p)`` of the compiled one."""
    return matrix_form_drift(
        y,
        M=model.M,
        M_star=model.M_star,
        rho=model.rho_vector,
        T=T,
        eta=model.eta,
        beta=p[beta_index],
        lam=model.lam,
        tau=model.tau,
        xi=xi,
    )


class FrozenDrift:
    """The autonomous drift ``y -> f(y; beta)`` at one fixed beta (made by `Drift.at_beta`).

    Attributes
    ----------
    beta : float
        The KL weight.
    parameters : ndarray, shape (n_params,)
        The parameter vector, as a read-only view.
    """

    __slots__ = ("_jac", "_p", "_rhs", "beta", "parameters")

    def __init__(self, rhs, jac, parameters: np.ndarray, beta: float):
        self._rhs, self._jac = rhs, jac
        self.beta = beta
        # The compiled functions get the writable array: a read-only one is another numba
        # type, and would compile a second specialization (seconds) on first use.
        self._p = parameters
        view = parameters.view()
        view.flags.writeable = False
        self.parameters = view

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """dy/dt at the flat state ``y``, shape (n,)."""
        return self._rhs(np.ascontiguousarray(y), self._p)

    def jacobian(self, y: np.ndarray) -> np.ndarray:
        """df/dy at ``y``, shape (n, n), in the flat coordinates."""
        if self._jac is None:
            raise ValueError(_NO_JACOBIAN)
        return self._jac(np.ascontiguousarray(y), self._p)

    def __repr__(self) -> str:
        return f"FrozenDrift(beta={self.beta!r})"


_NO_JACOBIAN = (
    "The matrix-form drift has no Jacobian. Use Drift(model, rhs='derived') for Jacobians."
)


class Drift:
    """The right-hand side of the order-parameter ODEs of one model, with beta(t) from its schedule.

    ``f(t, y) = tau F1(y; beta(t)) + xi tau^2 F2(y; beta(t))`` for the flat state ``y``, in the
    signature ``fun(t, y)`` / ``jac(t, y)`` of `scipy.integrate.solve_ivp`.

    Parameters
    ----------
    model : Model
        Problem, learning rate and schedule.
    T : array, shape (M_star, M_star), optional
        W_star^T W_star / N; the identity by default.
    sgd_noise : bool
        Keep the O(tau^2) SGD-noise terms (xi = 1).
    rhs : {"derived", "matrix-form"}
        The sympy-derived drift compiled by `linvae.theory.rhs.compile_ode` (with its
        Jacobian), or the plain-numpy matrix forms of `linvae.theory.reference` (no
        Jacobian; for cross-checks and benchmarks).
    owner : str
        The function named in error messages about invalid arguments (a caller that builds
        its drift from its own arguments, e.g. ``"solve_ode"``, passes its name).

    Attributes
    ----------
    model, T, sgd_noise, rhs
        The inputs (``T`` as an array).
    compiled : CompiledODE or None
        The compiled functions and their provenance (None for ``rhs="matrix-form"``).
    has_jacobian : bool
        Whether `jacobian` is available.

    Notes
    -----
    Constructing a derived drift compiles the right-hand side for the model's shape (M, M_star)
    on first use: seconds when the disk cache is cold, milliseconds afterwards. One drift
    object writes beta(t) into its own parameter vector, so it is not meant to be shared between
    threads; `at_beta` returns independent autonomous drifts.

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model
    >>> drift = Drift(Model(beta=1.0, tau=0.01))
    >>> y = np.array([0.1, 0.1, 1.0, 1.0, 0.0, 1.0])
    >>> bool(np.array_equal(drift(5.0, y), drift.at_beta(1.0)(y)))
    True
    >>> drift.jacobian(0.0, y).shape
    (6, 6)
    """

    def __init__(
        self,
        model: Model,
        *,
        T: np.ndarray | None = None,
        sgd_noise: bool = True,
        rhs: RhsKind = "derived",
        owner: str = "Drift",
    ):
        if not isinstance(model, Model):
            raise TypeError(f"The `model` parameter of {owner} must be a Model. Got {model!r}.")
        if rhs not in ("derived", "matrix-form"):
            raise ValueError(
                f"The `rhs` parameter of {owner} must be 'derived' or 'matrix-form'. Got {rhs!r}."
            )
        M_star = model.M_star
        T = np.eye(M_star) if T is None else check_array("T", T, owner, shape=(M_star, M_star))
        self.model = model
        self.T = T
        self.sgd_noise = bool(sgd_noise)
        self.rhs = rhs
        self._layout = parameter_layout(M_star)
        self._beta_index = self._layout.beta
        self._beta_of_t = _scalar_schedule(model.schedule)
        self._p = parameter_vector(model, T=T, sgd_noise=sgd_noise)
        if rhs == "derived":
            # sympy/numba: loaded here, on first use (compile_ode imports them).
            self.compiled: CompiledODE | None = compile_ode(model.M, M_star)
            self._rhs, self._jac = self.compiled.rhs, self.compiled.jac
        else:
            self.compiled = None
            xi = 1.0 if sgd_noise else 0.0
            self._rhs = functools.partial(
                _matrix_form, model=model, T=T, beta_index=self._beta_index, xi=xi
            )
            self._jac = None

    @property
    def has_jacobian(self) -> bool:
        return self._jac is not None

    def beta(self, t: float) -> float:
        """The KL weight beta(t) of the model's schedule at one time."""
        return self._beta_of_t(t)

    def _params_at(self, t: float) -> np.ndarray:
        """The parameter vector with beta set to beta(t) (one buffer, updated in place)."""
        self._p[self._beta_index] = self._beta_of_t(t)
        return self._p

    def __call__(self, t: float, y: np.ndarray) -> np.ndarray:
        """dy/dt at time ``t`` and flat state ``y`` (shape (n,)), shape (n,)."""
        # Contiguous input keeps numba to one specialization (solvers may pass views).
        return self._rhs(np.ascontiguousarray(y), self._params_at(t))

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        """df/dy at time ``t`` and flat state ``y``, shape (n, n), in the flat coordinates.

        Raises
        ------
        ValueError
            For ``rhs="matrix-form"``, which has no Jacobian.
        """
        if self._jac is None:
            raise ValueError(_NO_JACOBIAN)
        return self._jac(np.ascontiguousarray(y), self._params_at(t))

    def at_beta(self, beta: float) -> FrozenDrift:
        """The autonomous drift at a fixed KL weight (fixed points, Jacobians, thresholds)."""
        p = self._p.copy()
        p[self._beta_index] = beta
        return FrozenDrift(self._rhs, self._jac, p, beta)

    def jacobians(
        self,
        y: np.ndarray,
        *,
        beta: np.ndarray | float,
        rho: np.ndarray | None = None,
        eta: np.ndarray | None = None,
        lam: np.ndarray | None = None,
    ) -> np.ndarray:
        """Jacobians at many states, each with its own parameters (a phase-diagram grid).

        Parameters
        ----------
        y : ndarray, shape (..., n)
            Flat states.
        beta : float or ndarray, broadcastable to ``y.shape[:-1]``
            KL weight at each state.
        rho : ndarray, shape broadcastable to ``y.shape[:-1] + (M_star,)``, optional
            Signal strengths at each state; the model's by default.
        eta, lam : float or ndarray, broadcastable to ``y.shape[:-1]``, optional
            Noise strength and L2 penalty at each state; the model's by default.

        Returns
        -------
        ndarray, shape (..., n, n)

        Raises
        ------
        ValueError
            For ``rhs="matrix-form"``, which has no Jacobian.
        """
        if self._jac is None:
            raise ValueError(_NO_JACOBIAN)
        y = np.asarray(y, dtype=np.float64)
        grid = y.shape[:-1]
        layout = self._layout
        P = np.broadcast_to(self._p, (*grid, self._p.size)).copy()
        P[..., layout.beta] = beta
        if rho is not None:
            P[..., layout.rho] = rho
        if eta is not None:
            P[..., layout.eta] = eta
        if lam is not None:
            P[..., layout.lam] = lam
        flat_y = y.reshape(-1, y.shape[-1])
        flat_p = P.reshape(-1, P.shape[-1])
        n = flat_y.shape[1]
        J = np.empty((flat_y.shape[0], n, n))
        jac = self._jac
        for k in range(flat_y.shape[0]):
            J[k] = jac(flat_y[k], flat_p[k])
        return J.reshape(*grid, n, n)

    def __repr__(self) -> str:
        return f"Drift(model={self.model!r}, sgd_noise={self.sgd_noise}, rhs={self.rhs!r})"
