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

With T = I, every latent of a fixed point listed here is learned (it carries a factor), fits
noise (one direction of the bulk) or is collapsed (`LatentRole`; the closed forms are in
`linvae.analysis.closed_form`).

Latents decouple at these points, with or without the SGD-noise terms (flipping the sign of one
latent's W and V is a symmetry, so off-diagonal overlaps stay zero), so the fixed point of M
latents is the product of its latents' one-latent points, which
`linvae.analysis.one_latent.one_latent_points` enumerates completely at finite tau or tau -> 0,
and its Jacobian is block diagonal in blocks of one or two latents.

Stability is read from the eigenvalues of J in the *independent* coordinates: the flat state
holds both Q[i, j] and Q[j, i] (and E), and their antisymmetric combination is a spurious zero
mode of the flat Jacobian, which `reduced_jacobian` removes.

The values (`FixedPoint`, `LatentRole`, `Branch`, `Stability`) and the stability helpers live in
`linvae.analysis.fixed_point`, the closed forms in `linvae.analysis.closed_form`; both are
importable from here too.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from linvae.analysis.closed_form import (
    closed_form_state,
    default_factors,
    latent_block,
    symbolic_fixed_point,
)
from linvae.analysis.fixed_point import (
    Branch,
    FixedPoint,
    LatentRole,
    Stability,
    classify_stability,
    eigenvalue_tolerance,
    independent_coordinates,
    reduced_jacobian,
    sorted_eigenvalues,
)
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
        factors = default_factors(wanted)
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
