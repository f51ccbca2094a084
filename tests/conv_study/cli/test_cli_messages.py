"""conv-study messages that blame the right thing: the option or the step at fault, in one line
with exit code 2, before any work."""

from __future__ import annotations

import shutil

import pytest

from conv_study.cli import main

pytest.importorskip("torch")


@pytest.fixture
def fresh_run(tmp_path, tiny_run):
    """A private copy of the shared tiny run without its analysis: other tests analyze the
    shared run, so whether it holds an analysis.json depends on the order the tests run in."""
    copy = tmp_path / "runs" / tiny_run.name
    shutil.copytree(tiny_run, copy, ignore=shutil.ignore_patterns("analysis.json"))
    return copy


@pytest.mark.parametrize("device", ["bogus", "cuda:99"])
def test_analyze_bad_device_names_the_option_not_the_checkpoint(device, fresh_run, capsys):
    # A trained run with checkpoints: before, the checkpoint that failed to load onto the
    # device was blamed.
    code = main(["analyze", str(fresh_run), "--device", device, "--points", "20"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("conv-study analyze: error: --device: ") and "\n" not in err, err
    assert device in err, err
    if device == "bogus":  # the valid choices are listed
        assert "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'" in err, err
    assert "checkpoint" not in err, err
    assert not (fresh_run / "analysis.json").exists()  # refused before any work


def test_figures_without_analysis_says_what_to_run_first(tmp_path, fresh_run, capsys):
    # The run folder holds a trained run but no analysis: exit 2 (was a log line and exit 1).
    out = tmp_path / "figs"
    code = main(["figures", str(fresh_run.parent), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("conv-study figures: error: nothing to draw: no analysis.json in ")
    assert "Run `conv-study analyze RUN_DIR`" in err and "\n" not in err, err
    assert not list(out.glob("*.png"))


def test_figures_on_a_missing_folder_names_runs_dir(tmp_path, capsys):
    code = main(["figures", str(tmp_path / "nowhere"), "--out", str(tmp_path / "figs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "RUNS_DIR" in err and "is not a directory" in err, err
