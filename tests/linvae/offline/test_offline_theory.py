"""The finite-data theory (linvae.offline.theory, .spectrum): the scalar problem, its closed
forms, the first-order region, the thresholds, the alpha -> infinity limit, rate-distortion."""

import numpy as np
import pytest

from linvae import Model
from linvae.analysis import fixed_points
from linvae.offline.spectrum import Spectrum, bbp_threshold, sample_spectrum, spiked_spectrum
from linvae.offline.theory import (
    collapse_threshold,
    gaussian_bound,
    global_minimum,
    plateau_end,
    scalar_loss,
    solve_offline,
    solve_spectrum,
)

NU = 2.0  # rho + eta in the authors' setting rho = eta = 1


def _random_problems(K, seed):
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.1, 6.0, K)
    beta = 10 ** rng.uniform(-4, 1, K)
    lam = np.where(rng.random(K) < 0.2, 0.0, 10 ** rng.uniform(-3, 1, K))
    return s, beta, lam


def test_global_minimum_beats_a_dense_grid():
    # The Newton root of the cubic, compared by value with q = 0, against brute force: l on
    # 10,000 log-spaced q (plus 0). The solver's value must be no larger than the grid's best
    # (to 1e-12: round-off of l) and no larger than l(0) = 0.
    s, beta, lam = _random_problems(2000, 1)
    q, loss, stable, local = global_minimum(s, beta, lam)
    grid = np.concatenate([[0.0], np.geomspace(1e-9, 50.0, 10000)])
    best = scalar_loss(grid[None, :], s[:, None], beta[:, None], lam[:, None]).min(axis=1)
    assert np.all(loss <= best + 1e-12)
    assert np.all(loss <= 0.0)
    assert np.allclose(loss, scalar_loss(q, s, beta, lam), atol=0, rtol=1e-14)
    assert np.sum(stable & local) > 5  # the sample holds first-order (coexistence) cases


def test_stationarity_of_the_learned_minimum():
    # l'(q) = 0 at q > 0, by a central difference (step 1e-6 q: error ~1e-10 relative).
    s, beta, lam = _random_problems(500, 2)
    q, *_ = global_minimum(s, beta, lam)
    ok = q > 1e-3
    h = 1e-6 * q[ok]
    args = (s[ok], beta[ok], lam[ok])
    slope = (scalar_loss(q[ok] + h, *args) - scalar_loss(q[ok] - h, *args)) / (2 * h)
    assert np.max(np.abs(slope)) < 1e-6


def test_lam_zero_closed_forms():
    s = np.array([2.5, 4.0, 9.0])
    beta = np.array([0.5, 1.0, 2.0])
    sol = solve_spectrum(Spectrum(s=s, c=np.ones(3), alpha=np.ones(3)), beta=beta)
    np.testing.assert_allclose(sol.Q, s - beta, rtol=1e-15)
    np.testing.assert_allclose(sol.E, (s - beta) / s**2, rtol=1e-14)
    np.testing.assert_allclose(sol.D, beta / s, rtol=1e-15)
    assert solve_spectrum(Spectrum(s=2.0, c=1.0, alpha=1.0), beta=2.0).collapsed
    # beta_c = s(alpha) exactly.
    alphas = np.array([0.3, 1.0, 4.0])
    np.testing.assert_array_equal(collapse_threshold(alphas), spiked_spectrum(alphas).s)


def test_local_stability_of_collapse():
    # q = 0 is a local minimum iff beta >= s / (1 + lam') - lam' / s (points at least 1e-9 from
    # the boundary, where the sign of l'(0) is decided by round-off).
    s, beta, lam = _random_problems(4000, 3)
    _, _, stable, _ = global_minimum(s, beta, lam)
    margin = beta - (s / (1 + lam) - lam / s)
    far = np.abs(margin) > 1e-9
    np.testing.assert_array_equal(stable[far], margin[far] >= 0)


def test_first_order_transition():
    # s = 4 (alpha = alpha_BBP = 1), lam' = 3.8: s in (lam', sqrt(lam'(1 + lam'))), so at small
    # beta a learned global minimum coexists with a stable collapsed point, and at beta_c the
    # minimizer jumps from a finite q to 0.
    alpha, lam = 1.0, 3.8
    sol = solve_offline(alpha, beta=1e-3, lam=lam)
    assert sol.collapse_stable and not sol.collapsed and sol.coexistence
    bc = collapse_threshold(alpha, lam=lam)
    below = solve_offline(alpha, beta=bc * (1 - 1e-9), lam=lam)
    above = solve_offline(alpha, beta=bc * (1 + 1e-9), lam=lam)
    # A jump: Q just below beta_c is ~0.036 (a continuous onset would give Q ~ 1e-9 here).
    assert below.Q > 0.02 and above.collapsed
    # The local-stability threshold is negative there: it would say "collapsed at every beta".
    s, lp = 4.0, lam / alpha
    assert s / (1 + lp) - lp / s < 0 < bc


def test_second_order_threshold_is_the_local_formula():
    # Where the onset is continuous, beta_c is the local-stability threshold with s(alpha) and
    # lam' = lam / alpha (bisection to round-off: 1e-12).
    alphas = np.array([2.0, 4.0, 8.0, 50.0])
    s = spiked_spectrum(alphas).s
    lp = 1.0 / alphas
    np.testing.assert_allclose(
        collapse_threshold(alphas, lam=1.0), s / (1 + lp) - lp / s, atol=1e-12
    )


def test_threshold_and_plateau_are_inverse():
    betas = np.array([1.0, 1.5, 1.9, 1.99])
    a_c = plateau_end(betas, lam=1.0)
    np.testing.assert_allclose(collapse_threshold(a_c, lam=1.0), betas, rtol=1e-9)
    # The plateau diverges as beta -> rho + eta: alpha_c (nu - beta) -> lam (nu + 1/nu) - nu eta
    # / rho = 0.5 (the 1/alpha term of beta_c); within 2 % at nu - beta = 0.01.
    assert a_c[-1] * (NU - 1.99) == pytest.approx(0.5, rel=0.02)
    assert plateau_end(0.5) == 0.0  # lam = 0: learned at every alpha (no plateau)
    assert plateau_end(2.5, lam=1.0) == np.inf
    # lam' = lam / alpha >= s: collapsed at every beta > 0, reported as beta_c = 0 exactly.
    assert collapse_threshold(1.0, lam=4.0) == 0.0


def test_alpha_to_infinity_is_the_online_fixed_point():
    # lam' = lam / alpha -> 0 and s -> nu, c -> 1: the online tau -> 0 learned point with lam = 0.
    for beta in (0.3, 1.0, 1.7):
        point = fixed_points(Model(beta=beta), sgd_noise=False)[0]
        for alpha, tol in ((np.inf, 1e-14), (1e9, 1e-8)):
            sol = solve_offline(alpha, beta=beta, lam=1.0)
            for name in ("m", "d", "Q", "E", "R"):
                assert getattr(sol, name) == pytest.approx(
                    abs(float(getattr(point.state, name).ravel()[0])), abs=tol
                )
            assert sol.D == pytest.approx(float(point.state.D[0]), abs=tol)
            assert sol.eps_g == pytest.approx(point.eps_g, abs=tol)
    assert collapse_threshold(1e9, lam=1.0) == pytest.approx(NU, abs=1e-8)
    assert solve_offline(np.inf, beta=NU).collapsed


def test_population_spectrum_is_the_online_problem_with_lam():
    # With C -> the population covariance (s = nu, c = 1) and lam' = lam, the global minimum is
    # the online learned fixed point with penalty lam (linvae.analysis, tau -> 0).
    for beta, lam in ((0.5, 0.2), (1.0, 0.5), (0.2, 0.8)):
        point = fixed_points(Model(beta=beta, lam=lam), sgd_noise=False)[0]
        sol = solve_spectrum(Spectrum(s=NU, c=1.0, alpha=1.0), beta=beta, lam=lam)
        assert sol.Q == pytest.approx(float(point.state.Q[0, 0]), rel=1e-12)
        assert sol.d == pytest.approx(abs(float(point.state.d[0, 0])), rel=1e-12)
        assert sol.eps_g == pytest.approx(point.eps_g, rel=1e-12)


def test_spectrum_formulas():
    sp = spiked_spectrum(np.array([0.5, bbp_threshold(1.0, 1.0), 3.0]))
    np.testing.assert_allclose(sp.s, [1 * (1 + 0.5**-0.5) ** 2, 4.0, 2 * (1 + 1 / 3)], rtol=1e-15)
    np.testing.assert_allclose(sp.c**2, [0.0, 0.0, (1 - 1 / 3) / (1 + 1 / 3)], atol=1e-15)
    sp2 = spiked_spectrum(4.0, rho=2.0, eta=0.5)  # alpha_BBP = 1/16
    assert sp2.s == pytest.approx(2.5 * (1 + 0.5 / 8))


@pytest.mark.parametrize("alpha", [0.5, 3.0])
def test_spectrum_against_sample_covariances(alpha):
    # Mean over 3 data sets at N = 400 against the N -> infinity values. Measured spread of one
    # draw (20 draws, N = 600): s 0.09 (alpha = 0.5, the bulk edge, O(N^-2/3)) and 0.05
    # (alpha = 3, the spike, O(N^-1/2)); c 0.03 above the transition and c = O(N^-1/2) ~ 0.15
    # below it. Tolerances: about 4 standard errors at N = 400 plus the O(1/N) bias.
    N, rng = 400, np.random.default_rng(7)
    ss, cs = [], []
    for _ in range(3):
        n = int(alpha * N)
        signal = np.sqrt(1.0 / N) * rng.standard_normal((n, 1)) * np.ones(N)
        sp = sample_spectrum(signal + rng.standard_normal((n, N)))
        ss.append(sp.s)
        cs.append(sp.c)
    th = spiked_spectrum(alpha)
    assert np.mean(ss) == pytest.approx(th.s, abs=0.15 if alpha < 1 else 0.1)
    if alpha > 1:
        assert np.mean(cs) == pytest.approx(th.c, abs=0.08)
    else:
        assert th.c == 0.0 and np.mean(cs) < 0.4


def test_interpolation_peak_at_bbp():
    # lam = 1: eps_g over alpha is largest at alpha_BBP (a cusp); lam = 0: decreasing.
    alphas = np.linspace(0.2, 4.0, 381)  # step 0.01, alpha_BBP = 1 on the grid
    peak = solve_offline(alphas, beta=0.5, lam=1.0).eps_g
    assert alphas[np.argmax(peak)] == pytest.approx(1.0)
    plain = solve_offline(alphas, beta=0.5, lam=0.0).eps_g
    assert np.all(np.diff(plain) < 0)


def test_rate_distortion():
    betas = np.linspace(0.05, 1.95, 20)
    pop = solve_offline(np.inf, beta=betas)
    np.testing.assert_allclose(pop.rate, 0.5 * np.log(NU / betas), rtol=1e-13)
    np.testing.assert_allclose(pop.distortion, betas, rtol=1e-13)
    # Finite data: test points lie on or above the Gaussian bound (the KL rate bounds the mutual
    # information, and the bound is Shannon's); training points of small alpha lie below it.
    for alpha in (0.5, 2.0, 10.0):
        sol = solve_offline(alpha, beta=betas, lam=0.1)
        learned = ~sol.collapsed
        bound = gaussian_bound(sol.rate[learned], NU)
        assert np.all(sol.distortion[learned] >= bound - 1e-12)
    small = solve_offline(0.5, beta=betas, lam=0.0)
    assert np.all(small.distortion_train < gaussian_bound(small.rate_train, NU))


def test_bad_input():
    with pytest.raises(ValueError, match="`alpha` parameter of spiked_spectrum"):
        solve_offline(-1.0)
    with pytest.raises(ValueError, match="`beta` parameter of solve_offline"):
        solve_offline(1.0, beta=0.0)
    with pytest.raises(ValueError, match="`lam` parameter of collapse_threshold"):
        collapse_threshold(1.0, lam=-1.0)
    with pytest.raises(ValueError, match="`rho` parameter"):
        solve_offline(1.0, rho=0.0)


def test_plateau_end_is_exactly_the_inverted_local_threshold():
    """rho = eta = lam = 1, alpha >= alpha_BBP = 1: s / (1 + lam') = 2 and lam' / s =
    1 / (2 (1 + alpha)), so beta_c = 2 - 1 / (2 (1 + alpha)) and alpha_c = 0.5 / (2 - beta) - 1
    (docs/offline.md, "The plateau"). Tolerance 1e-11 relative: the bisections end at round-off
    (measured 3e-13), alpha_c up to 500 amplifies beta's round-off by d alpha / d beta."""
    alpha = np.array([1.0, 1.3, 2.0, 5.0, 40.0])
    np.testing.assert_allclose(
        collapse_threshold(alpha, lam=1.0), 2.0 - 0.5 / (1.0 + alpha), rtol=1e-13, atol=0
    )
    beta = np.array([1.75, 1.77, 1.8, 1.9, 1.95, 1.99, 1.999])
    np.testing.assert_allclose(plateau_end(beta, lam=1.0), 0.5 / (2.0 - beta) - 1.0, rtol=1e-11)
    # Below beta = 1.75 the plateau ends below alpha_BBP and the formula does not hold.
    assert plateau_end(1.5, lam=1.0) > 0.5 / (2.0 - 1.5) - 1.0 + 0.3


def test_first_order_region_reaches_finite_beta():
    """Coexistence (a learned local minimum beside a stable collapse) exists at some beta > 0
    iff lam' < s < s_t = sqrt(2 lam' (1 + lam')^2 / (1 + 2 lam')), and spans
    max(beta*, 0) < beta < beta_spinodal of the online transition_betas(s, lam'); beta_c is the
    equal-loss beta. Points within 2 % of the region's edges in s are left out (there the strip
    is narrower than the beta grid). The grid's step bounds the edges' tolerance."""
    from linvae.analysis.threshold import transition_betas

    gen = np.random.default_rng(7)
    lam_eff = gen.uniform(0.05, 5.0, 300)
    s = gen.uniform(0.2, 5.0, 300)
    s_t = np.sqrt(2.0 * lam_eff * (1.0 + lam_eff) ** 2 / (1.0 + 2.0 * lam_eff))
    keep = (np.abs(s / lam_eff - 1.0) > 0.02) & (np.abs(s / s_t - 1.0) > 0.02)
    s, lam_eff, s_t = s[keep], lam_eff[keep], s_t[keep]
    betas = np.geomspace(1e-6, 5.0, 4000)
    ratio = betas[1] / betas[0]
    _, _, stable, local = global_minimum(s[:, None], betas[None, :], lam_eff[:, None])
    coexist = stable & local
    predicted = (lam_eff < s) & (s < s_t)
    np.testing.assert_array_equal(coexist.any(axis=1), predicted)
    assert predicted.sum() > 20 and (predicted & (s**2 > lam_eff * (1 + lam_eff))).sum() > 5
    t = transition_betas(s[predicted], lam_eff[predicted])
    assert np.all(t.first_order)
    for row, k in enumerate(np.flatnonzero(predicted)):
        inside = betas[coexist[k]]
        assert inside.max() <= t.beta_spinodal[row] * (1 + 1e-9)
        assert inside.max() * ratio >= t.beta_spinodal[row]
        if t.beta_star[row] > betas[0]:  # the strip: collapse unstable below beta*
            assert inside.min() >= t.beta_star[row] * (1 - 1e-9)
            assert inside.min() <= t.beta_star[row] * ratio
        else:  # the corner: down to beta -> 0
            assert inside.min() == betas[0]
    # The global minimum jumps at the equal-loss beta (the alpha = 1, lam = 3.8 example).
    t = transition_betas(4.0, 3.8)
    assert collapse_threshold(1.0, lam=3.8) == pytest.approx(t.beta_coexistence, rel=1e-9)
    assert t.beta_star < 0 < t.beta_coexistence < t.beta_spinodal
