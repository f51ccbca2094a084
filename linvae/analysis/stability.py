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

With T = I, every latent of a fixed point listed here does one of three things
(`LatentRole`):

* learned: it carries factor k; W and V point along that factor. In the tau -> 0 limit
  ``Q_kk = m_kk^2 = q``, ``d = nu m / (nu (q + beta) + lam)``, ``E_kk = d^2``, ``R_kk = m d``,
  ``D = beta / (q + beta)``, where ``u = q + beta`` is a root of the cubic
  ``u (nu^2 lam + nu^3 beta) = (beta + lam u) (nu u + lam)^2`` with q > 0 (``q = nu - beta``
  for lam = 0). For lam > 0 there can be two roots: the larger is the learned point
  (`Branch.UPPER`), the smaller the saddle between it and collapse (`Branch.LOWER`);
  `linvae.analysis.threshold.transition_betas` says where each exists.
* noise: it fits one direction of the noise bulk: the same with nu -> eta, in Q, E, R only
  (``m = d = 0``); ``Q_kk = eta - beta`` for lam = 0 (docs/results.md, section "Claim 3:
  superfluous latents").
* collapsed: ``m = d = Q_k. = E_k. = R_k. = 0``, ``D_k = 1`` (q(z|x) is the prior).

Latents decouple at these points, with or without the SGD-noise terms (flipping the sign of one
latent's W and V is a symmetry, so off-diagonal overlaps stay zero), so the fixed point of M
latents is the product of its latents' one-latent points, which
`linvae.analysis.one_latent.one_latent_points` enumerates completely at finite tau or tau -> 0,
and its Jacobian is block diagonal in blocks of one or two latents.

Stability is read from the eigenvalues of J in the *independent* coordinates: the flat state
holds both Q[i, j] and Q[j, i] (and E), and their antisymmetric combination is a spurious zero
mode of the flat Jacobian, which `reduced_jacobian` removes.
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from linvae.analysis.one_latent import one_latent_points
from linvae.observables import OrderParameters, generalization_error, pack_state
from linvae.params import Model
from linvae.theory.drift import Drift
from linvae.utils.progress import make_progress
from linvae.utils.validation import check_real

__all__ = [
    "Branch",
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


class Branch(enum.Enum):
    """Which nonzero fixed point of one latent along its direction (the larger or smaller q).

    For lam = 0 there is one (upper); for lam > 0 a second, lower one can sit between it and
    collapse: the saddle whose stable manifold separates the two basins.
    """

    UPPER = "upper"
    LOWER = "lower"


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
        Right-hand-side evaluations of the root solve (0 for the certified enumeration).
    branches : tuple of (Branch or None), length M
        For each learned or noise latent, which of its direction's nonzero points it sits on:
        UPPER (the learned point itself) or LOWER (the saddle between it and collapse, lam > 0);
        None for collapsed latents.
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
    branches: tuple[Branch | None, ...] = ()

    @property
    def name(self) -> str:
        """The roles joined by "+", e.g. "learned", "collapsed", "learned+noise"; a latent on the
        lower branch (the saddle between its learned point and collapse) reads "learned(lower)".
        """
        branches = self.branches or (None,) * len(self.roles)
        return "+".join(
            role.value + ("(lower)" if branch is Branch.LOWER else "")
            for role, branch in zip(self.roles, branches, strict=True)
        )

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
            "branches": [None if b is None else b.value for b in self.branches],
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
def latent_block(nu, beta, lam=0.0, *, branch: Branch | str = "upper"):
    """Closed-form tau -> 0 fixed point of one latent along a direction of variance ``nu``.

    Vectorized over broadcastable arrays. Along the direction, W and V have overlaps
    ``w = sqrt(q)`` and ``v = nu w / (nu (q + beta) + lam)``, with ``D = beta / (q + beta)``,
    where ``u = q + beta`` is a root of the cubic

        u (nu^2 lam + nu^3 beta) = (beta + lam u) (nu u + lam)^2

    with ``q > 0`` (``q = nu - beta`` when lam = 0). For lam > 0 there can be two such roots:
    the larger (``branch="upper"``) is the learned point, the smaller (``"lower"``) the saddle
    between it and collapse (`linvae.analysis.threshold.transition_betas`).

    Parameters
    ----------
    nu : float or array
        Variance of the data along the direction (rho_k + eta for a factor, eta for the bulk).
    beta : float or array
        KL weight, > 0.
    lam : float or array
        L2 penalty, >= 0.
    branch : {"upper", "lower"}
        Which nonzero root.

    Returns
    -------
    w, v, D : ndarrays (broadcast shape)
        Decoder overlap sqrt(q), encoder overlap, encoder variance; NaN where that root does
        not exist.

    Examples
    --------
    >>> w, v, D = latent_block(2.0, 1.0)
    >>> float(w**2), float(v), float(D)
    (1.0, 0.5, 0.5)
    >>> upper, lower = (latent_block(2.0, 0.01, 1.8, branch=b)[0] for b in ("upper", "lower"))
    >>> round(float(upper**2), 5), round(float(lower**2), 5)
    (0.05534, 0.02612)
    """
    branch = Branch(branch)
    nu, beta, lam = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (nu, beta, lam)))
    q = np.full(nu.shape, np.nan)
    flat = lam == 0
    if branch is Branch.UPPER:
        q = np.where(flat & (beta < nu), nu - beta, q)
    live = ~flat
    if np.any(live):
        n, b, la = nu[live], beta[live], lam[live]
        c3 = la * n**2
        c2 = b * n**2 + 2 * n * la**2
        c1 = 2 * b * n * la + la**3 - n**2 * la - n**3 * b
        c0 = b * la**2
        C = np.zeros((n.size, 3, 3))
        C[:, 1, 0] = C[:, 2, 1] = 1.0
        C[:, :, 2] = -np.stack([c0, c1, c2], axis=-1) / c3[:, None]
        r = np.linalg.eigvals(C)
        u = r.real
        for _ in range(2):  # Newton steps on the cubic polish the eigenvalue roots
            f = ((c3[:, None] * u + c2[:, None]) * u + c1[:, None]) * u + c0[:, None]
            df = (3 * c3[:, None] * u + 2 * c2[:, None]) * u + c1[:, None]
            u = np.where(df != 0, u - f / np.where(df != 0, df, 1.0), u)
        ok = (np.abs(r.imag) <= 1e-9 * np.maximum(1.0, np.abs(r.real))) & (u > b[:, None])
        u = np.sort(np.where(ok, u, -np.inf), axis=-1)[:, ::-1]
        pick = u[:, 0] if branch is Branch.UPPER else u[:, 1]
        q_live = np.where(np.isfinite(pick), pick - b, np.nan)
        if branch is Branch.LOWER:
            # The lower root exists only beside an upper one (q > 0 for both).
            q_live = np.where(np.isfinite(u[:, 0]), q_live, np.nan)
        q[live] = q_live
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
    branches: tuple[Branch | str | None, ...] | None = None,
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
    branches : tuple of (Branch or None), optional
        Per latent, which nonzero root (`latent_block`); the upper (learned) one by default.

    Returns
    -------
    OrderParameters
        m, d (M, M_star); Q, E, R (M, M); D (M).

    Raises
    ------
    ValueError
        If a role cannot exist at this beta.

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
    if branches is None:
        branches = (Branch.UPPER,) * M
    beta = float(model.schedule.final if beta is None else beta)
    rho, eta, lam = model.rho_vector, model.eta, model.lam
    m, d = np.zeros((M, M_star)), np.zeros((M, M_star))
    Q, E, R = np.zeros((M, M)), np.zeros((M, M)), np.zeros((M, M))
    D = np.ones(M)
    for i, (role, k, br) in enumerate(zip(roles, factors, branches, strict=True)):
        if role is LatentRole.COLLAPSED:
            continue
        nu = rho[k] + eta if role is LatentRole.LEARNED else eta
        br = Branch.UPPER if br is None else Branch(br)
        w, v, D_i = (float(x) for x in latent_block(nu, beta, lam, branch=br))
        if np.isnan(w):
            what = f"factor {k}" if role is LatentRole.LEARNED else "a noise direction"
            raise ValueError(
                f"No fixed point where latent {i} has role {role.value!r} ({br.value} branch): "
                f"{what} (variance {nu:g}) has no such point at beta = {beta:g} "
                f"(lam = {lam:g}; `linvae.analysis.threshold.transition_betas` gives where the "
                "learned branch ends)."
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
@dataclass(frozen=True)
class _Latent:
    """One latent's fixed point along its own direction: what a composite point is built of."""

    role: LatentRole
    branch: Branch | None
    rho_class: int | None  # index into the distinct rho values (learned latents)
    y: np.ndarray  # (m, d, Q, E, R, D) along the latent's own direction
    residual: float  # max |dy/dt| of the one-latent system


def _latent_catalog(model: Model, beta: float, sgd_noise: bool):
    """Every one-latent fixed point: learned ones per distinct rho, then noise, then collapsed."""
    values = np.unique(model.rho_vector)
    learned: dict[int, list[_Latent]] = {}
    spare: list[_Latent] = []
    for c, rho in enumerate(values):
        pts = one_latent_points(
            float(rho), model.eta, beta, model.lam, model.tau, sgd_noise=sgd_noise
        )
        on = [p for p in pts if p.y[0] > 0]
        learned[c] = [
            _Latent(LatentRole.LEARNED, _rank(i), c, p.y, p.residual * model.tau)
            for i, p in enumerate(on)
        ]
        if c == 0:
            off = [p for p in pts if p.y[0] == 0]
            noise = [p for p in off if p.y[2] > 0]
            spare = [
                _Latent(LatentRole.NOISE, _rank(i), None, p.y, p.residual * model.tau)
                for i, p in enumerate(noise)
            ]
            collapsed = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
            spare.append(_Latent(LatentRole.COLLAPSED, None, None, collapsed, 0.0))
    return values, learned, spare


def _rank(i: int) -> Branch:
    return Branch.UPPER if i == 0 else Branch.LOWER


def _composites(model: Model, values, learned, spare, roles):
    """Composite points as lists of (latent, factor): up to latent permutation, and for equal
    rho_k up to relabelling the factors (the first factors of a class are the learned ones)."""
    M = model.M
    classes = [np.flatnonzero(model.rho_vector == v) for v in values]
    per_class = []
    for c, ks in enumerate(classes):
        options = []
        for n in range(min(len(ks), M) + 1):
            options.extend(itertools.combinations_with_replacement(learned[c], n))
        per_class.append(options)
    out = []
    for choice in itertools.product(*per_class):
        n_learned = sum(len(x) for x in choice)
        if n_learned > M:
            continue
        chosen = []
        for ks, picked in zip(classes, choice, strict=True):
            chosen.extend(zip(picked, ks[: len(picked)], strict=False))
        for rest in itertools.combinations_with_replacement(spare, M - n_learned):
            out.append(chosen + [(lat, None) for lat in rest])
    if roles is not None:
        wanted = tuple(LatentRole(r) for r in roles)
        factors = _default_factors(wanted)
        matched = []
        for comp in out:
            by_role = {role: [x for x in comp if x[0].role is role] for role in LatentRole}
            if any(len(by_role[r]) != wanted.count(r) for r in LatentRole):
                continue
            learned_f = sorted(int(k) for _, k in by_role[LatentRole.LEARNED])
            if learned_f != [k for k in factors if k is not None]:
                continue
            learned_by_f = {int(k): x for x in by_role[LatentRole.LEARNED] for k in [x[1]]}
            it = {r: iter(by_role[r]) for r in (LatentRole.NOISE, LatentRole.COLLAPSED)}
            matched.append(
                [learned_by_f[k] if r is LatentRole.LEARNED else next(it[r])
                 for r, k in zip(wanted, factors, strict=True)]
            )  # fmt: skip
        out = matched

    def key(comp):
        roles_ = [lat.role for lat, _ in comp]
        return (
            -roles_.count(LatentRole.LEARNED),
            -roles_.count(LatentRole.NOISE),
            sum(lat.branch is Branch.LOWER for lat, _ in comp),
        )

    return sorted(out, key=key) if roles is None else out


# Flat positions in the M = M_star = 2 state (pack_state layout) of the block coordinates.
_M2 = {"m": 0, "d": 4, "Q": 8, "E": 12, "R": 16, "D": 20}


def _flat2(name: str, i: int, j: int = 0) -> int:
    return _M2[name] + (i if name == "D" else 2 * i + j)


class _Blocks:
    """Eigenvalues of the Jacobian blocks of composite points, from the M = M_star = 2 drift.

    At a composite point (latents on distinct factors or noise directions, off-diagonal
    overlaps zero) the Jacobian in the independent coordinates is block diagonal: one block per
    latent (its own m, d along its factor, Q_ii, E_ii, R_ii, D_i), one per pair of latents
    (Q_ij, E_ij, R_ij, R_ji and each one's m, d along the other's factor), and a 2 x 2 block
    (m_ik, d_ik) for each latent and each factor no latent carries. Each block is the same as
    in a two-latent, two-factor system holding the same latents, whose derived Jacobian gives it.
    """

    def __init__(self, model: Model, beta: float, sgd_noise: bool, values: np.ndarray):
        self.model, self.beta, self.values = model, beta, values
        self.keep, self.P = independent_coordinates(2, 2)
        self.index = {int(k): i for i, k in enumerate(self.keep)}
        small = Model(M=2, M_star=2, rho=1.0, eta=model.eta, lam=model.lam, tau=model.tau)
        self.drift = Drift(small, sgd_noise=sgd_noise)
        self.cache: dict = {}

    def _jacobian(self, a: _Latent, b: _Latent, rho_b: float) -> np.ndarray:
        key = ("J", id(a), id(b), rho_b)
        if key not in self.cache:
            y = np.zeros(22)
            y[20:] = 1.0
            for i, lat in enumerate((a, b)):
                m, d, Q, E, R, D = lat.y
                y[_flat2("m", i, i)], y[_flat2("d", i, i)] = m, d
                y[_flat2("Q", i, i)], y[_flat2("E", i, i)] = Q, E
                y[_flat2("R", i, i)], y[_flat2("D", i)] = R, D
            rho_a = 1.0 if a.rho_class is None else float(self.values[a.rho_class])
            J = self.drift.jacobians(y, beta=self.beta, rho=np.array([rho_a, rho_b]))
            self.cache[key] = reduced_jacobian(J, 2, 2)
        return self.cache[key]

    def _eig(self, Jz: np.ndarray, flat: list[int]) -> np.ndarray:
        idx = [self.index[k] for k in flat]
        return np.linalg.eigvals(Jz[np.ix_(idx, idx)])

    def _rho(self, lat: _Latent) -> float:
        return 1.0 if lat.rho_class is None else float(self.values[lat.rho_class])

    def own(self, a: _Latent, collapsed: _Latent) -> np.ndarray:
        key = ("own", id(a))
        if key not in self.cache:
            flat = [_flat2(n, 0, 0) for n in ("Q", "E", "R")] + [_flat2("D", 0)]
            if a.role is LatentRole.LEARNED:
                flat = [_flat2("m", 0, 0), _flat2("d", 0, 0), *flat]
            self.cache[key] = self._eig(self._jacobian(a, collapsed, 1.0), flat)
        return self.cache[key]

    def pair(self, a: _Latent, b: _Latent) -> np.ndarray:
        key = ("pair", *sorted((id(a), id(b))))
        if key not in self.cache:
            flat = [_flat2("Q", 0, 1), _flat2("E", 0, 1), _flat2("R", 0, 1), _flat2("R", 1, 0)]
            if b.role is LatentRole.LEARNED:
                flat += [_flat2("m", 0, 1), _flat2("d", 0, 1)]
            if a.role is LatentRole.LEARNED:
                flat += [_flat2("m", 1, 0), _flat2("d", 1, 0)]
            self.cache[key] = self._eig(self._jacobian(a, b, self._rho(b)), flat)
        return self.cache[key]

    def unused(self, a: _Latent, collapsed: _Latent, rho_class: int) -> np.ndarray:
        key = ("unused", id(a), rho_class)
        if key not in self.cache:
            flat = [_flat2("m", 0, 1), _flat2("d", 0, 1)]
            Jz = self._jacobian(a, collapsed, float(self.values[rho_class]))
            self.cache[key] = self._eig(Jz, flat)
        return self.cache[key]


def fixed_points(
    model: Model,
    *,
    sgd_noise: bool = True,
    beta: float | None = None,
    roles: tuple[LatentRole, ...] | None = None,
    xtol: float = 1e-13,
    progress: bool | Callable[[float, float], None] = False,
) -> tuple[FixedPoint, ...]:
    """All fixed points of the order-parameter ODEs (up to latent permutations and signs).

    ``0 = tau F1(y; beta) + xi tau^2 F2(y; beta)`` with xi = 1 (``sgd_noise``) or 0 (tau -> 0).
    Latents decouple at the fixed points listed here (each latent carries its own factor, fits
    its own noise direction, or is collapsed; off-diagonal overlaps vanish), with or without the
    SGD-noise terms. So every point is built from the fixed points of one latent along one
    direction, which `linvae.analysis.one_latent.one_latent_points` enumerates completely
    (polynomial elimination of the derived equations, no sampling), and its Jacobian is block
    diagonal with blocks of one or two latents, whose eigenvalues come from the derived
    two-latent Jacobian. Each point gets its eigenvalues and a `Stability` label.

    Parameters
    ----------
    model : Model
        The problem (T = I); a schedule's final value is the beta used.
    sgd_noise : bool
        Keep the O(tau^2) SGD-noise terms (finite tau) or drop them (tau -> 0).
    beta : float, optional
        KL weight (> 0); default ``model.schedule.final``.
    roles : tuple of LatentRole, optional
        Only the points with these roles, in this latent order (learned latents carry factors
        0, 1, ... in order); every branch is listed.
    xtol : float
        Kept for compatibility: the one-latent points are polished by Newton steps to
        round-off whatever its value.
    progress : bool or callable
        Report progress (a bar on stderr when True, or ``progress(done, total)``) once the
        enumeration has run for more than a second.

    Returns
    -------
    tuple of FixedPoint
        Ordered with the most learned latents first, then the most noise latents, upper
        branches before lower; e.g. for M = M_star = 1, lam = 0 and beta < rho + eta:
        (learned, noise if beta < eta, collapsed). Listed once per latent permutation and, for
        equal rho_k, once per relabelling of the factors (the learned latents carry the first
        factors of each class).

    Raises
    ------
    ValueError
        If beta <= 0 (D = beta / (Q + beta) must be positive) or no point has ``roles``.

    Notes
    -----
    Points where two latents share one direction (rotations within a learned factor or a noise
    subspace) are not listed; for M = M_star = 1 the list is complete. With lam > 0 a latent
    may sit on the lower branch of its direction: the saddle between the learned point and
    collapse (`Branch`). The eigenvalues are those of the Jacobian in the independent
    coordinates (`reduced_jacobian`); a continuous symmetry (equal rho_k, several noise
    latents) shows up as zero eigenvalues and a MARGINAL label. ``residual`` is the largest
    one-latent residual (the off-diagonal equations vanish by symmetry).

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
    >>> strip = fixed_points(Model(rho=1.0, eta=1.0, beta=0.009, lam=1.8), sgd_noise=False)
    >>> [(p.name, p.stability.value) for p in strip]
    [('learned', 'stable'), ('learned(lower)', 'saddle'), ('collapsed', 'stable')]
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
    sgd_noise = bool(sgd_noise)
    start_time = time.perf_counter()
    M, M_star = model.M, model.M_star
    values, learned, spare = _latent_catalog(model, beta, sgd_noise)
    comps = _composites(model, values, learned, spare, roles)
    if roles is not None and not comps:
        names = "+".join(LatentRole(r).value for r in roles)
        raise ValueError(
            f"No fixed point with roles {names!r} at beta = {beta:g} (lam = {model.lam:g}): a "
            "learned or noise latent exists only below its direction's spinodal beta "
            "(`linvae.analysis.threshold.transition_betas`)."
        )
    if sgd_noise:
        _, learned0, spare0 = _latent_catalog(model, beta, False)
        limit = {
            (lat.role, lat.branch, lat.rho_class): lat.y
            for lat in [*spare0, *itertools.chain(*learned0.values())]
        }
    blocks = _Blocks(model, beta, sgd_noise, values)
    collapsed = spare[-1]
    class_of = np.searchsorted(values, model.rho_vector)
    out = []
    report = None
    for n_done, comp in enumerate(comps):
        if report is None and progress and time.perf_counter() - start_time > 1.0:
            report = make_progress(progress, len(comps), "fixed points", unit="points")
        state = _assemble(comp, M, M_star)
        closed = state
        if sgd_noise:
            keys = [(lat.role, lat.branch, lat.rho_class) for lat, _ in comp]
            if all(k in limit for k in keys):
                ys = [limit[k] for k in keys]
                closed = _assemble(
                    [(_Latent(lat.role, lat.branch, lat.rho_class, y, 0.0), k)
                     for (lat, k), y in zip(comp, ys, strict=True)],
                    M, M_star,
                )  # fmt: skip
        carried = {int(k) for _, k in comp if k is not None}
        parts = [blocks.own(lat, collapsed) for lat, _ in comp]
        parts += [blocks.pair(a, b) for (a, _), (b, _) in itertools.combinations(comp, 2)]
        parts += [
            blocks.unused(lat, collapsed, int(class_of[k]))
            for lat, _ in comp
            for k in range(M_star)
            if k not in carried
        ]
        ev = np.concatenate(parts)
        ev = ev[np.argsort(-ev.real, kind="stable")]
        tol = eigenvalue_tolerance(ev, model.tau)
        out.append(
            FixedPoint(
                model=model,
                beta=beta,
                roles=tuple(lat.role for lat, _ in comp),
                factors=tuple(None if k is None else int(k) for _, k in comp),
                sgd_noise=sgd_noise,
                state=state,
                y=pack_state(state),
                closed_form=closed,
                eps_g=float(generalization_error(state.m, state.Q, model.rho_vector)),
                eigenvalues=ev,
                stability=classify_stability(ev, tol=tol),
                eigenvalue_tol=tol,
                residual=max(lat.residual for lat, _ in comp),
                success=True,
                message="certified enumeration (polynomial elimination, Newton polish)",
                nfev=0,
                branches=tuple(lat.branch for lat, _ in comp),
            )
        )
        if report is not None:
            report(n_done + 1)
    if report is not None:
        report.close()
    return tuple(out)


def _assemble(comp, M: int, M_star: int) -> OrderParameters:
    m, d = np.zeros((M, M_star)), np.zeros((M, M_star))
    Q, E, R = np.zeros((M, M)), np.zeros((M, M)), np.zeros((M, M))
    D = np.ones(M)
    for i, (lat, k) in enumerate(comp):
        mm, dd, Q[i, i], E[i, i], R[i, i], D[i] = lat.y
        if k is not None:
            m[i, k], d[i, k] = mm, dd
    return OrderParameters(m=m, d=d, Q=Q, E=E, R=R, D=D)


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
