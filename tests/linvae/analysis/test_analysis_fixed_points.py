"""Fixed points, stability labels and the collapse threshold (docs/results.md, sections "Fixed
points and their stability" and "Claim 1: the posterior-collapse threshold")."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp

from linvae import Model, OrderParameters, generalization_error, simulate
from linvae.analysis import (
    LatentRole,
    Stability,
    collapse_threshold,
    fixed_points,
    threshold_formula,
)
from linvae.analysis.stability import (
    closed_form_state,
    independent_coordinates,
    latent_block,
    reduced_jacobian,
    symbolic_fixed_point,
)
from linvae.observables import pack_state, unpack_state
from linvae.theory import Drift, solve_ode
from linvae.theory.derive import derive_ode
from linvae.theory.initial import initial_order_parameters
from linvae.theory.reference import matrix_form_drift

L, N_, C = LatentRole.LEARNED, LatentRole.NOISE, LatentRole.COLLAPSED

MODELS = [
    Model(rho=1.0, eta=1.0, beta=1.0, tau=0.01),
    Model(rho=1.0, eta=1.0, beta=0.4, tau=0.05),
    Model(rho=2.0, eta=0.5, beta=0.3, lam=0.2, tau=0.02),
    Model(M=2, rho=1.0, eta=1.0, beta=0.6, lam=0.05, tau=0.01),
    Model(M=2, M_star=2, rho=(1.0, 2.5), eta=0.7, beta=0.9, tau=0.01),
]


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize(
    "roles, M_star",
    [((L,), 1), ((N_,), 1), ((C,), 1), ((L, N_), 1), ((L, C), 1), ((L, L), 2)],
)
def test_closed_forms_are_roots_of_the_derived_drift_symbolically(roles, M_star):
    """The lam = 0 closed forms make every component of the tau -> 0 drift vanish."""
    ode = derive_ode(len(roles), M_star)
    subs = symbolic_fixed_point(roles, M_star)
    assert [sp.simplify(f.subs(subs)) for f in ode.first_order] == [0] * len(ode.first_order)


def test_symbolic_jacobian_at_learned_point_gives_paper_example():
    """J_max = -tau (3 - sqrt 5) / 2 at rho = eta = beta = 1, exactly (sympy)."""
    ode = derive_ode(1, 1)
    subs = symbolic_fixed_point((L,))
    sym = {s.name: s for s in ode.parameter_symbols}
    values = {sym["rho_0"]: 1, sym["eta"]: 1, sym["beta"]: 1}
    J = sp.Matrix(ode.first_order).jacobian(sp.Matrix(ode.state_symbols))
    J = J.subs(subs).subs(values)
    eigs = [sp.nsimplify(sp.simplify(e)) for e in J.eigenvals()]
    assert max(eigs, key=lambda e: float(e)) == -(3 - sp.sqrt(5)) / 2


@pytest.mark.parametrize("model", MODELS, ids=range(len(MODELS)))
def test_closed_forms_zero_the_matrix_forms_including_lam(model):
    """lam > 0 closed forms (bisection) against the independent matrix forms, tau^2 terms off.

    Tolerance 1e-13: the bisection stops at 4e-16 relative; the drift is O(tau) x O(1) sums.
    """
    for point in fixed_points(model, sgd_noise=False):
        f = matrix_form_drift(
            point.y,
            M=model.M,
            M_star=model.M_star,
            rho=model.rho_vector,
            T=np.eye(model.M_star),
            eta=model.eta,
            beta=point.beta,
            lam=model.lam,
            tau=model.tau,
            xi=0.0,
        )
        assert np.max(np.abs(f)) < 1e-13, point.name


def test_latent_block_lam_zero_matches_formula_and_lam_limit_is_continuous():
    nu = np.linspace(0.5, 3.0, 7)[:, None]
    beta = np.linspace(0.05, 0.45, 5)[None, :]
    w, v, D = latent_block(nu, beta, 0.0)
    np.testing.assert_allclose(v, w / nu, rtol=1e-15)
    np.testing.assert_allclose(w**2, nu - beta, rtol=1e-15)
    np.testing.assert_allclose(D, beta / nu, rtol=1e-15)
    # lam -> 0: the bisection branch tends to the closed form (its error is O(lam)).
    w_small, _, _ = latent_block(nu, beta, 1e-9)
    np.testing.assert_allclose(w_small, w, rtol=1e-7)
    # Beyond the threshold the block does not exist.
    assert np.isnan(latent_block(2.0, 2.0, 0.0)[0])


def test_numerical_root_of_tau0_drift_lands_on_closed_form():
    """A root solve of the derived tau -> 0 drift from a perturbed closed form returns to it.

    Tolerance 1e-10: hybr's xtol is 1e-13 relative; the learned point is a simple root.
    """
    from scipy.optimize import root

    model = Model(M=2, rho=1.3, eta=0.8, beta=0.5, lam=0.1, tau=0.01)
    drift = Drift(model, sgd_noise=False).at_beta(0.5)
    keep, P = independent_coordinates(2, 1)
    y_closed = pack_state(closed_form_state(model, (L, N_)))
    start = y_closed[keep] * (1 + 0.02 * np.random.default_rng(1).standard_normal(keep.size))
    sol = root(lambda z: drift(P @ z)[keep], start, method="hybr", options={"xtol": 1e-13})
    assert sol.success
    np.testing.assert_allclose(P @ sol.x, y_closed, atol=1e-10)


@pytest.mark.parametrize("model", MODELS, ids=range(len(MODELS)))
def test_finite_tau_fixed_points_have_zero_residual(model):
    """The root of the full drift (SGD noise on): residual at round-off, |dy/dt| < 1e-15."""
    for point in fixed_points(model, sgd_noise=True):
        assert point.success, point.message
        assert point.residual < 1e-15, point.name
        # D = beta / (Q_kk + beta) holds exactly at finite tau (dD/dt = 0 alone gives it).
        np.testing.assert_allclose(
            point.state.D, point.beta / (np.diag(point.state.Q) + point.beta), rtol=1e-12
        )


def test_finite_tau_points_approach_closed_forms_linearly_in_tau():
    """The shift of the learned point is O(tau): halving tau halves it (within 2%)."""
    shifts = []
    for tau in (0.004, 0.002):
        (learned, *_) = fixed_points(Model(rho=1.0, eta=1.0, beta=0.5, tau=tau))
        shifts.append(np.max(np.abs(learned.y - pack_state(learned.closed_form))))
    assert shifts[1] > 0
    assert shifts[0] / shifts[1] == pytest.approx(2.0, rel=0.02)
    # Noise orthogonal to W_star: Q > m^2 at finite tau.
    assert learned.state.Q[0, 0] > learned.state.m[0, 0] ** 2


def test_fixed_point_enumeration_and_labels():
    names = lambda pts: {p.name: p.stability for p in pts}  # noqa: E731
    assert names(fixed_points(Model(beta=1.5), sgd_noise=False)) == {
        "learned": Stability.STABLE,
        "collapsed": Stability.SADDLE,
    }
    assert names(fixed_points(Model(beta=2.5), sgd_noise=False)) == {"collapsed": Stability.STABLE}
    below_eta = names(fixed_points(Model(M=2, beta=0.5), sgd_noise=False))
    assert below_eta["learned+noise"] is Stability.STABLE
    assert below_eta["learned+collapsed"] is Stability.SADDLE
    # beta = eta: the spare latent is marginal (docs/results.md, "Claim 3").
    at_eta = names(fixed_points(Model(M=2, beta=1.0), sgd_noise=False))
    assert at_eta["learned+collapsed"] is Stability.MARGINAL
    above_eta = names(fixed_points(Model(M=2, beta=1.5), sgd_noise=False))
    assert above_eta["learned+collapsed"] is Stability.STABLE


def test_paper_example_J_max():
    """rho = eta = beta = 1, lam = 0: J_max = -tau (3 - sqrt 5)/2 (float64 round-off, 1e-12)."""
    tau = 0.01
    (learned, _) = fixed_points(Model(rho=1.0, eta=1.0, beta=1.0, tau=tau), sgd_noise=False)
    assert learned.top_eigenvalue == pytest.approx(-tau * (3 - math.sqrt(5)) / 2, rel=1e-12)


def test_eps_g_at_learned_point():
    """eps_g* = (sqrt rho - sqrt(nu - beta))^2: 0 at beta = eta, rho at beta -> nu."""
    for beta in (0.3, 1.0, 1.7):
        (learned, *_) = fixed_points(Model(rho=1.0, eta=1.0, beta=beta), sgd_noise=False)
        assert learned.eps_g == pytest.approx((1 - math.sqrt(2 - beta)) ** 2, abs=1e-14)


def _perturbed(point: OrderParameters, direction: np.ndarray, size: float, M, M_star):
    y = pack_state(point) + size * direction / np.max(np.abs(direction))
    op = unpack_state(y, M, M_star)
    return OrderParameters(
        m=op.m, d=op.d, Q=0.5 * (op.Q + op.Q.T), E=0.5 * (op.E + op.E.T), R=op.R, D=op.D
    )


@pytest.mark.parametrize(
    "model",
    [
        Model(rho=1.0, eta=1.0, beta=0.5, tau=0.05),
        Model(M=2, beta=0.5, tau=0.05),
        Model(rho=1.0, eta=1.0, lam=1.8, beta=0.009, tau=0.05),  # the first-order strip
    ],
    ids=["M1", "M2", "strip"],
)
def test_stability_labels_confirmed_by_integrating_perturbations(model):
    """Stable: a 1e-4 kick decays (by > 10x after 6/|J_max|, e^-6 expected up to transients).
    Saddle: a kick along the top eigenvector grows (by > 5x after 4/J_top, e^4 expected)."""
    M, M_star = model.M, model.M_star
    keep, P = independent_coordinates(M, M_star)
    drift = Drift(model).at_beta(model.schedule.final)

    for point in fixed_points(model):
        J = reduced_jacobian(drift.jacobian(point.y), M, M_star)
        ev, vec = np.linalg.eig(J)
        top = int(np.argmax(ev.real))
        if point.stability is Stability.STABLE:
            direction = P @ np.random.default_rng(0).standard_normal(keep.size)
            t_end = 6.0 / abs(point.top_eigenvalue)
        else:
            assert point.stability is Stability.SADDLE
            direction = P @ np.real(vec[:, top])
            t_end = 4.0 / point.top_eigenvalue
        init = _perturbed(point.state, direction, 1e-4, M, M_star)
        sol = solve_ode(model, t_max=t_end, init=init, dt=t_end, rtol=1e-10, atol=1e-14)
        dist0 = np.max(np.abs(pack_state(init) - point.y))
        dist1 = np.max(np.abs(pack_state(sol.order_parameters())[0, -1] - point.y))
        if point.stability is Stability.STABLE:
            assert dist1 < dist0 / 10, point.name
        else:
            assert dist1 > 5 * dist0, point.name


# ----------------------------------------------------------------------------- threshold
def test_threshold_numerical_matches_formula_on_grid():
    """beta* = rho + eta on a (rho, eta) grid, and the lam formula, each within 1e-8."""
    for rho in (0.2, 1.0, 3.0):
        for eta in (0.1, 1.0, 2.5):
            for lam in (0.0, 0.1, 0.7):
                model = Model(rho=rho, eta=eta, lam=lam)
                analytic = collapse_threshold(model).beta_star
                numerical = collapse_threshold(model, method="numerical").beta_star
                expected = (rho + eta) / (1 + lam) - lam / (rho + eta)
                assert analytic == pytest.approx(expected, abs=1e-14)
                assert abs(numerical - expected) < 1e-8, (rho, eta, lam)


def test_per_factor_thresholds():
    model = Model(M=2, M_star=2, rho=(0.5, 2.0), eta=1.0)
    for method in ("analytic", "numerical"):
        th = collapse_threshold(model, method=method)
        np.testing.assert_allclose(th.per_factor, [1.5, 3.0], atol=1e-8)
        assert th.beta_star == pytest.approx(3.0, abs=1e-8)
    assert threshold_formula(0.0, 1.0) == 1.0  # spare latents: beta < eta
    # Between the two thresholds only the strong factor is learned.
    names = [p.name for p in fixed_points(Model(M=1, M_star=2, rho=(0.5, 2.0), beta=2.0))]
    assert names == ["learned", "collapsed"]


def test_threshold_does_not_depend_on_tau():
    values = [
        collapse_threshold(Model(rho=1.0, eta=0.5, lam=0.1, tau=tau), method="numerical").beta_star
        for tau in (0.001, 0.1)
    ]
    assert values[0] == pytest.approx(values[1], abs=1e-10)


@pytest.mark.parametrize("offset", [-0.3, 0.3])
def test_ode_reaches_learned_below_and_collapsed_above_threshold(offset):
    """beta > beta* collapses whatever the training time; beta < beta* learns.

    ODE (rtol 1e-8) from an N = 200 random initialization, tau = 0.05, for 40 relaxation times.
    Collapse: |m| never exceeds its start by more than 1.5x (the early transient, while Q
    shrinks) and ends below 1e-6 of it; learned: eps_g ends within 1e-6 of eps_g*.
    """
    model = Model(rho=1.0, eta=1.0, beta=2.0 + offset, tau=0.05)
    init = initial_order_parameters(model, N=200, rng=3)
    points = fixed_points(model)
    stable = [p for p in points if p.stability is Stability.STABLE]
    assert len(stable) == 1
    t_max = 40.0 / abs(stable[0].top_eigenvalue)
    sol = solve_ode(model, t_max=t_max, init=init, dt=t_max / 400)
    m = np.abs(sol.m[0, :, 0, 0])
    if offset > 0:
        assert stable[0].name == "collapsed"
        assert m.max() < 1.5 * m[0]
        assert m[-1] < 1e-6 * m[0]
    else:
        assert stable[0].name == "learned"
        assert abs(sol.eps_g[0, -1] - stable[0].eps_g) < 1e-6


def test_sgd_spot_check_collapse_threshold():
    """SGD at N = 200 (2 seeds) agrees: beta = 2.6 collapses (eps_g -> rho = 1), beta = 1 learns.

    Tolerances 0.15: finite-N fluctuations of eps_g are O(N^-1/2) ~ 0.07 times O(1) factors.
    """
    for beta, target in ((2.6, 1.0), (1.0, 0.0)):
        model = Model(rho=1.0, eta=1.0, beta=beta, tau=0.05)
        run = simulate(model, N=200, t_max=300.0, dt=300.0, n_seeds=2, rng=11)
        assert abs(run.eps_g[:, -1].mean() - target) < 0.15, beta
        eps = generalization_error(run.m[:, -1], run.Q[:, -1], 1.0)
        np.testing.assert_allclose(eps, run.eps_g[:, -1])


def test_validation_messages():
    with pytest.raises(ValueError, match="The `beta` parameter of fixed_points"):
        fixed_points(Model(), beta=-1.0)
    with pytest.raises(ValueError, match="No fixed point where latent 0"):
        closed_form_state(Model(beta=3.0), (L,))
    with pytest.raises(ValueError, match="The `method` parameter of collapse_threshold"):
        collapse_threshold(Model(), method="guess")


# ----------------------------------------------------------------------------- every point
@pytest.mark.parametrize(
    "lam, beta, expected",
    [
        # lam = 1.8: beta* = -0.186 < 0; the learned branch ends at the spinodal 0.010937.
        (
            1.8,
            0.009,
            [("learned", "stable"), ("learned(lower)", "saddle"), ("collapsed", "stable")],
        ),
        (1.8, 0.012, [("collapsed", "stable")]),
        # lam = 1.5: beta* = 0.05, spinodal 0.0856; below beta* collapse is unstable.
        (1.5, 0.04, [("learned", "stable"), ("collapsed", "saddle")]),
        (1.5, 0.07, [("learned", "stable"), ("learned(lower)", "saddle"), ("collapsed", "stable")]),
    ],
)
def test_first_order_strip_lists_learned_saddle_and_collapsed(
    lam, beta, expected, block_cubic_roots
):
    """In the strip the learned point, its saddle and the collapsed point are all listed, and
    the learned and saddle q are the cubic's two roots (round-off: Newton-polished, 1e-12)."""
    pts = fixed_points(Model(rho=1.0, eta=1.0, lam=lam, beta=beta), sgd_noise=False)
    assert [(p.name, p.stability.value) for p in pts] == expected
    q = [p.state.Q[0, 0] for p in pts if p.roles == (L,)]
    np.testing.assert_allclose(
        q, (block_cubic_roots(2.0, beta, lam) - beta)[::-1], rtol=1e-12, atol=1e-14
    )
    for p in pts:
        assert p.residual < 1e-15
    # The same with SGD noise (tau = 0.01): the same points, shifted by O(tau).
    noisy = fixed_points(Model(rho=1.0, eta=1.0, lam=lam, beta=beta, tau=0.01))
    assert [(p.name, p.stability.value) for p in noisy] == expected
    for p, p0 in zip(noisy, pts, strict=True):
        np.testing.assert_allclose(pack_state(p.closed_form), p0.y, atol=1e-12)
        assert np.max(np.abs(p.y - p0.y)) < 0.05  # O(tau) shift, far below the gaps


def _relative(g, order, point) -> float:
    """|g(point)| over the sum of |its terms| at the point."""
    value = scale = 0.0
    for monom, c in sp.Poly(g, *order).terms():
        term = float(c) * np.prod([point[v] ** e for v, e in zip(order, monom, strict=True) if e])
        value += term
        scale += abs(term)
    return abs(value) / max(scale, 1e-300)


def _groebner_points(rho, eta, beta, lam, tau, xi):
    """Every real solution with D > 0 from a lex Groebner basis (exact rationals), by
    triangular back-substitution: the independent route to `one_latent_points`."""
    ode = derive_ode(1, 1)
    m, d, Q, E, R, D = ode.state_symbols
    s = {x.name: x for x in ode.parameter_symbols}
    values = {s["rho_0"]: rho, s["T_0_0"]: 1, s["eta"]: eta, s["beta"]: beta, s["lam"]: lam}
    values.update({s["tau"]: tau, s["xi"]: xi})
    eqs = [
        sp.fraction(sp.together((f1 + s["xi"] * s["tau"] * f2).subs(values)))[0]
        for f1, f2 in zip(ode.first_order, ode.second_order, strict=True)
    ]
    order = (m, d, E, R, D, Q)
    G = sp.groebner([sp.expand(e) for e in eqs], *order, order="lex").exprs
    solutions = [{}]
    for var in reversed(order):
        mine = [
            g
            for g in G
            if var in g.free_symbols and not (g.free_symbols & set(order[: order.index(var)]))
        ]
        nxt = []
        for sol in solutions:
            polys = [sp.Poly(g.subs(sol), var) for g in mine]
            candidates = []
            for P in polys:
                if P.degree() > 0:
                    r = np.roots([float(c) for c in P.all_coeffs()])
                    candidates.extend(r[np.abs(r.imag) < 1e-9].real)
            for r in candidates:
                point = {**sol, var: float(r)}
                # |g| against the size of its terms: the coefficients cancel at a root.
                if all(_relative(g, order, point) < 1e-7 for g in mine):
                    if all(
                        abs(r - x[var]) > 1e-9
                        for x in nxt
                        if x.keys() == point.keys() and all(x[k] == v for k, v in sol.items())
                    ):
                        nxt.append(point)  # fmt: skip
        solutions = nxt
    out = []
    for sol in solutions:
        y = np.array([sol[v] for v in (m, d, Q, E, R, D)])
        Gram = np.array([[y[2], y[4], y[0]], [y[4], y[3], y[1]], [y[0], y[1], 1.0]])
        if y[5] > 0 and np.linalg.eigvalsh(Gram)[0] > -1e-9:
            y = y * (np.sign(y[0]) if y[0] else 1.0) ** np.array([1, 1, 0, 0, 0, 0])
            if all(np.max(np.abs(y - z)) > 1e-9 for z in out):  # the mirror image -m, -d
                out.append(y)
    return out


@pytest.mark.parametrize("xi", [0, 1])
def test_one_latent_points_agree_with_groebner_basis(xi):
    """Rational parameters in the strip (rho = eta = 1, beta = 1/100, lam = 9/5, tau = 1/20):
    the resultant route and a lex Groebner basis find the same points (1e-7: the Groebner
    route's float roots are not polished)."""
    from linvae.analysis.one_latent import one_latent_points

    ours = [p.y for p in one_latent_points(1.0, 1.0, 0.01, 1.8, 0.05, sgd_noise=bool(xi))]
    ref = _groebner_points(1, 1, sp.Rational(1, 100), sp.Rational(9, 5), sp.Rational(1, 20), xi)
    assert len(ref) == len(ours) == 3
    for y in ref:
        assert min(np.max(np.abs(y - z)) for z in ours) < 1e-7


@pytest.mark.parametrize("sgd_noise", [False, True])
def test_random_start_root_solves_find_nothing_unlisted(sgd_noise):
    """300 random-start root solves of the derived M = M_star = 1 drift (rho = eta = 1,
    lam = 1.8, beta = 0.009, tau = 0.05): each realizable solution with D > 0 they converge to
    is one of the listed points (up to the sign of m, d), within 1e-8 (hybr, xtol 1e-13)."""
    from scipy.optimize import root

    model = Model(rho=1.0, eta=1.0, lam=1.8, beta=0.009, tau=0.05)
    listed = [p.y for p in fixed_points(model, sgd_noise=sgd_noise)]
    drift = Drift(model, sgd_noise=sgd_noise).at_beta(0.009)
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(300):
        start = rng.uniform([-1, -1, 0, 0, -1, 0.01], [1, 1, 1.5, 1.5, 1, 1.5])
        sol = root(lambda y: drift(y) / 0.05, start, jac=lambda y: drift.jacobian(y) / 0.05,
                   method="hybr", options={"xtol": 1e-13})  # fmt: skip
        y = sol.x
        if not sol.success or y[5] <= 0 or np.max(np.abs(drift(y))) > 1e-12:
            continue
        Gram = np.array([[y[2], y[4], y[0]], [y[4], y[3], y[1]], [y[0], y[1], 1.0]])
        if np.linalg.eigvalsh(Gram)[0] < -1e-9:
            continue
        y = y * np.array([np.sign(y[0]) or 1.0] * 2 + [1.0] * 4)
        assert min(np.max(np.abs(y - z)) for z in listed) < 1e-8, y
        hits += 1
    assert hits > 30  # the check is not vacuous


@pytest.mark.parametrize("sgd_noise", [False, True])
def test_block_eigenvalues_match_full_jacobian(sgd_noise):
    """M = M_star = 2 against brute force: the union of the one- and two-latent block spectra
    equals the spectrum of the full derived Jacobian at every listed point, and the full drift
    vanishes there (round-off 1e-12 relative to the largest eigenvalue, 1e-15 on dy/dt)."""
    model = Model(M=2, M_star=2, rho=(1.0, 2.5), eta=1.2, lam=0.3, beta=0.4, tau=0.02)
    drift = Drift(model, sgd_noise=sgd_noise).at_beta(0.4)
    pts = fixed_points(model, sgd_noise=sgd_noise)
    assert len(pts) == 8  # l0+l1, l0+n, l0+c, l1+n, l1+c, n+n, n+c, c+c
    for p in pts:
        assert np.max(np.abs(drift(p.y))) < 1e-15, p.name
        full = np.sort_complex(np.linalg.eigvals(reduced_jacobian(drift.jacobian(p.y), 2, 2)))
        scale = np.max(np.abs(full))
        np.testing.assert_allclose(np.sort_complex(p.eigenvalues), full, atol=1e-12 * scale)


def test_enumeration_counts_against_brute_force():
    """M = 3, M_star = 2 (distinct rho): the listed points are exactly the assignments of
    latent states (each factor carried at most once), counted up to latent permutation."""
    model = Model(M=3, M_star=2, rho=(1.0, 2.0), eta=1.0, lam=0.0, beta=0.5)
    pts = fixed_points(model, sgd_noise=False)
    states = ["l0", "l1", "n", "c"]
    brute = {
        tuple(sorted(c))
        for c in itertools.product(states, repeat=3)
        if c.count("l0") <= 1 and c.count("l1") <= 1
    }
    got = {
        tuple(
            sorted(
                f"l{k}" if r is L else r.value[0] for r, k in zip(p.roles, p.factors, strict=True)
            )
        )
        for p in pts
    }
    assert len(pts) == len(brute) == len(got)
    assert got == brute


def test_progress_reported_once_the_enumeration_runs_past_a_second(monkeypatch):
    """A clock that advances 2 s per reading makes the enumeration 'slow': the callback then
    sees every point counted, ending at the total; a warm run (real clock, about 0.05 s)
    reports nothing."""
    import linvae.analysis.stability as stability

    class SlowClock:
        now = 0.0

        def perf_counter(self):
            self.now += 2.0
            return self.now

    model = Model(M=2, beta=0.5, tau=0.01)
    fixed_points(model, sgd_noise=False)  # the first call derives and compiles (seconds)
    calls = []
    fixed_points(model, sgd_noise=False, progress=lambda done, total: calls.append(done))
    assert calls == []
    monkeypatch.setattr(stability, "time", SlowClock())
    pts = fixed_points(model, sgd_noise=False, progress=lambda done, total: calls.append(done))
    assert calls and calls[-1] == len(pts)
