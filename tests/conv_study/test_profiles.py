"""The layer profile of one checkpoint (conv_study.profiles): estimators, JSON, reading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conv_study.estimators import information_imbalance, twonn_id
from conv_study.profiles import CheckpointGeometry, analyze_representations, read_profile


def test_analyze_representations_matches_estimators(fake_layers):
    reps = fake_layers()
    geo = analyze_representations(reps, epoch=3, seed=7)
    assert geo.layers == tuple(f"l{i}" for i in range(11))
    assert len(geo.id) == 11 and len(geo.delta_forward) == 10
    assert geo.epoch == 3 and geo.seed == 7 and geo.n_points == 200
    assert geo.id[4] == pytest.approx(twonn_id(reps["l4"]).id, rel=1e-12)
    assert geo.id_mu == pytest.approx(twonn_id(reps["mu"]).id, rel=1e-12)
    pair = information_imbalance(reps["l2"], reps["l3"])
    assert geo.delta_forward[2] == pair.a_to_b and geo.delta_backward[2] == pair.b_to_a
    assert geo.delta_to_first[10] == information_imbalance(reps["l10"], reps["l0"]).a_to_b
    assert geo.delta_to_last[5] == information_imbalance(reps["l5"], reps["l10"]).a_to_b
    assert np.isnan(geo.delta_to_first[0]) and np.isnan(geo.delta_to_last[10])
    f, b = geo.delta_forward[0], geo.delta_backward[0]
    assert geo.relative_difference[0] == pytest.approx((f - b) / ((f + b) / 2))


def test_analyze_representations_needs_every_layer(fake_layers):
    reps = fake_layers()
    del reps["l7"]
    with pytest.raises(ValueError, match=r"Missing \['l7'\]"):
        analyze_representations(reps)


def test_json_round_trip_keeps_nan(fake_layers):
    geo = analyze_representations(fake_layers(n=80), epoch=0, seed=1)
    back = CheckpointGeometry.from_json(json.loads(json.dumps(geo.to_json())))
    assert back.id == geo.id and back.layers == geo.layers
    assert np.isnan(back.delta_to_first[0])
    np.testing.assert_array_equal(back.delta_to_last, geo.delta_to_last)


@pytest.mark.parametrize(
    ("ids", "k", "shape", "predicted"),
    [
        ([12, 60, 80, 50, 30, 8, 8.2, 8.1, 8.3, 8.2, 8], 8, "single", "single"),
        ([12, 60, 80, 50, 30, 32, 40, 60, 70, 40, 12], 32, "double", "double"),
        ([5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5], None, "none", None),
    ],
)
def test_read_profile(ids, k, shape, predicted):
    reading = read_profile(ids, latent_dim=k)
    assert reading.shape == shape
    assert reading.predicted_shape == predicted
    assert reading.data_id == ids[0]
    if shape != "none":
        assert reading.encoder_peaks == (2,)
