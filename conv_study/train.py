"""Resumable training of the study's conv VAEs, and reading back finished runs.

The paper's recipe (spec section 3) is the default :class:`TrainConfig`: loss = binary
cross-entropy summed over pixels and batch + beta * KL summed (beta = 1), Adam with lr 1e-3 and
weight decay 1e-4 (coupled L2), batch 256, 200 epochs, checkpoints at epochs 0, 1, 2, 5, 10,
20, 50, 75, 100, 150, 200. Every number is configurable.

Symbols
-------
K : bottleneck dimension (``latent_dim``).
beta : weight of the KL term.
mu, logvar : posterior mean and log-variance; KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)).

Run directory
-------------
:func:`train` writes everything into one directory::

    run.json               configuration (TrainConfig, DataConfig), channels, sizes, versions
    metrics.jsonl          one JSON object per epoch (epoch 0 = untrained)
    eval_images.npy        the evaluation images as loaded (N, C, H, W), uint8 or float
    eval_labels.npy        their labels, when the source has labels
    checkpoints/epoch_0010.pt   model, optimizer, generator states, config, epoch
    done.json              written last, when all epochs are done

Each ``metrics.jsonl`` line is ``{"epoch": e, "train": {"loss", "recon", "kl"} | null,
"eval": {"loss", "recon", "kl"}, "seconds": s, "images_per_second": r}``; all losses are true
per-sample means (sums over every image divided by the number of images). ``train`` is the
running mean over epoch ``e``'s minibatches in training mode (null for epoch 0); ``eval`` is
measured after the epoch in eval mode (BatchNorm running statistics) on the whole evaluation
set, with bottleneck noise from a generator seeded by (seed, epoch).

Resuming
--------
Checkpoints are written atomically (temporary file, fsync, ``os.replace``), so a run killed at
any moment leaves only complete checkpoints. ``train`` on an existing directory resumes from
its last checkpoint: it restores the model, the optimizer, the data-shuffle generator and the
bottleneck-noise generator (training draws from no global generator; the global torch
generator states are saved too, for the record), truncates ``metrics.jsonl`` to that epoch and
goes on. On the CPU with the same thread count, the resumed run is bitwise identical to an
uninterrupted one.

Reading runs (for the analysis)
-------------------------------
:func:`load_run` returns a :class:`Run`: ``run.train_config``, ``run.data_config``,
``run.checkpoint_epochs`` (the epochs with a checkpoint on disk), ``run.load_model(epoch)``
(a :class:`~conv_study.model.ConvVAE` in eval mode), ``run.eval_images()`` (float32
(N, C, 32, 32) in [0, 1], exactly the network input used during training),
``run.eval_labels()`` and ``run.metrics()``.

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
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F

from conv_study import __version__
from conv_study.data import DataConfig, StudyData, load_study_data, to_model_input
from conv_study.model import ConvVAE

__all__ = [
    "PAPER_CHECKPOINT_EPOCHS",
    "PAPER_LATENT_DIMS",
    "DivergenceError",
    "Run",
    "SweepEntry",
    "TrainConfig",
    "TrainResult",
    "load_run",
    "select_device",
    "sweep",
    "train",
    "vae_loss_terms",
]

logger = logging.getLogger(__name__)

PAPER_CHECKPOINT_EPOCHS: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50, 75, 100, 150, 200)
PAPER_LATENT_DIMS: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128)
_FORMAT = 1
_CKPT_RE = re.compile(r"^epoch_(\d+)\.pt$")
# Fields that may change when a run is resumed; all others define the run.
_RESUMABLE_FIELDS = frozenset(
    {"epochs", "checkpoint_epochs", "device", "amp", "deterministic", "num_threads"}
)
_EVAL_BATCH = 1000


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"The `{name}` parameter of TrainConfig must be an integer >= {minimum}. Got {value!r}."
        )


def _check_float(name: str, value: Any, *, low: float, strict: bool) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if strict else value >= low)
    if not ok:
        bracket = "(" if strict else "["
        raise ValueError(
            f"The `{name}` parameter of TrainConfig must be in {bracket}{low}, inf). Got {value!r}."
        )


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train one conv VAE (defaults: the paper's recipe).

    Parameters
    ----------
    latent_dim : int
        Bottleneck dimension K (paper: 2, 4, 8, 16, 32, 64, 128).
    epochs : int
        Number of training epochs (paper: 200).
    batch_size : int
        Minibatch size (paper: 256). A final minibatch of one image is merged into the
        previous one (BatchNorm cannot train on a single image).
    lr : float
        Adam learning rate (paper: 1e-3).
    weight_decay : float
        Adam's coupled L2 weight decay (paper: 1e-4).
    beta : float
        Weight of the KL term (paper: 1).
    checkpoint_epochs : tuple of int
        Epochs after which to save a checkpoint (0 = untrained). The last epoch is always
        saved, so that every run can be resumed and read back.
    seed : int
        Seeds the initial weights, the data-shuffle generator and the noise generators.
    device : str
        ``"auto"`` (cuda, then mps, then cpu) or a torch device string.
    amp : bool
        Mixed precision on CUDA (bfloat16 where supported, else float16 with loss scaling);
        ignored with a warning on other devices.
    deterministic : bool
        Use ``torch.use_deterministic_algorithms`` on the CPU during the run (restored after).
    num_threads : int, optional
        torch intra-op threads during the run (restored after); default: torch's setting.

    Raises
    ------
    ValueError
        For values out of range; the message names the parameter.
    """

    latent_dim: int = 2
    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    beta: float = 1.0
    checkpoint_epochs: tuple[int, ...] = PAPER_CHECKPOINT_EPOCHS
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    deterministic: bool = True
    num_threads: int | None = None

    def __post_init__(self) -> None:
        _check_int("latent_dim", self.latent_dim, minimum=1)
        _check_int("epochs", self.epochs, minimum=0)
        _check_int("batch_size", self.batch_size, minimum=2)
        _check_float("lr", self.lr, low=0.0, strict=True)
        _check_float("weight_decay", self.weight_decay, low=0.0, strict=False)
        _check_float("beta", self.beta, low=0.0, strict=False)
        _check_int("seed", self.seed, minimum=0)
        if self.num_threads is not None:
            _check_int("num_threads", self.num_threads, minimum=1)
        epochs = tuple(self.checkpoint_epochs)
        if any(isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in epochs):
            raise ValueError(
                "The `checkpoint_epochs` parameter of TrainConfig must hold integers >= 0. "
                f"Got {self.checkpoint_epochs!r}."
            )
        object.__setattr__(self, "checkpoint_epochs", tuple(sorted(set(epochs))))
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(
                "The `device` parameter of TrainConfig must be 'auto' or a torch device string "
                f"such as 'cpu' or 'cuda:0'. Got {self.device!r}."
            )

    @property
    def saved_epochs(self) -> tuple[int, ...]:
        """The checkpoint epochs of this run: those up to ``epochs``, plus ``epochs``."""
        return tuple(
            sorted({e for e in self.checkpoint_epochs if e <= self.epochs} | {self.epochs})
        )


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did.

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


def select_device(name: str = "auto") -> torch.device:
    """``"auto"``: cuda if available, then mps, then cpu; otherwise ``torch.device(name)``."""
    if name != "auto":
        try:
            return torch.device(name)
        except RuntimeError as err:
            raise ValueError(
                f"The `device` parameter must be 'auto' or a torch device. Got {name!r}."
            ) from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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
# Small file helpers
# ---------------------------------------------------------------------------------------------
def _atomic_write_bytes(path: Path, writer) -> None:
    """Write via ``writer(file)`` to a temporary file, fsync, then ``os.replace`` onto path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def _atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    _atomic_write_bytes(path, lambda h: h.write(text.encode()))


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            # Only the line being written when a run was killed can be partial.
            logger.warning("ignoring a partial line in %s", path)
    return records


def _checkpoint_path(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"epoch_{epoch:04d}.pt"


def _available_checkpoints(run_dir: Path) -> tuple[int, ...]:
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return ()
    found = (_CKPT_RE.match(p.name) for p in folder.iterdir())
    return tuple(sorted(int(m.group(1)) for m in found if m))


def _json_ready(config: Any) -> dict[str, Any]:
    out = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _train_config_from_dict(values: dict[str, Any]) -> TrainConfig:
    values = dict(values)
    values["checkpoint_epochs"] = tuple(values.get("checkpoint_epochs", ()))
    return TrainConfig(**values)


# ---------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------
class _Progress:
    """A one-line progress bar on a terminal; one line per epoch otherwise."""

    def __init__(self, stream: TextIO | None, total_epochs: int, n_batches: int) -> None:
        self.stream = stream
        self.total_epochs = total_epochs
        self.n_batches = n_batches
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self._last = 0.0

    def batch(self, epoch: int, done: int) -> None:
        if not self.tty or self.stream is None:
            return
        now = time.monotonic()
        if done < self.n_batches and now - self._last < 0.2:
            return
        self._last = now
        width = 30
        filled = int(width * done / max(self.n_batches, 1))
        self.stream.write(
            f"\repoch {epoch}/{self.total_epochs} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done}/{self.n_batches}"
        )
        self.stream.flush()

    def epoch(self, record: dict[str, Any]) -> None:
        line = _describe(record)
        logger.info("%s", line)
        if self.stream is None:
            return
        self.stream.write(("\r" if self.tty else "") + line + ("\x1b[K" if self.tty else "") + "\n")
        self.stream.flush()


def _describe(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']}"]
    for split in ("train", "eval"):
        values = record.get(split)
        if values:
            parts.append(
                f"{split} loss {values['loss']:.2f} (recon {values['recon']:.2f}, "
                f"kl {values['kl']:.2f})"
            )
    if record.get("images_per_second"):
        parts.append(f"{record['images_per_second']:.0f} img/s")
    return " | ".join(parts)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _torch_settings(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """Apply thread count and determinism for the run, restoring the caller's afterwards."""
    previous_threads = torch.get_num_threads()
    previous_det = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_benchmark = torch.backends.cudnn.benchmark
    try:
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        if device.type == "cpu" and config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        if device.type == "cuda":
            # Fixed shapes: let cuDNN pick its fastest kernels (GPU runs are not bitwise
            # reproducible anyway).
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_det, warn_only=previous_warn)
        torch.backends.cudnn.benchmark = previous_benchmark


def _eval_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 0xE7A1]).generate_state(1)[0])


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    starts = list(range(0, n, batch_size))
    bounds = [(s, min(s + batch_size, n)) for s in starts]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2] = (bounds[-2][0], n)
        bounds.pop()
    return bounds


@dataclass
class _State:
    """Mutable training state (internal)."""

    model: ConvVAE
    optimizer: torch.optim.Optimizer
    shuffle_gen: torch.Generator
    noise_gen: torch.Generator
    scaler: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _new_state(config: TrainConfig, channels: int, device: torch.device) -> _State:
    # Initial weights from a private copy of the global generator, seeded: no global seeding.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = ConvVAE(channels=channels, latent_dim=config.latent_dim)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    shuffle_gen = torch.Generator().manual_seed(config.seed + 1)
    noise_gen = torch.Generator(device=device).manual_seed(config.seed + 2)
    return _State(model=model, optimizer=optimizer, shuffle_gen=shuffle_gen, noise_gen=noise_gen)


def _save_checkpoint(
    run_dir: Path, epoch: int, state: _State, config: TrainConfig, data: DataConfig
) -> Path:
    payload = {
        "format": _FORMAT,
        "epoch": epoch,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "rng": {
            "shuffle": state.shuffle_gen.get_state(),
            "noise": state.noise_gen.get_state(),
            "noise_device": state.noise_gen.device.type,
            "torch_cpu": torch.get_rng_state(),
            "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "scaler": state.scaler.state_dict() if state.scaler is not None else None,
        "train_config": _json_ready(config),
        "data_config": _json_ready(data),
        "channels": state.model.channels,
        "conv_study_version": __version__,
        "torch_version": str(torch.__version__),
    }
    path = _checkpoint_path(run_dir, epoch)
    _atomic_write_bytes(path, lambda handle: torch.save(payload, handle))
    return path


def _load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises several types for damaged files
        raise ValueError(f"Cannot read checkpoint {path}: {err}") from err


def _restore_state(state: _State, checkpoint: dict[str, Any], seed: int, epoch: int) -> None:
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
            stacklevel=3,
        )
        state.noise_gen.manual_seed(_eval_seed(seed + 2, epoch))
    if state.scaler is not None and checkpoint.get("scaler"):
        state.scaler.load_state_dict(checkpoint["scaler"])


def _evaluate(
    model: ConvVAE, x_eval: torch.Tensor, *, seed: int, epoch: int, beta: float, amp_dtype
) -> dict[str, float]:
    n = x_eval.shape[0]
    eps_all = torch.randn(
        (n, model.latent_dim), generator=torch.Generator().manual_seed(_eval_seed(seed, epoch))
    )
    sums = torch.zeros(2, dtype=torch.float64, device=x_eval.device)
    model.eval()
    with torch.no_grad():
        for start in range(0, n, _EVAL_BATCH):
            x = x_eval[start : start + _EVAL_BATCH]
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


def _train_epoch(
    state: _State,
    x_train: torch.Tensor,
    *,
    config: TrainConfig,
    epoch: int,
    amp_dtype,
    progress: _Progress,
) -> dict[str, float]:
    model, optimizer = state.model, state.optimizer
    n = x_train.shape[0]
    perm = torch.randperm(n, generator=state.shuffle_gen).to(x_train.device)
    bounds = _batch_bounds(n, config.batch_size)
    sums = torch.zeros(3, dtype=torch.float64, device=x_train.device)
    model.train()
    for i, (start, stop) in enumerate(bounds, start=1):
        x = x_train.index_select(0, perm[start:stop])
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
        progress.batch(epoch, i)
    loss, recon, kl = (sums / n).tolist()
    if not all(math.isfinite(v) for v in (loss, recon, kl)):
        raise DivergenceError(
            f"Training diverged in epoch {epoch}: mean loss {loss}, recon {recon}, kl {kl}. "
            "Lower `lr`, disable `amp`, or resume from an earlier checkpoint."
        )
    return {"loss": loss, "recon": recon, "kl": kl}


def _check_same_run(run_dir: Path, saved: dict[str, Any], config: TrainConfig, data: DataConfig):
    old_train = saved["train_config"]
    new_train = _json_ready(config)
    diffs = [
        f"{key}: {old_train.get(key)!r} -> {new_train[key]!r}"
        for key in new_train
        if key not in _RESUMABLE_FIELDS and old_train.get(key) != new_train[key]
    ]
    old_data, new_data = saved["data_config"], _json_ready(data)
    diffs += [
        f"data {key}: {old_data.get(key)!r} -> {new_data[key]!r}"
        for key in new_data
        if old_data.get(key) != new_data[key]
    ]
    if diffs:
        raise ValueError(
            f"{run_dir} holds a different run ({'; '.join(diffs)}). Use another output "
            "directory, or the original settings to resume it."
        )


def train(
    run_dir: str | os.PathLike[str],
    *,
    data: DataConfig,
    config: TrainConfig | None = None,
    resume: bool = True,
    progress: bool | TextIO = False,
    study_data: StudyData | None = None,
) -> TrainResult:
    """Train one conv VAE, writing metrics and checkpoints to ``run_dir``; resume if possible.

    Parameters
    ----------
    run_dir : path-like
        Run directory (created). If it holds a run with the same settings, training resumes
        from its last checkpoint (settings in ``epochs``, ``checkpoint_epochs``, ``device``,
        ``amp``, ``deterministic`` and ``num_threads`` may change, so a run can be extended).
    data : DataConfig
        The images (the study split is applied by :func:`conv_study.data.load_study_data`).
    config : TrainConfig, optional
        The recipe (default: the paper's, K = 2).
    resume : bool
        If False, refuse to touch a directory that already holds a run.
    progress : bool or text stream
        Show progress on ``sys.stderr`` (True) or the given stream; always logged at INFO.
    study_data : StudyData, optional
        Already loaded data for ``data`` (saves reloading in sweeps and tests).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If ``run_dir`` holds a different run, or holds a run and ``resume`` is False.
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
    started = time.perf_counter()
    device = select_device(config.device)
    run_file = run_dir / "run.json"
    existing = json.loads(run_file.read_text()) if run_file.is_file() else None
    if existing is not None:
        if not resume:
            raise ValueError(
                f"{run_dir} already holds a run. Pass resume=True (CLI: drop --no-resume) to "
                "continue it, or choose another directory."
            )
        _check_same_run(run_dir, existing, config, data)

    if study_data is None or study_data.config != data:
        study_data = load_study_data(data)
    channels = int(study_data.train.images.shape[1])
    amp_dtype = None
    if config.amp:
        if device.type == "cuda":
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            warnings.warn(
                f"`amp` is only used on CUDA; training in float32 on {device}.", stacklevel=2
            )

    run_dir.mkdir(parents=True, exist_ok=True)
    if existing is None:
        np.save(run_dir / "eval_images.npy", study_data.eval.images)
        if study_data.eval.labels is not None:
            np.save(run_dir / "eval_labels.npy", study_data.eval.labels)
    _atomic_write_json(
        run_file,
        {
            "format": _FORMAT,
            "train_config": _json_ready(config),
            "data_config": _json_ready(data),
            "channels": channels,
            "n_train": len(study_data.train),
            "n_eval": len(study_data.eval),
            "eval_from": study_data.eval_from,
            "conv_study_version": __version__,
            "torch_version": str(torch.__version__),
        },
    )

    with _torch_settings(config, device):
        state = _new_state(config, channels, device)
        if amp_dtype == torch.float16:
            state.scaler = torch.amp.GradScaler("cuda")
        start_epoch, resumed_from = 0, None
        checkpoints = _available_checkpoints(run_dir)
        if existing is not None and checkpoints:
            resumed_from = checkpoints[-1]
            checkpoint = _load_checkpoint(_checkpoint_path(run_dir, resumed_from), device)
            _restore_state(state, checkpoint, config.seed, resumed_from)
            start_epoch = resumed_from + 1
            logger.info("resuming %s from epoch %d", run_dir, resumed_from)
        metrics_path = run_dir / "metrics.jsonl"
        kept = [r for r in _read_metrics(metrics_path) if r["epoch"] < start_epoch]
        _atomic_write_bytes(
            metrics_path, lambda h: h.write("".join(json.dumps(r) + "\n" for r in kept).encode())
        )
        (run_dir / "done.json").unlink(missing_ok=True)

        x_train = torch.from_numpy(to_model_input(study_data.train.images)).to(device)
        x_eval = torch.from_numpy(to_model_input(study_data.eval.images)).to(device)
        stream = sys.stderr if progress is True else (progress or None)
        bar = _Progress(stream, config.epochs, len(_batch_bounds(len(x_train), config.batch_size)))
        saved = set(config.saved_epochs)
        with metrics_path.open("a") as log:
            for epoch in range(start_epoch, config.epochs + 1):
                tic = time.perf_counter()
                train_metrics = None
                if epoch > 0:
                    train_metrics = _train_epoch(
                        state,
                        x_train,
                        config=config,
                        epoch=epoch,
                        amp_dtype=amp_dtype,
                        progress=bar,
                    )
                eval_metrics = _evaluate(
                    state.model,
                    x_eval,
                    seed=config.seed,
                    epoch=epoch,
                    beta=config.beta,
                    amp_dtype=amp_dtype,
                )
                seconds = time.perf_counter() - tic
                record = {
                    "epoch": epoch,
                    "train": train_metrics,
                    "eval": eval_metrics,
                    "seconds": seconds,
                    "images_per_second": len(x_train) / seconds if epoch > 0 else None,
                }
                log.write(json.dumps(record) + "\n")
                log.flush()
                bar.epoch(record)
                if epoch in saved:
                    _save_checkpoint(run_dir, epoch, state, config, data)
    metrics = _read_metrics(metrics_path)
    _atomic_write_json(
        run_dir / "done.json",
        {"epochs": config.epochs, "final": metrics[-1] if metrics else None},
    )
    return TrainResult(
        run_dir=run_dir,
        resumed_from=resumed_from,
        epochs_trained=max(0, config.epochs + 1 - max(start_epoch, 1)),
        metrics=metrics,
        device=str(device),
        seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------------------------
# Reading runs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """A run directory written by :func:`train` (see :func:`load_run`).

    Attributes
    ----------
    path : pathlib.Path
        The run directory.
    train_config : TrainConfig
        The recipe (as last written).
    data_config : DataConfig
        The data.
    channels : int
        Image channels C.
    checkpoint_epochs : tuple of int
        Epochs with a checkpoint on disk when the run was loaded, ascending.
    complete : bool
        Whether training finished all ``train_config.epochs`` epochs.
    """

    path: Path
    train_config: TrainConfig
    data_config: DataConfig
    channels: int
    checkpoint_epochs: tuple[int, ...]
    complete: bool

    def checkpoint_path(self, epoch: int) -> Path:
        """Path of the checkpoint of ``epoch`` (which must exist)."""
        if epoch not in self.checkpoint_epochs:
            raise ValueError(
                f"The `epoch` parameter must be one of the checkpointed epochs "
                f"{list(self.checkpoint_epochs)} of {self.path}. Got {epoch!r}."
            )
        return _checkpoint_path(self.path, epoch)

    def load_model(
        self, epoch: int | None = None, *, device: str | torch.device = "cpu"
    ) -> ConvVAE:
        """The :class:`~conv_study.model.ConvVAE` at ``epoch`` (default: last), in eval mode."""
        if epoch is None:
            if not self.checkpoint_epochs:
                raise ValueError(f"{self.path} has no checkpoint yet.")
            epoch = self.checkpoint_epochs[-1]
        checkpoint = _load_checkpoint(self.checkpoint_path(epoch), device)
        model = ConvVAE(channels=self.channels, latent_dim=self.train_config.latent_dim)
        model.load_state_dict(checkpoint["model"])
        return model.to(device).eval()

    def eval_images(self) -> np.ndarray:
        """The evaluation images as the network saw them: float32 (N, C, 32, 32) in [0, 1]."""
        return to_model_input(np.load(self.path / "eval_images.npy"))

    def eval_labels(self) -> np.ndarray | None:
        """Labels of the evaluation images (int64, (N,)), or None when the source has none."""
        path = self.path / "eval_labels.npy"
        return np.load(path) if path.is_file() else None

    def metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records of ``metrics.jsonl`` (see the module docstring)."""
        return _read_metrics(self.path / "metrics.jsonl")


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Open a run directory written by :func:`train`.

    Parameters
    ----------
    run_dir : path-like
        The directory (holding ``run.json``).

    Returns
    -------
    Run
        With ``train_config``, ``data_config``, ``checkpoint_epochs``, ``load_model(epoch)``,
        ``eval_images()``, ``eval_labels()`` and ``metrics()``.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` has no ``run.json``.
    """
    run_dir = Path(run_dir)
    run_file = run_dir / "run.json"
    if not run_file.is_file():
        raise FileNotFoundError(f"{run_dir} is not a conv-study run directory (no run.json).")
    saved = json.loads(run_file.read_text())
    train_config = _train_config_from_dict(saved["train_config"])
    done_file = run_dir / "done.json"
    complete = (
        done_file.is_file() and json.loads(done_file.read_text())["epochs"] >= train_config.epochs
    )
    return Run(
        path=run_dir,
        train_config=train_config,
        data_config=DataConfig(**saved["data_config"]),
        channels=int(saved["channels"]),
        checkpoint_epochs=_available_checkpoints(run_dir),
        complete=complete,
    )


# ---------------------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepEntry:
    """One run of a :func:`sweep`.

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


def run_label(data: DataConfig) -> str:
    """Dataset label used in sweep directory names (the file stem for npz data)."""
    if data.dataset == "npz":
        return Path(str(data.path)).stem
    return data.dataset


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
    each K.

    Returns
    -------
    list of SweepEntry
        In the order run.
    """
    config = TrainConfig() if config is None else config
    for k in latent_dims:
        _check_int("latent_dim", k, minimum=1)
    out_root = Path(out_root)
    entries = []
    for data in datasets:
        label = run_label(data)
        loaded: StudyData | None = None
        for k in latent_dims:
            run_config = dataclasses.replace(config, latent_dim=int(k))
            run_dir = out_root / f"{label}-K{k}"
            if (run_dir / "run.json").is_file():
                previous = load_run(run_dir)
                # A directory holding different settings is an error, never a silent skip.
                saved = json.loads((run_dir / "run.json").read_text())
                _check_same_run(run_dir, saved, run_config, data)
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
