"""The layer-study pipeline: core without torch, runs with torch, figures and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conv_study import cli
from conv_study.analysis import (
    CheckpointGeometry,
    RunAnalysis,
    analyze_representations,
    checkpoint_seed,
    load_analysis,
    read_profile,
)
from conv_study.estimators import information_imbalance, twonn_id
from conv_study.runs import ANALYSIS_FILE


def fake_representations(n=200, latent=3, seed=0):
    """A 'network' of random linear maps of a 4-dim latent cloud (widths like a tiny VAE)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 4))
    widths = (20, 40, 30, 16, 8, latent, 8, 16, 30, 40, 20)
    reps = {f"l{i}": np.tanh(z @ rng.standard_normal((4, w))) for i, w in enumerate(widths)}
    reps["mu"] = reps["l5"] + 0.01 * rng.standard_normal((n, latent))
    return reps


def test_analyze_representations_matches_estimators():
    reps = fake_representations()
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


def test_analyze_representations_needs_every_layer():
    reps = fake_representations()
    del reps["l7"]
    with pytest.raises(ValueError, match=r"Missing \['l7'\]"):
        analyze_representations(reps)


def test_json_round_trip_keeps_nan():
    geo = analyze_representations(fake_representations(n=80), epoch=0, seed=1)
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


def test_checkpoint_seed_depends_on_seed_and_epoch_only():
    # Pinned values: a checkpoint's noise seed is a fixed function of (run seed, epoch), the
    # same in every process, call order and version (cached analysis.json files rely on it).
    assert checkpoint_seed(0, 5) == 43350064
    assert checkpoint_seed(3, 200) == 1361118339
    assert len({checkpoint_seed(s, e) for s in (0, 1) for e in (0, 1, 2)}) == 6


def write_fake_analysis(run_dir: Path, latent_dim: int, label: str = "blobs") -> None:
    run_dir.mkdir(parents=True)
    checkpoints = tuple(
        analyze_representations(fake_representations(n=60, latent=latent_dim, seed=e), epoch=e)
        for e in (0, 1, 5)
    )
    res = RunAnalysis(
        run_dir=str(run_dir),
        label=label,
        latent_dim=latent_dim,
        settings={"points": 60, "k": 1, "discard": 0.1, "method": "base"},
        checkpoints=checkpoints,
        metrics=tuple({"epoch": e, "kl": 1.0 + e, "recon": 2.0, "loss": 3.0} for e in range(6)),
    )
    (run_dir / ANALYSIS_FILE).write_text(json.dumps(res.to_json()))


def test_figures_cli_writes_the_study_figures(tmp_path):
    for k in (2, 5):
        write_fake_analysis(tmp_path / "runs" / f"blobs-K{k}", k)
    assert load_analysis(tmp_path / "runs" / "blobs-K2").epochs == (0, 1, 5)
    assert cli.main(["figures", str(tmp_path / "runs"), "--out", str(tmp_path / "figs")]) == 0
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == [
        "id_evolution.png",
        "id_profiles.png",
        "imbalance_evolution.png",
        "imbalance_profiles.png",
        "imbalance_vs_K.png",
        "losses.png",
        "relative_imbalance.png",
        "training_phases.png",
    ]
    (tmp_path / "nothing").mkdir()  # no analysis: bad input, exit code 2 (test_cli_messages.py)
    assert cli.main(["figures", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2


def test_id_and_ii_cli_print_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 3))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", a[:, :1])
    assert cli.main(["id", str(tmp_path / "a.npy")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"] == pytest.approx(twonn_id(a).id) and out["n_duplicates"] == 0
    assert cli.main(["ii", str(tmp_path / "a.npy"), str(tmp_path / "b.npy")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["a_to_b"] < out["b_to_a"] and out["relative_difference"] < 0
    assert cli.main(["id", str(tmp_path / "a.npy"), "--scaling"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"] == pytest.approx(twonn_id(a).id) and out["n_points"] == 300
    assert out["scaling"]["n_points"][0] == 300 and out["scaling"]["id"][0] == out["id"]
    np.save(tmp_path / "short.npy", a[:10])
    assert cli.main(["ii", str(tmp_path / "a.npy"), str(tmp_path / "short.npy")]) == 2
    assert "same points" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# Runs (torch)
# --------------------------------------------------------------------------------------


@pytest.mark.torch
def test_analyze_run_is_cached_incremental_and_reproducible(tiny_run, monkeypatch):
    from conv_study import analysis

    calls = []
    original = analysis.analyze_representations

    def counting(*args, **kwargs):
        calls.append(kwargs["epoch"])
        return original(*args, **kwargs)

    monkeypatch.setattr(analysis, "analyze_representations", counting)
    first = analysis.analyze_run(tiny_run, points=50, epochs=[0])
    assert calls == [0] and first.epochs == (0,)
    full = analysis.analyze_run(tiny_run, points=50)
    assert calls == [0, 1, 2] and full.epochs == (0, 1, 2)
    # The cached checkpoint, untouched (compared as JSON: nan != nan).
    assert full.checkpoints[0].to_json() == first.checkpoints[0].to_json()
    again = analysis.analyze_run(tiny_run, points=50, epochs=[1], force=True)
    assert calls == [0, 1, 2, 1]
    redo = again.checkpoints[1]
    assert redo.id == full.checkpoints[1].id  # same per-checkpoint seed, same numbers
    assert redo.delta_forward == full.checkpoints[1].delta_forward
    assert redo.seed == checkpoint_seed(0, 1)
    assert load_analysis(tiny_run).epochs == (0, 1, 2)
    assert full.metrics[0]["epoch"] == 0 and full.metrics[-1]["kl"] is not None
    assert 1.0 < full.data_id < 4.0  # 2-parameter blobs


@pytest.mark.torch
def test_analyze_cli_and_points_validation(tiny_run):
    assert cli.main(["analyze", str(tiny_run), "--points", "40", "--epochs", "2"]) == 0
    assert load_analysis(tiny_run).settings["points"] == 40
    from conv_study.analysis import analyze_run

    with pytest.raises(ValueError, match=r"`points` parameter of analyze_run must be in \[1, 60\]"):
        analyze_run(tiny_run, points=61)
    with pytest.raises(ValueError, match="without a checkpoint"):
        analyze_run(tiny_run, points=40, epochs=[7])
