"""The fixed points of the order-parameter ODEs in closed form, in the tau -> 0 limit.

Symbols
-------
nu_k     rho_k + eta, the variance of the data along factor k (the spike)
eta      the variance along any direction orthogonal to the factors (the bulk)
q        Q_kk of one latent at a fixed point
lam      the L2 penalty; beta the KL weight

With T = I, every latent of a fixed point does one of three things (`LatentRole`):

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

`latent_block` solves one latent, `closed_form_state` assembles M of them,
`symbolic_fixed_point` writes the lam = 0 point in sympy for the derived ODEs. The names are
also importable from `linvae.analysis.stability`.
"""

from __future__ import annotations

import numpy as np

from linvae.analysis.fixed_point import Branch, LatentRole
from linvae.observables import OrderParameters
from linvae.params import Model

__all__ = ["closed_form_state", "default_factors", "latent_block", "symbolic_fixed_point"]


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
    factors = default_factors(roles) if factors is None else tuple(factors)
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


def default_factors(roles: tuple[LatentRole, ...]) -> tuple[int | None, ...]:
    """The factor each latent carries when none are given: learned latents take 0, 1, ... in
    order, noise and collapsed latents None.

    Examples
    --------
    >>> default_factors((LatentRole.NOISE, LatentRole.LEARNED, LatentRole.LEARNED))
    (None, 0, 1)
    """
    factors, k = [], 0
    for role in roles:
        if role is LatentRole.LEARNED:
            factors.append(k)
            k += 1
        else:
            factors.append(None)
    return tuple(factors)


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
    for i, (role, k) in enumerate(zip(roles, default_factors(roles), strict=True)):
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
