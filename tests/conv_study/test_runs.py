"""The run folder: the files training writes through `RunFolder`, and what it reads back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conv_study.runs import RUN_FORMAT, RunFolder, load_checkpoint, load_run

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch


def payload(epoch: int) -> dict:
    return {"epoch": epoch, "model": {"w": torch.full((2,), float(epoch))}}


def test_a_trained_run_has_the_documented_layout(tiny_run):
    """The file names of the run format (docs/conv-study-setup.md): old runs stay readable."""
    files = {str(p.relative_to(tiny_run)) for p in tiny_run.rglob("*") if p.name != "analysis.json"}
    assert files == {
        "run.json",
        "metrics.jsonl",
        "eval_images.npy",
        "checkpoints",
        "checkpoints/epoch_0000.pt",
        "checkpoints/epoch_0001.pt",
        "checkpoints/epoch_0002.pt",
        "done.json",
    }
    assert json.loads((tiny_run / "run.json").read_text())["format"] == RUN_FORMAT
    assert load_checkpoint(tiny_run / "checkpoints/epoch_0002.pt")["format"] == RUN_FORMAT
    assert json.loads((tiny_run / "done.json").read_text())["epochs"] == 2
    run = load_run(tiny_run)
    assert run.complete and run.checkpoint_epochs == (0, 1, 2)
    assert [r["epoch"] for r in run.metrics()] == [0, 1, 2]


def test_lock_removes_a_folder_it_made_and_left_empty(tmp_path):
    folder = RunFolder(tmp_path / "new")
    with folder.lock():
        assert folder.path.is_dir()
    assert not folder.path.exists()
    with folder.lock():
        folder.append_metrics({"epoch": 0})
    assert folder.path.is_dir()  # something was written: kept


def test_discard_start_removes_only_what_a_start_wrote(tmp_path):
    made = RunFolder(tmp_path / "made")
    with made.lock():
        made.write_record({"train_config": {}, "data_config": {}})
        made.write_eval_images(np.zeros((2, 1, 4, 4), np.uint8), np.arange(2))
        made.discard_start()
    assert not made.path.exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    mine = RunFolder(tmp_path / "mine")
    with mine.lock():
        mine.write_record({"train_config": {}, "data_config": {}})
        mine.append_metrics({"epoch": 0})
        mine.discard_start()
    assert sorted(p.name for p in mine.path.iterdir()) == ["notes.txt"]


def test_rewind_drops_later_records_and_the_done_mark(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.lock():
        for epoch in range(4):
            folder.append_metrics({"epoch": epoch, "eval": {"loss": float(epoch)}})
        folder.mark_done(3, folder.metrics()[-1])
        assert (folder.path / "done.json").is_file()
        folder.rewind(2)
    assert [r["epoch"] for r in folder.metrics()] == [0, 1]
    assert not (folder.path / "done.json").exists()


def test_latest_checkpoint_is_the_later_of_checkpoint_and_interrupted_epoch(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.lock():
        assert folder.latest_checkpoint() is None
        folder.save_checkpoint(1, payload(1))
        folder.save_interrupted(payload(3))
        latest = folder.latest_checkpoint()
        assert latest["epoch"] == 3 and latest["format"] == RUN_FORMAT
        assert folder.checkpoint_epochs() == (1,)  # the interrupted epoch is no checkpoint
        # A later checkpoint supersedes the interrupted epoch, which goes.
        folder.save_checkpoint(5, payload(5))
        assert not (folder.path / "checkpoints" / "resume.pt").exists()
        assert folder.latest_checkpoint()["epoch"] == 5
        folder.save_interrupted(payload(6))
        folder.mark_done(6, None)  # the end removes it too
        assert folder.latest_checkpoint()["epoch"] == 5
    torch.testing.assert_close(
        load_checkpoint(folder.path / "checkpoints/epoch_0005.pt")["model"]["w"],
        torch.full((2,), 5.0),
        rtol=0,
        atol=0,
    )
