"""Phase diagrams: where training ends, how fast, and at what cost.

The mathematics is on the results page (docs/results.md, sections "Claim 1" to "Claim 3").

Symbols
-------
beta        KL weight (the horizontal axis of the stability diagrams)
rho, eta    signal and noise strengths; lam the L2 penalty
beta*       collapse threshold nu / (1 + lam) - lam / nu, nu = rho + eta
eps_g*      eps_g at the attractor
gamma       annealing rate of beta_f tanh(gamma t); T_conv the convergence time
M           number of latents (M_star = 1 true factor in these diagrams)

Every diagram is a `PhaseDiagram` (axes, value arrays of shape (len(y), len(x)), the
model, the analytic boundary where there is one); `linvae.plot.phase.plot_phase_diagram`
draws any of them. The stability diagrams are theory in seconds: closed-form tau -> 0 fixed
points for the whole grid at once (numpy), their Jacobians from the compiled derived drift, and
the eigenvalues of all of them in one batched `numpy.linalg.eigvals` call.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from linvae.analysis.convergence import convergence_times, critical_rate
from linvae.analysis.stability import (
    Stability,
    eigenvalue_tolerance,
    latent_block,
    reduced_jacobian,
    sorted_eigenvalues,
)
from linvae.analysis.superfluous import superfluous_error
from linvae.analysis.threshold import threshold_formula, transition_lines
from linvae.observables import OrderParameters, generalization_error, state_size
from linvae.params import Model
from linvae.schedules import Constant, TanhAnneal
from linvae.theory.drift import Drift
from linvae.theory.initial import initial_ensemble
from linvae.trajectory import Trajectory
from linvae.utils.io import to_jsonable

__all__ = [
    "Phase",
    "PhaseDiagram",
    "annealing_diagram",
    "penalty_diagram",
    "stability_diagram",
]

DiagramKind = Literal["beta-rho", "beta-eta", "beta-lam", "gamma-beta-f", "M-beta", "alpha-beta"]


class Phase(enum.Enum):
    """Labels of the stability diagrams (their values are stored in ``values["phase"]``)."""

    LEARNED = "learned"
    COLLAPSED = "collapsed"
    MARGINAL = "marginal"
    COEXISTENCE = "coexistence"  # a stable learned point beside the stable collapsed one


@dataclass(frozen=True, kw_only=True)
class PhaseDiagram:
    """A two-parameter map computed from the theory.

    Attributes
    ----------
    kind : {"beta-rho", "beta-eta", "beta-lam", "gamma-beta-f", "M-beta", "alpha-beta"}
        ("alpha-beta": the finite-data diagram, `linvae.offline.offline_phase_diagram`)
    x_name, y_name : str
        Names of the axes (paper symbols).
    x : ndarray, shape (nx,)
    y : ndarray, shape (ny,)
    values : dict of str -> ndarray, each of shape (ny, nx)
        The maps; which ones depends on ``kind`` (see the function that made it).
    default_value : str
        The map drawn by default.
    boundary : dict of str -> ndarray
        Analytic curves, e.g. ``{"beta_star": beta*(y)}`` (shape (ny,)) or ``{"gamma_c": ...}``.
    model : Model
        The fixed parameters (the swept ones are replaced point by point).
    wall_time_s : float
        Time to compute.
    meta : dict
        Everything else (tolerances, sgd_noise, counts), JSON-able.
    """

    kind: DiagramKind
    x_name: str
    y_name: str
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    values: dict = field(repr=False)
    default_value: str
    boundary: dict = field(repr=False)
    model: Model
    wall_time_s: float
    meta: dict = field(default_factory=dict)

    def as_dict(self, *, arrays: bool = False) -> dict:
        """JSON-able summary; with ``arrays`` the axes, maps and boundaries as nested lists."""

        def clean(a):
            return to_jsonable(np.asarray(a))  # nested lists, inf and NaN as None

        out = {
            "kind": self.kind,
            "x_name": self.x_name,
            "y_name": self.y_name,
            "shape": [int(self.y.size), int(self.x.size)],
            "x_range": [float(self.x[0]), float(self.x[-1])],
            "y_range": [float(self.y[0]), float(self.y[-1])],
            "values": sorted(self.values),
            "model": self.model.describe(),
            "wall_time_s": self.wall_time_s,
            "meta": self.meta,
        }
        if arrays:
            out["x"], out["y"] = clean(self.x), clean(self.y)
            out["maps"] = {k: clean(v) for k, v in self.values.items()}
            out["boundary"] = {k: clean(v) for k, v in self.boundary.items()}
        return out


# --------------------------------------------------------------------------- stability
def _states(M: int, rho, eta, beta, lam, learned_roles: bool):
    """Flat closed-form states of a grid (M_star = 1): the learned-branch attractor or the
    collapsed point. Spare latents fit noise where they can, else collapse."""
    shape = np.broadcast(rho, eta, beta, lam).shape
    n = state_size(M, 1)
    Y = np.zeros((*shape, n))
    nm, nQ = M, M * M
    iQ, iE, iR, iD = 2 * nm, 2 * nm + nQ, 2 * nm + 2 * nQ, 2 * nm + 3 * nQ
    Y[..., iD:] = 1.0
    if not learned_roles:
        return Y, np.ones(shape, dtype=bool)
    w, v, D = latent_block(rho + eta, beta, lam)
    ok = np.isfinite(w)
    Y[..., 0] = np.where(ok, w, 0.0)
    Y[..., nm] = np.where(ok, v, 0.0)
    Y[..., iQ] = np.where(ok, w * w, 0.0)
    Y[..., iE] = np.where(ok, v * v, 0.0)
    Y[..., iR] = np.where(ok, w * v, 0.0)
    Y[..., iD] = np.where(ok, D, 1.0)
    if M > 1:
        wn, vn, Dn = latent_block(np.broadcast_to(eta, shape), beta, lam)
        okn = np.isfinite(wn)
        for i in range(1, M):
            diag = i * M + i
            Y[..., iQ + diag] = np.where(okn, wn * wn, 0.0)
            Y[..., iE + diag] = np.where(okn, vn * vn, 0.0)
            Y[..., iR + diag] = np.where(okn, wn * vn, 0.0)
            Y[..., iD + i] = np.where(okn, Dn, 1.0)
    return Y, ok


def _batched_eigenvalues(drift: Drift, Y: np.ndarray, **grid) -> np.ndarray:
    """Eigenvalues (decreasing real part) of the reduced Jacobians at the states Y (..., n),
    with the grid's parameters (``beta``, ``rho``, ``eta``, ``lam``) at each of them."""
    J = drift.jacobians(Y.reshape(-1, Y.shape[-1]), **grid)
    ev = sorted_eigenvalues(reduced_jacobian(J, drift.model.M, 1))
    return ev.reshape(*Y.shape[:-1], ev.shape[-1])


def stability_diagram(
    model: Model,
    *,
    betas: np.ndarray,
    values: np.ndarray,
    axis: Literal["rho", "eta", "lam"] = "rho",
    sgd_noise: bool = False,
) -> PhaseDiagram:
    """Learned vs collapsed over (beta, rho), (beta, eta) or (beta, lam), with eps_g* as colour.

    At every grid point the closed-form learned point (when it exists) and the collapsed point
    get their Jacobian eigenvalues; the phase is the one whose point is stable. The analytic
    boundary is ``beta*(y) = nu / (1 + lam) - lam / nu``. Where the transition is first order
    (`linvae.analysis.threshold.transition_betas`) the grid points between beta* and the
    spinodal, where a stable learned point coexists with the stable collapsed one, are labelled
    "coexistence"; the colour there is the learned point's (the lower loss below the
    equal-loss line).

    Parameters
    ----------
    model : Model
        Fixed parameters (M, eta, rho, lam, tau); M_star must be 1.
    betas : array, shape (nx,)
        KL weights, > 0 (horizontal axis).
    values : array, shape (ny,)
        Values of ``axis`` (vertical axis): rho > 0, eta > 0 or lam >= 0.
    axis : {"rho", "eta", "lam"}
    sgd_noise : bool
        Evaluate the Jacobians with the O(tau^2) terms at the tau -> 0 points (off by default:
        the closed forms are fixed points of the tau -> 0 drift only).

    Returns
    -------
    PhaseDiagram
        ``values``: ``phase`` (str: "learned", "collapsed", "marginal"), ``eps_g_star``,
        ``top_eigenvalue`` (at the attractor), ``learned_top_eigenvalue`` and
        ``collapsed_top_eigenvalue`` (NaN where the learned point does not exist);
        ``boundary``: ``beta_star``, ``beta_spinodal`` (where the learned branch ends) and
        ``beta_coexistence`` (equal loss), each (ny,); the three are equal where the
        transition is continuous.

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model
    >>> pd = stability_diagram(Model(), betas=np.array([1.0, 3.0]), values=np.array([1.0]))
    >>> pd.values["phase"].tolist()
    [['learned', 'collapsed']]
    """
    start = time.perf_counter()
    owner = "stability_diagram"
    if axis not in ("rho", "eta", "lam"):
        raise ValueError(
            f"The `axis` parameter of {owner} must be 'rho', 'eta' or 'lam'. Got {axis!r}."
        )
    if model.M_star != 1:
        raise ValueError(
            f"The `model` parameter of {owner} must have M_star = 1. Got M_star = {model.M_star}."
        )
    betas = np.asarray(betas, dtype=np.float64)
    ys = np.asarray(values, dtype=np.float64)
    if betas.ndim != 1 or ys.ndim != 1 or np.any(betas <= 0):
        raise ValueError(
            f"The `betas` and `values` parameters of {owner} must be 1-D arrays, with betas > 0. "
            f"Got shapes {betas.shape}, {ys.shape}."
        )
    low = 0.0 if axis == "lam" else np.finfo(float).tiny
    if np.any(ys < low) or not np.all(np.isfinite(ys)):
        raise ValueError(
            f"The `values` parameter of {owner} must hold finite {axis} >= {low:g}. "
            f"Got values in [{ys.min():g}, {ys.max():g}]."
        )
    M = model.M
    B = betas[None, :]
    rho = ys[:, None] if axis == "rho" else np.full((ys.size, 1), model.rho_vector[0])
    eta = ys[:, None] if axis == "eta" else np.full((ys.size, 1), model.eta)
    lam = ys[:, None] if axis == "lam" else np.full((ys.size, 1), model.lam)
    rho, eta, lam, B = np.broadcast_arrays(rho, eta, lam, B)

    drift = Drift(model, sgd_noise=sgd_noise)
    grid = {
        "beta": B.reshape(-1),
        "rho": rho.reshape(-1, 1),
        "eta": eta.reshape(-1),
        "lam": lam.reshape(-1),
    }

    Y_learned, exists = _states(M, rho, eta, B, lam, learned_roles=True)
    Y_collapsed, _ = _states(M, rho, eta, B, lam, learned_roles=False)
    ev_learned = _batched_eigenvalues(drift, Y_learned, **grid)
    ev_collapsed = _batched_eigenvalues(drift, Y_collapsed, **grid)
    top_l = np.where(exists, ev_learned[..., 0].real, np.nan)
    top_c = ev_collapsed[..., 0].real
    tol = eigenvalue_tolerance(np.array([np.nanmax(np.abs(top_c))]), model.tau)
    phase = np.full(B.shape, Phase.MARGINAL.value, dtype=object)
    learned_stable = exists & (top_l < -tol)
    phase[top_c < -tol] = Phase.COLLAPSED.value
    phase[learned_stable] = Phase.LEARNED.value
    phase[learned_stable & (top_c < -tol)] = Phase.COEXISTENCE.value
    learned_attr = learned_stable
    Y_attr = np.where(learned_attr[..., None], Y_learned, Y_collapsed)
    m = Y_attr[..., :M].reshape(*B.shape, M, 1)
    iQ = 2 * M
    Q = Y_attr[..., iQ : iQ + M * M].reshape(*B.shape, M, M)
    eps = generalization_error(m, Q, rho[..., None])  # rho varies over the grid
    lines = transition_lines(model, ys, axis)  # M_star = 1: its rho is the top factor's
    boundary = {
        name: np.broadcast_to(lines[name], ys.shape).astype(np.float64)
        for name in ("beta_star", "beta_spinodal", "beta_coexistence")
    }
    # where the closed forms miss the learned branch next to the spinodal, the lines decide
    strip = (B > boundary["beta_star"][:, None]) & (B < boundary["beta_spinodal"][:, None])
    phase[strip & (phase == Phase.COLLAPSED.value)] = Phase.COEXISTENCE.value
    values_out = {
        "phase": phase.astype(str),
        "eps_g_star": eps,
        "top_eigenvalue": np.where(learned_attr, top_l, top_c),
        "learned_top_eigenvalue": top_l,
        "collapsed_top_eigenvalue": top_c,
    }
    return PhaseDiagram(
        kind=f"beta-{axis}",
        x_name="beta",
        y_name=axis,
        x=betas,
        y=ys,
        values=values_out,
        default_value="eps_g_star",
        boundary=boundary,
        model=model,
        wall_time_s=time.perf_counter() - start,
        meta={
            "sgd_noise": bool(sgd_noise),
            "n_jacobians": int(2 * B.size),
            "eigenvalue_tol": tol,
            "stability_labels": [s.value for s in Stability],
        },
    )


# --------------------------------------------------------------------------- annealing
def annealing_diagram(
    model: Model,
    *,
    gammas: np.ndarray,
    beta_finals: np.ndarray,
    init: OrderParameters | Trajectory | None = None,
    tol: float = 1e-3,
    t_max: float | None = None,
    sgd_noise: bool = True,
    progress=None,
    n_init: int = 8,
    N: int = 200,
    rng=0,
) -> PhaseDiagram:
    """T_conv(gamma, beta_f) of beta_f tanh(gamma t), and the speed-up over constant beta_f.

    For every beta_f, one batch of compiled ODE runs (`linvae.analysis.convergence_times`):
    every rate and constant beta_f, each from every initial state of an ensemble; T_conv is the
    excess measure (continuous in gamma), averaged over the ensemble. About 0.2-0.5 ms per run
    for M = 1 on one core.

    Parameters
    ----------
    model : Model
        Fixed parameters (rho, eta, lam, tau, M); its beta is replaced.
    gammas : array, shape (nx,)
        Annealing rates, > 0.
    beta_finals : array, shape (ny,)
        Final KL weights, > 0 and below the collapse threshold (else nothing is learned).
    init : OrderParameters or Trajectory, optional
        One initial state or an ensemble (leading axis). Default
        ``initial_ensemble(model, n_init, N=N, rng=rng)``.
    tol : float
        Tolerance of T_conv on eps_g.
    t_max : float, optional
        Per row: default 6 (ln(1/tol) + 6) / |J_max(beta_f)| (doubled for runs not converged).
    sgd_noise : bool
    progress : callable ``(done, total)``, optional
        Called after each row, with counts of ODE runs.
    n_init, N, rng
        Size, imitated input dimension and seed of the default ensemble.

    Returns
    -------
    PhaseDiagram
        ``values``: ``t_conv`` (ensemble mean; inf where not converged), ``t_conv_spread``,
        ``speedup`` (mean T_conv at constant beta_f over mean T_conv), ``speedup_spread``
        (half the 16-84 percentile range of the per-state ratio), ``gamma_over_gamma_c``;
        ``boundary``: ``gamma_c`` (ny,), ``t_conv_constant`` (ny,), ``gamma_opt`` (ny,: the
        best grid rate).

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model
    >>> pd = annealing_diagram(Model(tau=0.05), gammas=np.array([0.005, 0.02]),
    ...                        beta_finals=np.array([1.0]), n_init=4)
    >>> pd.values["t_conv"].shape
    (1, 2)
    """
    start = time.perf_counter()
    gammas = np.asarray(gammas, dtype=np.float64)
    beta_finals = np.asarray(beta_finals, dtype=np.float64)
    if np.any(gammas <= 0) or np.any(beta_finals <= 0):
        raise ValueError(
            "The `gammas` and `beta_finals` parameters of annealing_diagram must be > 0. "
            f"Got minima {gammas.min():g}, {beta_finals.min():g}."
        )
    if init is None:
        init = initial_ensemble(model, n_init, N=N, rng=rng)
    shape = (beta_finals.size, gammas.size)
    t_conv, t_spread = np.empty(shape), np.empty(shape)
    speedup, s_spread = np.empty(shape), np.empty(shape)
    constant = np.empty(beta_finals.size)
    gamma_c = np.empty(beta_finals.size)
    total, done, n_states = beta_finals.size * (gammas.size + 1), 0, 0
    for i, beta_f in enumerate(beta_finals):
        base = replace(model, beta=Constant(beta=float(beta_f)))
        gamma_c[i] = critical_rate(base, sgd_noise=sgd_noise).gamma_c
        schedules = [base.schedule]
        schedules += [TanhAnneal(beta_final=float(beta_f), gamma=float(g)) for g in gammas]
        T = convergence_times(base, schedules, init=init, tol=tol, t_max=t_max,
                              sgd_noise=sgd_noise)  # fmt: skip
        n_states = T.shape[1]
        constant[i] = T[0].mean()
        t_conv[i] = T[1:].mean(axis=1)
        t_spread[i] = [_spread(row) for row in T[1:]]
        with np.errstate(divide="ignore", invalid="ignore"):
            speedup[i] = constant[i] / t_conv[i]
            s_spread[i] = [_spread(T[0] / row) for row in T[1:]]
        done += gammas.size + 1
        if progress is not None:
            progress(done, total)
    best = np.argmin(t_conv, axis=1)
    return PhaseDiagram(
        kind="gamma-beta-f",
        x_name="gamma",
        y_name="beta_f",
        x=gammas,
        y=beta_finals,
        values={
            "t_conv": t_conv,
            "t_conv_spread": t_spread,
            "speedup": speedup,
            "speedup_spread": s_spread,
            "gamma_over_gamma_c": gammas[None, :] / gamma_c[:, None],
        },
        default_value="speedup",
        boundary={"gamma_c": gamma_c, "t_conv_constant": constant, "gamma_opt": gammas[best]},
        model=model,
        wall_time_s=time.perf_counter() - start,
        meta={
            "tol": float(tol),
            "sgd_noise": bool(sgd_noise),
            "n_ode_runs": int(total * n_states),
            "n_init": int(n_states),
            "measure": "excess",
        },
    )


def _spread(x: np.ndarray) -> float:
    """Half the 16-84 percentile range over the initial states (inf if any is infinite)."""
    if x.size < 2:
        return 0.0
    if not np.all(np.isfinite(x)):
        return math.inf
    q16, q84 = np.percentile(x, [16.0, 84.0])
    return float(q84 - q16) / 2.0


# --------------------------------------------------------------------------- penalty
def penalty_diagram(model: Model, *, Ms: np.ndarray, betas: np.ndarray) -> PhaseDiagram:
    """eps_g*(M, beta) with spare latents, and the penalty over M = M_star (tau -> 0, lam = 0).

    ``penalty = (M - M_star)(eta - beta)_+`` when the factor is learned: spare latents fit
    noise for beta < eta, and cost nothing (but converge slowly, algebraically at beta = eta)
    above it.

    Parameters
    ----------
    model : Model
        rho, eta, M_star (lam is ignored: the formula is for lam = 0).
    Ms : array of int, shape (ny,)
    betas : array, shape (nx,)

    Returns
    -------
    PhaseDiagram
        ``values``: ``eps_g_star``, ``penalty``, ``spare_latent_rate`` (the top eigenvalue
        ``tau (-(1 + eta beta) + sqrt((1 - eta beta)^2 + 4 eta^2)) / 2`` of a collapsed spare
        latent's block: positive where it fits noise); ``boundary``: ``beta_eta`` (= eta) and
        ``beta_star``.

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model
    >>> pd = penalty_diagram(Model(), Ms=np.array([1, 3]), betas=np.array([0.5, 1.5]))
    >>> pd.values["penalty"].tolist()
    [[0.0, 0.0], [1.0, 0.0]]
    """
    start = time.perf_counter()
    Ms = np.asarray(Ms, dtype=np.int64)
    betas = np.asarray(betas, dtype=np.float64)
    if np.any(Ms < 1) or np.any(betas <= 0):
        raise ValueError(
            "The `Ms` and `betas` parameters of penalty_diagram must be >= 1 and > 0. "
            f"Got minima {Ms.min()}, {betas.min():g}."
        )
    kw = {"rho": model.rho_vector, "eta": model.eta, "M_star": model.M_star}
    eps = superfluous_error(Ms[:, None], betas[None, :], **kw)
    ref = superfluous_error(np.full_like(Ms, model.M_star)[:, None], betas[None, :], **kw)
    eta, tau = model.eta, model.tau
    rate = tau * (-(1 + eta * betas) + np.sqrt((1 - eta * betas) ** 2 + 4 * eta**2)) / 2
    return PhaseDiagram(
        kind="M-beta",
        x_name="beta",
        y_name="M",
        x=betas,
        y=Ms.astype(np.float64),
        values={
            "eps_g_star": eps,
            "penalty": eps - ref,
            "spare_latent_rate": np.broadcast_to(rate, eps.shape).copy(),
        },
        default_value="penalty",
        boundary={
            "beta_eta": np.full(Ms.size, eta),
            "beta_star": np.full(Ms.size, float(threshold_formula(model.rho_vector.max(), eta))),
        },
        model=model,
        wall_time_s=time.perf_counter() - start,
        meta={"tau_limit": True, "lam": 0.0},
    )
