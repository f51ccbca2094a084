"""Symbolic derivation of the order-parameter ODEs of one-pass SGD.

The derivation is written out on the theory page (docs/theory.md, section "The derivation").

Symbols
-------
N        input dimension; ``s = 1/sqrt(N)`` is the expansion parameter
x        one data sample, ``x = W_star diag(sqrt(rho)) c / sqrt(N) + sqrt(eta) n``
a, mu, nu  local fields ``W^T x / sqrt N``, ``V^T x / sqrt N``, ``W_star^T x / sqrt N``
m, d     ``W^T W_star / N``, ``V^T W_star / N``            (M x M_star)
Q, E, R  ``W^T W / N``, ``V^T V / N``, ``W^T V / N``         (M x M; Q, E symmetric)
D        encoder variances                                  (M)
T        ``W_star^T W_star / N``                            (M_star x M_star, symmetric)
rho_k    per-factor signal strengths; eta noise strength
beta     KL weight (a symbol: the solver substitutes beta(t))
lam      L2 penalty on W and V; tau learning rate (tau / N for D)
xi       bookkeeping switch of the O(tau^2) SGD-noise terms (1: kept, 0: dropped)

How the derivation goes
-----------------------
Every N-dimensional vector that one SGD step touches lies in the span of the columns of
``W``, ``V``, ``W_star`` and the sample ``x``. We write ``W = B c_W`` with the basis
``B = [W, V, W_star, x]`` and a small coefficient matrix ``c_W``; the inner products of the basis,
``G = B^T B / N``, are the order parameters, the local fields times ``s`` (``W^T x / N = s a``),
and ``x^T x / N``, which is self-averaging and replaced by ``eta``.

1. The per-sample loss (docs/simulator.md, section "The model") is written in terms of
   ``a, mu, Q, E, D`` and differentiated by sympy. The chain rule through
   ``a = W^T x / sqrt N`` and ``Q = W^T W / N`` gives the gradient in basis coordinates:
   ``grad_W = s x (dL/da)^T + s^2 W (dL/dQ + dL/dQ^T)``; likewise for ``V`` with ``mu`` and ``E``.
2. One SGD step updates the coefficients, ``c_W' = c_W - tau grad_W``,
   ``c_V' = c_V - tau grad_V`` and ``D' = D - tau s^2 dL/dD``.
3. The new order parameters are Gram forms, e.g. ``Q' = c_W'^T G c_W'``; they are polynomials in
   ``s``. The increments are expanded to ``O(s^2) = O(1/N)``.
4. The fields are jointly Gaussian with covariance ``E[f f^T]`` computed from the data model
   (``E[x x^T] = W_star diag(rho) W_star^T / N + eta I``); the expectation of each polynomial in
   the fields is taken by Isserlis' (Wick's) theorem.
5. With ``N`` steps per unit time, ``dq/dt = N E[q' - q]`` is the coefficient of ``s^2``. The
   ``O(s^0)`` increment vanishes identically and the ``O(s)`` one in expectation (both checked).

References
----------
Y. Ichikawa and K. Hukushima, "Learning Dynamics in Linear VAE: Posterior Collapse Threshold,
Superfluous Latent Space Pitfalls, and Speedup with KL Annealing", AISTATS 2024, arXiv 2310.15440.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import sympy as sp

from linvae.observables import ORDER_PARAMETER_NAMES, state_size

__all__ = ["DerivedODE", "derive_ode", "latex_equations"]

_MAX_ORDER = 2  # keep increments to O(s^2) = O(1/N)


@dataclass(frozen=True, kw_only=True)
class DerivedODE:
    """The sympy result of `derive_ode` for one shape (M, M_star).

    Attributes
    ----------
    M, M_star : int
        Latent dimension and number of true factors.
    state_symbols : tuple of sympy.Symbol
        The independent state symbols (Q, E contribute their upper triangle only).
    state_layout : tuple of sympy.Symbol, length ``state_size(M, M_star)``
        The symbol at each position of the flat state of `linvae.observables.pack_state`;
        ``Q[j, i]`` and ``Q[i, j]`` share one symbol (the numeric code averages the two entries).
    parameter_symbols : tuple of sympy.Symbol
        ``rho_0 .. rho_{M_star-1}``, the upper triangle of ``T`` (row-major), then
        ``eta, beta, lam, tau, xi``.
    drift : tuple of sympy.Expr, length ``state_size(M, M_star)``
        ``dy/dt`` in the flat-state layout: ``tau * first + xi * tau**2 * second``.
    first_order, second_order : tuple of sympy.Expr
        The O(tau) and O(tau^2) (SGD noise) parts, divided by tau and tau^2.
    moments : dict of str -> sympy.Matrix
        The Gaussian second moments of the fields: ``"aa", "mumu", "amu", "munu", "anu"``.
    """

    M: int
    M_star: int
    state_symbols: tuple
    state_layout: tuple
    parameter_symbols: tuple
    drift: tuple
    first_order: tuple
    second_order: tuple
    moments: dict

    @property
    def tau(self) -> sp.Symbol:
        return self.parameter_symbols[-2]


# --------------------------------------------------------------------------- symbols
def _matrix(name: str, rows: int, cols: int, *, symmetric: bool = False) -> sp.Matrix:
    def entry(i, j):
        if symmetric and i > j:
            i, j = j, i
        return sp.Symbol(f"{name}_{i}_{j}", real=True)

    return sp.Matrix(rows, cols, entry)


def _vector(name: str, size: int) -> sp.Matrix:
    return sp.Matrix(size, 1, lambda i, _: sp.Symbol(f"{name}_{i}", real=True))


@dataclass(frozen=True)
class _Symbols:
    m: sp.Matrix
    d: sp.Matrix
    Q: sp.Matrix
    E: sp.Matrix
    R: sp.Matrix
    D: sp.Matrix  # column vector
    T: sp.Matrix
    rho: sp.Matrix  # column vector
    eta: sp.Symbol
    beta: sp.Symbol
    lam: sp.Symbol
    tau: sp.Symbol
    xi: sp.Symbol
    a: sp.Matrix
    mu: sp.Matrix
    nu: sp.Matrix
    s: sp.Symbol


def _symbols(M: int, M_star: int) -> _Symbols:
    return _Symbols(
        m=_matrix("m", M, M_star),
        d=_matrix("d", M, M_star),
        Q=_matrix("Q", M, M, symmetric=True),
        E=_matrix("E", M, M, symmetric=True),
        R=_matrix("R", M, M),
        D=_vector("D", M),
        T=_matrix("T", M_star, M_star, symmetric=True),
        rho=_vector("rho", M_star),
        eta=sp.Symbol("eta", positive=True),
        beta=sp.Symbol("beta", nonnegative=True),
        lam=sp.Symbol("lam", nonnegative=True),
        tau=sp.Symbol("tau", positive=True),
        xi=sp.Symbol("xi", nonnegative=True),
        a=_vector("a", M),
        mu=_vector("mu", M),
        nu=_vector("nu", M_star),
        s=sp.Symbol("s", positive=True),
    )


# --------------------------------------------------------------------------- the model
def _loss(a, mu, Qg, Eg, D, beta, lam) -> sp.Expr:
    """Per-sample loss of the model in terms of the fields and Gram matrices.

    ``Qg``, ``Eg`` are general (non-symmetric) matrices of independent symbols, so that the
    chain rule ``d/dW f(W^T W / N) = W (df/dQ + df/dQ^T) / N`` applies as written.
    """
    M = a.shape[0]
    recon = (-2 * (a.T * mu)[0] + (mu.T * Qg * mu)[0] + sum(Qg[k, k] * D[k] for k in range(M))) / 2
    kl = beta / 2 * sum(mu[k] ** 2 + D[k] - sp.log(D[k]) for k in range(M))
    l2 = lam / 2 * (Qg.trace() + Eg.trace())  # lam/(2N) (||W||^2 + ||V||^2)
    return recon + kl + l2


def _gradients(sym: _Symbols):
    """Loss gradients in basis coordinates, split by order in s.

    Returns ``(gW, gV, gD)`` with ``gW = {order: matrix (n_basis x M)}`` such that
    ``grad_W = B @ sum_k s^k gW[k]``, and ``gD`` the column of ``dL/dD_k``.
    """
    M, M_star = sym.m.shape
    Qg = _matrix("Qgrad", M, M)
    Eg = _matrix("Egrad", M, M)
    loss = _loss(sym.a, sym.mu, Qg, Eg, sym.D, sym.beta, sym.lam)
    back = {Qg[i, j]: sym.Q[i, j] for i in range(M) for j in range(M)}
    back.update({Eg[i, j]: sym.E[i, j] for i in range(M) for j in range(M)})

    def grad(mat):
        return sp.Matrix(M, M, lambda i, j: sp.diff(loss, mat[i, j]))

    dL_da = sp.Matrix([sp.diff(loss, sym.a[k]) for k in range(M)]).subs(back)
    dL_dmu = sp.Matrix([sp.diff(loss, sym.mu[k]) for k in range(M)]).subs(back)
    dL_dQ = grad(Qg)
    dL_dE = grad(Eg)
    dL_dQ = (dL_dQ + dL_dQ.T).subs(back)
    dL_dE = (dL_dE + dL_dE.T).subs(back)
    dL_dD = sp.Matrix([sp.diff(loss, sym.D[k]) for k in range(M)]).subs(back)

    n_basis = 2 * M + M_star + 1
    x_row = n_basis - 1
    gW1 = sp.zeros(n_basis, M)
    gW1[x_row, :] = dL_da.T
    gW2 = sp.zeros(n_basis, M)
    gW2[0:M, :] = dL_dQ
    gV1 = sp.zeros(n_basis, M)
    gV1[x_row, :] = dL_dmu.T
    gV2 = sp.zeros(n_basis, M)
    gV2[M : 2 * M, :] = dL_dE
    return {1: gW1, 2: gW2}, {1: gV1, 2: gV2}, dL_dD


def _gram(sym: _Symbols):
    """Gram matrix ``G = B^T B / N`` of the basis [W, V, W_star, x], split by order in s.

    ``x^T x / N`` is replaced by eta (self-averaging; it only enters the O(tau^2) terms).
    """
    M, M_star = sym.m.shape
    n_basis = 2 * M + M_star + 1
    G0 = sp.zeros(n_basis, n_basis)
    blocks = [
        [sym.Q, sym.R, sym.m],
        [sym.R.T, sym.E, sym.d],
        [sym.m.T, sym.d.T, sym.T],
    ]
    offsets = [0, M, 2 * M, n_basis - 1]
    for bi, row in enumerate(blocks):
        for bj, block in enumerate(row):
            G0[offsets[bi] : offsets[bi + 1], offsets[bj] : offsets[bj + 1]] = block
    G0[-1, -1] = sym.eta
    fields = sym.a.col_join(sym.mu).col_join(sym.nu)  # B_f^T x / sqrt(N) = fields / ...
    G1 = sp.zeros(n_basis, n_basis)
    G1[0 : n_basis - 1, -1] = fields  # W^T x / N = s a, ...
    G1[-1, 0 : n_basis - 1] = fields.T
    return {0: G0, 1: G1}


def _series_product(*factors: dict) -> dict:
    """Product of matrices given as ``{order: matrix}`` series in s, truncated at O(s^2)."""
    result = factors[0]
    for factor in factors[1:]:
        out: dict = {}
        for (i, A), (j, B) in itertools.product(result.items(), factor.items()):
            if i + j <= _MAX_ORDER:
                out[i + j] = out[i + j] + A * B if i + j in out else A * B
        result = out
    return result


def _field_covariance(sym: _Symbols, G0: sp.Matrix) -> sp.Matrix:
    """``E[f f^T]`` for ``f = (a, mu, nu) = B_f^T x / sqrt N``.

    ``E[x x^T] = W_star diag(rho) W_star^T / N + eta I``, so
    ``E[f f^T] = G[f, W*] diag(rho) G[W*, f] + eta G[f, f]``.
    """
    M, M_star = sym.m.shape
    nf = 2 * M + M_star
    to_star = G0[0:nf, 2 * M : nf]
    return to_star * sp.diag(*sym.rho) * to_star.T + sym.eta * G0[0:nf, 0:nf]


class _Wick:
    """Expectation of polynomials in zero-mean Gaussian fields (Isserlis' theorem)."""

    def __init__(self, fields: list, covariance: sp.Matrix):
        self.fields = list(fields)
        self.index = {f: i for i, f in enumerate(self.fields)}
        self.cov = covariance
        self._moment = functools.lru_cache(maxsize=None)(self._moment_of_indices)

    def _moment_of_indices(self, idx: tuple) -> sp.Expr:
        if not idx:
            return sp.Integer(1)
        if len(idx) % 2:
            return sp.Integer(0)
        first, rest = idx[0], idx[1:]
        total = sp.Integer(0)
        for k in range(len(rest)):
            total += self.cov[first, rest[k]] * self._moment(rest[:k] + rest[k + 1 :])
        return total

    def expect(self, expr: sp.Expr) -> sp.Expr:
        total = sp.Integer(0)
        expr = sp.expand(expr)
        if expr == 0:
            return total
        for term in sp.Add.make_args(expr):
            coeff, monomial = term.as_independent(*self.fields, as_Add=False)
            idx: list[int] = []
            for base, power in monomial.as_powers_dict().items():
                if base == 1:
                    continue
                idx.extend([self.index[base]] * int(power))
            total += coeff * self._moment(tuple(sorted(idx)))
        return sp.expand(total)


# --------------------------------------------------------------------------- derivation
@functools.lru_cache(maxsize=16)
def derive_ode(M: int, M_star: int) -> DerivedODE:
    """Derive the drift of (m, d, Q, E, R, D) under one-pass SGD, as N -> infinity.

    ``dq/dt = N E[q(step + 1) - q(step)]`` to leading order in ``1/N``, for every component of the
    order parameters, with the local fields Gaussian (docs/theory.md, "The derivation"). The
    result is cached per shape.

    Parameters
    ----------
    M : int
        Latent dimension, >= 1.
    M_star : int
        Number of true factors, >= 1.

    Returns
    -------
    DerivedODE
        State and parameter symbols, the drift in the flat-state layout, its O(tau) and
        O(tau^2) parts, and the Gaussian moments of the fields.

    Raises
    ------
    RuntimeError
        If a consistency check of the expansion fails (the O(1) increment is not zero, or the
        O(s) increment does not average to zero): the derivation itself would be wrong.

    Notes
    -----
    See the module docstring for the steps. ``beta`` is a plain symbol: a time-dependent
    ``beta(t)`` enters only through the loss at the current step, so the solver substitutes its
    value at time t. Cost grows quickly with M (seconds for M = 3).

    Examples
    --------
    >>> ode = derive_ode(1, 1)
    >>> ode.drift[-1]  # dD/dt
    tau*(-Q_0_0/2 - beta/2 + beta/(2*D_0))
    """
    sym = _symbols(M, M_star)
    n_basis = 2 * M + M_star + 1
    gW, gV, gD = _gradients(sym)
    G = _gram(sym)

    select_W = sp.zeros(n_basis, M)
    select_W[0:M, :] = sp.eye(M)
    select_V = sp.zeros(n_basis, M)
    select_V[M : 2 * M, :] = sp.eye(M)
    # One SGD step: c' = c - tau grad (gradients at the pre-update parameters).
    cW = {0: select_W, 1: -sym.tau * gW[1], 2: -sym.tau * gW[2]}
    cV = {0: select_V, 1: -sym.tau * gV[1], 2: -sym.tau * gV[2]}
    star = {k: Gk[:, 2 * M : 2 * M + M_star] for k, Gk in G.items()}

    new = {
        "m": _series_product(_transpose(cW), star),
        "d": _series_product(_transpose(cV), star),
        "Q": _series_product(_transpose(cW), G, cW),
        "E": _series_product(_transpose(cV), G, cV),
        "R": _series_product(_transpose(cW), G, cV),
    }
    old = {"m": sym.m, "d": sym.d, "Q": sym.Q, "E": sym.E, "R": sym.R}

    fields = [*sym.a, *sym.mu, *sym.nu]
    cov = _field_covariance(sym, G[0])
    wick = _Wick(fields, cov)

    drift: list[sp.Expr] = []
    for name in ORDER_PARAMETER_NAMES[:-1]:
        series = new[name]
        if sp.expand(series[0] - old[name]) != sp.zeros(*old[name].shape):
            raise RuntimeError(f"The O(1) increment of {name} is not zero.")
        mean_first = series[1].applyfunc(wick.expect) if 1 in series else None
        if mean_first is not None and mean_first != sp.zeros(*old[name].shape):
            raise RuntimeError(f"The O(1/sqrt N) increment of {name} does not average to zero.")
        rate = series[2].applyfunc(wick.expect)  # N * E[increment] = coefficient of s^2
        drift.extend(rate[i, j] for i in range(rate.rows) for j in range(rate.cols))
    # D' = D - (tau/N) dL/dD: its rate needs no expectation (no fields in dL/dD).
    drift.extend(sp.expand(-sym.tau * gD[k]) for k in range(M))
    if len(drift) != state_size(M, M_star):
        raise RuntimeError("The derived drift does not match the flat state layout.")

    first = tuple(sp.expand(f.coeff(sym.tau, 1)) for f in drift)
    second = tuple(sp.expand(f.coeff(sym.tau, 2)) for f in drift)
    for f, f1, f2 in zip(drift, first, second, strict=True):
        if sp.expand(f - sym.tau * f1 - sym.tau**2 * f2) != 0:
            raise RuntimeError("The drift has terms beyond O(tau^2).")
    full = tuple(
        sym.tau * f1 + sym.xi * sym.tau**2 * f2 for f1, f2 in zip(first, second, strict=True)
    )

    layout = tuple(
        [*sym.m, *sym.d, *sym.Q, *sym.E, *sym.R, *sym.D]
    )  # sympy matrices iterate row-major, like pack_state
    unique = tuple(dict.fromkeys(layout))
    T_upper = [sym.T[i, j] for i in range(M_star) for j in range(i, M_star)]
    params = (*sym.rho, *T_upper, sym.eta, sym.beta, sym.lam, sym.tau, sym.xi)
    nA, nB = M, 2 * M
    moments = {
        "aa": cov[0:nA, 0:nA],
        "mumu": cov[nA:nB, nA:nB],
        "amu": cov[0:nA, nA:nB],
        "munu": cov[nA:nB, nB:],
        "anu": cov[0:nA, nB:],
    }
    return DerivedODE(
        M=M,
        M_star=M_star,
        state_symbols=unique,
        state_layout=layout,
        parameter_symbols=params,
        drift=full,
        first_order=first,
        second_order=second,
        moments=moments,
    )


def _transpose(series: dict) -> dict:
    return {k: v.T for k, v in series.items()}


# --------------------------------------------------------------------------- printing
def latex_equations(M: int = 1, M_star: int = 1, *, identity_T: bool = True) -> str:
    """The derived ODEs as a LaTeX ``aligned`` block, one line per independent component.

    Parameters
    ----------
    M, M_star : int
        Shape. For M = M_star = 1 the indices are dropped (``m`` instead of ``m_{11}``).
    identity_T : bool
        Substitute ``T = I`` (the default teacher) before printing.

    Returns
    -------
    str
        LaTeX source, ``\\begin{aligned} ... \\end{aligned}``, with each right-hand side written
        as ``tau (...) + tau^2 (...)`` (the second part is the SGD noise).
    """
    ode = derive_ode(M, M_star)
    scalar = M == 1 and M_star == 1
    names: dict = {}
    for symbol in (*ode.state_symbols, *ode.parameter_symbols):
        base, *idx = symbol.name.split("_")
        base = {"rho": r"\rho", "eta": r"\eta", "beta": r"\beta", "lam": r"\lambda"}.get(
            base, {"tau": r"\tau", "xi": r"\xi"}.get(base, base)
        )
        if idx and not (scalar or (base == r"\rho" and M_star == 1)):
            names[symbol] = f"{base}_{{{''.join(str(int(i) + 1) for i in idx)}}}"
        else:
            names[symbol] = base
    subs = {}
    if identity_T:
        for symbol in ode.parameter_symbols:
            if symbol.name.startswith("T_"):
                _, i, j = symbol.name.split("_")
                subs[symbol] = sp.Integer(int(i == j))
    tau = ode.tau
    lines = []
    seen = set()
    for symbol, f1, f2 in zip(ode.state_layout, ode.first_order, ode.second_order, strict=True):
        if symbol in seen:
            continue
        seen.add(symbol)
        lhs = rf"\frac{{d{names[symbol]}}}{{dt}}"
        parts = []
        for power, part in ((1, f1), (2, f2)):
            part = sp.expand(part.subs(subs))
            if part == 0:
                continue
            body = sp.latex(part, symbol_names=names, order="grlex")
            factor = names[tau] if power == 1 else names[tau] + "^2"
            parts.append(rf"{factor} \left({body}\right)")
        rhs = " + ".join(parts) if parts else "0"
        lines.append(rf"{lhs} &= {rhs}")
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
