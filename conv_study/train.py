"""Resumable training of the study's conv VAEs, and sweeps over datasets and K.

The paper's recipe is the default `TrainConfig` (the setup page,
docs/conv-study-setup.md, "The training recipe"): loss = binary cross-entropy summed over
pixels and batch + beta * KL summed (beta = 1), Adam with lr 1e-3 and weight decay 1e-4
(coupled L2), batch 256, 200 epochs, checkpoints at epochs 0, 1, 2, 5, 10, 20, 50, 75, 100,
150, 200. Every number is configurable.

Symbols
-------
K : bottleneck dimension (``latent_dim``).
beta : weight of the KL term.

Run directory
-------------
`train` writes one run directory in the format of `conv_study.runs` (settings,
``metrics.jsonl``, evaluation images, checkpoints, ``done.json``) through a
`conv_study.runs.RunFolder`, which owns the files; `load_run` reads it back (re-exported
here from `conv_study.runs`, which needs no training code). The state a checkpoint holds
is `conv_study.train_state.TrainState`.

Resuming
--------
Checkpoints are written atomically (temporary file, fsync, ``os.replace``), so a run killed at
any moment leaves only complete checkpoints. ``train`` on an existing directory resumes from
its last checkpoint: it restores the model, the optimizer, the data-shuffle generator and the
bottleneck-noise generator (training draws from no global generator; the global torch
generator states are saved too, for the record), truncates ``metrics.jsonl`` to that epoch and
goes on. On the CPU with the same thread count, the resumed run is bitwise identical to an
uninterrupted one.

Interrupting
------------
``KeyboardInterrupt`` (Ctrl-C, and SIGTERM, which the ``conv-study`` command line raises as
one at the next batch: `linvae.utils.process.check_interrupt`) stops training after saving
the last finished epoch, kept in memory, as the run folder's interrupted epoch
(``checkpoints/resume.pt``; the epoch in progress is dropped); ``train`` resumes from it as
from a checkpoint, and removes it once a later checkpoint or the end is reached. A start that fails
before its first epoch removes what it wrote, so that a retry with other settings is not
refused. The run directory is locked while training (`linvae.utils.process.folder_lock`):
a second ``train`` into it at the same time is refused, naming the first.

Speed
-----
The network and its inputs use the channels-last layout (``TrainConfig.channels_last``), and
``TrainConfig.amp`` turns on bfloat16 autocast on CPUs that have it natively (AVX-512 BF16,
AMX) as on CUDA (`conv_study.device`: devices, mixed precision, threads, determinism).
Each epoch's record times the training pass (``train_seconds``, ``images_per_second``)
apart from the evaluation (``eval_seconds``); one epoch is `conv_study.epoch.train_epoch`.

Progress
--------
With ``progress``, each epoch shows a tqdm bar over its minibatches, left on screen with
the epoch's losses and speed; without, each epoch is one INFO log line.

Example
-------
>>> from conv_study.data import DataConfig
>>> from conv_study.train import TrainConfig, load_run, train
>>> result = train("runs/fmnist-K16", data=DataConfig(dataset="fashion-mnist"),
...                config=TrainConfig(latent_dim=16))                # doctest: +SKIP
>>> run = load_run("runs/fmnist-K16")                                # doctest: +SKIP
>>> model = run.load_model(200); images = run.eval_images()          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch
from tqdm.auto import tqdm

from conv_study.config import TrainConfig
from conv_study.constants import PAPER_CHECKPOINT_EPOCHS, PAPER_LATENT_DIMS
from conv_study.data import DataConfig, StudyData, load_study_data, to_model_input
from conv_study.device import amp_dtype, select_device, synchronize, torch_settings
from conv_study.epoch import DivergenceError, batch_bounds, evaluate, train_epoch
from conv_study.monitor import GeometryMonitor
from conv_study.runs import Run, RunFolder, check_same_run, config_to_json, load_run
from conv_study.tasks import plan_runs
from conv_study.train_state import (
    TrainState,
    new_train_state,
    restore_state,
    state_payload,
)
from linvae.utils.paths import check_writable
from linvae.utils.process import check_interrupt, folder_lock
from linvae.utils.version import __version__

__all__ = [
    "PAPER_CHECKPOINT_EPOCHS",
    "PAPER_LATENT_DIMS",
    "DivergenceError",
    "Run",
    "SweepEntry",
    "TrainConfig",
    "TrainResult",
    "load_run",
    "sweep",
    "train",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What `train` did.

    Attributes
    ----------
    run_dir : pathlib.Path
        The run directory.
    resumed_from : int or None
        The checkpoint epoch the run resumed from (None for a fresh run).
    epochs_trained : int
        Epochs trained by this call.
    metrics : list of dict
        The whole ``metrics.jsonl`` after the call.
    device : str
        The device used.
    seconds : float
        Wall time of the call.
    """

    run_dir: Path
    resumed_from: int | None
    epochs_trained: int
    metrics: list[dict[str, Any]]
    device: str
    seconds: float


# ---------------------------------------------------------------------------------------------
# Progress (tqdm): one bar per epoch over its minibatches, left with the epoch's summary
# ---------------------------------------------------------------------------------------------
def _epoch_bar(stream: TextIO | None, epoch: int, epochs: int, n_batches: int):
    if stream is None or epoch == 0:
        return None
    return tqdm(
        total=n_batches,
        desc=f"epoch {epoch}/{epochs}",
        unit="batch",
        file=stream,
        leave=True,
        dynamic_ncols=True,
        mininterval=0.2,
    )


def _report_epoch(record: dict[str, Any], bar, stream: TextIO | None, epochs: int) -> None:
    if stream is None:
        # Without a progress display the log carries the epoch line; with one, the display.
        logger.info("%s", _describe(record))
        return
    summary = _describe(record, with_epoch=False)
    if bar is not None:
        bar.set_postfix_str(summary, refresh=False)
        bar.close()
    else:
        tqdm.write(f"epoch {record['epoch']}/{epochs}: {summary}", file=stream)


def _describe(record: dict[str, Any], *, with_epoch: bool = True) -> str:
    parts = [f"epoch {record['epoch']}"] if with_epoch else []
    for split in ("train", "eval"):
        values = record.get(split)
        if values:
            parts.append(
                f"{split} loss {values['loss']:.2f} (recon {values['recon']:.2f}, "
                f"kl {values['kl']:.2f})"
            )
    if record.get("images_per_second"):
        parts.append(
            f"train {record['images_per_second']:.0f} img/s, {record['train_seconds']:.1f} s"
        )
    if record.get("eval_seconds") is not None:
        parts.append(f"eval {record['eval_seconds']:.1f} s")
    return " | ".join(parts)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def train(
    run_dir: str | os.PathLike[str],
    *,
    data: DataConfig,
    config: TrainConfig | None = None,
    resume: bool = True,
    progress: bool | TextIO = False,
    study_data: StudyData | None = None,
    monitor: Callable[[torch.nn.Module, torch.Tensor], GeometryMonitor] | None = None,
) -> TrainResult:
    """Train one conv VAE, writing metrics and checkpoints to ``run_dir``; resume if possible.

    Parameters
    ----------
    run_dir : path-like
        Run directory (created). If it holds a run with the same settings, training resumes
        from its last checkpoint (settings in ``epochs``, ``checkpoint_epochs``, ``device``,
        ``amp``, ``deterministic`` and ``num_threads`` may change, so a run can be extended).
    data : DataConfig
        The images (the study split is applied by `conv_study.data.load_study_data`).
    config : TrainConfig, optional
        The recipe (default: the paper's, K = 2).
    resume : bool
        If False, refuse to touch a directory that already holds a run.
    progress : bool or text stream
        Show a tqdm bar per epoch on ``sys.stderr`` (True) or the given stream, left with the
        epoch's losses and speed; without, each epoch is one INFO log line.
    study_data : StudyData, optional
        Already loaded data for ``data`` (saves reloading in sweeps and tests).
    monitor : callable(model, x_eval) -> GeometryMonitor, optional
        Live layer geometry: called once with the model and the evaluation images (network
        input, on the device) to make a `conv_study.monitor.GeometryMonitor`, whose ``step``
        runs after every minibatch with the global step (0 before training). Each epoch's
        measurements go into its ``metrics.jsonl`` record under ``"geometry"``.
        `conv_study.taps.study_monitor` makes one on the study's taps.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If ``run_dir`` holds a different run, or holds a run and ``resume`` is False.
    linvae.utils.process.FolderLocked
        (a ValueError) If another process is training into ``run_dir`` now.
    DivergenceError
        If the loss becomes non-finite (the last checkpoint stays valid).

    Notes
    -----
    All training images are converted once to the network input (float32, 32 x 32) and kept
    on the device for the whole run. Each epoch shuffles them with a CPU generator; the
    bottleneck noise comes from a generator on the device. Both generators, the model, the
    optimizer (and the AMP loss scaler) are checkpointed.
    """
    config = TrainConfig() if config is None else config
    run_dir = Path(run_dir)
    check_writable(run_dir, "The `run_dir` parameter of train", directory=True)
    folder = RunFolder(run_dir)
    with folder.lock():
        return _train_locked(folder, data, config, resume, progress, study_data, monitor)


def _train_locked(
    folder: RunFolder,
    data: DataConfig,
    config: TrainConfig,
    resume: bool,
    progress: bool | TextIO,
    study_data: StudyData | None,
    monitor: Callable[[torch.nn.Module, torch.Tensor], GeometryMonitor] | None = None,
) -> TrainResult:
    """`train` once the run folder is locked against other writers."""
    started = time.perf_counter()
    device = select_device(config.device)
    existing = folder.record()
    if existing is not None:
        if not resume:
            raise ValueError(
                f"{folder.path} already holds a run. Pass resume=True (CLI: drop --no-resume) "
                "to continue it, or choose another directory."
            )
        check_same_run(folder.path, existing, config, data)

    if study_data is None or study_data.config != data:
        study_data = load_study_data(data)
    channels = int(study_data.train.images.shape[1])
    # stacklevel 4: the caller of train (train -> _train_locked -> amp_dtype).
    autocast_dtype = amp_dtype(device, config.amp, stacklevel=4)

    try:
        # A start that fails before its first epoch is recorded leaves no run behind: a
        # retry with other settings must not meet "holds a different run".
        if existing is None:
            folder.write_eval_images(study_data.eval.images, study_data.eval.labels)
        folder.write_record(_run_record(config, data, study_data, channels))
        with torch_settings(config, device):
            state, start_epoch, resumed_from = _start_state(
                folder, existing is not None, config, channels, device, autocast_dtype
            )
    except BaseException:
        if existing is None:
            folder.discard_start()
        raise

    folder.rewind(start_epoch)
    stream = sys.stderr if progress is True else (progress or None)
    with torch_settings(config, device):
        x_train = torch.from_numpy(to_model_input(study_data.train.images)).to(device)
        x_eval = torch.from_numpy(to_model_input(study_data.eval.images)).to(device)
        geometry = None if monitor is None else monitor(state.model, x_eval)
        _run_epochs(
            folder,
            state,
            x_train,
            x_eval,
            config,
            data,
            start_epoch,
            autocast_dtype,
            stream,
            geometry,
        )
    metrics = folder.metrics()
    folder.mark_done(config.epochs, metrics[-1] if metrics else None)
    return TrainResult(
        run_dir=folder.path,
        resumed_from=resumed_from,
        epochs_trained=max(0, config.epochs + 1 - max(start_epoch, 1)),
        metrics=metrics,
        device=str(device),
        seconds=time.perf_counter() - started,
    )


def _run_epochs(
    folder: RunFolder,
    state: TrainState,
    x_train: torch.Tensor,
    x_eval: torch.Tensor,
    config: TrainConfig,
    data: DataConfig,
    start_epoch: int,
    autocast_dtype: torch.dtype | None,
    stream: TextIO | None,
    geometry: GeometryMonitor | None,
) -> None:
    """Epochs ``start_epoch`` .. ``config.epochs``: train, evaluate, record, save.

    On ``KeyboardInterrupt`` the last finished epoch not yet saved is saved as the folder's
    interrupted epoch (the one in progress is dropped), so that a rerun resumes there.
    """
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    n_batches = len(batch_bounds(len(x_train), config.batch_size))
    saved = set(config.saved_epochs)
    # The last finished epoch not yet on disk, kept in memory: what an interruption saves.
    snapshot: dict[str, Any] | None = None
    try:
        for epoch in range(start_epoch, config.epochs + 1):
            bar = _epoch_bar(stream, epoch, config.epochs, n_batches)
            after_batch = _after_batch(bar, geometry, (epoch - 1) * n_batches)
            tic = time.perf_counter()
            train_metrics = None
            if epoch > 0:
                train_metrics = train_epoch(
                    state,
                    x_train,
                    config=config,
                    epoch=epoch,
                    amp_dtype=autocast_dtype,
                    on_batch=after_batch,
                )
            elif geometry is not None:
                geometry.step(0)
            synchronize(x_train.device)
            toc = time.perf_counter()
            eval_metrics = evaluate(
                state.model,
                x_eval,
                seed=config.seed,
                epoch=epoch,
                beta=config.beta,
                amp_dtype=autocast_dtype,
                layout=layout,
            )
            train_seconds, eval_seconds = toc - tic, time.perf_counter() - toc
            record = {
                "epoch": epoch,
                "train": train_metrics,
                "eval": eval_metrics,
                "seconds": train_seconds + eval_seconds,
                "train_seconds": train_seconds if epoch > 0 else None,
                "eval_seconds": eval_seconds,
                "images_per_second": len(x_train) / train_seconds if epoch > 0 else None,
            }
            if geometry is not None:
                record["geometry"] = geometry.take_records()
            if not all(math.isfinite(v) for v in eval_metrics.values()):
                # Recorded (strict JSON: null, with the reason) but not saved as a
                # checkpoint: the weights have diverged.
                folder.append_metrics(record)
                raise DivergenceError(
                    f"Evaluation diverged in epoch {epoch}: loss {eval_metrics['loss']}, "
                    f"recon {eval_metrics['recon']}, kl {eval_metrics['kl']} (null in "
                    f"{folder.metrics_file}). Lower `lr`, disable `amp`, or resume from an "
                    "earlier checkpoint."
                )
            if epoch in saved:
                folder.save_checkpoint(epoch, state_payload(epoch, state, config, data))
                snapshot = None
            else:
                snapshot = state_payload(epoch, state, config, data, copy=True)
            folder.append_metrics(record)
            _report_epoch(record, bar, stream, config.epochs)
            check_interrupt()
    except KeyboardInterrupt:
        # Ctrl-C, or SIGTERM raised as KeyboardInterrupt by the command line: keep the
        # finished epochs (the partial one is dropped), so that a rerun resumes here.
        if snapshot is not None:
            folder.save_interrupted(snapshot)
            logger.info("%s: interrupted; saved epoch %d", folder.path, snapshot["epoch"])
        raise


def _after_batch(bar, geometry: GeometryMonitor | None, first_step: int):
    """The per-minibatch callback: the progress bar, and the monitor at each global step."""
    if geometry is None:
        return None if bar is None else bar.update
    step = first_step

    def after() -> None:
        nonlocal step
        step += 1
        if bar is not None:
            bar.update()
        geometry.step(step)

    return after


def _run_record(
    config: TrainConfig, data: DataConfig, study_data: StudyData, channels: int
) -> dict[str, Any]:
    return {
        "train_config": config_to_json(config),
        "data_config": config_to_json(data),
        "channels": channels,
        "n_train": len(study_data.train),
        "n_eval": len(study_data.eval),
        "eval_from": study_data.eval_from,
        "conv_study_version": __version__,
        "torch_version": str(torch.__version__),
    }


def _start_state(
    folder: RunFolder,
    existing: bool,
    config: TrainConfig,
    channels: int,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
) -> tuple[TrainState, int, int | None]:
    """A fresh state, or the state of the run's latest saved epoch; the first epoch to run."""
    state = new_train_state(config, channels, device)
    if autocast_dtype == torch.float16:
        state.scaler = torch.amp.GradScaler("cuda")
    payload = folder.latest_checkpoint(device) if existing else None
    if payload is None:
        return state, 0, None
    epoch = int(payload["epoch"])
    # stacklevel 5: the caller of train (train -> _train_locked -> _start_state -> restore).
    restore_state(state, payload, config.seed, stacklevel=5)
    logger.info("resuming %s from epoch %d", folder.path, epoch)
    return state, epoch + 1, epoch


# ---------------------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepEntry:
    """One run of a `sweep`.

    Attributes
    ----------
    run_dir : pathlib.Path
    dataset : str
        The dataset label used in the directory name.
    latent_dim : int
    skipped : bool
        True when the run was already complete.
    result : TrainResult or None
        None when skipped.
    """

    run_dir: Path
    dataset: str
    latent_dim: int
    skipped: bool
    result: TrainResult | None


def sweep(
    out_root: str | os.PathLike[str],
    *,
    datasets: Sequence[DataConfig],
    latent_dims: Sequence[int] = PAPER_LATENT_DIMS,
    config: TrainConfig | None = None,
    progress: bool | TextIO = False,
) -> list[SweepEntry]:
    """Train one run per (dataset, K) in ``out_root/<dataset>-K<K>``, skipping finished runs.

    Unfinished runs resume from their last checkpoint. ``config.latent_dim`` is replaced by
    each K. The runs are those of `conv_study.tasks.plan_runs`, as a study's: a run
    directory that holds other settings is refused before any training. ``out_root`` is
    locked while the sweep runs (`linvae.utils.process.folder_lock`): a second sweep into it
    at the same time is refused (`FolderLocked`, a ValueError).

    Returns
    -------
    list of SweepEntry
        In the order run.
    """
    config = TrainConfig() if config is None else config
    tasks = plan_runs(out_root, [(data, config) for data in datasets], latent_dims, owner="sweep")
    entries = []
    loaded: StudyData | None = None
    # Another sweep into out_root meanwhile is refused up front (each run folder is locked
    # too, while it trains).
    with folder_lock(out_root, "The sweep folder"):
        for task in tasks:
            if task.trained():
                logger.info("skipping %s: complete", task.run_dir)
                entries.append(SweepEntry(task.run_dir, task.dataset, task.latent_dim, True, None))
                continue
            if loaded is None or loaded.config != task.data:
                loaded = load_study_data(task.data)
            logger.info("training %s", task.run_dir)
            result = train(
                task.run_dir,
                data=task.data,
                config=task.config,
                progress=progress,
                study_data=loaded,
            )
            entries.append(SweepEntry(task.run_dir, task.dataset, task.latent_dim, False, result))
    return entries
