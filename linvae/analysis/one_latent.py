"""Every fixed point of one latent (M = M_star = 1), certified by polynomial elimination.

The mathematics is on the results page (docs/results.md, section "Fixed points and their
stability").

Symbols
-------
m, d, Q, E, R, D   the order parameters of one latent and one factor (M = M_star = 1, T = 1)
nu                 rho + eta, the data variance along the factor
p                  m^2 (the equations are even in (m, d): W, V -> -W, -V)
a                  nu (Q + beta) + lam
xi                 1 keeps the O(tau^2) SGD-noise terms, 0 drops them (the tau -> 0 limit)

The fixed-point equations ``F1 + xi tau F2 = 0`` of the derived ODE
(`linvae.theory.derive.derive_ode` (1, 1)) are polynomial. Three of them are solved exactly
whatever xi (their O(tau^2) terms vanish): ``D = beta / (Q + beta)``, ``d = nu m / a`` and,
when m != 0, the m equation divided by m, which is linear in E. The Q equation is linear in R.
What is left, the E and R equations, are two polynomials in (p, Q) (m != 0) or (E, Q)
(m = d = 0); their resultant is one polynomial in Q that vanishes at every fixed point. Its
real roots are back-substituted, each candidate is polished by Newton steps on the derived
drift and kept when its residual is at round-off and ``D > 0``. Nothing is sampled: a fixed
point missing from the list would be a root of the resultant that back-substitution lost,
and the tests check the list against a lex Groebner basis and against random-start root
solves. The elimination runs in exact rational arithmetic (`sympy.polys.rings`, the floats of
the parameters taken exactly), so the polynomial's coefficients carry no round-off; only its
roots are floats.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from linvae.params import Model
from linvae.theory.drift import Drift

__all__ = ["LatentPoint", "one_latent_points"]


@dataclass(frozen=True)
class LatentPoint:
    """One fixed point of one latent along one factor.

    Attributes
    ----------
    y : ndarray, shape (6,)
        (m, d, Q, E, R, D) with m >= 0 (the sign-flipped image -m, -d is the same point).
    residual : float
        max |F1 + xi tau F2| at ``y`` (the drift divided by tau).
    """

    y: np.ndarray
    residual: float


@functools.lru_cache(maxsize=1)
def _symbolic():
    """The six fixed-point polynomials in a ring over the state and the parameters (once)."""
    # sympy: the derivation is symbolic; loaded on first use, not by importing this module.
    import sympy as sp
    from sympy.polys.rings import ring

    # sympy: the derivation imports it at module level.
    from linvae.theory.derive import derive_ode

    ode = derive_ode(1, 1)
    state = ode.state_symbols
    rho, T, eta, beta, lam, tau, xi = ode.parameter_symbols
    exprs = []
    for f1, f2 in zip(ode.first_order, ode.second_order, strict=True):
        exprs.append(sp.expand(sp.together((f1 + xi * tau * f2).subs(T, 1))))
    # The D equation is -(D Q + D beta - beta) / (2 D): keep its numerator.
    exprs[5] = sp.expand(sp.fraction(sp.together(exprs[5]))[0])
    gens = (*state, rho, eta, beta, lam, tau, xi)
    R6, *_ = ring([str(g) for g in gens], sp.QQ)
    polys = tuple(R6(sp.sympify(e).subs({g: sp.Symbol(str(g)) for g in gens})) for e in exprs)
    return R6, polys


@functools.lru_cache(maxsize=1)
def _target_rings():
    # sympy: loaded on first use, not by importing this module.
    import sympy as sp
    from sympy.polys.rings import ring

    RB, *_ = ring("p,Q,E,R", sp.QQ)  # m != 0: resultant in p (first generator)
    RA, *_ = ring("E,Q,R", sp.QQ)  # m = d = 0: resultant in E
    return RB, RA


def _exact(x: float):
    # sympy: loaded on first use, not by importing this module.
    from sympy import QQ

    f = Fraction(float(x))
    return QQ(f.numerator, f.denominator)


def _numeric_polys(rho, eta, beta, lam, tau, xi):
    """The six polynomials with the parameters substituted (exact rationals)."""
    _, polys = _symbolic()
    values = [_exact(v) for v in (rho, eta, beta, lam, tau, xi)]
    out = []
    for P in polys:
        terms = {}
        for monom, c in P.terms():
            value = c
            for e, v in zip(monom[6:], values, strict=True):
                if e:
                    value *= v**e
            key = monom[:6]
            terms[key] = terms.get(key, 0) + value
        out.append({k: v for k, v in terms.items() if v != 0})
    return out


def _power(cache: dict, base, k: int):
    if k not in cache:
        cache[k] = base**k
    return cache[k]


def _substitute_learned(terms: dict, ring, nu, b, A, QB, *, odd: bool):
    """Substitute D = b / QB, d = nu m / A and m^2 = p into one polynomial (m != 0).

    Returns the numerator, multiplied by QB^K_D A^K_d (K: the largest exponents), divided by
    m when the polynomial is odd in (m, d) (the m equation).
    """
    p, Q, E, R = ring.gens
    K_d = max((k[1] for k in terms), default=0)
    K_D = max((k[5] for k in terms), default=0)
    powA, powQB = {}, {}
    out = ring.zero
    for (em, ed, eQ, eE, eR, eD), c in terms.items():
        n_md = em + ed - (1 if odd else 0)
        if n_md % 2:
            raise AssertionError("the fixed-point equations are even in (m, d)")
        term = ring(c * nu**ed * b**eD) * p ** (n_md // 2) * Q**eQ * E**eE * R**eR
        out += term * _power(powA, A, K_d - ed) * _power(powQB, QB, K_D - eD)
    return out


def _substitute_collapsed(terms: dict, ring, b, QB):
    """Substitute m = d = 0 and D = b / QB into one polynomial (numerator, times QB^K_D)."""
    E, Q, R = ring.gens
    K_D = max((k[5] for k in terms if k[0] == 0 and k[1] == 0), default=0)
    powQB = {}
    out = ring.zero
    for (em, ed, eQ, eE, eR, eD), c in terms.items():
        if em or ed:
            continue
        out += ring(c * b**eD) * Q**eQ * E**eE * R**eR * _power(powQB, QB, K_D - eD)
    return out


def _eliminate_linear(poly, var_index: int, ring, others):
    """Solve ``poly`` (linear in gens[var_index]) for that variable and substitute it into
    ``others``: returns (numerator, denominator, substituted others, as numerators)."""
    x = ring.gens[var_index]
    deg = poly.degree(x)
    if deg != 1:
        raise AssertionError(f"expected an equation linear in {x}, got degree {deg}")
    c1 = poly.coeff_wrt(x, 1)
    c0 = poly.coeff_wrt(x, 0)
    num, den = -c0, c1
    out = []
    for P in others:
        K = P.degree(x)
        acc = ring.zero
        pow_num, pow_den = {}, {}
        for k in range(K + 1):
            ck = P.coeff_wrt(x, k)
            if ck:
                acc += ck * _power(pow_num, num, k) * _power(pow_den, den, K - k)
        out.append(acc)
    return num, den, out


def _float_poly_eval(P, point: dict) -> float:
    """Evaluate a ring polynomial at float values of its generators."""
    names = [str(g) for g in P.ring.gens]
    x = [point[n] for n in names]
    total = 0.0
    for monom, c in P.terms():
        v = float(c)
        for xi, e in zip(x, monom, strict=True):
            if e:
                v *= xi**e
        total += v
    return total


def _univariate(P, var: str, point: dict) -> np.ndarray:
    """Coefficients (highest first) of P in ``var`` with the other generators at floats."""
    names = [str(g) for g in P.ring.gens]
    i = names.index(var)
    K = P.degree(P.ring.gens[i])
    coeffs = np.zeros(max(K, 0) + 1)
    for monom, c in P.terms():
        v = float(c)
        for j, (n, e) in enumerate(zip(names, monom, strict=True)):
            if j != i and e:
                v *= point[n] ** e
        coeffs[K - monom[i]] += v
    return coeffs


def _real_roots(coeffs: np.ndarray) -> np.ndarray:
    """Real roots of a polynomial (highest coefficient first), near-real ones included."""
    c = np.trim_zeros(np.asarray(coeffs, dtype=np.float64), "f")
    if c.size <= 1:
        return np.empty(0)
    r = np.roots(c)
    scale = np.maximum(1.0, np.abs(r))
    return np.unique(r.real[np.abs(r.imag) <= 1e-6 * scale])


def _resultant(f, g, x):
    """Resultant in x of f and g; closed forms for degrees (1, 1), (1, 2) and (2, 1), which
    are much faster than the subresultant sequence on exact rationals."""
    df, dg = f.degree(x), g.degree(x)
    if (df == 1 and dg in (1, 2)) or (dg == 1 and df == 2):
        if df == 2:
            f, g = g, f  # Res(g, f) = Res(f, g) for degrees (2, 1)
        f1, f0 = f.coeff_wrt(x, 1), f.coeff_wrt(x, 0)
        if g.degree(x) == 1:
            return f1 * g.coeff_wrt(x, 0) - f0 * g.coeff_wrt(x, 1)
        g2, g1, g0 = (g.coeff_wrt(x, k) for k in (2, 1, 0))
        return g2 * f0**2 - g1 * f0 * f1 + g0 * f1**2
    return f.resultant(g)


def _pair(f, g, x):
    """The univariate polynomial in Q of the system f = g = 0 (x eliminated), and the equation
    that gives x once Q is known. When one of them does not involve x, it is already the
    polynomial in Q and the other gives x; else their resultant in x (the first generator)."""
    if f.degree(x) > 0 and g.degree(x) > 0:
        return _resultant(f, g, x), f
    if f.degree(x) <= 0:
        return f, g
    return g, f


def _candidates(rho, eta, beta, lam, tau, xi):
    """Candidate fixed points (m >= 0) from the resultants' real roots."""
    RB, RA = _target_rings()
    polys = _numeric_polys(rho, eta, beta, lam, tau, xi)
    nu, b, la = _exact(rho) + _exact(eta), _exact(beta), _exact(lam)
    nu_f, b_f = float(nu), float(beta)
    out = []
    # m != 0: d = nu m / A, D = b / QB.
    p, Q, _, _ = RB.gens
    QB, A = Q + RB(b), RB(nu) * (Q + RB(b)) + RB(la)
    sub = [_substitute_learned(P, RB, nu, b, A, QB, odd=i < 2) for i, P in enumerate(polys)]
    # sub[0]: the m equation / m, linear in E; sub[2]: the Q equation, linear in R.
    E_num, E_den, (q_eq, e_eq, r_eq) = _eliminate_linear(sub[0], 2, RB, [sub[2], sub[3], sub[4]])
    R_num, R_den, (e_eq, r_eq) = _eliminate_linear(q_eq, 3, RB, [e_eq, r_eq])
    resultant, solve_for_p = _pair(e_eq, r_eq, p)
    for Q0 in _real_roots(_univariate(resultant, "Q", {})):
        if Q0 + b_f <= 0:
            continue
        for p0 in _real_roots(_univariate(solve_for_p, "p", {"Q": Q0, "E": 0.0, "R": 0.0})):
            if p0 <= 0:
                continue
            point = {"p": p0, "Q": Q0, "E": 0.0, "R": 0.0}
            E0 = _float_poly_eval(E_num, point) / _float_poly_eval(E_den, point)
            R0 = _float_poly_eval(R_num, point) / _float_poly_eval(R_den, point)
            m0 = np.sqrt(p0)
            A0 = nu_f * (Q0 + b_f) + float(lam)
            out.append(np.array([m0, nu_f * m0 / A0, Q0, E0, R0, b_f / (Q0 + b_f)]))
    # m = d = 0.
    E, Q, _ = RA.gens
    QB = Q + RA(b)
    subA = [_substitute_collapsed(P, RA, b, QB) for P in polys]
    R_num, R_den, (e_eq, r_eq) = _eliminate_linear(subA[2], 2, RA, [subA[3], subA[4]])
    resultant, solve_for_E = _pair(e_eq, r_eq, E)
    for Q0 in _real_roots(_univariate(resultant, "Q", {})):
        if Q0 + b_f <= 0:
            continue
        for E0 in _real_roots(_univariate(solve_for_E, "E", {"Q": Q0, "R": 0.0})):
            point = {"E": E0, "Q": Q0, "R": 0.0}
            R0 = _float_poly_eval(R_num, point) / _float_poly_eval(R_den, point)
            out.append(np.array([0.0, 0.0, Q0, E0, R0, b_f / (Q0 + b_f)]))
    return out


@functools.lru_cache(maxsize=4)
def _compiled(sgd_noise: bool):
    return Drift(Model(M=1, M_star=1), sgd_noise=sgd_noise)


def _drift_at(rho, eta, beta, lam, tau, sgd_noise):
    """F(y) = drift / tau and its Jacobian for M = M_star = 1 at these parameters."""
    drift = _compiled(bool(sgd_noise))
    params = np.array(drift.at_beta(beta).parameters)  # a writable copy
    layout = drift.compiled.layout
    params[layout.rho] = rho
    params[layout.eta] = eta
    params[layout.lam] = lam
    params[layout.tau] = tau
    rhs, jac = drift.compiled.rhs, drift.compiled.jac

    def f(y):
        return rhs(np.ascontiguousarray(y), params) / tau

    def J(y):
        return jac(np.ascontiguousarray(y), params) / tau

    return f, J


def _realizable(y: np.ndarray) -> bool:
    """Whether (m, d, Q, E, R) are inner products of real vectors: the Gram matrix of
    (W, V, W_star) / sqrt N, [[Q, R, m], [R, E, d], [m, d, 1]], is positive semidefinite.

    Checked on the correlation matrix (scale-free), to round-off; a zero norm needs zero
    overlaps.
    """
    m, d, Q, E, R = y[:5]
    G = np.array([[Q, R, m], [R, E, d], [m, d, 1.0]])
    diag = np.diag(G)
    if np.any(diag < -1e-12):
        return False
    live = diag > 1e-12
    if np.any(np.abs(G[np.ix_(~live, live)]) > 1e-9):
        return False
    s = np.sqrt(diag[live])
    C = G[np.ix_(live, live)] / np.outer(s, s)
    return bool(np.linalg.eigvalsh(C)[0] >= -1e-9)


@functools.lru_cache(maxsize=256)
def one_latent_points(
    rho: float, eta: float, beta: float, lam: float, tau: float, *, sgd_noise: bool
) -> tuple[LatentPoint, ...]:
    """Every real fixed point with D > 0 of one latent along one factor (M = M_star = 1).

    Parameters
    ----------
    rho, eta, beta, lam, tau : float
        Signal and noise strengths, KL weight (> 0), L2 penalty, learning rate.
    sgd_noise : bool
        Keep the O(tau^2) SGD-noise terms (finite tau) or drop them (tau -> 0).

    Returns
    -------
    tuple of LatentPoint
        Sorted with the learned points (m > 0) first, each group by decreasing Q (the collapsed
        point last); m >= 0 (each point with m > 0 has the mirror image -m, -d). Only
        realizable points are kept: D > 0 and (m, d, Q, E, R) the inner products of real
        vectors (with SGD noise, the polynomial also has roots at Q of order 1 / tau with
        E < 0 or R^2 > Q E).

    Notes
    -----
    The first call derives and caches the polynomials (about a second); later calls take
    tens of milliseconds, and repeated arguments are answered from a cache (the points'
    arrays are read-only). Candidates whose polished residual exceeds ``1e-9`` (relative to
    the size of the state) are dropped: they are roots of factors that clearing denominators
    brought in, not fixed points.

    Examples
    --------
    >>> pts = one_latent_points(1.0, 1.0, 1.0, 0.0, 0.01, sgd_noise=False)
    >>> [round(float(p.y[2]), 12) for p in pts]  # Q: learned (nu - beta), noise (eta - beta)
    [1.0, 0.0]
    """
    xi = 1.0 if sgd_noise else 0.0
    f, J = _drift_at(rho, eta, beta, lam, tau, sgd_noise)
    found: list[LatentPoint] = []
    for y in _candidates(rho, eta, beta, lam, tau, xi):
        for _ in range(8):
            r = f(y)
            try:
                step = np.linalg.lstsq(J(y), r, rcond=None)[0]
            except np.linalg.LinAlgError:
                break
            y = y - step
            if np.max(np.abs(step)) <= 1e-15 * max(1.0, np.max(np.abs(y))):
                break
        if not np.all(np.isfinite(y)):
            continue
        residual = float(np.max(np.abs(f(y))))
        scale = max(1.0, float(np.max(np.abs(y[:5]))))
        if residual > 1e-9 * scale or not 0 < y[5] < 1e6 or not _realizable(y):
            continue
        if y[0] < 0:
            y = y * np.array([-1.0, -1.0, 1.0, 1.0, 1.0, 1.0])
        if abs(y[0]) < 1e-12 * scale:
            y[0] = y[1] = 0.0
        if np.max(np.abs(y[:5])) <= 1e-9:
            # The collapsed point is an exact root; where its Jacobian is singular (lam = 0)
            # Newton approaches it slowly, so snap the last 1e-9 of the way.
            y = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
            residual = float(np.max(np.abs(f(y))))
        if any(np.max(np.abs(y - q.y)) <= 1e-8 * scale for q in found):
            continue
        y.setflags(write=False)
        found.append(LatentPoint(y=y, residual=residual))
    found.sort(key=lambda q: (not q.y[0] > 0, -q.y[2]))
    return tuple(found)
