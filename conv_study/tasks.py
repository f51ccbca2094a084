"""The runs of a sweep or a study: one per dataset and bottleneck K, in ``<dataset>-K<K>``.

`plan_runs` is the one task list of `conv_study.train.sweep` and `conv_study.study`:
it names each run's directory, refuses a directory that holds a run with other settings
before any work, and each `RunTask` knows whether its run is already trained (complete, to
at least the epochs asked for), so that a rerun skips it. Torch-free, like the run format
(`conv_study.runs`) it reads.

Examples
--------
>>> from conv_study.config import TrainConfig
>>> from conv_study.data import DataConfig
>>> from conv_study.tasks import plan_runs
>>> data = DataConfig(dataset="npz", path="data/blobs.npz")
>>> [task.name for task in plan_runs("runs", [(data, TrainConfig())], [2, 8])]
['blobs-K2', 'blobs-K8']
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from conv_study.config import TrainConfig
from conv_study.data import DataConfig
from conv_study.runs import check_same_run, load_run, read_run_record, run_label
from linvae.utils.validation import check_int

__all__ = ["RunTask", "plan_runs"]


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep or a study: where, on which data, with which recipe.

    Attributes
    ----------
    run_dir : pathlib.Path
        ``<out>/<dataset>-K<K>``.
    data : DataConfig
        The images.
    config : TrainConfig
        The recipe, with this run's K.
    """

    run_dir: Path
    data: DataConfig
    config: TrainConfig

    @property
    def name(self) -> str:
        """The run directory's name, ``<dataset>-K<K>``."""
        return self.run_dir.name

    @property
    def dataset(self) -> str:
        """The dataset label of the directory name (`conv_study.runs.run_label`)."""
        return run_label(self.data)

    @property
    def latent_dim(self) -> int:
        """The bottleneck dimension K."""
        return self.config.latent_dim

    def trained(self) -> bool:
        """Whether ``run_dir`` holds this run, finished to at least ``config.epochs``.

        A finished run asked for more epochs is not trained: training extends it.
        """
        if read_run_record(self.run_dir) is None:
            return False
        run = load_run(self.run_dir)
        return run.complete and run.train_config.epochs >= self.config.epochs


def plan_runs(
    out: str | os.PathLike[str],
    runs: Sequence[tuple[DataConfig, TrainConfig]],
    latent_dims: Sequence[int],
    *,
    owner: str = "plan_runs",
) -> list[RunTask]:
    """One `RunTask` per dataset and K under ``out``: dataset by dataset, K in the given order.

    Parameters
    ----------
    out : path-like
        The folder of the run directories.
    runs : sequence of (DataConfig, TrainConfig)
        Each dataset with its recipe (whose ``latent_dim`` is replaced by each K).
    latent_dims : sequence of int
        The bottleneck sizes K.
    owner : str
        The function named in error messages.

    Returns
    -------
    list of RunTask
        Runs of one dataset follow each other, so that its data is loaded once.

    Raises
    ------
    ValueError
        If a K is not a positive integer, or a run directory under ``out`` holds a run with
        other settings (`conv_study.runs.check_same_run`), before any work.
    """
    latent_dims = [check_int("latent_dims", k, owner, low=1) for k in latent_dims]
    out = Path(out)
    tasks = []
    for data, recipe in runs:
        for k in latent_dims:
            config = dataclasses.replace(recipe, latent_dim=int(k))
            run_dir = out / f"{run_label(data)}-K{k}"
            saved = read_run_record(run_dir)
            if saved is not None:
                # A directory holding different settings is an error, never a silent skip.
                check_same_run(run_dir, saved, config, data)
            tasks.append(RunTask(run_dir, data, config))
    return tasks
