"""The global minimum of the regularized empirical loss of the linear VAE (M = M_star = 1).

The derivation is on the finite-data page (docs/offline.md).

Symbols
-------
alpha     samples per dimension n / N
rho, eta  signal and noise strengths; nu = rho + eta
beta      KL weight; lam the L2 penalty on the *summed* loss, lam' = lam / alpha per sample
s, c      top eigenvalue of the sample covariance, cosine of its eigenvector with the signal
q         Q = |W|^2 / N at the minimum; u = q + beta
l(q)      the loss per sample at the minimum over V, D and the direction of W, relative to the
          collapsed solution:
          ``l(q) = -q s^2 / (2 a) + (beta / 2) ln(1 + q / beta) + lam' q / 2``,
          ``a = (q + beta) s + lam'``

Stationarity, ``l'(q) = 0``, is ``F(u) = 0`` with the cubic
``F(u) = (beta + lam' u)(s u + lam')^2 - s^2 (beta s + lam') u``; F is convex on u > 0 and
has sign l'(q), so the learned candidate is its largest root, found by Newton's method from an
upper bound (monotone for a convex increasing function). It is the global minimum when
``l < 0 = l(0)``; the transition can be first order (a learned minimum beside a stable
collapsed one), so the comparison is by value, never by the stability of q = 0 alone.

From q: ``D = beta / u``, ``E = q s^2 / a^2``, ``R = q s / a``, ``m = c sqrt(q)``,
``d = c sqrt(E)``, ``eps_g = rho - 2 sqrt(rho) m + q``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from linvae.observables import distortion, encoder_moments, generalization_error, rate
from linvae.offline.spectrum import Spectrum, sample_spectrum, spiked_spectrum
from linvae.utils.validation import check_real

__all__ = [
    "OfflineSolution",
    "collapse_threshold",
    "gaussian_bound",
    "global_minimum",
    "plateau_end",
    "scalar_loss",
    "solve_offline",
    "solve_sample",
    "solve_spectrum",
]

_NEWTON_ITERATIONS = 400
_BISECTIONS = 64


def scalar_loss(q, s, beta, lam_eff):
    """l(q): the empirical loss per sample minimized over everything but Q, minus its q = 0 value.

    ``l(q) = -q s^2 / (2 ((q + beta) s + lam')) + (beta / 2) ln(1 + q / beta) + lam' q / 2``.

    Examples
    --------
    >>> round(float(scalar_loss(1.0, 2.0, 1.0, 0.0)), 12)  # -(s - beta)/2 + (beta/2) ln(s/beta)
    -0.153426409720
    """
    q, s, beta, lam_eff = (np.asarray(x, dtype=np.float64) for x in (q, s, beta, lam_eff))
    a = (q + beta) * s + lam_eff
    return -0.5 * q * s**2 / a + 0.5 * beta * np.log1p(q / beta) + 0.5 * lam_eff * q


def _cubic(s, beta, lam):
    """Coefficients of F(u) = A u^3 + B u^2 + C1 u + D0 (module docstring)."""
    A = lam * s**2
    B = beta * s**2 + 2.0 * s * lam**2
    C1 = 2.0 * beta * s * lam + lam**3 - s**2 * (beta * s + lam)
    D0 = beta * lam**2
    return A, B, C1, D0


def global_minimum(s, beta, lam_eff):
    """The global minimizer q >= 0 of `scalar_loss`, vectorized.

    Parameters
    ----------
    s : float or array
        Top eigenvalue of the sample covariance, > 0.
    beta : float or array
        KL weight, > 0.
    lam_eff : float or array
        Penalty per sample lam' = lam / alpha, >= 0.

    Returns
    -------
    q : ndarray
        The minimizer (0 where the collapsed solution is the global minimum).
    loss : ndarray
        l(q) <= 0.
    collapse_stable : ndarray of bool
        Whether q = 0 is a local minimum: ``beta >= s / (1 + lam') - lam' / s``.
    learned_local : ndarray of bool
        Whether a learned local minimum q > 0 exists (with ``collapse_stable``: the first-order
        region, where both coexist).

    Examples
    --------
    >>> q, loss, stable, local = global_minimum(np.array([2.0, 2.0]), np.array([1.0, 3.0]), 0.0)
    >>> q.tolist(), stable.tolist()
    ([1.0, 0.0], [False, True])
    """
    s, beta, lam = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (s, beta, lam_eff))
    )
    A, B, C1, D0 = _cubic(s, beta, lam)

    def F(u):
        return ((A * u + B) * u + C1) * u + D0

    def dF(u):
        return (3.0 * A * u + 2.0 * B) * u + C1

    # F > 0 beyond both bounds (docs/offline.md): Newton from there decreases monotonically to
    # the largest root, or passes the minimum of F (F' <= 0) when there is none.
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.minimum(s + lam / beta, np.where(lam > 0, np.sqrt(1.0 + beta * s / lam), np.inf))
    u = bound.copy()
    active = np.ones(u.shape, dtype=bool)
    has_root = np.zeros(u.shape, dtype=bool)
    for _ in range(_NEWTON_ITERATIONS):
        if not active.any():
            break
        f, df = F(u), dF(u)
        done = active & (f <= 0.0)  # a root exactly (or round-off below it)
        lost = active & ~done & (df <= 0.0)
        has_root |= done
        active &= ~(done | lost)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(active, f / df, 0.0)
        u_new = u - step
        converged = active & (np.abs(step) <= 4e-16 * np.abs(u))
        has_root |= converged
        active &= ~converged
        u = np.where(active | converged, u_new, u)
    has_root |= active  # slow (double-root) convergence: F(u) > 0 tiny, accept
    q = np.where(has_root, u - beta, 0.0)
    learned_local = has_root & (q > 0.0)
    q = np.where(learned_local, q, 0.0)
    loss = scalar_loss(q, s, beta, lam)
    collapse_stable = F(beta) >= 0.0  # sign of l'(0)
    learned = learned_local & ((loss < 0.0) | ~collapse_stable)
    q = np.where(learned, q, 0.0)
    loss = np.where(learned, loss, 0.0)
    return q, loss, collapse_stable, learned_local


@dataclass(frozen=True, kw_only=True)
class OfflineSolution:
    """The global minimum of the regularized empirical loss, with its observables.

    Every numeric field has the broadcast shape of the inputs (a float for scalars).

    Attributes
    ----------
    alpha : float or ndarray
        Samples per dimension n / N (``inf``: the population).
    rho, eta, beta, lam : float or ndarray
        The problem; ``lam`` multiplies (1/2)(|W|^2 + |V|^2) in the summed loss.
    lam_eff : float or ndarray
        lam / alpha, the penalty per sample.
    s, c : float or ndarray
        Top eigenvalue of the sample covariance and its eigenvector's cosine with the signal.
    m, d, Q, E, R, D : float or ndarray
        Order parameters at the minimum (m, d >= 0: the global sign is a symmetry).
    eps_g : float or ndarray
        ``rho - 2 sqrt(rho) m + Q``.
    loss : float or ndarray
        l(Q) - l(0) per sample (<= 0; 0 when collapsed).
    collapsed : bool or ndarray
        Whether the global minimum is the collapsed solution (Q = 0, D = 1).
    collapse_stable : bool or ndarray
        Whether the collapsed solution is a local minimum.
    coexistence : bool or ndarray
        A learned local minimum and a stable collapsed one coexist (first-order region).
    rate, distortion : float or ndarray
        Test-set rate E_x KL(q(z|x) || p(z)) and distortion E ||x - W z / sqrt N||^2 - (N-1) eta.
    rate_train, distortion_train : float or ndarray
        The same averaged over the training set (distortion relative to the data's own norm:
        docs/offline.md, "Rate and distortion").
    """

    alpha: float | np.ndarray
    rho: float
    eta: float
    beta: float | np.ndarray
    lam: float | np.ndarray
    lam_eff: float | np.ndarray
    s: float | np.ndarray
    c: float | np.ndarray
    m: float | np.ndarray
    d: float | np.ndarray
    Q: float | np.ndarray
    E: float | np.ndarray
    R: float | np.ndarray
    D: float | np.ndarray
    eps_g: float | np.ndarray
    loss: float | np.ndarray
    collapsed: bool | np.ndarray
    collapse_stable: bool | np.ndarray
    coexistence: bool | np.ndarray
    rate: float | np.ndarray
    distortion: float | np.ndarray
    rate_train: float | np.ndarray
    distortion_train: float | np.ndarray

    def as_dict(self) -> dict:
        """Every field, numbers as Python floats / bools or nested lists (JSON-able with
        `linvae.utils.io.to_jsonable`)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out


def _check_problem(owner, rho, eta, beta, lam):
    rho = check_real("rho", rho, owner, low=0.0)
    eta = check_real("eta", eta, owner, low=0.0)
    b = np.asarray(beta, dtype=np.float64)
    la = np.asarray(lam, dtype=np.float64)
    if np.any(~(b > 0)) or np.any(~np.isfinite(b)):
        raise ValueError(
            f"The `beta` parameter of {owner} must be in (0, inf). Got {beta!r}. "
            "At beta = 0 the encoder variance D = beta / (Q + beta) vanishes."
        )
    if np.any(~(la >= 0)) or np.any(~np.isfinite(la)):
        raise ValueError(f"The `lam` parameter of {owner} must be in [0, inf). Got {lam!r}.")
    return rho, eta, b, la


def solve_spectrum(
    spectrum: Spectrum, *, rho: float = 1.0, eta: float = 1.0, beta=1.0, lam=0.0
) -> OfflineSolution:
    """The global minimum for given spectral inputs s, c (and alpha, for lam / alpha).

    `solve_offline` and `solve_sample` call this with the N -> infinity and the
    measured spectrum. With ``Spectrum(s=rho + eta, c=1, alpha=1)`` it is the online fixed
    point (tau -> 0) with penalty ``lam``: the population loss is the empirical one with
    C -> the population covariance.

    Examples
    --------
    >>> sol = solve_spectrum(Spectrum(s=2.0, c=1.0, alpha=1.0), beta=1.0)
    >>> sol.Q, sol.D, sol.m, sol.d              # the online learned point at beta = 1
    (1.0, 0.5, 1.0, 0.5)
    """
    rho, eta, beta, lam = _check_problem("solve_spectrum", rho, eta, beta, lam)
    return _solution(spectrum, rho, eta, beta, lam)


def _solution(sp: Spectrum, rho, eta, beta, lam) -> OfflineSolution:
    alpha, s, c, beta, lam = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (sp.alpha, sp.s, sp.c, beta, lam))
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        lam_eff = np.where(lam > 0, lam / alpha, 0.0)
    q, loss, collapse_stable, learned_local = global_minimum(s, beta, lam_eff)
    a = (q + beta) * s + lam_eff
    E = q * s**2 / a**2
    R = q * s / a
    D = beta / (q + beta)
    m = c * np.sqrt(q)
    d = c * np.sqrt(E)
    ops = [x[..., None, None] for x in (m, d, q, E, R)]  # (..., M, M) with M = M_star = 1
    mu2, cross = encoder_moments(*ops[:2], *ops[3:], rho=rho, eta=eta)
    mu2_train, cross_train = ops[3] * s[..., None, None], ops[4] * s[..., None, None]
    out = {
        "alpha": alpha,
        "beta": beta,
        "lam": lam,
        "lam_eff": lam_eff,
        "s": s,
        "c": c,
        "m": m,
        "d": d,
        "Q": q,
        "E": E,
        "R": R,
        "D": D,
        "eps_g": generalization_error(ops[0], ops[2], rho),
        "loss": loss,
        "collapsed": q == 0.0,
        "collapse_stable": collapse_stable,
        "coexistence": collapse_stable & learned_local,
        "rate": rate(mu2, D[..., None]),
        "distortion": distortion(cross, ops[2], mu2, D[..., None], rho=rho, eta=eta),
        "rate_train": rate(mu2_train, D[..., None]),
        "distortion_train": distortion(
            cross_train, ops[2], mu2_train, D[..., None], rho=rho, eta=eta
        ),
    }
    if alpha.ndim == 0:
        out = {k: v.item() for k, v in out.items()}
    return OfflineSolution(rho=rho, eta=eta, **out)


def solve_offline(
    alpha, *, rho: float = 1.0, eta: float = 1.0, beta=1.0, lam=0.0
) -> OfflineSolution:
    """The global minimum as N -> infinity at n = alpha N samples, vectorized.

    The sample covariance enters through s(alpha) and c(alpha)
    (`linvae.offline.spectrum.spiked_spectrum`); the rest is `global_minimum`.

    Parameters
    ----------
    alpha : float or array
        Samples per dimension, > 0 (``inf``: the population, i.e. the online fixed point with
        lam = 0).
    rho, eta : float
        Signal and noise strengths, > 0.
    beta : float or array
        KL weight, > 0.
    lam : float or array
        L2 penalty of the summed loss, >= 0 (per sample lam / alpha).

    Returns
    -------
    OfflineSolution
        Fields broadcast over ``alpha``, ``beta``, ``lam``.

    Raises
    ------
    ValueError
        If a parameter is outside its range (the message names it).

    Examples
    --------
    >>> sol = solve_offline(4.0, beta=1.0)          # lam = 0: Q = s - beta, s = 2 (1 + 1/4)
    >>> sol.s, sol.Q, sol.collapsed
    (2.5, 1.5, False)
    >>> solve_offline(float("inf"), beta=2.5).collapsed   # beta >= rho + eta
    True
    """
    rho, eta, beta, lam = _check_problem("solve_offline", rho, eta, beta, lam)
    return _solution(spiked_spectrum(alpha, rho=rho, eta=eta), rho, eta, beta, lam)


def solve_sample(
    X: np.ndarray,
    W_star: np.ndarray | None = None,
    *,
    rho: float = 1.0,
    eta: float = 1.0,
    beta=1.0,
    lam=0.0,
) -> OfflineSolution:
    """The global minimum for one finite training set (exact at its N, not only as N -> inf).

    Parameters
    ----------
    X : array, shape (n, N)
        The training set, one sample per row; alpha = n / N.
    W_star : array, shape (N,) or (N, 1), optional
        The signal direction, squared norm N (default all ones).
    rho, eta : float
        Signal and noise strengths of the population (for eps_g and the test rate and
        distortion).
    beta, lam : float or array

    Returns
    -------
    OfflineSolution
        With s, c from the data's own sample covariance
        (`linvae.offline.spectrum.sample_spectrum`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((400, 200)) + np.sqrt(1 / 200) * rng.standard_normal((400, 1))
    >>> sol = solve_sample(X, beta=1.0)
    >>> round(sol.Q, 12) == round(sol.s - 1.0, 12)    # lam = 0: Q = s - beta
    True
    """
    rho, eta, beta, lam = _check_problem("solve_sample", rho, eta, beta, lam)
    return _solution(sample_spectrum(X, W_star), rho, eta, beta, lam)


def collapse_threshold(alpha, *, rho: float = 1.0, eta: float = 1.0, lam=0.0):
    """beta_c(alpha, lam): the global minimum is collapsed iff beta >= beta_c, vectorized.

    ``l(q)`` increases with beta for every q > 0, so the learned set is the interval
    ``0 < beta < beta_c``, found by bisection on ``[0, s]`` to round-off. For lam = 0,
    ``beta_c = s(alpha)``; as alpha -> infinity it tends to rho + eta, the online threshold.

    Parameters
    ----------
    alpha : float or array
        Samples per dimension, > 0 (``inf`` allowed).
    rho, eta : float
    lam : float or array
        L2 penalty of the summed loss, >= 0.

    Returns
    -------
    float or ndarray
        beta_c; 0 where collapse is the global minimum at every beta > 0 (``lam / alpha >= s``).

    Examples
    --------
    >>> collapse_threshold([1.0, 4.0, float("inf")]).tolist()
    [4.0, 2.5, 2.0]
    >>> round(float(collapse_threshold(4.0, lam=1.0)), 12)  # s / (1 + lam') - lam' / s
    1.9
    """
    rho, eta, _, lam = _check_problem("collapse_threshold", rho, eta, 1.0, lam)
    sp = spiked_spectrum(alpha, rho=rho, eta=eta)
    s, alpha_b, lam_b = np.broadcast_arrays(
        np.asarray(sp.s, dtype=np.float64), np.asarray(sp.alpha, dtype=np.float64), lam
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        lam_eff = np.where(lam_b > 0, lam_b / alpha_b, 0.0)
    out = _threshold_bisection(s, lam_eff)
    return float(out) if out.ndim == 0 else out


def _threshold_bisection(s, lam_eff):
    lo = np.zeros_like(s)
    hi = s.copy()  # l(q) >= its lam' = 0 value >= 0 for beta >= s: collapsed
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        q, *_ = global_minimum(s, np.maximum(mid, np.finfo(float).tiny), lam_eff)
        learned = q > 0
        lo = np.where(learned, mid, lo)
        hi = np.where(learned, hi, mid)
    # lo = 0: no learned beta found down to s 2^-64: collapse at every beta > 0.
    return np.where(lam_eff > 0, np.where(lo > 0, 0.5 * (lo + hi), 0.0), s)


def plateau_end(
    beta,
    *,
    rho: float = 1.0,
    eta: float = 1.0,
    lam: float = 0.0,
    alpha_min: float = 1e-3,
    alpha_max: float = 1e6,
    n_grid: int = 600,
):
    """alpha_c(beta): the smallest alpha at which the global minimum is learned, vectorized.

    Below it lies the collapsed plateau (eps_g = rho however many samples). Found on a log grid
    of alpha in [alpha_min, alpha_max] and refined by bisection between grid points.

    Parameters
    ----------
    beta : float or array
        KL weight, > 0.
    rho, eta, lam : float
    alpha_min, alpha_max : float
        The range searched.
    n_grid : int
        Log-grid points.

    Returns
    -------
    float or ndarray
        alpha_c; 0 where the minimum is already learned at ``alpha_min`` (no plateau, e.g.
        lam = 0), ``inf`` where it is collapsed up to ``alpha_max``. For beta > rho + eta the
        learned window can close again at larger alpha (collapse is inevitable there).

    Examples
    --------
    >>> round(float(plateau_end(1.9, lam=1.0)), 9)     # where beta_c(alpha, 1) = 1.9
    4.0
    """
    rho, eta, beta, lam = _check_problem("plateau_end", rho, eta, beta, lam)
    lam = float(lam)
    grid = np.geomspace(alpha_min, alpha_max, n_grid)
    b = np.atleast_1d(beta)

    def learned(alpha, bb):
        sp = spiked_spectrum(alpha, rho=rho, eta=eta)
        q, *_ = global_minimum(sp.s, bb, lam / alpha)
        return q > 0

    L = learned(grid[None, :], b[:, None])
    first = np.argmax(L, axis=1)
    any_learned = L.any(axis=1)
    out = np.where(any_learned, np.inf, np.inf)
    for i in np.flatnonzero(any_learned):
        k = first[i]
        if k == 0:
            out[i] = 0.0
            continue
        lo, hi = grid[k - 1], grid[k]
        for _ in range(_BISECTIONS):
            mid = np.sqrt(lo * hi)
            if learned(mid, b[i]):
                hi = mid
            else:
                lo = mid
        out[i] = hi
    return float(out[0]) if np.ndim(beta) == 0 else out


def gaussian_bound(rate, nu: float):
    """The Gaussian rate-distortion bound of the signal direction: ``D(R) = nu exp(-2 R)``.

    A one-dimensional code of a Gaussian source with variance nu along the spike (and eta along
    the N - 1 others, not counted in the distortion convention) cannot do better at rates below
    ``ln(nu / eta) / 2``; the population optimum (alpha -> infinity) lies on it.

    Examples
    --------
    >>> float(gaussian_bound(0.5 * np.log(2.0), 2.0))
    1.0
    """
    return nu * np.exp(-2.0 * np.asarray(rate, dtype=np.float64))
