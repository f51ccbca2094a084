"""Tests of conv_study.linear.snapshots: one SGD run with its weights kept at chosen times."""

from __future__ import annotations

import numpy as np
import pytest

from conv_study.linear import simulate_snapshots
from linvae import Model, order_parameters


def test_snapshots_follow_one_run():
    """The weights at the snapshot times give the trajectory's order parameters there, the
    schedule runs on across the restarts (every step sees beta at its own time, once), and
    the same seed gives the same snapshots."""
    seen = []

    def beta(t):
        seen.append(np.array(t, dtype=float, ndmin=1))
        return 0.5 * np.tanh(0.05 * np.asarray(t))

    model = Model(beta=beta, tau=0.1)
    N = 100
    snaps = simulate_snapshots(model, N=N, times=[5, 12, 20], dt=1.0, rng=3)
    steps = np.sort(np.concatenate(seen)[np.concatenate(seen) < 1e6])
    np.testing.assert_allclose(steps, np.arange(20 * N) / N, atol=1e-12)
    assert np.all(np.diff(snaps.trajectory.t) > 0)
    assert snaps.trajectory.t[0] == 0 and snaps.trajectory.t[-1] == 20
    for i, t in enumerate(snaps.t):
        k = int(np.flatnonzero(np.isclose(snaps.trajectory.t, t))[0])
        op = order_parameters(snaps.W[i], snaps.V[i], snaps.D[i], snaps.W_star)
        np.testing.assert_allclose(op.Q, snaps.trajectory.Q[0, k], rtol=1e-12)
        np.testing.assert_allclose(op.D, snaps.trajectory.D[0, k], rtol=1e-12)
    again = simulate_snapshots(model, N=N, times=[5, 12, 20], dt=1.0, rng=3)
    np.testing.assert_array_equal(again.W, snaps.W)


@pytest.mark.parametrize(
    ("times", "message"),
    [([], "non-empty list of times"), ([3, 3.001], "at least one SGD step"), ([-1], ">= 0")],
)
def test_snapshot_times_are_checked(times, message):
    with pytest.raises(ValueError, match=f"`times` parameter of simulate_snapshots.*{message}"):
        simulate_snapshots(Model(), N=50, times=times)
