"""The layer study of a run (conv_study.analysis): cache, seeds, runs with torch, figures, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conv_study import cli
from conv_study.analysis import RunAnalysis, checkpoint_seed, load_analysis
from conv_study.estimators import twonn_id
from conv_study.profiles import analyze_representations
from conv_study.runs import ANALYSIS_FILE


def test_checkpoint_seed_depends_on_seed_and_epoch_only():
    # Pinned values: a checkpoint's noise seed is a fixed function of (run seed, epoch), the
    # same in every process, call order and version (cached analysis.json files rely on it).
    assert checkpoint_seed(0, 5) == 43350064
    assert checkpoint_seed(3, 200) == 1361118339
    assert len({checkpoint_seed(s, e) for s in (0, 1) for e in (0, 1, 2)}) == 6


def test_analysis_offers_the_profile_names_and_documents_its_own():
    """The names that moved to conv_study.profiles are still offered by conv_study.analysis
    (the same objects), and the API page renders each once: the analysis block lists exactly
    the names that conv_study.analysis defines itself."""
    import re

    from conv_study import analysis, profiles

    for name in profiles.__all__:
        assert getattr(analysis, name) is getattr(profiles, name) and name in analysis.__all__
    own = {
        name
        for name in analysis.__all__
        if getattr(getattr(analysis, name), "__module__", None) == analysis.__name__
    }
    page = (Path(__file__).resolve().parents[2] / "docs" / "api" / "conv_study.md").read_text()
    listed = re.search(r"::: conv_study\.analysis\n +options:\n +members: \[(.*)\]", page)
    assert listed is not None and set(listed.group(1).split(", ")) == own


def write_fake_analysis(run_dir: Path, latent_dim: int, make_layers, label="blobs") -> None:
    run_dir.mkdir(parents=True)
    checkpoints = tuple(
        analyze_representations(make_layers(n=60, latent=latent_dim, seed=e), epoch=e)
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


def test_figures_cli_writes_the_study_figures(tmp_path, fake_layers):
    for k in (2, 5):
        write_fake_analysis(tmp_path / "runs" / f"blobs-K{k}", k, fake_layers)
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
