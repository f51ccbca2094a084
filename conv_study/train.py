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
mu, logvar : posterior mean and log-variance; KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)).

Run directory
-------------
`train` writes one run directory in the format of `conv_study.runs` (settings,
``metrics.jsonl``, evaluation images, checkpoints, ``done.json``); `load_run` reads it
back (re-exported here from `conv_study.runs`, which needs no training code).

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
the last finished epoch, kept in memory, as
``checkpoints/resume.pt`` (the epoch in progress is dropped); ``train`` resumes from it as from
a checkpoint, and removes it once a later checkpoint or the end is reached. A start that fails
before its first epoch removes what it wrote, so that a retry with other settings is not
refused. The run directory is locked while training (`linvae.utils.process.folder_lock`):
a second ``train`` into it at the same time is refused, naming the first.

Speed
-----
The network and its inputs use the channels-last layout (``TrainConfig.channels_last``), and
``TrainConfig.amp`` turns on bfloat16 autocast on CPUs that have it natively (AVX-512 BF16,
AMX) as on CUDA. Each epoch's record times the training pass (``train_seconds``,
``images_per_second``) apart from the evaluation (``eval_seconds``).

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

import contextlib
import dataclasses
import logging
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from conv_study.capture import select_device
from conv_study.config import TrainConfig
from conv_study.constants import PAPER_CHECKPOINT_EPOCHS, PAPER_LATENT_DIMS
from conv_study.data import DataConfig, StudyData, load_study_data, to_model_input
from conv_study.model import ConvVAE
from conv_study.monitor import GeometryMonitor
from conv_study.runs import (
    DONE_FILE,
    EVAL_IMAGES_FILE,
    EVAL_LABELS_FILE,
    METRICS_FILE,
    RUN_FILE,
    RUN_FORMAT,
    Run,
    append_metrics,
    available_checkpoints,
    check_same_run,
    checkpoint_path,
    config_to_json,
    load_checkpoint,
    load_run,
    read_metrics,
    read_run_record,
    resume_checkpoint_path,
    run_label,
    write_checkpoint,
    write_done,
    write_eval_images,
    write_metrics,
    write_run_record,
)
from linvae.utils.paths import check_writable
from linvae.utils.process import check_interrupt, folder_lock
from linvae.utils.validation import check_int
from linvae.utils.version import __version__

__all__ = [
    "PAPER_CHECKPOINT_EPOCHS",
    "PAPER_LATENT_DIMS",
    "DivergenceError",
    "Run",
    "SweepEntry",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "amp_dtype",
    "cpu_has_bfloat16",
    "eval_seed",
    "load_run",
    "new_train_state",
    "select_device",
    "sweep",
    "torch_settings",
    "train",
    "train_epoch",
    "vae_loss_terms",
]

logger = logging.getLogger(__name__)

_EVAL_BATCH = 1000


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


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


def cpu_has_bfloat16() -> bool:
    """Whether this CPU runs bfloat16 natively in oneDNN (AVX-512 BF16, AMX)."""
    try:
        # torch's own test for its bfloat16 kernels (no public name for it in torch 2.13)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # torch without oneDNN
        return False


def amp_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """The autocast dtype of mixed precision on ``device``, or None for float32.

    CUDA: bfloat16 where supported, else float16 (with a loss scaler); CPU: bfloat16 where
    the CPU has it natively. Elsewhere, or without native support, float32 with a warning.
    """
    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_bfloat16():
        return torch.bfloat16
    why = "this CPU has no native bfloat16" if device.type == "cpu" else "it is CUDA/CPU only"
    # stacklevel: the caller of train (train -> _train_locked -> amp_dtype).
    warnings.warn(f"`amp` is ignored on {device} ({why}); training in float32.", stacklevel=4)
    return None


def vae_loss_terms(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed reconstruction and KL terms of the VAE loss, in float32.

    ``recon = sum BCE(sigmoid(logits), x)`` over pixels and batch, computed from the logits
    (``binary_cross_entropy_with_logits``: the same function as BCE on the sigmoid output,
    numerically stable and safe under mixed precision), and
    ``kl = -1/2 sum(1 + logvar - mu^2 - exp(logvar))``.
    """
    recon = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="sum")
    mu, logvar = mu.float(), logvar.float()
    kl = -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp())
    return recon, kl


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
@contextlib.contextmanager
def torch_settings(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """Apply ``config``'s thread count and determinism on ``device``, restoring them after.

    The settings `train` runs every epoch under (a context manager). Deterministic
    algorithms are switched on without torch's filling of every new tensor with NaN
    (``torch.utils.deterministic.fill_uninitialized_memory``): a debugging aid that costs
    a pass over every activation, and no source of non-determinism here, since every tensor
    the network allocates is written before it is read.
    """
    import torch.utils.deterministic as det  # torch's switch for the NaN filling

    previous_threads = torch.get_num_threads()
    previous_det = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_fill = det.fill_uninitialized_memory
    previous_benchmark = torch.backends.cudnn.benchmark
    try:
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        if device.type == "cpu" and config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            det.fill_uninitialized_memory = False
        if device.type == "cuda":
            # Fixed shapes: let cuDNN pick its fastest kernels (GPU runs are not bitwise
            # reproducible anyway).
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_det, warn_only=previous_warn)
        det.fill_uninitialized_memory = previous_fill
        torch.backends.cudnn.benchmark = previous_benchmark


def eval_seed(seed: int, epoch: int) -> int:
    """Seed of the bottleneck noise of the evaluation after ``epoch`` of a run seeded ``seed``.

    Derived from (seed, epoch) only (``numpy.random.SeedSequence``), so a resumed run
    evaluates with the same noise as an uninterrupted one.

    Examples
    --------
    >>> len({eval_seed(0, 2), eval_seed(0, 3), eval_seed(1, 2)})
    3
    """
    return int(np.random.SeedSequence([seed, epoch, 0xE7A1]).generate_state(1)[0])


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    starts = list(range(0, n, batch_size))
    bounds = [(s, min(s + batch_size, n)) for s in starts]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2] = (bounds[-2][0], n)
        bounds.pop()
    return bounds


@dataclass
class TrainState:
    """The mutable state of a training run: what a checkpoint saves and a resume restores.

    Attributes
    ----------
    model : ConvVAE
        The network.
    optimizer : torch.optim.Optimizer
        Adam.
    shuffle_gen : torch.Generator
        CPU generator of the per-epoch data permutation.
    noise_gen : torch.Generator
        Generator of the bottleneck noise, on the training device.
    scaler : torch.amp.GradScaler or None
        Loss scaler of float16 mixed precision.
    """

    model: ConvVAE
    optimizer: torch.optim.Optimizer
    shuffle_gen: torch.Generator
    noise_gen: torch.Generator
    scaler: Any = None


def new_train_state(config: TrainConfig, channels: int, device: torch.device) -> TrainState:
    """A fresh `TrainState`: seeded initial weights, optimizer and generators."""
    # Initial weights from a private copy of the global generator, seeded: no global seeding.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = ConvVAE(channels=channels, latent_dim=config.latent_dim)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    shuffle_gen = torch.Generator().manual_seed(config.seed + 1)
    noise_gen = torch.Generator(device=device).manual_seed(config.seed + 2)
    return TrainState(
        model=model, optimizer=optimizer, shuffle_gen=shuffle_gen, noise_gen=noise_gen
    )


def _checkpoint_payload(
    epoch: int, state: TrainState, config: TrainConfig, data: DataConfig, *, copy: bool = False
) -> dict[str, Any]:
    model, optimizer = state.model.state_dict(), state.optimizer.state_dict()
    if copy:  # a snapshot kept in memory while training goes on
        model, optimizer = _clone_tensors(model), _clone_tensors(optimizer)
    return {
        "format": RUN_FORMAT,
        "epoch": epoch,
        "model": model,
        "optimizer": optimizer,
        "rng": {
            "shuffle": state.shuffle_gen.get_state(),
            "noise": state.noise_gen.get_state(),
            "noise_device": state.noise_gen.device.type,
            "torch_cpu": torch.get_rng_state(),
            "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "scaler": state.scaler.state_dict() if state.scaler is not None else None,
        "train_config": config_to_json(config),
        "data_config": config_to_json(data),
        "channels": state.model.channels,
        "conv_study_version": __version__,
        "torch_version": str(torch.__version__),
    }


def _clone_tensors(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {key: _clone_tensors(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_clone_tensors(value) for value in obj]
    return obj


def _save_checkpoint(
    run_dir: Path, epoch: int, state: TrainState, config: TrainConfig, data: DataConfig
) -> Path:
    return write_checkpoint(
        checkpoint_path(run_dir, epoch), _checkpoint_payload(epoch, state, config, data)
    )


def _restore_state(state: TrainState, checkpoint: dict[str, Any], seed: int, epoch: int) -> None:
    state.model.load_state_dict(checkpoint["model"])
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    rng = checkpoint["rng"]
    state.shuffle_gen.set_state(rng["shuffle"].cpu())
    if rng["noise_device"] == state.noise_gen.device.type:
        state.noise_gen.set_state(rng["noise"].cpu())
    else:
        warnings.warn(
            f"The run was checkpointed on {rng['noise_device']} and resumes on "
            f"{state.noise_gen.device.type}: the bottleneck-noise stream is reseeded, so the "
            "continuation differs from an uninterrupted run.",
            stacklevel=5,  # the caller of train
        )
        state.noise_gen.manual_seed(eval_seed(seed + 2, epoch))
    if state.scaler is not None and checkpoint.get("scaler"):
        state.scaler.load_state_dict(checkpoint["scaler"])


def _evaluate(
    model: ConvVAE,
    x_eval: torch.Tensor,
    *,
    seed: int,
    epoch: int,
    beta: float,
    amp_dtype,
    layout: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    n = x_eval.shape[0]
    eps_all = torch.randn(
        (n, model.latent_dim), generator=torch.Generator().manual_seed(eval_seed(seed, epoch))
    )
    sums = torch.zeros(2, dtype=torch.float64, device=x_eval.device)
    model.eval()
    with torch.no_grad():
        for start in range(0, n, _EVAL_BATCH):
            x = x_eval[start : start + _EVAL_BATCH].contiguous(memory_format=layout)
            with _autocast(x.device, amp_dtype):
                mu, logvar = model.encode(x)
                z = model.sample(mu, logvar, eps=eps_all[start : start + _EVAL_BATCH])
                logits = model.decode_logits(z)
            recon, kl = vae_loss_terms(logits, x, mu, logvar)
            sums += torch.stack([recon, kl]).double()
    model.train()
    recon, kl = (sums / n).tolist()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def _autocast(device: torch.device, dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def train_epoch(
    state: TrainState,
    x_train: torch.Tensor,
    *,
    config: TrainConfig,
    epoch: int,
    amp_dtype: torch.dtype | None = None,
    on_batch: Callable[[], object] | None = None,
) -> dict[str, float]:
    """One epoch of minibatch training; the per-sample means of loss, recon and kl.

    Parameters
    ----------
    state : TrainState
        Updated in place.
    x_train : torch.Tensor, shape (N, C, 32, 32)
        The training images as network input, on the training device.
    config : TrainConfig
        Batch size and beta.
    epoch : int
        For messages.
    amp_dtype : torch.dtype, optional
        Autocast dtype (mixed precision), None for float32.
    on_batch : callable, optional
        Called after every minibatch (a progress bar's ``update``).

    Returns
    -------
    dict
        ``{"loss", "recon", "kl"}``: sums over the epoch's images divided by N.

    Raises
    ------
    DivergenceError
        If a mean is not finite.
    """
    model, optimizer = state.model, state.optimizer
    n = x_train.shape[0]
    perm = torch.randperm(n, generator=state.shuffle_gen).to(x_train.device)
    bounds = _batch_bounds(n, config.batch_size)
    sums = torch.zeros(3, dtype=torch.float64, device=x_train.device)
    model.train()
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    for start, stop in bounds:
        check_interrupt()  # a safe point: the interrupted epoch is dropped, the earlier kept
        x = x_train.index_select(0, perm[start:stop]).contiguous(memory_format=layout)
        with _autocast(x.device, amp_dtype):
            out = model(x, generator=state.noise_gen)
        recon, kl = vae_loss_terms(out.logits, x, out.mu, out.logvar)
        loss = recon + config.beta * kl
        optimizer.zero_grad(set_to_none=True)
        if state.scaler is not None:
            state.scaler.scale(loss).backward()
            state.scaler.step(optimizer)
            state.scaler.update()
        else:
            loss.backward()
            optimizer.step()
        sums += torch.stack([loss.detach(), recon.detach(), kl.detach()]).double()
        if on_batch is not None:
            on_batch()
    loss, recon, kl = (sums / n).tolist()
    if not all(math.isfinite(v) for v in (loss, recon, kl)):
        raise DivergenceError(
            f"Training diverged in epoch {epoch}: mean loss {loss}, recon {recon}, kl {kl}. "
            "Lower `lr`, disable `amp`, or resume from an earlier checkpoint."
        )
    return {"loss": loss, "recon": recon, "kl": kl}


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
        Show progress on ``sys.stderr`` (True) or the given stream; always logged at INFO.
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
    # A start that fails before its first epoch is recorded leaves no run behind: a retry
    # with other settings must not meet "holds a different run".
    fresh_dir = not run_dir.exists()
    try:
        with folder_lock(run_dir, "The run directory"):
            return _train_locked(
                run_dir, fresh_dir, data, config, resume, progress, study_data, monitor
            )
    finally:
        # The lock made the folder; a start that failed before writing anything leaves none.
        if fresh_dir and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()


def _train_locked(
    run_dir: Path,
    fresh_dir: bool,
    data: DataConfig,
    config: TrainConfig,
    resume: bool,
    progress: bool | TextIO,
    study_data: StudyData | None,
    monitor: Callable[[torch.nn.Module, torch.Tensor], GeometryMonitor] | None = None,
) -> TrainResult:
    """`train` once ``run_dir`` is locked against other writers."""
    started = time.perf_counter()
    device = select_device(config.device)
    existing = read_run_record(run_dir)
    if existing is not None:
        if not resume:
            raise ValueError(
                f"{run_dir} already holds a run. Pass resume=True (CLI: drop --no-resume) to "
                "continue it, or choose another directory."
            )
        check_same_run(run_dir, existing, config, data)

    if study_data is None or study_data.config != data:
        study_data = load_study_data(data)
    channels = int(study_data.train.images.shape[1])
    autocast_dtype = amp_dtype(device, config.amp)

    try:
        if existing is None:
            write_eval_images(run_dir, study_data.eval.images, study_data.eval.labels)
        write_run_record(run_dir, _run_record(config, data, study_data, channels))
        with torch_settings(config, device):
            state, start_epoch, resumed_from = _start_state(
                run_dir, existing, config, channels, device, autocast_dtype
            )
    except BaseException:
        if existing is None:
            _remove_failed_start(run_dir, fresh_dir)
        raise

    metrics_path = run_dir / METRICS_FILE
    write_metrics(metrics_path, [r for r in read_metrics(metrics_path) if r["epoch"] < start_epoch])
    (run_dir / DONE_FILE).unlink(missing_ok=True)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    stream = sys.stderr if progress is True else (progress or None)
    saved = set(config.saved_epochs)
    # The last finished epoch not yet on disk, kept in memory: what an interruption saves.
    snapshot: dict[str, Any] | None = None
    with torch_settings(config, device):
        x_train = torch.from_numpy(to_model_input(study_data.train.images)).to(device)
        x_eval = torch.from_numpy(to_model_input(study_data.eval.images)).to(device)
        n_batches = len(_batch_bounds(len(x_train), config.batch_size))
        geometry = None if monitor is None else monitor(state.model, x_eval)
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
                _synchronize(device)
                toc = time.perf_counter()
                eval_metrics = _evaluate(
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
                    append_metrics(metrics_path, record)
                    raise DivergenceError(
                        f"Evaluation diverged in epoch {epoch}: loss {eval_metrics['loss']}, "
                        f"recon {eval_metrics['recon']}, kl {eval_metrics['kl']} (null in "
                        f"{metrics_path}). Lower `lr`, disable `amp`, or resume from an "
                        "earlier checkpoint."
                    )
                if epoch in saved:
                    _save_checkpoint(run_dir, epoch, state, config, data)
                    resume_checkpoint_path(run_dir).unlink(missing_ok=True)
                    snapshot = None
                else:
                    snapshot = _checkpoint_payload(epoch, state, config, data, copy=True)
                append_metrics(metrics_path, record)
                _report_epoch(record, bar, stream, config.epochs)
                check_interrupt()
        except KeyboardInterrupt:
            # Ctrl-C, or SIGTERM raised as KeyboardInterrupt by the command line: keep the
            # finished epochs (the partial one is dropped), so that a rerun resumes here.
            if snapshot is not None:
                write_checkpoint(resume_checkpoint_path(run_dir), snapshot)
                logger.info("%s: interrupted; saved epoch %d", run_dir, snapshot["epoch"])
            raise
    metrics = read_metrics(metrics_path)
    write_done(run_dir, config.epochs, metrics[-1] if metrics else None)
    resume_checkpoint_path(run_dir).unlink(missing_ok=True)
    return TrainResult(
        run_dir=run_dir,
        resumed_from=resumed_from,
        epochs_trained=max(0, config.epochs + 1 - max(start_epoch, 1)),
        metrics=metrics,
        device=str(device),
        seconds=time.perf_counter() - started,
    )


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
    run_dir: Path,
    existing: dict[str, Any] | None,
    config: TrainConfig,
    channels: int,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
) -> tuple[TrainState, int, int | None]:
    """A fresh state, or the state of the run's latest saved epoch; the first epoch to run."""
    state = new_train_state(config, channels, device)
    if autocast_dtype == torch.float16:
        state.scaler = torch.amp.GradScaler("cuda")
    if existing is None:
        return state, 0, None
    candidates = [(e, checkpoint_path(run_dir, e)) for e in available_checkpoints(run_dir)[-1:]]
    resume_file = resume_checkpoint_path(run_dir)
    if resume_file.is_file():
        payload = load_checkpoint(resume_file, device)
        candidates.append((int(payload["epoch"]), resume_file))
    if not candidates:
        return state, 0, None
    epoch, path = max(candidates, key=lambda c: c[0])
    _restore_state(state, load_checkpoint(path, device), config.seed, epoch)
    logger.info("resuming %s from epoch %d", run_dir, epoch)
    return state, epoch + 1, epoch


def _remove_failed_start(run_dir: Path, fresh_dir: bool) -> None:
    if fresh_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in (RUN_FILE, EVAL_IMAGES_FILE, EVAL_LABELS_FILE, METRICS_FILE):
        (run_dir / name).unlink(missing_ok=True)


def _synchronize(device: torch.device) -> None:
    # Times of asynchronous devices count only once their queued work is done.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
    each K. ``out_root`` is locked while the sweep runs (`linvae.utils.process.folder_lock`):
    a second sweep into it at the same time is refused (`FolderLocked`, a ValueError).

    Returns
    -------
    list of SweepEntry
        In the order run.
    """
    config = TrainConfig() if config is None else config
    latent_dims = [check_int("latent_dims", k, "sweep", low=1) for k in latent_dims]
    out_root = Path(out_root)
    entries = []
    # Another sweep into out_root meanwhile is refused up front (each run folder is locked
    # too, while it trains).
    with folder_lock(out_root, "The sweep folder"):
        for data in datasets:
            label = run_label(data)
            loaded: StudyData | None = None
            for k in latent_dims:
                run_config = dataclasses.replace(config, latent_dim=int(k))
                run_dir = out_root / f"{label}-K{k}"
                saved = read_run_record(run_dir)
                if saved is not None:
                    previous = load_run(run_dir)
                    # A directory holding different settings is an error, never a silent skip.
                    check_same_run(run_dir, saved, run_config, data)
                    if previous.complete and previous.train_config.epochs >= run_config.epochs:
                        logger.info("skipping %s: complete", run_dir)
                        entries.append(SweepEntry(run_dir, label, int(k), True, None))
                        continue
                if loaded is None:
                    loaded = load_study_data(data)
                logger.info("training %s", run_dir)
                result = train(
                    run_dir, data=data, config=run_config, progress=progress, study_data=loaded
                )
                entries.append(SweepEntry(run_dir, label, int(k), False, result))
    return entries
