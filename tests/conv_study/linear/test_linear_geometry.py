"""Tests of conv_study.linear.geometry: IDs and imbalances measured on points, predicted from
the law."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conv_study.estimators import information_imbalance, twonn_id
from conv_study.linear import Geometry, measure_geometry, predict_geometry, representation_law
from linvae import Model, order_parameters


def _law():
    """The law of a linear VAE with random weights (N = 50, M = M* = 1)."""
    gen = np.random.default_rng(0)
    W, V, W_star = (gen.standard_normal((50, 1)) for _ in range(3))
    return representation_law(order_parameters(W, V, np.ones(1), W_star), Model())


def test_measure_geometry_is_the_estimators_and_nan_where_undefined():
    """Every ID and imbalance is the estimators' own (float64, the same Gram: equal to
    round-off, rtol 1e-12); a representation with fewer than 3 distinct points (a latent that
    is exactly 0) gets nan, and so does every imbalance from or to it."""
    gen = np.random.default_rng(3)
    a = gen.standard_normal((120, 3))
    reps = {"a": a, "b": a[:, :1] + 0.1 * gen.standard_normal((120, 1)), "zero": np.zeros((120, 2))}
    geo = measure_geometry(reps)
    assert geo.names == ("a", "b", "zero") and geo.repeats == 1 and geo.n_points == 120
    assert geo.id_of("a") == pytest.approx(twonn_id(a).id, rel=1e-12)
    pair = information_imbalance(reps["a"], reps["b"])
    assert geo.delta("a", "b") == pytest.approx(pair.a_to_b, rel=1e-12)
    assert geo.delta("b", "a") == pytest.approx(pair.b_to_a, rel=1e-12)
    assert np.isnan(geo.id_of("zero")) and np.isnan(geo.delta("a", "zero"))
    assert np.isnan(geo.delta("zero", "b")) and np.isnan(geo.imbalance[0, 0])
    assert geo.delta_std("a", "b") == 0.0 and np.isnan(geo.delta_std("a", "zero"))


def test_geometry_json_round_trip_is_exact():
    """Through strict JSON and back: the same numbers bit for bit (nan as null), with the
    spreads of a prediction (repeats > 1) and without (a measurement)."""
    gen = np.random.default_rng(4)
    a = gen.standard_normal((80, 2))
    measured = measure_geometry({"a": a, "b": a[:, :1], "zero": np.zeros((80, 1))})
    predicted = predict_geometry(_law(), 60, repeats=3, rng=2)
    for geo in (measured, predicted):
        back = Geometry.from_json(json.loads(json.dumps(geo.to_json(), allow_nan=False)))
        assert back.names == geo.names and back.repeats == geo.repeats
        for field in ("id", "imbalance", "id_std", "imbalance_std"):
            np.testing.assert_array_equal(getattr(back, field), getattr(geo, field))
    with pytest.raises(ValueError, match=r"Not a Geometry written by Geometry\.to_json"):
        Geometry.from_json({"id": {"a": 1.0}})


def test_predict_geometry_is_seeded_and_spreads_over_draws():
    law = _law()
    one = predict_geometry(law, 60, repeats=3, rng=5)
    two = predict_geometry(law, 60, repeats=3, rng=5)
    np.testing.assert_array_equal(one.imbalance, two.imbalance)
    assert one.repeats == 3 and np.all(one.id_std > 0)


def test_predict_geometry_rejects_bad_input():
    law = _law()
    with pytest.raises(ValueError, match="`repeats` parameter of predict_geometry"):
        predict_geometry(law, 100, repeats=0)
    with pytest.raises(ValueError, match="`n_points` parameter of predict_geometry"):
        predict_geometry(law, 2)
