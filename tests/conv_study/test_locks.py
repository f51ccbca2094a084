"""conv-study's writers hold their folder's lock: a second writer meanwhile is refused.

The lock is an operating-system lock held per open file, so a second `folder_lock` in the same
process stands for a second program here (the subprocess cases are in
tests/linvae/utils/test_process.py).
"""

from __future__ import annotations

import pytest

from linvae.utils.process import LOCK_NAME, FolderLocked, folder_lock

pytest.importorskip("torch")


def test_train_into_a_folder_being_written_is_refused_before_any_work(tmp_path, tiny_npz):
    from conv_study.data import DataConfig
    from conv_study.train import TrainConfig, train

    run_dir = tmp_path / "run"
    data = DataConfig(dataset="npz", path=tiny_npz, n_eval=16)
    with folder_lock(run_dir, "--out"):
        with pytest.raises(FolderLocked, match=r"The run directory .* is being written by pid"):
            train(run_dir, data=data, config=TrainConfig(latent_dim=2, epochs=1))
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME]  # nothing written


def test_sweep_and_study_into_a_folder_being_written_are_refused(tmp_path, tiny_npz):
    from conv_study.data import DataConfig
    from conv_study.study import PRESETS, run_study
    from conv_study.train import TrainConfig, sweep

    out = tmp_path / "out"
    data = DataConfig(dataset="npz", path=tiny_npz, n_eval=16)
    with folder_lock(out):
        with pytest.raises(FolderLocked, match="The sweep folder"):
            sweep(out, datasets=[data], latent_dims=[2], config=TrainConfig(epochs=1))
        with pytest.raises(FolderLocked, match="The study folder"):
            run_study(out, PRESETS["smoke"], figures=False)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
