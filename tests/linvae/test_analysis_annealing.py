"""KL annealing and superfluous latents against ODE runs (docs/results.md, sections "Claim 2"
and "Claim 3")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from linvae import LinearRamp, Model, TanhAnneal
from linvae.analysis.annealing import (
    convergence_time,
    critical_rate,
    optimal_annealing_rate,
    settling_time,
)
from linvae.analysis.superfluous import (
    convergence_vs_latents,
    decay_exponent,
    superfluous_dynamics,
    superfluous_error,
)
from linvae.observables import pack_state
from linvae.theory import solve_ode
from linvae.theory.initial import initial_order_parameters


def test_critical_rate_paper_example_and_finite_tau():
    """tau -> 0: J_max = -tau (3 - sqrt 5)/2 (round-off, 1e-12); finite tau shifts it by O(tau^2).

    The shift bound 10 tau |J_max| is O(tau^2) with a generous constant."""
    tau = 0.01
    exact = -tau * (3 - math.sqrt(5)) / 2
    rate = critical_rate(Model(beta=1.0, tau=tau), sgd_noise=False)
    assert rate.J_max == pytest.approx(exact, rel=1e-12)
    assert rate.gamma_c == pytest.approx(-exact / 2, rel=1e-12)
    noisy = critical_rate(Model(beta=TanhAnneal(beta_final=1.0, gamma=1.0), tau=tau))
    assert noisy.beta_final == 1.0
    assert abs(noisy.J_max - exact) < 10 * tau * abs(exact)


@pytest.mark.parametrize("factor", [0.3, 3.0])
def test_late_decay_rate_is_min_of_2gamma_and_J_max(factor):
    """Distance to the fixed point ~ exp(-min(2 gamma, |J_max|) t) for gamma below/above gamma_c.

    Fit of log distance on [1e-7, 1e-4] (ODE rtol 1e-11, atol 1e-15: the distance is resolved
    to ~1e-10 relative). The next-slowest contribution is smaller by exp(-|J_max - 2 gamma| t)
    (>= e^-12 over the window here), so 1% is a loose bound on the fitted rate.
    """
    tau = 0.05
    rate = critical_rate(Model(beta=1.0, tau=tau))
    gamma = factor * rate.gamma_c
    expected = min(2 * gamma, abs(rate.J_max))
    model = Model(beta=TanhAnneal(beta_final=1.0, gamma=gamma), tau=tau)
    t_max = 40.0 / expected
    sol = solve_ode(
        model,
        t_max=t_max,
        init=initial_order_parameters(model),
        dt=t_max / 2000,
        rtol=1e-11,
        atol=1e-15,
    )
    dist = rate.attractor.distance(pack_state(sol.order_parameters())[0])
    window = (dist > 1e-7) & (dist < 1e-4)
    assert window.sum() > 20
    slope = np.polyfit(sol.t[window], np.log(dist[window]), 1)[0]
    assert -slope == pytest.approx(expected, rel=0.01)


def test_settling_time_edges():
    t = np.arange(5.0)
    assert settling_time(t, np.zeros(5), 0.0, 0.1) == 0.0
    assert settling_time(t, np.ones(5), 0.0, 0.1) == math.inf
    # Re-entering the band resets the clock.
    assert settling_time(t, np.array([1, 0, 1, 0, 0.0]), 0.0, 0.5) == pytest.approx(2.5)


def test_convergence_time_any_schedule_and_optimum():
    """T_conv from ODE runs; the optimum beats constant beta near the threshold (beta_f = 1.8)."""
    tau = 0.05
    model = Model(beta=LinearRamp(beta_final=1.0, t_ramp=200.0), tau=tau)
    init = initial_order_parameters(model)
    ramp = convergence_time(model, init=init, tol=1e-3)
    assert ramp.converged and ramp.t_conv > 200.0 * 0.5
    assert abs(ramp.trajectory.eps_g[0, -1] - ramp.eps_g_star) < 1e-3

    near = Model(beta=1.8, tau=tau)
    opt = optimal_annealing_rate(near, init=initial_order_parameters(near), n_grid=6)
    assert opt.gammas.size > 6  # grid + refinement
    assert opt.t_conv_opt <= opt.t_conv.min() + 1e-12
    assert opt.speedup > 1.5
    assert opt.as_dict()["gamma_opt"] == opt.gamma_opt


# ----------------------------------------------------------------------------- superfluous
def test_superfluous_error_formula():
    """(sqrt rho - sqrt(nu - beta))^2 + (M - M_star)(eta - beta) for beta < eta, else no term."""
    beta = np.array([0.25, 0.5, 1.0, 1.5])
    for M in (1, 2, 4):
        expected = (1 - np.sqrt(2 - beta)) ** 2 + (M - 1) * np.clip(1 - beta, 0, None)
        np.testing.assert_allclose(superfluous_error(M, beta), expected, rtol=1e-14)
    assert superfluous_error(2, 2.5) == 1.0  # everything collapsed: eps_g = rho


@pytest.mark.parametrize("beta", [0.5, 1.4])
def test_superfluous_dynamics_reaches_formula(beta):
    """ODE with M = 2 (tau -> 0 drift) ends at the formula's eps_g* (within 1e-6: solver
    rtol 1e-9 and at least 15 relaxation times)."""
    model = Model(M=2, beta=beta, tau=0.05)
    res = superfluous_dynamics(model, t_max=5000.0, sgd_noise=False)
    assert res.eps_g_star == pytest.approx(res.eps_g_formula, abs=1e-12)
    assert abs(res.trajectory.eps_g[0, -1] - res.eps_g_formula) < 1e-6
    assert res.attractor.name == ("learned+noise" if beta < 1 else "learned+collapsed")
    # Entangled then disentangled: one latent ends with the whole factor.
    assert res.share[-1].max() > 1 - 1e-6
    assert 0 < res.t_disentangle < math.inf


def test_algebraic_convergence_at_beta_equal_eta():
    """beta = eta: eps_g - eps_g* ~ 1/t (the spare mode is marginal). The fitted log-log slope
    over t in [1e4, 2e5] is -1 within 0.05 (the correction is O(log t / t) relative)."""
    model = Model(M=2, beta=1.0, tau=0.05)
    t_eval = np.concatenate([[0.0], np.geomspace(1.0, 2e5, 300)])
    res = superfluous_dynamics(
        model, t_max=2e5, t_eval=t_eval, sgd_noise=False, rtol=1e-10, atol=1e-13
    )
    assert res.attractor.stability.value == "marginal"
    exponent = decay_exponent(res.trajectory.t, res.trajectory.eps_g[0] - res.eps_g_star, t_min=1e4)
    assert exponent == pytest.approx(-1.0, abs=0.05)
    # Away from beta = eta the approach is exponential: far faster by the same time.
    fast = superfluous_dynamics(Model(M=2, beta=0.5, tau=0.05), t_max=2e4, sgd_noise=False)
    assert abs(fast.trajectory.eps_g[0, -1] - fast.eps_g_star) < 1e-8


def test_convergence_slower_with_spare_latents():
    """Spare latents slow convergence; eps_g* gains (M - M_star)(eta - beta) (tau -> 0 drift,
    closed forms: round-off tolerance)."""
    res = convergence_vs_latents(Model(beta=0.5, tau=0.05), [1, 2], t_max=4000.0, sgd_noise=False)
    assert res.t_conv[1] > 1.5 * res.t_conv[0]
    np.testing.assert_allclose(res.eps_g_star, res.eps_g_formula, atol=1e-12)
    assert res.as_dict()["M"] == [1, 2]
