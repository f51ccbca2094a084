"""Phase diagrams: labels from eigenvalues against the analytic boundaries, maps, plots."""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest

from linvae import Model
from linvae.analysis import fixed_points
from linvae.analysis.phase import annealing_diagram, penalty_diagram, stability_diagram

matplotlib.use("Agg")


@pytest.mark.parametrize(
    "M, axis, values",
    [
        (1, "rho", np.linspace(0.1, 3.0, 12)),
        (1, "eta", np.linspace(0.1, 2.0, 9)),
        (2, "lam", np.linspace(0.0, 0.8, 7)),
    ],
)
def test_stability_labels_match_threshold_formula(M, axis, values):
    """Learned exactly where beta < beta*(y) (grid kept 1e-3 away from the boundary)."""
    betas = np.linspace(0.013, 3.7, 23)
    pd = stability_diagram(Model(M=M, tau=0.01), betas=betas, values=values, axis=axis)
    beta_star = pd.boundary["beta_star"][:, None]
    assert np.min(np.abs(betas[None, :] - beta_star)) > 1e-3
    np.testing.assert_array_equal(pd.values["phase"] == "learned", betas[None, :] < beta_star)
    assert set(np.unique(pd.values["phase"])) <= {"learned", "collapsed"}
    assert np.all(pd.values["top_eigenvalue"] < 0)


def test_stability_diagram_values_match_fixed_points():
    """eps_g* and J_max of the diagram equal those of fixed_points (same closed forms and
    Jacobians: round-off, 1e-12)."""
    betas = np.array([0.4, 1.3, 2.6])  # beta = eta = 1 would be marginal for M = 2
    rhos = np.array([0.5, 1.0])
    pd = stability_diagram(Model(M=2, tau=0.01), betas=betas, values=rhos)
    for i, rho in enumerate(rhos):
        for j, beta in enumerate(betas):
            model = Model(M=2, rho=rho, beta=beta, tau=0.01)
            stable = [
                p for p in fixed_points(model, sgd_noise=False) if p.stability.value == "stable"
            ]
            assert len(stable) == 1
            assert pd.values["eps_g_star"][i, j] == pytest.approx(stable[0].eps_g, abs=1e-12)
            assert pd.values["top_eigenvalue"][i, j] == pytest.approx(
                stable[0].top_eigenvalue, abs=1e-12
            )
    example = stability_diagram(Model(tau=0.01), betas=np.array([1.0]), values=np.array([1.0]))
    assert example.values["top_eigenvalue"][0, 0] == pytest.approx(
        -0.01 * (3 - math.sqrt(5)) / 2, rel=1e-12
    )


def test_penalty_diagram():
    pd = penalty_diagram(Model(), Ms=np.array([1, 2, 4]), betas=np.array([0.25, 1.0, 1.5]))
    np.testing.assert_allclose(
        pd.values["penalty"], [[0, 0, 0], [0.75, 0, 0], [2.25, 0, 0]], atol=1e-15
    )
    rate = pd.values["spare_latent_rate"][0]
    assert rate[0] > 0 and abs(rate[1]) < 1e-15 and rate[2] < 0  # beta = eta: marginal


def test_annealing_diagram_small():
    """One beta_f near the threshold: annealing near gamma_c beats constant beta."""
    model = Model(tau=0.05)
    gammas = np.geomspace(0.002, 0.05, 4)
    pd = annealing_diagram(model, gammas=gammas, beta_finals=np.array([1.0, 1.8]))
    assert pd.values["t_conv"].shape == (2, 4)
    assert np.all(np.isfinite(pd.boundary["t_conv_constant"]))
    assert np.nanmax(pd.values["speedup"][1]) > 1.0
    json.dumps(pd.as_dict(arrays=True))


def test_plots_and_json(tmp_path):
    from linvae.plot.phase import plot_phase_diagram
    from linvae.plot.trajectory import save_figure

    pd = stability_diagram(
        Model(), betas=np.linspace(0.1, 3, 8), values=np.linspace(0.1, 2, 5), axis="lam"
    )
    for value in (None, "phase", "top_eigenvalue"):
        ax = plot_phase_diagram(pd, value)
        path = save_figure(ax.figure, tmp_path / f"pd_{value}.png")
        assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="The `value` parameter of plot_phase_diagram"):
        plot_phase_diagram(pd, "nope")
    summary = json.loads(json.dumps(pd.as_dict(arrays=True)))
    assert summary["shape"] == [5, 8] and summary["kind"] == "beta-lam"


def test_validation():
    with pytest.raises(ValueError, match="The `axis` parameter of stability_diagram"):
        stability_diagram(Model(), betas=np.ones(2), values=np.ones(2), axis="tau")
    with pytest.raises(ValueError, match="must have M_star = 1"):
        stability_diagram(Model(M_star=2, M=2), betas=np.ones(2), values=np.ones(2))
