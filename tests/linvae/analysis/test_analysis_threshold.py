"""The named collapse transition: beta*, spinodal, coexistence, continuous or first order."""

from __future__ import annotations

import numpy as np
import pytest

from linvae import Model
from linvae.analysis.threshold import (
    TransitionBetas,
    block_loss,
    collapse_threshold,
    transition_betas,
)


def _grid_minima(nu, beta, lam):
    """Local minima of the block loss l(q) on a fine grid in q > 0 (no cubic involved)."""
    q = np.linspace(1e-6, 3.0, 300_001)
    v = block_loss(q, nu, beta, lam)
    inner = (v[1:-1] < v[:-2]) & (v[1:-1] < v[2:])
    return q[1:-1][inner], v[1:-1][inner]


def test_continuous_when_no_penalty():
    t = transition_betas(2.0, 0.0)
    assert t == TransitionBetas(2.0, 2.0, 2.0, False)


def test_first_order_strip_at_lam_1p8(block_cubic_roots):
    """rho = eta = 1, lam = 1.8: beta* < 0, yet a learned point lives up to the spinodal."""
    t = transition_betas(2.0, 1.8)
    assert t.first_order
    assert t.beta_star == pytest.approx(2 / 2.8 - 0.9, abs=1e-15)
    # Independent: the cubic's two nonzero roots exist just below the spinodal and merge there.
    # 1e-7 relative margins: the spinodal is a double root, known to round-off (~1e-12).
    assert block_cubic_roots(2.0, t.beta_spinodal * (1 - 1e-7), 1.8).size == 2
    assert block_cubic_roots(2.0, t.beta_spinodal * (1 + 1e-7), 1.8).size == 0
    assert t.beta_spinodal == pytest.approx(0.0109373, abs=1e-7)
    assert t.beta_coexistence == pytest.approx(0.0073188, abs=1e-7)
    # At coexistence the learned (larger) root has the collapsed point's loss, 0.
    u = block_cubic_roots(2.0, t.beta_coexistence, 1.8)[-1]
    q = u - t.beta_coexistence
    assert abs(block_loss(q, 2.0, t.beta_coexistence, 1.8)) < 1e-12


@pytest.mark.parametrize("lam", [1.4, 1.5, 1.8])
def test_loss_landscape_agrees(lam):
    """A grid search of l(q) finds a local minimum at q > 0 exactly below the spinodal; its
    value changes sign at the coexistence beta. Margins: a tenth of the strip's width, far
    above the grid's resolution (q step 1e-5 against a learned q of order 0.05)."""
    t = transition_betas(2.0, lam)
    assert t.first_order
    assert max(t.beta_star, 0) < t.beta_coexistence < t.beta_spinodal
    delta = 0.1 * (t.beta_spinodal - max(t.beta_star, 0))
    assert _grid_minima(2.0, t.beta_spinodal - delta, lam)[0].size == 1
    assert _grid_minima(2.0, t.beta_spinodal + delta, lam)[0].size == 0
    for sign in (-1, 1):
        value = _grid_minima(2.0, t.beta_coexistence + sign * delta, lam)[1]
        assert value.size == 1 and np.sign(value[0]) == sign


def test_strip_edges():
    """First order from the tricritical lam (between 1.34 and 1.35 for nu = 2) up to lam = nu,
    where the learned point at beta -> 0 (q = 1 - lam / nu) disappears."""
    lam = np.array([1.0, 1.34, 1.35, 1.99, 2.0, 3.0])
    t = transition_betas(2.0, lam)
    np.testing.assert_array_equal(t.first_order, [False, False, True, True, False, False])
    continuous = ~t.first_order
    np.testing.assert_array_equal(t.beta_spinodal[continuous], t.beta_star[continuous])
    np.testing.assert_array_equal(t.beta_coexistence[continuous], t.beta_star[continuous])


def test_broadcasting_and_scalars():
    nu = np.array([1.0, 2.0, 4.0])
    lam = np.array([[0.0], [1.5]])
    t = transition_betas(nu, lam)
    assert all(np.shape(x) == (2, 3) for x in t)
    for i in range(2):
        for j in range(3):
            one = transition_betas(float(nu[j]), float(lam[i, 0]))
            assert isinstance(one.beta_star, float) and isinstance(one.first_order, bool)
            assert one == tuple(x[i, j] for x in t)


def test_bad_input():
    with pytest.raises(ValueError, match="The `nu` parameter of transition_betas"):
        transition_betas(0.0, 1.0)
    with pytest.raises(ValueError, match="The `lam` parameter of transition_betas"):
        transition_betas(1.0, [0.1, -1.0])


def test_collapse_threshold_reports_the_transition():
    th = collapse_threshold(Model(M=2, M_star=2, rho=(1.0, 3.0), eta=1.0, lam=1.5))
    assert th.per_factor_transition == ("first-order", "continuous")
    assert th.transition == "continuous"  # the strong factor decides the total
    assert th.beta_spinodal == th.beta_star == th.beta_coexistence == pytest.approx(1.225)
    d = th.as_dict()
    assert d["factors"][0]["transition"] == "first-order"
    assert d["factors"][0]["beta_spinodal"] == pytest.approx(transition_betas(2.0, 1.5)[1])
    assert set(d["spare_latent_transition"]) == {
        "transition",
        "beta_star",
        "beta_spinodal",
        "beta_coexistence",
    }
    th = collapse_threshold(Model(rho=1.0, eta=1.0, lam=1.8), method="numerical")
    assert th.transition == "first-order"
    assert th.beta_coexistence < th.beta_spinodal
    assert "first-order" in th.message() and "spare latent" in th.message()
