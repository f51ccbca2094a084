"""Hysteresis, basins and the first-order lines of the phase diagrams (docs/hysteresis.md).

rho = eta = 1 (nu = 2), lam = 1.5: beta* = 0.05, spinodal 0.0856, equal loss 0.0810 (tau -> 0).
The tau -> 0 drift depends on tau t only, so tau = 0.05 runs the dynamics of tau = 0.01 five
times sooner.
"""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

from linvae import Model
from linvae.analysis.attractors import attractor
from linvae.analysis.hysteresis import basin_diagram, beta_sweep, transition_lines
from linvae.analysis.phase import stability_diagram
from linvae.analysis.threshold import transition_betas
from linvae.cli import main
from linvae.offline.phase import offline_phase_diagram
from linvae.offline.theory import collapse_threshold as offline_threshold
from linvae.plot.offline import plot_offline_phase_diagram
from linvae.plot.phase import plot_hysteresis, plot_phase_diagram

matplotlib.use("Agg")

STRIP = {"rho": 1.0, "eta": 1.0, "lam": 1.5, "tau": 0.05}


def test_sweep_keeps_the_learned_branch_beyond_beta_star_and_drops_it_past_the_spinodal(
    block_cubic_roots,
):
    """Going up, beta = 0.07 (> beta* = 0.05, < spinodal 0.0856) stays learned and 0.12 (past
    the spinodal) collapses; coming down, 0.07 stays collapsed and 0.03 (< beta*, where
    collapse is unstable) learns again. The learned Q at 0.07 is the cubic's largest root
    (to the attractor's xtol 1e-6)."""
    h = beta_sweep(Model(**STRIP), np.array([0.03, 0.07, 0.12]), N=10_000)
    assert h.converged
    assert h.learned_up.tolist() == [True, True, False]
    assert h.learned_down.tolist() == [True, False, False]
    assert h.hysteretic_betas.tolist() == [0.07]
    assert h.beta_jump_up == 0.12 and h.beta_jump_down == 0.03
    assert h.lines["first_order"] and h.lines["beta_star"] < 0.07 < h.lines["beta_spinodal"]
    assert h.q_up[1] == pytest.approx(block_cubic_roots(2.0, 0.07, 1.5)[-1] - 0.07, abs=1e-5)
    assert h.q_down[1] == 0.0 and h.eps_g_down[1] == pytest.approx(1.0, abs=1e-12)
    out = h.as_dict()
    assert json.loads(json.dumps(out))["learned_up"] == [True, True, False]
    ax = plot_hysteresis(h)
    labels = ax.get_legend_handles_labels()[1]
    assert any(t.startswith("spinodal") for t in labels)
    assert any(t.startswith("equal loss") for t in labels)


def test_sweep_is_reversible_where_the_transition_is_continuous():
    """lam = 0.5: no strip, the two sweeps agree at every beta."""
    h = beta_sweep(Model(rho=1.0, eta=1.0, lam=0.5, tau=0.05), np.array([0.5, 1.0, 1.5]))
    assert not h.lines["first_order"]
    assert h.learned_up.tolist() == h.learned_down.tolist() == [True, True, False]
    assert h.hysteretic_betas.size == 0


def test_basin_fractions_across_the_strip():
    """Same 4 fresh states (N = 200, seed 0) at every grid point: all learned below beta*,
    1 of 4 at beta = 0.062 inside the strip, none past the spinodal; lam = 1.0 (continuous at
    beta* = 0.5) is learned at all three."""
    betas = np.array([0.03, 0.062, 0.12])
    calls = []
    pd = basin_diagram(Model(**STRIP), betas=betas, values=np.array([1.0, 1.5]), n_init=4,
                       progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert pd.values["learned_fraction"].tolist() == [[1.0, 1.0, 1.0], [1.0, 0.25, 0.0]]
    assert calls[-1] == (6, 6) and len(calls) == 6
    single = attractor(Model(beta=0.062, **STRIP), n_init=4, N=200, rng=0, sgd_noise=False)
    assert pd.values["learned_fraction"][1, 1] == single.learned_fraction
    assert pd.boundary["beta_spinodal"][1] > pd.boundary["beta_star"][1]
    assert pd.boundary["beta_spinodal"][0] == pd.boundary["beta_star"][0]


def test_stability_diagram_draws_the_strip():
    """beta-lam: the boundary carries the three lines of transition_betas, grid points between
    beta* and the spinodal are labelled 'coexistence', and the plot labels both new lines."""
    betas = np.linspace(0.005, 0.2, 40)
    lams = np.array([1.0, 1.5, 1.8])
    pd = stability_diagram(Model(), betas=betas, values=lams, axis="lam")
    t = transition_betas(2.0, lams)
    np.testing.assert_array_equal(pd.boundary["beta_spinodal"], t.beta_spinodal)
    np.testing.assert_array_equal(pd.boundary["beta_coexistence"], t.beta_coexistence)
    phase = pd.values["phase"]
    for i in range(lams.size):
        inside = (betas > t.beta_star[i]) & (betas < t.beta_spinodal[i])
        assert np.all(phase[i, inside] == "coexistence")
        assert not np.any(phase[i, ~inside] == "coexistence")
    assert not np.any(phase[0] == "coexistence")  # lam = 1: continuous
    labels = plot_phase_diagram(pd).get_legend_handles_labels()[1]
    assert "spinodal: the learned branch ends" in labels
    assert "equal loss (learned = collapsed)" in labels
    assert "coexistence: learned and collapsed both stable" in labels


def test_transition_lines_of_a_model():
    lines = transition_lines(Model(rho=1.0, eta=1.0, lam=1.8))
    assert lines["first_order"]
    assert lines["beta_star"] == pytest.approx(2 / 2.8 - 0.9, abs=1e-12)
    rho_lines = transition_lines(Model(lam=1.5), np.array([0.5, 1.0]), axis="rho")
    assert rho_lines["first_order"].tolist() == [False, True]


def test_offline_diagram_equal_loss_line_is_beta_c():
    """Offline, lam = 10: where the transition is first order the equal-loss line is the
    collapse of the global minimum beta_c(alpha) (two independent bisections, to 1e-9)."""
    alphas = np.geomspace(3.0, 8.0, 25)
    pd = offline_phase_diagram(alphas, np.linspace(0.001, 0.1, 5), lam=10.0)
    first = pd.boundary["beta_spinodal"] > pd.boundary["beta_star"]
    assert first.any() and not first.all()
    beta_c = offline_threshold(alphas[first], lam=10.0)
    np.testing.assert_allclose(pd.boundary["beta_coexistence"][first], beta_c, rtol=1e-9)
    labels = plot_offline_phase_diagram(pd).get_legend_handles_labels()[1]
    assert "spinodal: the learned minimum ends" in labels


def test_cli_attractor_and_hysteresis(tmp_path, capsys):
    assert main(["attractor", "--lam", "1.5", "--beta", "0.072", "--tau", "0.05",
                 "--n-init", "2", "--no-sgd-noise"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["learned_fraction"] == 0.0 and out["points"][0]["name"] == "collapsed"
    ramp = ["--anneal", "linear", "--t-ramp", "4000", "--beta-initial", "0.025"]
    assert main(["attractor", "--lam", "1.5", "--beta", "0.072", "--tau", "0.05",
                 "--n-init", "2", "--no-sgd-noise", *ramp]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["learned_fraction"] == 1.0
    fig = tmp_path / "h.png"
    assert main(["hysteresis", "--lam", "1.5", "--tau", "0.05", "--beta-min", "0.03",
                 "--beta-max", "0.12", "--n-beta", "3", "--out", str(fig)]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert fig.stat().st_size > 0 and out["learned_down"] == [True, False, False]
    assert main(["hysteresis", "--beta-min", "0.2", "--beta-max", "0.1"]) != 0
    assert "--beta-min must be > 0 and below --beta-max" in capsys.readouterr().err


@pytest.mark.slow
def test_sgd_at_large_N_confirms_the_coexistence():
    """SGD at N = 10^4, tau = 0.4, lam = 1.5, beta = 0.072 (inside the strip at this tau):
    started at the learned point (weights built from the ODE's fixed point) it stays learned,
    started fresh it collapses, as the ODE says. Tolerances: Q within 0.03 of the learned
    point (SGD fluctuations, O(N^-1/2) = 0.01, over t = 20), Q < 0.01 once collapsed."""
    from linvae.sgd.simulator import simulate

    N, tau = 10_000, 0.4
    model = Model(beta=0.072, rho=1.0, eta=1.0, lam=1.5, tau=tau)
    from linvae import LinearRamp

    ramp = Model(rho=1.0, eta=1.0, lam=1.5, tau=tau,
                 beta=LinearRamp(beta_initial=0.005, beta_final=0.072, t_ramp=300.0))  # fmt: skip
    learned = attractor(ramp, n_init=1, N=N, sgd_noise=True).point
    assert learned.name == "learned"
    m, d = learned.state.m[0, 0], learned.state.d[0, 0]
    Q, E, R = learned.state.Q[0, 0], learned.state.E[0, 0], learned.state.R[0, 0]
    gen = np.random.default_rng(5)
    W_star = np.ones((N, 1))
    basis, _ = np.linalg.qr(np.column_stack([W_star[:, 0], gen.standard_normal((N, 2))]))
    e, g = basis[:, 1] * np.sqrt(N), basis[:, 2] * np.sqrt(N)
    a = np.sqrt(max(Q - m * m, 0.0))
    c = (R - m * d) / a if a > 0 else 0.0
    f = np.sqrt(max(E - d * d - c * c, 0.0))
    weights = {
        "W": (m * W_star[:, 0] + a * e)[:, None],
        "V": (d * W_star[:, 0] + c * e + f * g)[:, None],
        "D": learned.state.D.copy(),
    }
    stay = simulate(model, N=N, t_max=20.0, dt=10.0, init=weights, rng=0, n_threads=1)
    assert abs(stay.Q[0, -1, 0, 0] - Q) < 0.03
    fresh = simulate(model, N=N, t_max=20.0, dt=10.0, rng=0, n_threads=1)
    assert fresh.Q[0, -1, 0, 0] < 0.01
