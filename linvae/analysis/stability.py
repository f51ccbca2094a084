"""Fixed points of the order-parameter ODEs and their stability.

The mathematics is on the results page (docs/results.md, section "Fixed points and their
stability").

Symbols
-------
m, d     (M x M_star) decoder- and encoder-signal overlaps; Q, E, R (M x M); D (M)
nu_k     rho_k + eta, the variance of the data along factor k (the spike)
eta      the variance along any direction orthogonal to the factors (the bulk)
q        Q_kk of one latent at a fixed point
J        Jacobian of the drift in the independent coordinates (Q, E upper triangles)
tau      learning rate; ``sgd_noise=False`` drops the O(tau^2) terms (the tau -> 0 limit)

In the tau -> 0 limit (no SGD noise) and with T = I, every latent of a fixed point does one of
three things (`LatentRole`):

* learned: it carries factor k; W and V point along that factor, so
  ``Q_kk = m_kk^2 = q``, ``d = nu m / (nu (q + beta) + lam)``, ``E_kk = d^2``, ``R_kk = m d``,
  ``D = beta / (q + beta)``, where q solves
  ``nu^2 / a = nu^3 q / a^2 + beta / (q + beta) + lam`` with ``a = nu (q + beta) + lam``;
  for lam = 0 this is ``q = nu - beta``. It exists iff
  ``beta < nu / (1 + lam) - lam / nu``.
* noise: it fits one direction of the noise bulk: the same equations with nu -> eta, in Q, E, R
  only (``m = d = 0``); ``Q_kk = eta - beta`` for lam = 0 (docs/results.md, section "Claim 3:
  superfluous latents").
* collapsed: ``m = d = Q_k. = E_k. = R_k. = 0``, ``D_k = 1`` (q(z|x) is the prior).

Latents decouple at these points (different factors and noise directions are orthogonal), so
the fixed point of M latents is the product of its latents' blocks. At finite tau the points
shift by O(tau); `fixed_points` finds them by a root solve of the derived right-hand side,
started from the closed forms.

Stability is read from the eigenvalues of J in the *independent* coordinates: the flat state
holds both Q[i, j] and Q[j, i] (and E), and their antisymmetric combination is a spurious zero
mode of the flat Jacobian, which `reduced_jacobian` removes.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import root

from linvae.observables import OrderParameters, generalization_error, pack_state, unpack_state
from linvae.params import Model
from linvae.theory.drift import Drift
from linvae.utils.validation import check_real

__all__ = [
    "FixedPoint",
    "LatentRole",
    "Stability",
    "classify_stability",
    "closed_form_state",
    "eigenvalue_tolerance",
    "fixed_points",
    "independent_coordinates",
    "latent_block",
    "reduced_jacobian",
    "sorted_eigenvalues",
    "symbolic_fixed_point",
]


class LatentRole(enum.Enum):
    """What one latent does at a fixed point."""

    LEARNED = "learned"
    NOISE = "noise"
    COLLAPSED = "collapsed"


class Stability(enum.Enum):
    """Linear stability of a fixed point from the real parts of its Jacobian's eigenvalues."""

    STABLE = "stable"  # all < 0
    SADDLE = "saddle"  # some > 0, some < 0
    UNSTABLE = "unstable"  # some > 0, none < 0
    MARGINAL = "marginal"  # none > 0, some = 0 (within the tolerance)


@dataclass(frozen=True, kw_only=True)
class FixedPoint:
    """One fixed point of the order-parameter ODEs, with its linear stability.

    Attributes
    ----------
    model : Model
        The model; its schedule's final value is the beta used.
    beta : float
        The KL weight at which the point is a fixed point.
    roles : tuple of LatentRole, length M
        What each latent does (see the module docstring).
    factors : tuple of (int or None), length M
        The factor each learned latent carries (None for noise and collapsed latents).
    sgd_noise : bool
        Whether the O(tau^2) terms were kept (finite tau) or dropped (the tau -> 0 limit).
    state : OrderParameters
        m, d (M, M_star); Q, E, R (M, M); D (M).
    y : ndarray, shape (state_size(M, M_star),)
        The same state, flat (`linvae.observables.pack_state`).
    closed_form : OrderParameters
        The tau -> 0 closed form (the root solve's start when ``sgd_noise`` is True).
    eps_g : float
        Generalization error at the point (`linvae.generalization_error`).
    eigenvalues : ndarray of complex, shape (n_independent,)
        Eigenvalues of the Jacobian in the independent coordinates, decreasing real part.
    stability : Stability
        Label from the eigenvalues' real parts, with ``eigenvalue_tol``.
    eigenvalue_tol : float
        Real parts with absolute value at most this count as zero.
    residual : float
        max |dy/dt| at ``y`` (0 for the exact closed forms up to round-off).
    success : bool
        Whether the root solve converged (True for closed forms).
    message : str
        The root solver's message, or "closed form".
    nfev : int
        Right-hand-side evaluations of the root solve (0 for closed forms).
    """

    model: Model
    beta: float
    roles: tuple[LatentRole, ...]
    factors: tuple[int | None, ...]
    sgd_noise: bool
    state: OrderParameters
    y: np.ndarray = field(repr=False)
    closed_form: OrderParameters = field(repr=False)
    eps_g: float
    eigenvalues: np.ndarray = field(repr=False)
    stability: Stability
    eigenvalue_tol: float
    residual: float
    success: bool
    message: str
    nfev: int

    @property
    def name(self) -> str:
        """The roles joined by "+", e.g. "learned", "collapsed", "learned+noise"."""
        return "+".join(role.value for role in self.roles)

    @property
    def top_eigenvalue(self) -> float:
        """The largest real part of the eigenvalues (J_max at the learned point)."""
        return float(self.eigenvalues[0].real)

    def images(self) -> np.ndarray:
        """The point's flat state under every latent permutation and sign flip (W, V -> -W, -V
        column-wise), shape (2^M M!, n): the same physical solution, other order parameters."""
        M = self.model.M
        op = self.state
        out = []
        for perm in itertools.permutations(range(M)):
            Pm = np.eye(M)[list(perm)]
            for signs in itertools.product((1.0, -1.0), repeat=M):
                S = np.diag(signs) @ Pm
                image = OrderParameters(
                    m=S @ op.m,
                    d=S @ op.d,
                    Q=S @ op.Q @ S.T,
                    E=S @ op.E @ S.T,
                    R=S @ op.R @ S.T,
                    D=Pm @ op.D,
                )
                out.append(pack_state(image))
        return np.unique(np.round(np.stack(out), 15), axis=0) if M > 1 else np.stack(out)

    def distance(self, y: np.ndarray) -> np.ndarray:
        """Euclidean distance of flat state(s) ``y`` (..., n) to the nearest of `images`.

        Examples
        --------
        >>> from linvae import Model
        >>> (point, _) = fixed_points(Model(beta=1.0), sgd_noise=False)
        >>> float(point.distance(-point.y * np.array([1, 1, -1, -1, -1, -1])))
        0.0
        """
        y = np.asarray(y, dtype=np.float64)
        diff = y[..., None, :] - self.images()
        return np.min(np.linalg.norm(diff, axis=-1), axis=-1)

    def as_dict(self) -> dict:
        """JSON-able summary: name, roles, state, eps_g, eigenvalues, label, residual."""
        return {
            "name": self.name,
            "roles": [r.value for r in self.roles],
            "factors": list(self.factors),
            "beta": self.beta,
            "sgd_noise": self.sgd_noise,
            "state": {k: np.asarray(v).tolist() for k, v in self.state.as_dict().items()},
            "eps_g": self.eps_g,
            "eigenvalues_real": [float(v.real) for v in self.eigenvalues],
            "eigenvalues_imag": [float(v.imag) for v in self.eigenvalues],
            "top_eigenvalue": self.top_eigenvalue,
            "stability": self.stability.value,
            "residual": self.residual,
            "success": self.success,
        }


# --------------------------------------------------------------------------- closed forms
def _existence_threshold(nu, lam):
    """beta below which a block with variance nu has a nonzero fixed point: nu/(1+lam) - lam/nu."""
    return nu / (1.0 + lam) - lam / nu


def latent_block(nu, beta, lam=0.0):
    """Closed-form tau -> 0 fixed point of one latent along a direction of variance ``nu``.

    Vectorized over broadcastable arrays. Along the direction, W and V have overlaps
    ``w = sqrt(q)`` and ``v = nu w / (nu (q + beta) + lam)``, with ``D = beta / (q + beta)``;
    q solves ``nu^2 / a = nu^3 q / a^2 + beta / (q + beta) + lam``, ``a = nu (q + beta) + lam``,
    which is ``q = nu - beta`` when lam = 0 (else a bisection to round-off).

    Parameters
    ----------
    nu : float or array
        Variance of the data along the direction (rho_k + eta for a factor, eta for the bulk).
    beta : float or array
        KL weight, > 0.
    lam : float or array
        L2 penalty, >= 0.

    Returns
    -------
    w, v, D : ndarrays (broadcast shape)
        Decoder overlap sqrt(q), encoder overlap, encoder variance. Where the block does not
        exist (``beta >= nu / (1 + lam) - lam / nu``) they are NaN.

    Examples
    --------
    >>> w, v, D = latent_block(2.0, 1.0)
    >>> float(w**2), float(v), float(D)
    (1.0, 0.5, 0.5)
    """
    nu, beta, lam = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (nu, beta, lam)))
    exists = beta < _existence_threshold(nu, lam)
    q = np.where(exists, nu - beta, np.nan)
    has_lam = exists & (lam > 0)
    if np.any(has_lam):
        n, b, la = nu[has_lam], beta[has_lam], lam[has_lam]

        def g(q):
            a = n * (q + b) + la
            return n**2 / a - n**3 * q / a**2 - b / (q + b) - la

        lo = np.zeros_like(n)
        hi = np.maximum(n - b, 0.0) + 1.0  # g(hi) < 0: the root lies below nu - beta
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            pos = g(mid) > 0
            lo = np.where(pos, mid, lo)
            hi = np.where(pos, hi, mid)
            if np.all(hi - lo <= 4e-16 * hi):
                break
        q = q.copy()
        q[has_lam] = 0.5 * (lo + hi)
    w = np.sqrt(q)
    v = nu * w / (nu * (q + beta) + lam)
    D = beta / (q + beta)
    return w, v, D


def closed_form_state(
    model: Model,
    roles: tuple[LatentRole, ...],
    factors: tuple[int | None, ...] | None = None,
    *,
    beta: float | None = None,
) -> OrderParameters:
    """The tau -> 0 fixed point with the given latent roles (T = I), in closed form.

    Parameters
    ----------
    model : Model
        rho_k, eta, lam (and beta, unless given).
    roles : tuple of LatentRole, length M
    factors : tuple of (int or None), optional
        The factor of each learned latent; by default the learned latents carry factors
        0, 1, ... in order.
    beta : float, optional
        KL weight; default ``model.schedule.final``.

    Returns
    -------
    OrderParameters
        m, d (M, M_star); Q, E, R (M, M); D (M).

    Raises
    ------
    ValueError
        If a role cannot exist at this beta (``beta >= nu/(1+lam) - lam/nu`` for its direction).

    Examples
    --------
    >>> from linvae import Model
    >>> op = closed_form_state(Model(rho=1.0, eta=1.0, beta=0.5), (LatentRole.LEARNED,))
    >>> float(op.Q[0, 0]), float(op.D[0])
    (1.5, 0.25)
    """
    M, M_star = model.M, model.M_star
    roles = tuple(LatentRole(r) for r in roles)
    if len(roles) != M:
        raise ValueError(
            f"The `roles` parameter of closed_form_state must have one role per latent "
            f"(M = {M}). Got {len(roles)}."
        )
    factors = _default_factors(roles) if factors is None else tuple(factors)
    beta = float(model.schedule.final if beta is None else beta)
    rho, eta, lam = model.rho_vector, model.eta, model.lam
    m, d = np.zeros((M, M_star)), np.zeros((M, M_star))
    Q, E, R = np.zeros((M, M)), np.zeros((M, M)), np.zeros((M, M))
    D = np.ones(M)
    for i, (role, k) in enumerate(zip(roles, factors, strict=True)):
        if role is LatentRole.COLLAPSED:
            continue
        nu = rho[k] + eta if role is LatentRole.LEARNED else eta
        w, v, D_i = (float(x) for x in latent_block(nu, beta, lam))
        if np.isnan(w):
            what = f"factor {k}" if role is LatentRole.LEARNED else "a noise direction"
            raise ValueError(
                f"No fixed point where latent {i} has role {role.value!r}: {what} (variance "
                f"{nu:g}) is learned only for beta < {_existence_threshold(nu, lam):g}. "
                f"Got beta = {beta:g}."
            )
        if role is LatentRole.LEARNED:
            m[i, k], d[i, k] = w, v
        Q[i, i], E[i, i], R[i, i], D[i] = w * w, v * v, w * v, D_i
    return OrderParameters(m=m, d=d, Q=Q, E=E, R=R, D=D)


def _default_factors(roles):
    factors, k = [], 0
    for role in roles:
        if role is LatentRole.LEARNED:
            factors.append(k)
            k += 1
        else:
            factors.append(None)
    return tuple(factors)


def _role_assignments(model: Model, beta: float):
    """Every (roles, factors) that exists at beta, up to a permutation of the latents."""
    M, M_star = model.M, model.M_star
    rho, eta, lam = model.rho_vector, model.eta, model.lam
    learnable = [k for k in range(M_star) if beta < _existence_threshold(rho[k] + eta, lam)]
    noise_ok = beta < _existence_threshold(eta, lam)
    for n_learned in range(min(M, len(learnable)), -1, -1):
        for subset in itertools.combinations(learnable, n_learned):
            spare = M - n_learned
            for n_noise in range(spare, -1, -1) if noise_ok else (0,):
                roles = (
                    (LatentRole.LEARNED,) * n_learned
                    + (LatentRole.NOISE,) * n_noise
                    + (LatentRole.COLLAPSED,) * (spare - n_noise)
                )
                yield roles, (*subset, *([None] * spare))


# --------------------------------------------------------------------------- coordinates
def independent_coordinates(M: int, M_star: int) -> tuple[np.ndarray, np.ndarray]:
    """The independent flat coordinates (Q, E upper triangles) and the map back to the flat state.

    Parameters
    ----------
    M, M_star : int

    Returns
    -------
    keep : ndarray of int, shape (n_z,)
        Positions of the independent coordinates in the flat state: ``z = y[keep]``.
    P : ndarray, shape (n, n_z)
        ``y = P z`` duplicates the off-diagonal entries of Q and E.

    Examples
    --------
    >>> keep, P = independent_coordinates(2, 1)
    >>> keep.size, P.shape
    (16, (18, 16))
    """
    n1, n2 = M * M_star, M * M
    keep, columns = [], []
    n = 2 * n1 + 3 * n2 + M
    for k in range(n):
        in_sym = 2 * n1 <= k < 2 * n1 + 2 * n2
        if in_sym:
            i, j = divmod((k - 2 * n1) % n2, M)
            if i > j:
                continue
            block = 2 * n1 + ((k - 2 * n1) // n2) * n2
            col = np.zeros(n)
            col[k] = 1.0
            col[block + j * M + i] = 1.0
        else:
            col = np.zeros(n)
            col[k] = 1.0
        keep.append(k)
        columns.append(col)
    return np.array(keep), np.stack(columns, axis=1)


def reduced_jacobian(J: np.ndarray, M: int, M_star: int) -> np.ndarray:
    """The Jacobian in the independent coordinates (Q, E upper triangles), batched.

    ``J_z = J[keep] @ P``, where ``y = P z`` duplicates the off-diagonal entries of Q and E.

    Parameters
    ----------
    J : ndarray, shape (..., n, n)
        Jacobian(s) of the flat drift, ``n = state_size(M, M_star)``.
    M, M_star : int

    Returns
    -------
    ndarray, shape (..., n_z, n_z)
        ``n_z = 2 M M_star + M (M + 1) + M^2 + M``.
    """
    keep, P = independent_coordinates(M, M_star)
    return J[..., keep, :] @ P


def classify_stability(eigenvalues: np.ndarray, *, tol: float) -> Stability:
    """Stability label from eigenvalues: real parts within ``tol`` of 0 count as zero.

    Examples
    --------
    >>> classify_stability(np.array([-1.0, 1e-14]), tol=1e-10)
    <Stability.MARGINAL: 'marginal'>
    """
    re = np.real(eigenvalues)
    n_pos, n_neg = int(np.sum(re > tol)), int(np.sum(re < -tol))
    if n_pos and n_neg:
        return Stability.SADDLE
    if n_pos:
        return Stability.UNSTABLE
    if n_neg == re.size:
        return Stability.STABLE
    return Stability.MARGINAL


def sorted_eigenvalues(Jz: np.ndarray) -> np.ndarray:
    """Eigenvalues of (a batch of) square matrices, by decreasing real part, shape (..., n).

    Examples
    --------
    >>> sorted_eigenvalues(np.diag([-2.0, 1.0, -0.5])).real.tolist()
    [1.0, -0.5, -2.0]
    """
    ev = np.linalg.eigvals(Jz)
    order = np.argsort(-ev.real, axis=-1, kind="stable")
    return np.take_along_axis(ev, order, axis=-1)


def eigenvalue_tolerance(eigenvalues: np.ndarray, tau: float) -> float:
    """Real parts at most this far from 0 count as zero: ``1e-9 max(max |ev|, tau)``.

    Eigenvalues are O(tau); round-off in eigvals is ~1e-15 of the largest.
    """
    return 1e-9 * max(float(np.max(np.abs(eigenvalues), initial=0.0)), tau)


# --------------------------------------------------------------------------- fixed points
def fixed_points(
    model: Model,
    *,
    sgd_noise: bool = True,
    beta: float | None = None,
    roles: tuple[LatentRole, ...] | None = None,
    xtol: float = 1e-13,
) -> tuple[FixedPoint, ...]:
    """All fixed points of the order-parameter ODEs (up to latent permutations and signs).

    ``0 = tau F1(y; beta) + xi tau^2 F2(y; beta)`` with xi = 1 (``sgd_noise``) or 0 (tau -> 0).
    Closed forms (module docstring) enumerate the points; at finite tau each is refined by a root
    solve of the derived right-hand side (`linvae.theory.drift.Drift.at_beta`) started from
    its closed form. Each point gets the eigenvalues of its Jacobian and a `Stability` label.

    Parameters
    ----------
    model : Model
        The problem (T = I); a schedule's final value is the beta used.
    sgd_noise : bool
        Keep the O(tau^2) SGD-noise terms (finite tau, numerical root) or drop them (tau -> 0,
        exact closed forms).
    beta : float, optional
        KL weight (> 0); default ``model.schedule.final``.
    roles : tuple of LatentRole, optional
        Only the point with these roles (learned latents first carry factors 0, 1, ...).
    xtol : float
        Relative tolerance of the root solve (`scipy.optimize.root`, ``hybr``).

    Returns
    -------
    tuple of FixedPoint
        Ordered with the most learned latents first; e.g. for M = M_star = 1 and beta < rho + eta:
        (learned, noise if beta < eta, collapsed).

    Raises
    ------
    ValueError
        If beta <= 0 (D = beta / (Q + beta) must be positive) or ``roles`` cannot exist.

    Notes
    -----
    The eigenvalues are those of the Jacobian in the independent coordinates
    (`reduced_jacobian`); a continuous symmetry (e.g. equal rho_k, or several noise
    latents) shows up as zero eigenvalues and a MARGINAL label.

    References
    ----------
    Y. Ichikawa and K. Hukushima, AISTATS 2024, arXiv 2310.15440, section 4.

    Examples
    --------
    >>> from linvae import Model
    >>> pts = fixed_points(Model(rho=1.0, eta=1.0, beta=1.0, tau=0.01), sgd_noise=False)
    >>> [(p.name, p.stability.value) for p in pts]
    [('learned', 'stable'), ('collapsed', 'saddle')]
    >>> round(pts[0].top_eigenvalue / 0.01, 6)  # -(3 - sqrt 5) / 2
    -0.381966
    """
    if not isinstance(model, Model):
        raise TypeError(f"The `model` parameter of fixed_points must be a Model. Got {model!r}.")
    beta = check_real(
        "beta",
        model.schedule.final if beta is None else beta,
        "fixed_points",
        low=0.0,
        fix="At beta = 0 the encoder variance D = beta / (Q + beta) vanishes.",
    )
    M, M_star = model.M, model.M_star
    drift = Drift(model, sgd_noise=sgd_noise).at_beta(beta)
    keep, P = independent_coordinates(M, M_star)
    if roles is None:
        assignments = list(_role_assignments(model, beta))
    else:
        roles = tuple(LatentRole(r) for r in roles)
        assignments = [(roles, _default_factors(roles))]
    out = []
    for roles_i, factors_i in assignments:
        start = closed_form_state(model, roles_i, factors_i, beta=beta)
        y = pack_state(start)
        success, message, nfev = True, "closed form", 0
        if sgd_noise:

            def fun(z):
                return drift(P @ z)[keep]

            def jac(z):
                return drift.jacobian(P @ z)[keep] @ P

            sol = root(fun, y[keep], jac=jac, method="hybr", options={"xtol": xtol})
            y = P @ sol.x
            success, message, nfev = bool(sol.success), str(sol.message), int(sol.nfev)
        state = unpack_state(y, M, M_star)
        ev = sorted_eigenvalues(reduced_jacobian(drift.jacobian(y), M, M_star))
        tol = eigenvalue_tolerance(ev, model.tau)
        out.append(
            FixedPoint(
                model=model,
                beta=beta,
                roles=roles_i,
                factors=factors_i,
                sgd_noise=bool(sgd_noise),
                state=state,
                y=y,
                closed_form=start,
                eps_g=float(generalization_error(state.m, state.Q, model.rho_vector)),
                eigenvalues=ev,
                stability=classify_stability(ev, tol=tol),
                eigenvalue_tol=tol,
                residual=float(np.max(np.abs(drift(y)))),
                success=success,
                message=message,
                nfev=nfev,
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- sympy
def symbolic_fixed_point(roles: tuple[LatentRole, ...], M_star: int = 1) -> dict:
    """The tau -> 0, lam = 0 closed form as sympy expressions, keyed by the derived state symbols.

    For substitution into `linvae.theory.derive.derive_ode` ``(M, M_star).first_order``
    (T = I): every component must simplify to 0. Learned latents carry factors 0, 1, ... in order.

    Parameters
    ----------
    roles : tuple of LatentRole, length M
    M_star : int

    Returns
    -------
    dict
        sympy Symbol -> expression, for every independent state symbol and for ``T`` (-> I) and
        ``lam`` (-> 0).

    Examples
    --------
    >>> import sympy as sp
    >>> from linvae.theory.derive import derive_ode
    >>> ode = derive_ode(1, 1)
    >>> subs = symbolic_fixed_point((LatentRole.LEARNED,))
    >>> [sp.simplify(f.subs(subs)) for f in ode.first_order]
    [0, 0, 0, 0, 0, 0]
    """
    # sympy: loaded on first use, not by importing this module.
    import sympy as sp

    # sympy: the derivation imports it at module level.
    from linvae.theory.derive import derive_ode

    roles = tuple(LatentRole(r) for r in roles)
    M = len(roles)
    ode = derive_ode(M, M_star)
    sym = {s.name: s for s in (*ode.state_symbols, *ode.parameter_symbols)}
    eta, beta = sym["eta"], sym["beta"]
    subs: dict = {sym["lam"]: sp.Integer(0)}
    for i in range(M_star):
        for j in range(i, M_star):
            subs[sym[f"T_{i}_{j}"]] = sp.Integer(int(i == j))
    zero = {f"{n}_{i}_{k}": 0 for n in ("m", "d") for i in range(M) for k in range(M_star)}
    zero.update({f"{n}_{i}_{j}": 0 for n in ("Q", "E", "R") for i in range(M) for j in range(M)})
    values: dict = dict(zero)
    for i, (role, k) in enumerate(zip(roles, _default_factors(roles), strict=True)):
        values[f"D_{i}"] = sp.Integer(1)
        if role is LatentRole.COLLAPSED:
            continue
        nu = sym[f"rho_{k}"] + eta if role is LatentRole.LEARNED else eta
        w = sp.sqrt(nu - beta)
        v = w / nu
        if role is LatentRole.LEARNED:
            values[f"m_{i}_{k}"], values[f"d_{i}_{k}"] = w, v
        values[f"Q_{i}_{i}"], values[f"E_{i}_{i}"], values[f"R_{i}_{i}"] = w**2, v**2, w * v
        values[f"D_{i}"] = beta / nu
    subs.update({sym[name]: value for name, value in values.items() if name in sym})
    return subs
