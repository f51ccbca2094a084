"""Which fixed point training reaches: the ODE integrated from where training starts.

The mathematics is on the hysteresis page (docs/hysteresis.md).

Symbols
-------
y         flat state (m, d, Q, E, R, D) (`linvae.observables.pack_state`)
N         input dimension of a fresh random initialization: m, d = O(N^-1/2), Q, E = O(1)
beta_f    the schedule's final value; the points reached are fixed points at beta_f
t         step / N; tau the learning rate (the tau -> 0 drift depends on tau t only)

Where only one fixed point is stable, training reaches it from (almost) every start. Where two
are stable (the first-order strip of lam > 0: a learned point beside the collapsed one), the
point reached depends on the start and on the path of beta: a fresh network, with small
overlaps but weight norms of order one, may end collapsed at a beta where a run that starts
learned, or anneals beta up slowly, stays learned. `attractor` answers by integrating the ODE
from each start until it settles within ``xtol`` of a stable point of `fixed_points`, and
reports the points reached with the share of the starts that reach each.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy.optimize import root

from linvae.analysis.stability import (
    FixedPoint,
    LatentRole,
    Stability,
    classify_stability,
    eigenvalue_tolerance,
    fixed_points,
    independent_coordinates,
    reduced_jacobian,
    sorted_eigenvalues,
)
from linvae.observables import (
    OrderParameters,
    generalization_error,
    pack_state,
    state_size,
    unpack_state,
)
from linvae.params import Model
from linvae.schedules import Constant, Schedule
from linvae.theory.drift import Drift
from linvae.theory.initial import initial_ensemble
from linvae.trajectory import Trajectory
from linvae.utils.validation import check_int, check_real

__all__ = ["Attractor", "attractor", "schedule_horizon"]

RunState = Literal["initial", "final"]
_SETTLE = (Stability.STABLE, Stability.MARGINAL)
# A latent with |m| or Q_ii below this at a fixed point is taken as zero there.
_ZERO = 1e-8


@dataclass(frozen=True, kw_only=True)
class Attractor:
    """Result of `attractor`: the fixed points training reaches and how often.

    Attributes
    ----------
    model : Model
        The model with its schedule (the points are fixed points at its final value).
    beta : float
        beta_f, the schedule's final value.
    sgd_noise : bool
        Whether the O(tau^2) terms were kept (in the ODE and in the fixed points).
    start : str
        Where the runs started: "fresh" (random initial states at size ``N``), "given"
        (states passed in), "run initial" or "run final" (each seed of a run, at its first or
        last recorded time).
    N : int or None
        The input dimension the fresh states imitate (None for other starts).
    n_init : int
        Number of starts.
    points : tuple of FixedPoint
        The distinct points reached, most often reached first.
    counts : ndarray of int, shape (len(points),)
        How many starts reached each.
    fractions : ndarray, shape (len(points),)
        ``counts / n_init``.
    reached : ndarray of int, shape (n_init,)
        Index into ``points`` of the point each start reached (the nearest one when it did not
        settle by ``t_limit``).
    y0 : ndarray, shape (n_init, n)
        The starting states, flat.
    y_end : ndarray, shape (n_init, n)
        Where each run stopped.
    t_end : ndarray, shape (n_init,)
        When it stopped: the first check at which it was within ``xtol`` of a stable point.
    distance : ndarray, shape (n_init,)
        Distance of ``y_end`` to its point (up to latent sign flips and permutations).
    converged : ndarray of bool, shape (n_init,)
        Whether the run settled within ``xtol`` of a stable (or marginal) point.
    xtol : float
    t_limit : float
        The longest a run was integrated.
    """

    model: Model
    beta: float
    sgd_noise: bool
    start: str
    N: int | None
    n_init: int
    points: tuple[FixedPoint, ...]
    counts: np.ndarray = field(repr=False)
    fractions: np.ndarray
    reached: np.ndarray = field(repr=False)
    y0: np.ndarray = field(repr=False)
    y_end: np.ndarray = field(repr=False)
    t_end: np.ndarray = field(repr=False)
    distance: np.ndarray = field(repr=False)
    converged: np.ndarray = field(repr=False)
    xtol: float
    t_limit: float

    @property
    def point(self) -> FixedPoint:
        """The point most starts reach."""
        return self.points[0]

    @property
    def unanimous(self) -> bool:
        """Whether every start reached the same point."""
        return len(self.points) == 1

    @property
    def learned_fraction(self) -> float:
        """Share of the starts that end at a point where some latent carries a factor."""
        learned = [LatentRole.LEARNED in p.roles for p in self.points]
        return float(np.sum(self.fractions[np.array(learned, dtype=bool)]))

    @property
    def success(self) -> bool:
        """Whether every run settled at a stable (or marginal) point."""
        return bool(np.all(self.converged))

    @property
    def message(self) -> str:
        """One sentence: which points, how often, from where."""
        where = f"{self.n_init} {self.start} start" + ("s" if self.n_init > 1 else "")
        if self.N is not None:
            where += f" at N = {self.N}"
        parts = [
            f"{p.name} ({p.stability.value}, eps_g = {p.eps_g:.4g}) from {c} of {self.n_init}"
            for p, c in zip(self.points, self.counts, strict=True)
        ]
        text = f"At beta = {self.beta:g} training ends at " + "; ".join(parts)
        text += f" ({where})."
        if not self.success:
            late = int(np.sum(~self.converged))
            text += f" {late} run(s) had not settled by t = {self.t_limit:g}."
        return text

    def as_dict(self) -> dict:
        """JSON-able summary (the keys of ``linvae attractor``)."""
        return {
            "beta": self.beta,
            "sgd_noise": self.sgd_noise,
            "start": self.start,
            "N": self.N,
            "n_init": self.n_init,
            "points": [
                {
                    "name": p.name,
                    "stability": p.stability.value,
                    "eps_g": p.eps_g,
                    "Q": np.diag(p.state.Q).tolist(),
                    "top_eigenvalue": p.top_eigenvalue,
                    "count": int(c),
                    "fraction": float(f),
                }
                for p, c, f in zip(self.points, self.counts, self.fractions, strict=True)
            ],
            "learned_fraction": self.learned_fraction,
            "unanimous": self.unanimous,
            "success": self.success,
            "t_end_max": float(np.max(self.t_end)),
            "xtol": self.xtol,
            "t_limit": self.t_limit,
            "schedule": self.model.schedule.describe(),
            "message": self.message,
        }


def schedule_horizon(schedule: Schedule) -> float:
    """The time after which a schedule holds its final value (its ``horizon``; to 1e-8 for tanh).

    Examples
    --------
    >>> from linvae.schedules import LinearRamp
    >>> schedule_horizon(LinearRamp(beta_final=1.0, t_ramp=500.0))
    500.0
    """
    if not schedule.has_compiled_form:
        raise ValueError(
            "The `model` parameter of attractor must have a schedule with a compiled form (any "
            f"library schedule; tabulate a callable with Tabulated). Got {schedule!r}."
        )
    return float(schedule.horizon)


def _unlisted_point(template: FixedPoint, frozen, y: np.ndarray, model: Model):
    """The fixed point near ``y`` by a root solve of the drift (independent coordinates), as a
    FixedPoint built on ``template`` (same model and beta); None if the solve fails."""
    M, M_star = model.M, model.M_star
    keep, P = independent_coordinates(M, M_star)
    sol = root(
        lambda z: frozen(P @ z)[keep],
        y[keep],
        jac=lambda z: frozen.jacobian(P @ z)[keep] @ P,
        method="hybr",
        options={"xtol": 1e-13},
    )
    if not sol.success:
        return None
    y_star = P @ sol.x
    state = unpack_state(y_star, M, M_star)
    roles, factors = [], []
    for i in range(M):
        if np.max(np.abs(state.m[i])) > _ZERO:
            roles.append(LatentRole.LEARNED)
            factors.append(int(np.argmax(np.abs(state.m[i]))))
        else:
            roles.append(LatentRole.NOISE if state.Q[i, i] > _ZERO else LatentRole.COLLAPSED)
            factors.append(None)
    ev = sorted_eigenvalues(reduced_jacobian(frozen.jacobian(y_star), M, M_star))
    tol = eigenvalue_tolerance(ev, model.tau)
    return replace(
        template,
        roles=tuple(roles),
        factors=tuple(factors),
        state=state,
        y=y_star,
        closed_form=state,
        eps_g=float(generalization_error(state.m, state.Q, model.rho_vector)),
        eigenvalues=ev,
        stability=classify_stability(ev, tol=tol),
        eigenvalue_tol=tol,
        residual=float(np.max(np.abs(frozen(y_star)))),
        success=True,
        message="found by integrating the ODE (not listed by fixed_points)",
        nfev=int(sol.nfev),
    )


def _starts(model: Model, start, *, n_init, N, rng, run_state, owner):
    """Flat starting states (n_init, n), the start's name and the N of fresh states."""
    n = state_size(model.M, model.M_star)
    if isinstance(start, str):
        if start != "fresh":
            raise ValueError(
                f"The `start` parameter of {owner} must be 'fresh', OrderParameters, a flat "
                f"state array or a Trajectory. Got {start!r}."
            )
        n_init = check_int("n_init", n_init, owner, low=1)
        N = check_int("N", N, owner, low=max(model.M, model.M_star))
        ens = initial_ensemble(model, n_init, N=N, rng=rng)
        return pack_state(ens).reshape(-1, n), "fresh", N
    if isinstance(start, Trajectory):
        if run_state not in ("initial", "final"):
            raise ValueError(
                f"The `run_state` parameter of {owner} must be 'initial' or 'final'. "
                f"Got {run_state!r}."
            )
        op = start.at(0 if run_state == "initial" else -1)  # one state per seed
        y = pack_state(op).reshape(-1, pack_state(op).shape[-1])
        name = f"run {run_state}"
    elif isinstance(start, OrderParameters):
        y = pack_state(start)
        name = "given"
    elif isinstance(start, np.ndarray):
        y = np.asarray(start, dtype=np.float64)
        name = "given"
    else:
        raise TypeError(
            f"The `start` parameter of {owner} must be 'fresh', OrderParameters, a flat state "
            f"array or a Trajectory. Got {type(start).__name__}."
        )
    y = np.atleast_2d(y)
    if y.ndim != 2 or y.shape[-1] != n:
        raise ValueError(
            f"The `start` parameter of {owner} must hold states of M = {model.M}, M_star = "
            f"{model.M_star} ({n} numbers each). Got an array of shape {y.shape}."
        )
    if not np.all(np.isfinite(y)):
        raise ValueError(f"The `start` parameter of {owner} must be finite. Got NaN or inf.")
    return np.ascontiguousarray(y, dtype=np.float64), name, None


def attractor(
    model: Model,
    *,
    start: Literal["fresh"] | OrderParameters | np.ndarray | Trajectory = "fresh",
    n_init: int = 16,
    N: int = 200,
    rng=0,
    run_state: RunState = "initial",
    sgd_noise: bool = True,
    t_chunk: float | None = None,
    t_limit: float | None = None,
    xtol: float = 1e-6,
    rtol: float = 1e-8,
    atol: float = 1e-11,
) -> Attractor:
    """The fixed point(s) training reaches from ``start``, and the share of starts reaching each.

    Each start is integrated with the model's schedule (the compiled DOP853 of
    `linvae.theory.integrate`) up to the schedule's horizon (`schedule_horizon`), then at
    beta_f in pieces of ``t_chunk``, until it lies within ``xtol`` of a stable (or marginal)
    point of ``fixed_points(model, sgd_noise=sgd_noise)``. The reached points are returned
    with their counts, most often reached first.

    Parameters
    ----------
    model : Model
        The problem; its schedule (constant, tanh, linear ramp or step) is the path of beta.
    start : "fresh", OrderParameters, ndarray or Trajectory
        "fresh": ``n_init`` random initial states imitating size ``N``
        (`linvae.theory.initial.initial_ensemble`, seeded by ``rng``); OrderParameters: one
        state or an ensemble with a leading axis; ndarray: flat state(s), shape (n,) or
        (n_init, n); Trajectory: each seed of a run at its first (``run_state="initial"``) or
        last (``"final"``) recorded time.
    n_init, N : int
        Size of the fresh ensemble and the input dimension it imitates.
    rng : int, Generator or None
        Seed of the fresh ensemble.
    run_state : {"initial", "final"}
        Which state of a Trajectory ``start``.
    sgd_noise : bool
        Keep the O(tau^2) SGD-noise terms (in the ODE and in the fixed points matched).
    t_chunk : float, optional
        Integration time between two checks at beta_f; default ``100 / tau``.
    t_limit : float, optional
        Longest integration; default ``1e5 / tau`` (past the schedule's horizon).
    xtol : float
        A run has reached a point when its state is within this Euclidean distance of it.
    rtol, atol : float
        ODE solver tolerances.

    Returns
    -------
    Attractor
        ``points``, ``counts``, ``fractions``, per-start ``reached``, ``y_end``, ``t_end``,
        ``converged``; ``point`` is the most often reached.

    Raises
    ------
    ValueError
        For a start of the wrong shape, a schedule without a closed form, or a run that leaves
        the valid region (D <= 0).

    Warns
    -----
    UserWarning
        When some run has not settled at a stable point by ``t_limit`` (it is assigned to the
        nearest listed point, and ``converged`` is False for it).

    Notes
    -----
    The ODE uses T = I, the fixed points' convention. A start exactly on the invariant manifold
    m = d = 0 stays on it and ends collapsed; a fresh start has m, d = O(N^-1/2).

    Examples
    --------
    >>> from linvae import Model
    >>> res = attractor(Model(beta=1.0, tau=0.05), n_init=4, N=200)
    >>> res.point.name, float(res.fractions[0])
    ('learned', 1.0)
    """
    owner = "attractor"
    if not isinstance(model, Model):
        raise TypeError(f"The `model` parameter of {owner} must be a Model. Got {model!r}.")
    xtol = check_real("xtol", xtol, owner, low=0.0)
    horizon = schedule_horizon(model.schedule)
    tau = model.tau
    t_chunk = check_real("t_chunk", 100.0 / tau if t_chunk is None else t_chunk, owner, low=0.0)
    t_limit = check_real("t_limit", 1e5 / tau if t_limit is None else t_limit, owner, low=0.0)
    y0, start_name, N_used = _starts(
        model, start, n_init=n_init, N=N, rng=rng, run_state=run_state, owner=owner
    )
    beta_f = float(model.schedule.final)
    listed = list(fixed_points(model, sgd_noise=sgd_noise, beta=beta_f))
    settle = [p for p in listed if p.stability in _SETTLE]
    if not settle:
        raise RuntimeError(f"No stable or marginal fixed point found for {model!r}.")

    # numba: the compiled integrator loads numba; imported only when an ODE is solved.
    from linvae.theory.integrate import INVALID, STATUS_MESSAGES, dop853, schedule_code

    drift = Drift(model, sgd_noise=sgd_noise, owner=owner)
    frozen = drift.at_beta(beta_f)
    compiled = drift.compiled
    params = drift.at_beta(0.0).parameters
    hold = schedule_code(Constant(beta=beta_f))
    first = schedule_code(model.schedule)

    def run(y, code, t_span):
        sol = dop853(
            compiled, y, params, beta_index=compiled.layout.beta, n_D=model.M, schedule=code,
            t_max=t_span, t_eval=np.array([t_span]), rtol=rtol, atol=atol,
        )  # fmt: skip
        if sol.status != 0:
            fix = (
                f"Reduce `tau` (now {tau:g}) or tighten `rtol`/`atol`."
                if sol.status == INVALID
                else "Try a smaller `rtol`/`atol` or a smaller `tau`."
            )
            raise ValueError(
                f"The ODE run of {owner} failed at t = {sol.t_stop:g}: "
                f"{STATUS_MESSAGES[sol.status]} {fix}"
            )
        return sol.y_end

    n = y0.shape[0]
    y_end = np.empty_like(y0)
    t_end = np.empty(n)
    nearest = np.empty(n, dtype=np.int64)
    dist = np.empty(n)
    converged = np.zeros(n, dtype=bool)
    for i in range(n):
        y, t, polished = y0[i].copy(), 0.0, False
        if horizon > 0.0:
            y, t = run(y, first, horizon), horizon
        while True:
            d = np.array([p.distance(y) for p in settle])
            if d.min() < xtol or t >= t_limit:
                break
            step = min(t_chunk, t_limit - t)
            y_old, (y, t) = y, (run(y, hold, step), t + step)
            if not polished and np.linalg.norm(y - y_old) < xtol:
                # Stalled: either a slow approach to a listed point, or a point not listed.
                polished = True
                found = _unlisted_point(listed[0], frozen, y, model)
                new = found is not None and min(p.distance(found.y) for p in listed) > xtol
                if new and found.stability in _SETTLE:
                    warnings.warn(
                        f"attractor reached a {found.stability.value} fixed point ({found.name}, "
                        f"eps_g = {found.eps_g:.6g}) that fixed_points does not list at beta = "
                        f"{beta_f:g}; it is reported as found by integration.",
                        stacklevel=2,
                    )
                    listed.append(found)
                    settle.append(found)
        converged[i] = bool(d.min() < xtol)
        if converged[i]:
            point = settle[int(np.argmin(d))]
        else:  # not settled: the nearest listed point, stable or not
            d_all = np.array([p.distance(y) for p in listed])
            point = listed[int(np.argmin(d_all))]
        nearest[i] = next(k for k, p in enumerate(listed) if p is point)
        dist[i] = float(point.distance(y))
        y_end[i], t_end[i] = y, t
    if not np.all(converged):
        warnings.warn(
            f"{int(np.sum(~converged))} of {n} runs of attractor had not settled within "
            f"xtol = {xtol:g} of a stable fixed point by t = {t_limit:g}; each is assigned to "
            "the nearest listed point. Raise `t_limit` (slow approach near a spinodal).",
            stacklevel=2,
        )
    ids, counts = np.unique(nearest, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    ids, counts = ids[order], counts[order]
    reached = np.array([int(np.flatnonzero(ids == k)[0]) for k in nearest], dtype=np.int64)
    return Attractor(
        model=model,
        beta=beta_f,
        sgd_noise=bool(sgd_noise),
        start=start_name,
        N=N_used,
        n_init=n,
        points=tuple(listed[k] for k in ids),
        counts=counts,
        fractions=counts / n,
        reached=reached,
        y0=y0,
        y_end=y_end,
        t_end=t_end,
        distance=dist,
        converged=converged,
        xtol=float(xtol),
        t_limit=float(max(t_limit, horizon)),
    )
