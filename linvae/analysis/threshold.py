"""The posterior-collapse threshold beta*.

The mathematics is on the results page (docs/results.md, section "Claim 1: the
posterior-collapse threshold").

Symbols
-------
nu_k     rho_k T_kk + eta, the data variance along factor k (T = I here: rho_k + eta)
lam      L2 penalty on W and V
beta*    KL weight above which the collapsed point (m = d = 0, D = 1) attracts factor k

At the collapsed point the (m, d) block of the Jacobian decouples, one 2 x 2 block per latent
and factor k:

    tau [[-(1 + lam), nu_k], [nu_k, -(nu_k beta + lam)]],

whose determinant vanishes at ``beta_k* = nu_k / (1 + lam) - lam / nu_k`` (``nu_k`` when
lam = 0): the collapsed point is linearly stable along factor k iff beta > beta_k*.

That is the whole story only when the transition is continuous. With an L2 penalty it can be
first order (`transition_betas`): the learned branch folds back beyond beta_k* and ends at a
spinodal beta, so that between the two a stable learned point coexists with the stable
collapsed one; the learned point has the lower loss below the coexistence beta. A spare latent
sees only the noise bulk (``nu -> eta``). None of these depends on tau. `transition_lines` gives
the three betas of a model's top factor, along one of its parameters.

beta_sp  spinodal: the largest beta with a learned point (beta_sp = beta* when continuous)
beta_co  coexistence: equal loss of the learned and collapsed points
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
from scipy.optimize import brentq

from linvae.observables import state_size
from linvae.params import Model
from linvae.theory.drift import Drift

__all__ = [
    "CollapseThreshold",
    "TransitionBetas",
    "block_loss",
    "collapse_threshold",
    "threshold_formula",
    "transition_betas",
    "transition_lines",
]


def threshold_formula(rho, eta, lam=0.0):
    """beta* = nu / (1 + lam) - lam / nu with nu = rho + eta, vectorized.

    Parameters
    ----------
    rho, eta, lam : float or array (broadcastable)
        Signal strength (0 gives the spare-latent threshold), noise strength, L2 penalty.

    Returns
    -------
    ndarray or float
        A negative value means collapse for every beta >= 0.

    Examples
    --------
    >>> float(threshold_formula(1.0, 1.0))
    2.0
    >>> round(float(threshold_formula(1.0, 1.0, 0.1)), 12)  # 2 / 1.1 - 0.05
    1.768181818182
    """
    nu = np.asarray(rho, dtype=np.float64) + np.asarray(eta, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    out = nu / (1.0 + lam) - lam / nu
    return float(out) if out.ndim == 0 else out


class TransitionBetas(NamedTuple):
    """The three KL weights of the collapse transition along one direction of variance nu.

    Fields broadcast to the shape of ``nu`` and ``lam`` (floats for scalar inputs).

    Attributes
    ----------
    beta_star : ndarray or float
        ``nu / (1 + lam) - lam / nu``: the collapsed point is linearly stable for beta above it.
    beta_spinodal : ndarray or float
        Where the learned branch ends: for beta above it no learned point exists. Equal to
        ``beta_star`` for a continuous transition.
    beta_coexistence : ndarray or float
        Where the learned point and the collapsed point have equal loss; the learned point has
        the lower loss below it. Equal to ``beta_star`` for a continuous transition.
    first_order : ndarray of bool or bool
        True where the learned branch reaches beyond ``max(beta_star, 0)``, so that for beta
        between the two a stable learned point coexists with the stable collapsed one.
    """

    beta_star: np.ndarray | float
    beta_spinodal: np.ndarray | float
    beta_coexistence: np.ndarray | float
    first_order: np.ndarray | bool


def _polymul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Product of batched polynomials, coefficients ascending along the last axis."""
    out = np.zeros(
        (*np.broadcast_shapes(a.shape[:-1], b.shape[:-1]), a.shape[-1] + b.shape[-1] - 1)
    )
    for i in range(a.shape[-1]):
        for j in range(b.shape[-1]):
            out[..., i + j] += a[..., i] * b[..., j]
    return out


def _branch_beta(u, nu, lam):
    """The beta at which ``u = q + beta`` solves the block's fixed-point cubic (linear in beta)."""
    a2 = (nu * u + lam) ** 2
    return lam * u * (nu**2 - a2) / (a2 - nu**3 * u)


def block_loss(q, nu, beta, lam):
    """Loss of one latent along a direction of variance nu, relative to collapse, vectorized.

    ``l(q) = -(1/2) q nu^2 / ((q + beta) nu + lam) + (beta / 2) ln(1 + q / beta) + (lam / 2) q``,
    minimized over the encoder at fixed ``q = Q_kk``; its stationary points with q > 0 are the
    nonzero tau -> 0 fixed points (learned: local minimum, saddle: local maximum) and
    ``l(0) = 0`` is the collapsed point.

    Parameters
    ----------
    q, nu, beta, lam : float or array (broadcastable)
        Decoder norm along the direction (>= 0), variance (> 0), KL weight (> 0), L2 penalty.

    Returns
    -------
    ndarray or float

    Examples
    --------
    >>> round(float(block_loss(1.0, 2.0, 1.0, 0.0)), 12)  # -(1/2)(4/4) + (1/2) ln 2
    -0.153426409720
    """
    q, nu, beta, lam = (np.asarray(x, dtype=np.float64) for x in (q, nu, beta, lam))
    out = (
        -0.5 * q * nu**2 / ((q + beta) * nu + lam) + 0.5 * beta * np.log1p(q / beta) + 0.5 * lam * q
    )
    return float(out) if out.ndim == 0 else out


def _spinodal(n: np.ndarray, la: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest local maximum of beta(u) with q > 0 and beta > 0: (u, beta), (-inf) if none.

    beta(u) = N(u) / Dn(u); its stationary points are the roots of the quartic N' Dn - N Dn',
    found as eigenvalues of companion matrices and polished by one Newton step.
    """
    zero = np.zeros_like(n)
    N = np.stack([zero, la * (n**2 - la**2), -2 * la**2 * n, -la * n**2], axis=-1)
    Dn = np.stack([la**2, 2 * la * n - n**3, n**2], axis=-1)
    P = _polymul(N[:, 1:] * np.arange(1, 4), Dn) - _polymul(N, Dn[:, 1:] * np.arange(1, 3))
    C = np.zeros((*n.shape, 4, 4))  # leading coefficient -lam nu^4 != 0
    C[:, 1:, :3] = np.eye(3)
    C[:, :, 3] = -P[:, :4] / P[:, 4:5]
    roots = np.linalg.eigvals(C)
    real = np.abs(roots.imag) <= 1e-9 * np.maximum(1.0, np.abs(roots.real))
    u = roots.real
    dP = _horner(P[:, 1:] * np.arange(1, 5), u)
    u = np.where(real & (dP != 0), u - _horner(P, u) / np.where(dP != 0, dP, 1.0), u)
    n2, la2 = n[:, None], la[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        b = _branch_beta(u, n2, la2)
        h = 1e-6 * np.abs(u) + 1e-12
        is_max = (_branch_beta(u - h, n2, la2) < b) & (_branch_beta(u + h, n2, la2) < b)
    ok = real & (u > 0) & np.isfinite(b) & (b > 0) & (u - b > 0) & is_max
    b = np.where(ok, b, -np.inf)
    best = np.argmax(b, axis=-1)
    rows = np.arange(n.size)
    return u[rows, best], b[rows, best]


def _coexistence(u_s: np.ndarray, n: np.ndarray, la: np.ndarray) -> np.ndarray:
    """beta where the learned point's loss is zero: bisection in u from the spinodal ``u_s``
    to ``u0 = 1 - lam / nu`` (beta -> 0), along which the loss decreases."""
    lo, hi = u_s.copy(), 1.0 - la / n
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        b_mid = _branch_beta(mid, n, la)
        above = block_loss(mid - b_mid, n, b_mid, la) > 0
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
        if np.all(hi - lo <= 4e-16 * hi):
            break
    return _branch_beta(0.5 * (lo + hi), n, la)


def transition_betas(nu, lam) -> TransitionBetas:
    """beta*, the spinodal and the coexistence beta of one direction of variance nu, vectorized.

    Along a direction of variance nu (``rho_k + eta`` for factor k, ``eta`` for a noise
    direction), the nonzero tau -> 0 fixed points of one latent solve the cubic in
    ``u = q + beta``

        u (nu^2 lam + nu^3 beta) = (beta + lam u) (nu u + lam)^2,

    with ``q > 0``. The collapsed point is linearly stable above
    ``beta* = nu / (1 + lam) - lam / nu``. When lam is large enough the transition is first
    order: the learned branch folds back beyond beta* and ends at the spinodal, where the learned
    point meets the saddle between it and collapse. Between the two, learned and collapsed points
    are both stable; the learned one has the lower loss (`block_loss`) below the coexistence
    beta.

    Parameters
    ----------
    nu : float or array
        Variance along the direction, > 0.
    lam : float or array
        L2 penalty, >= 0 (broadcast against ``nu``).

    Returns
    -------
    TransitionBetas
        ``beta_star``, ``beta_spinodal``, ``beta_coexistence``, ``first_order``; for a continuous
        transition the three betas are equal. A negative beta means: none for beta > 0.

    Raises
    ------
    ValueError
        If nu <= 0 or lam < 0 anywhere, or either is not finite.

    Notes
    -----
    The cubic is linear in beta, so the fixed points form one curve ``beta(u)``; the spinodal is
    the largest local maximum of ``beta(u)`` with ``q = u - beta > 0`` and ``beta > 0`` (a root
    of a quartic, from the eigenvalues of its companion matrix), and the transition is first order
    when it exceeds beta*. Along the learned branch the loss relative to collapse increases with
    beta (its beta derivative is positive at fixed q) and is ``(q / 2)(lam - nu) < 0`` as
    beta -> 0, so the coexistence beta is its unique zero on that branch (bisection in u to
    round-off). For lam = 0 the transition is continuous at ``beta* = nu``. The derivation is on
    the results page (docs/results.md, "Claim 1: the posterior-collapse threshold").

    Examples
    --------
    >>> t = transition_betas(2.0, 1.8)
    >>> bool(t.first_order), round(t.beta_star, 4), round(t.beta_spinodal, 4)
    (True, -0.1857, 0.0109)
    >>> transition_betas(2.0, 0.0)
    TransitionBetas(beta_star=2.0, beta_spinodal=2.0, beta_coexistence=2.0, first_order=False)
    """
    nu_in = np.asarray(nu, dtype=np.float64)
    lam_in = np.asarray(lam, dtype=np.float64)
    if not np.all(np.isfinite(nu_in) & (nu_in > 0)):
        raise ValueError(f"The `nu` parameter of transition_betas must be in (0, inf). Got {nu!r}.")
    if not np.all(np.isfinite(lam_in) & (lam_in >= 0)):
        raise ValueError(
            f"The `lam` parameter of transition_betas must be in [0, inf). Got {lam!r}."
        )
    nu_b, lam_b = np.broadcast_arrays(nu_in, lam_in)
    shape = nu_b.shape
    nu_f, lam_f = nu_b.ravel(), lam_b.ravel()
    star = nu_f / (1.0 + lam_f) - lam_f / nu_f
    spinodal = star.copy()
    coexistence = star.copy()
    first = np.zeros(star.shape, dtype=bool)
    # lam = 0: beta(u) degenerates and the transition is continuous at beta* = nu.
    live = np.flatnonzero(lam_f > 0)
    if live.size:
        n, la = nu_f[live], lam_f[live]
        u_s, b_s = _spinodal(n, la)
        fo = b_s > star[live]
        idx = live[fo]
        first[idx] = True
        spinodal[idx] = b_s[fo]
        coexistence[idx] = _coexistence(u_s[fo], n[fo], la[fo])
    star, spinodal, coexistence, first = (
        x.reshape(shape) for x in (star, spinodal, coexistence, first)
    )
    if star.ndim == 0:
        return TransitionBetas(float(star), float(spinodal), float(coexistence), bool(first))
    return TransitionBetas(star, spinodal, coexistence, first)


def transition_lines(model: Model, values: np.ndarray | None = None, axis: str = "lam") -> dict:
    """beta*, the spinodal and the coexistence beta of the model's top factor (tau -> 0).

    Parameters
    ----------
    model : Model
        rho (the largest rho_k), eta, lam.
    values : array, shape (ny,), optional
        Values of ``axis`` ("rho", "eta" or "lam") replacing the model's; default its own.
    axis : {"rho", "eta", "lam"}

    Returns
    -------
    dict
        ``beta_star``, ``beta_spinodal``, ``beta_coexistence`` (arrays of the shape of
        ``values``, or floats) and ``first_order`` (bool array or bool).

    Examples
    --------
    >>> from linvae import Model
    >>> lines = transition_lines(Model(rho=1.0, eta=1.0, lam=1.8))
    >>> bool(lines["first_order"]), round(lines["beta_spinodal"], 4)
    (True, 0.0109)
    """
    ref = {"rho": float(model.rho_vector.max()), "eta": model.eta, "lam": model.lam}
    if values is not None:
        ref[axis] = np.asarray(values, dtype=np.float64)
    t = transition_betas(np.asarray(ref["rho"]) + ref["eta"], ref["lam"])
    return {
        "beta_star": t.beta_star,
        "beta_spinodal": t.beta_spinodal,
        "beta_coexistence": t.beta_coexistence,
        "first_order": t.first_order,
    }


def _horner(c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Batched polynomials ``c`` (..., k) ascending, at points ``x`` (..., r)."""
    out = np.zeros_like(x)
    for j in range(c.shape[-1] - 1, -1, -1):
        out = out * x + c[..., j : j + 1]
    return out


@dataclass(frozen=True, kw_only=True)
class CollapseThreshold:
    """Result of `collapse_threshold`.

    Attributes
    ----------
    model : Model
        rho_k, eta, lam (M, beta and tau do not enter).
    method : {"analytic", "numerical"}
        How ``per_factor`` (the beta_k*) was computed; the spinodal and coexistence betas come
        from `transition_betas` either way.
    beta_star : float
        max_k beta_k*: for beta above it the collapsed point is linearly stable.
    per_factor : ndarray, shape (M_star,)
        beta_k*: the collapsed point is unstable along factor k iff beta < beta_k*.
    transitions : TransitionBetas
        Per factor (arrays of shape (M_star,)): ``beta_star``, ``beta_spinodal``,
        ``beta_coexistence``, ``first_order``.
    transition : {"continuous", "first-order"}
        Of the whole model: first order when ``beta_spinodal > beta_star``.
    beta_spinodal : float
        max_k of the per-factor spinodals: for beta above it no factor has a learned fixed
        point, so collapse is the only attractor (equal to ``beta_star`` when continuous).
    beta_coexistence : float
        max_k of the per-factor coexistence betas: above it the collapsed point has the lowest
        loss (the factors' losses add).
    spare_latent : float
        eta / (1 + lam) - lam / eta: a spare latent's collapsed state is linearly stable above
        it.
    spare_latent_transition : TransitionBetas
        The same three betas for a spare latent (nu = eta, a direction of the noise bulk).
    brackets : ndarray or None, shape (M_star, 2)
        The brackets of the root finder (numerical method).
    """

    model: Model
    method: Literal["analytic", "numerical"]
    beta_star: float
    per_factor: np.ndarray = field(repr=False)
    transitions: TransitionBetas = field(repr=False)
    transition: Literal["continuous", "first-order"]
    beta_spinodal: float
    beta_coexistence: float
    spare_latent: float
    spare_latent_transition: TransitionBetas = field(repr=False)
    brackets: np.ndarray | None = field(default=None, repr=False)

    @property
    def per_factor_transition(self) -> tuple[str, ...]:
        """ "continuous" or "first-order" for each factor."""
        return tuple(_label(fo) for fo in self.transitions.first_order)

    def message(self) -> str:
        """One readable sentence per factor (and for a spare latent) on how collapse happens."""
        lines = []
        t = self.transitions
        for k in range(self.per_factor.size):
            lines.append(
                _sentence(
                    f"factor {k}",
                    t.beta_star[k],
                    t.beta_spinodal[k],
                    t.beta_coexistence[k],
                    bool(t.first_order[k]),
                )
            )
        s = self.spare_latent_transition
        lines.append(
            _sentence(
                "a spare latent (noise)",
                s.beta_star,
                s.beta_spinodal,
                s.beta_coexistence,
                bool(s.first_order),
            )
        )
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """JSON-able summary: totals, then each factor and the spare latent with the same keys."""
        t, s = self.transitions, self.spare_latent_transition
        return {
            "transition": self.transition,
            "beta_star": self.beta_star,
            "beta_spinodal": self.beta_spinodal,
            "beta_coexistence": self.beta_coexistence,
            "per_factor": self.per_factor.tolist(),
            "factors": [
                {
                    "transition": _label(t.first_order[k]),
                    "beta_star": float(self.per_factor[k]),
                    "beta_spinodal": float(t.beta_spinodal[k]),
                    "beta_coexistence": float(t.beta_coexistence[k]),
                }
                for k in range(self.per_factor.size)
            ],
            "spare_latent": self.spare_latent,
            "spare_latent_transition": {
                "transition": _label(s.first_order),
                "beta_star": float(s.beta_star),
                "beta_spinodal": float(s.beta_spinodal),
                "beta_coexistence": float(s.beta_coexistence),
            },
            "method": self.method,
            "rho": self.model.rho_vector.tolist(),
            "eta": self.model.eta,
            "lam": self.model.lam,
        }


def _label(first_order) -> Literal["continuous", "first-order"]:
    return "first-order" if bool(first_order) else "continuous"


def _sentence(who: str, star: float, spinodal: float, coexistence: float, first: bool) -> str:
    if not first:
        if star <= 0:
            return f"{who}: collapsed for every beta > 0 (beta* = {star:.6g})."
        return f"{who}: learned for beta < beta* = {star:.6g}, collapsed above (continuous)."
    below = f"learned only for beta < {max(star, 0.0):.6g}; " if star > 0 else ""
    return (
        f"{who}: first-order transition. {below}learned and collapsed both stable for "
        f"{max(star, 0.0):.6g} < beta < {spinodal:.6g} (spinodal), the learned point having the "
        f"lower loss below beta = {coexistence:.6g} (coexistence); collapsed only above "
        f"{spinodal:.6g}. beta* = {star:.6g} is where collapse turns linearly stable."
    )


def _collapsed_signal_top(drift: Drift, beta: float, factor: int) -> float:
    """Top real eigenvalue of the (m, d) block for one factor at the collapsed point."""
    M, M_star = drift.model.M, drift.model.M_star
    n = state_size(M, M_star)
    y = np.zeros(n)
    y[n - M :] = 1.0
    J = drift.at_beta(beta).jacobian(y)
    idx = [i * M_star + factor for i in range(M)]
    idx = idx + [M * M_star + k for k in idx]
    return float(np.max(np.linalg.eigvals(J[np.ix_(idx, idx)]).real))


def collapse_threshold(
    model: Model,
    *,
    method: Literal["analytic", "numerical"] = "analytic",
    xtol: float = 1e-13,
) -> CollapseThreshold:
    """The posterior-collapse transition: beta*, the spinodal and coexistence betas, its order.

    ``beta_k* = nu_k / (1 + lam) - lam / nu_k``, ``nu_k = rho_k + eta`` (``rho + eta`` when
    lam = 0); ``beta* = max_k beta_k*``. Each factor's transition is continuous or first order;
    its spinodal and coexistence betas are those of `transition_betas` (``nu = nu_k``).

    Parameters
    ----------
    model : Model
        rho (or rho_k), eta, lam; T = I.
    method : {"analytic", "numerical"}
        The formula, or the zero crossing (`scipy.optimize.brentq`) of the top eigenvalue
        of each factor's (m, d) block of the derived Jacobian at the collapsed point.
    xtol : float
        Absolute tolerance of brentq on beta.

    Returns
    -------
    CollapseThreshold
        ``beta_star``, ``per_factor``, ``transitions``, ``transition``, ``beta_spinodal``,
        ``beta_coexistence``, ``spare_latent``, ``spare_latent_transition``, and the inputs.

    Notes
    -----
    At the collapsed point the (m, d) block decouples from (Q, E, R, D), which depend on m, d
    quadratically. For beta >= 0 above the spare-latent threshold its top eigenvalue is the top
    eigenvalue of the whole Jacobian, so the crossing is where the collapsed point turns stable.
    The eigenvalue is tau times a function of beta, so beta* does not depend on tau; the crossing
    is followed to negative beta when lam makes beta* < 0 (collapse at every beta >= 0).

    References
    ----------
    Y. Ichikawa and K. Hukushima, AISTATS 2024, arXiv 2310.15440, Theorem on posterior collapse.

    Examples
    --------
    >>> from linvae import Model
    >>> collapse_threshold(Model(rho=1.0, eta=1.0)).beta_star
    2.0
    >>> round(collapse_threshold(Model(rho=1.0, eta=1.0), method="numerical").beta_star, 10)
    2.0
    >>> th = collapse_threshold(Model(rho=1.0, eta=1.0, lam=1.8))
    >>> th.transition, round(th.beta_spinodal, 5), round(th.beta_coexistence, 5)
    ('first-order', 0.01094, 0.00732)
    """
    if not isinstance(model, Model):
        raise TypeError(
            f"The `model` parameter of collapse_threshold must be a Model. Got {model!r}."
        )
    if method not in ("analytic", "numerical"):
        raise ValueError(
            "The `method` parameter of collapse_threshold must be 'analytic' or 'numerical'. "
            f"Got {method!r}."
        )
    rho, eta, lam = model.rho_vector, model.eta, model.lam
    spare = float(threshold_formula(0.0, eta, lam))
    brackets = None
    if method == "analytic":
        per_factor = np.atleast_1d(threshold_formula(rho, eta, lam)).astype(np.float64)
    else:
        M_star = model.M_star
        drift = Drift(model, sgd_noise=False)
        per_factor = np.empty(M_star)
        brackets = np.empty((M_star, 2))
        for k in range(M_star):

            def top(beta, k=k):
                return _collapsed_signal_top(drift, beta, k)

            # beta_k* <= nu_k: the block's determinant is positive beyond it.
            hi = float(rho[k] + eta) + 1.0
            lo = 0.0
            while top(lo) <= 0.0:
                lo = 2.0 * lo - 1.0
            per_factor[k] = brentq(top, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps)
            brackets[k] = lo, hi
    per_factor.setflags(write=False)
    betas = transition_betas(rho + eta, lam)
    first = np.atleast_1d(betas.first_order)
    # Continuous factors: the three betas are beta_k* itself (as computed by `method`).
    transitions = TransitionBetas(
        per_factor,
        np.where(first, betas.beta_spinodal, per_factor),
        np.where(first, betas.beta_coexistence, per_factor),
        first,
    )
    total_star = float(per_factor.max())
    total_spinodal = float(np.max(transitions.beta_spinodal))
    return CollapseThreshold(
        model=model,
        method=method,
        beta_star=total_star,
        per_factor=per_factor,
        transitions=transitions,
        transition=_label(total_spinodal > total_star),
        beta_spinodal=total_spinodal,
        beta_coexistence=float(np.max(transitions.beta_coexistence)),
        spare_latent=spare,
        spare_latent_transition=transition_betas(eta, lam),
        brackets=brackets,
    )
