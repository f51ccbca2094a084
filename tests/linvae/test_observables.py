"""One definition per observable: eps_g, the encoder moments, rate and distortion.

The batched (leading-axis) forms must give, point by point, the scalar formulas that the phase
diagrams and the finite-data theory and training used to write out themselves: to the last bit
where M = M_star = 1 (the operations are the same, in the same order), and to round-off for
larger M. The general-M rate and distortion are checked against the expectations computed from
the weights themselves.
"""

import numpy as np
import pytest

from linvae.observables import (
    distortion,
    encoder_moments,
    generalization_error,
    order_parameters,
    rate,
)
from linvae.offline import GradientDescent, make_datasets, solve_offline, train_offline


def _scalar_eps_g(m, Q, rho):
    """The M = M_star = 1 formula as the phase diagrams and the offline code wrote it."""
    return rho - 2.0 * np.sqrt(rho) * np.abs(m) + Q


def _scalar_rate_distortion(m, d, Q, E, R, D, rho, eta):
    """Test-set rate and distortion, M = M_star = 1, as the offline code wrote them."""
    kl = D - np.log(D) - 1.0
    mu2, cross = rho * d**2 + eta * E, rho * m * d + eta * R
    return 0.5 * (mu2 + kl), rho + eta - 2.0 * cross + Q * (mu2 + D)


def test_eps_g_with_a_grid_of_rho_equals_the_scalar_formula_bitwise():
    gen = np.random.default_rng(0)
    rho = gen.uniform(0.1, 3.0, size=(7, 5))
    m = gen.normal(size=(7, 5, 1, 1))
    Q = gen.uniform(0.0, 2.0, size=(7, 5, 1, 1))
    got = generalization_error(m, Q, rho[..., None])
    assert got.shape == (7, 5)
    np.testing.assert_array_equal(got, _scalar_eps_g(m[..., 0, 0], Q[..., 0, 0], rho))


def test_eps_g_batched_equals_per_point_calls():
    """M = 3 latents, M_star = 2 factors: one call on a (4, 6) batch, or 24 calls."""
    gen = np.random.default_rng(1)
    m = gen.normal(size=(4, 6, 3, 2))
    A = gen.normal(size=(4, 6, 3, 3))
    Q = A @ np.swapaxes(A, -1, -2)
    rho = gen.uniform(0.5, 2.0, size=(4, 6, 2))
    got = generalization_error(m, Q, rho)
    for idx in np.ndindex(4, 6):
        assert got[idx] == generalization_error(m[idx], Q[idx], rho[idx])
    # One rho vector for every point is the same as that vector repeated.
    np.testing.assert_array_equal(
        generalization_error(m, Q, rho[0, 0]),
        generalization_error(m, Q, np.broadcast_to(rho[0, 0], rho.shape)),
    )


def test_rate_and_distortion_equal_the_scalar_formulas_bitwise():
    gen = np.random.default_rng(2)
    shape = (3, 8)
    m, d = gen.normal(size=shape), gen.normal(size=shape)
    Q, E = gen.uniform(0.0, 2.0, size=shape), gen.uniform(0.0, 2.0, size=shape)
    R, D = gen.normal(size=shape), gen.uniform(0.05, 1.0, size=shape)
    rho, eta = 1.7, 0.6
    mat = [x[..., None, None] for x in (m, d, Q, E, R)]
    mu2, cross = encoder_moments(mat[0], mat[1], mat[3], mat[4], rho=rho, eta=eta)
    want_rate, want_distortion = _scalar_rate_distortion(m, d, Q, E, R, D, rho, eta)
    np.testing.assert_array_equal(rate(mu2, D[..., None]), want_rate)
    np.testing.assert_array_equal(
        distortion(cross, mat[2], mu2, D[..., None], rho=rho, eta=eta), want_distortion
    )


def test_rate_and_distortion_are_the_expectations_over_the_data_for_general_M():
    """From the weights: E||x - W z/sqrt N||^2 and E KL with the data covariance, exactly.

    Both sides are the same sums in another order: agreement to 1e-12 (relative to the O(1)
    values, float64 round-off over N = 300 terms).
    """
    gen = np.random.default_rng(3)
    N, M, M_star = 300, 3, 2
    rho, eta = np.array([2.0, 0.7]), 0.8
    W_star = gen.normal(size=(N, M_star))
    W, V = 0.5 * gen.normal(size=(N, M)), 0.5 * gen.normal(size=(N, M))
    D = gen.uniform(0.2, 1.0, size=M)
    # The moments assume T = W_star^T W_star / N = I: orthonormalize the teacher's columns.
    W_star = np.sqrt(N) * np.linalg.qr(W_star)[0]
    op = order_parameters(W, V, D, W_star)
    Sigma = W_star @ np.diag(rho) @ W_star.T / N + eta * np.eye(N)
    mu2_w = V.T @ Sigma @ V / N
    cross_w = W.T @ Sigma @ V / N
    rate_w = 0.5 * (np.trace(mu2_w) + np.sum(D - np.log(D) - 1.0))
    recon = np.trace(W.T @ W @ (mu2_w + np.diag(D))) / N
    distortion_w = np.trace(Sigma) - (N - 1) * eta - 2.0 * np.trace(cross_w) + recon
    mu2, cross = encoder_moments(op.m, op.d, op.E, op.R, rho=rho, eta=eta)
    np.testing.assert_allclose(mu2, mu2_w, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cross, cross_w, rtol=0, atol=1e-12)
    assert rate(mu2, D) == pytest.approx(rate_w, abs=1e-12)
    assert distortion(cross, op.Q, mu2, D, rho=rho, eta=eta) == pytest.approx(
        distortion_w, abs=1e-12
    )


def test_offline_theory_uses_the_same_observables_bitwise():
    sol = solve_offline(
        np.array([0.5, 1.0, 2.0, 8.0])[:, None], beta=np.array([0.3, 1.0, 1.9]), lam=1.0
    )
    np.testing.assert_array_equal(sol.eps_g, _scalar_eps_g(sol.m, sol.Q, 1.0))
    want_rate, want_distortion = _scalar_rate_distortion(
        sol.m, sol.d, sol.Q, sol.E, sol.R, sol.D, 1.0, 1.0
    )
    np.testing.assert_array_equal(sol.rate, want_rate)
    np.testing.assert_array_equal(sol.distortion, want_distortion)
    kl = sol.D - np.log(sol.D) - 1.0
    np.testing.assert_array_equal(sol.rate_train, 0.5 * (sol.s * sol.E + kl))
    np.testing.assert_array_equal(
        sol.distortion_train, 2.0 - 2.0 * sol.s * sol.R + sol.Q * (sol.s * sol.E + sol.D)
    )
    scalar = solve_offline(2.0, beta=1.0, lam=1.0)
    assert isinstance(scalar.rate, float) and isinstance(scalar.eps_g, float)


def test_offline_training_uses_the_same_observables_bitwise():
    data = make_datasets(30, [1.0, 3.0], n_seeds=2, rng=5)
    run = train_offline(data, beta=0.8, lam=0.5, method=GradientDescent())
    np.testing.assert_array_equal(run.eps_g, _scalar_eps_g(run.m, run.Q, data.rho))
    want_rate, want_distortion = _scalar_rate_distortion(
        run.m, run.d, run.Q, run.E, run.R, run.D, data.rho, data.eta
    )
    np.testing.assert_array_equal(run.rate, want_rate)
    np.testing.assert_array_equal(run.distortion, want_distortion)
    assert run.rate.shape == run.distortion_train.shape == (4,)
