"""The jitted SGD loop against the plain-numpy reference step, on identical random draws."""

import numpy as np
import pytest

from linvae import Model, order_parameters, simulate
from linvae.sgd.kernels import OK, kernel_constants, kernel_state, run_chunk
from linvae.sgd.reference import sample_input, sgd_step
from linvae.sgd.rng import fill_normals, seed_states
from linvae.sgd.simulator import make_teacher

# float64 round-off: each step is O(N M) additions of O(1) numbers, relative error ~1e-15 per
# step; over 20 steps, 1e-12 absolute leaves two orders of magnitude of margin.
ATOL = 1e-12


def _run_kernel(W, V, D, W_star, rho, eta, betas, tau, tau_D, lam, state):
    """Advance copies of (W, V, D) by len(betas) steps with the jitted loop (no records)."""
    ks = kernel_state(W[None], V[None], D[None], state[None], M_star=W_star.shape[1], n_rec=0)
    consts = kernel_constants(W_star, rho, eta, tau=tau, tau_D=tau_D, lam=lam, betas=betas)
    run_chunk(ks, consts)
    assert ks.status[0] == OK
    return ks.W[0].T, ks.V[0].T, ks.D[0], ks.Q[0]


@pytest.mark.parametrize(
    ("N", "M", "M_star", "lam", "rho"),
    [
        (200, 1, 1, 0.0, 1.0),
        (300, 1, 1, 0.1, 2.0),
        (257, 3, 2, 0.0, (1.0, 2.5)),
        (300, 4, 1, 0.05, 1.5),
        (100, 2, 3, 0.0, (0.5, 1.0, 3.0)),
    ],
)
def test_kernel_matches_numpy_reference(N, M, M_star, lam, rho):
    gen = np.random.default_rng(1234)
    W = gen.standard_normal((N, M))
    V = gen.standard_normal((N, M))
    D = gen.uniform(0.5, 1.5, M)
    W_star = make_teacher(N, M_star, rng=5)
    eta, tau, tau_D = 0.7, 0.3, 0.3 / N * 50  # large rates so that the updates matter
    n_steps = 20
    betas = np.linspace(0.2, 1.3, n_steps)  # a time-dependent beta
    state = seed_states([np.random.SeedSequence(99)])[0]

    Wk, Vk, Dk, Qk = _run_kernel(W, V, D, W_star, rho, eta, betas, tau, tau_D, lam, state)

    # Reproduce the draws: per step M_star normals (c) then N normals (n), one stream.
    draws = np.empty(n_steps * (M_star + N))
    fill_normals(state.copy(), draws)
    draws = draws.reshape(n_steps, M_star + N)
    Wr, Vr, Dr = W.copy(), V.copy(), D.copy()
    for step in range(n_steps):
        x = sample_input(W_star, rho, eta, draws[step, :M_star], draws[step, M_star:])
        Wr, Vr, Dr = sgd_step(Wr, Vr, Dr, x, beta=betas[step], tau=tau, tau_D=tau_D, lam=lam)

    np.testing.assert_allclose(Wk, Wr, rtol=0, atol=ATOL)
    np.testing.assert_allclose(Vk, Vr, rtol=0, atol=ATOL)
    np.testing.assert_allclose(Dk, Dr, rtol=0, atol=ATOL)
    np.testing.assert_allclose(Qk, Wr.T @ Wr / N, rtol=0, atol=ATOL)
    # The updates moved the weights by far more than the tolerance.
    assert np.abs(Wr - W).max() > 1e-3


def test_recorded_order_parameters_match_weights():
    run = simulate(
        Model(M=2, M_star=2, rho=(1.0, 2.0), beta=0.5, tau=0.2), N=150, t_max=3, dt=1,
        n_seeds=2, rng=3, return_weights=True,
    )  # fmt: skip
    w = run.weights
    for j in range(2):
        op = order_parameters(w.W[j], w.V[j], w.D[j], w.W_star)
        for name in ("m", "d", "Q", "E", "R", "D"):
            np.testing.assert_allclose(getattr(run, name)[j, -1], getattr(op, name), atol=1e-12)
