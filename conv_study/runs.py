"""The run directory: what `conv_study.train.train` writes and the analysis reads.

Reading a run needs no training code and, until a checkpoint is opened, no torch: the
analysis (`conv_study.analysis`) and the command line open runs through this module.

Layout
------
::

    run.json               configuration (TrainConfig, DataConfig), channels, sizes, versions
    metrics.jsonl          one JSON object per epoch (epoch 0 = untrained)
    eval_images.npy        the evaluation images as loaded (N, C, H, W), uint8 or float
    eval_labels.npy        their labels, when the source has labels
    checkpoints/epoch_0010.pt   model, optimizer, generator states, config, epoch
    checkpoints/resume.pt       the last finished epoch of an interrupted run (until resumed)
    done.json              written last, when all epochs are done
    analysis.json          written by `conv_study.analysis.analyze_run`

The file names are the constants ``RUN_FILE``, ``METRICS_FILE``, ``EVAL_IMAGES_FILE``,
``EVAL_LABELS_FILE``, ``CHECKPOINT_DIR``, ``RESUME_FILE``, ``DONE_FILE`` and
``ANALYSIS_FILE``. One object writes them: training asks a `RunFolder` to record the
run's settings, save a checkpoint, append a metrics record, keep an interrupted epoch and
mark the run done, and never names a file itself.

Each ``metrics.jsonl`` line is ``{"epoch": e, "train": {"loss", "recon", "kl"} | null,
"eval": {"loss", "recon", "kl"}, "seconds": s, "train_seconds": t, "eval_seconds": v,
"images_per_second": r}``; all losses are true per-sample means (sums over every image divided
by the number of images). ``train`` is the running mean over epoch ``e``'s minibatches in
training mode (null for epoch 0); ``eval`` is measured after the epoch in eval mode (BatchNorm
running statistics) on the whole evaluation set, with bottleneck noise from a generator seeded
by (seed, epoch). ``train_seconds`` times the training pass alone and ``images_per_second``
is training images over it (both null for epoch 0); ``eval_seconds`` times the evaluation;
``seconds`` is their sum. Lines are strict JSON: a loss that is NaN or inf (the last line of a
run that diverged, which then stops) is ``null``, and the line's ``null_reasons`` says why.

Every file but ``metrics.jsonl`` (appended line by line; a partial last line is ignored) is
written atomically (`linvae.utils.io.atomic_write`: temporary file, fsync,
``os.replace``), so a run killed at any moment leaves only complete files. A folder being
written is locked (`RunFolder.lock`, `linvae.utils.process.folder_lock`): a second writer
is refused, naming the first.

Reading runs
------------
`load_run` returns a `Run`: ``run.train_config``, ``run.data_config``,
``run.checkpoint_epochs`` (the epochs with a checkpoint on disk), ``run.load_model(epoch)``
(a `ConvVAE` in eval mode), ``run.eval_images()`` (float32
(N, C, 32, 32) in [0, 1], exactly the network input used during training),
``run.eval_labels()`` and ``run.metrics()``.

Example
-------
>>> from conv_study.runs import load_run
>>> run = load_run("runs/fmnist-K16")                                # doctest: +SKIP
>>> model = run.load_model(200); images = run.eval_images()          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from conv_study.config import TrainConfig
from conv_study.data import DataConfig, to_model_input
from linvae.utils.io import atomic_write, atomic_write_json, dumps_json
from linvae.utils.process import folder_lock
from linvae.utils.validation import check_choice

if TYPE_CHECKING:  # torch is the `conv` extra; reading a run's files needs none
    import torch

    from conv_study.model import ConvVAE

__all__ = [
    "ANALYSIS_FILE",
    "CHECKPOINT_DIR",
    "DONE_FILE",
    "EVAL_IMAGES_FILE",
    "EVAL_LABELS_FILE",
    "METRICS_FILE",
    "RESUMABLE_FIELDS",
    "RESUME_FILE",
    "RUN_FILE",
    "RUN_FORMAT",
    "Run",
    "RunFolder",
    "available_checkpoints",
    "check_same_run",
    "checkpoint_path",
    "config_to_json",
    "load_checkpoint",
    "load_run",
    "read_metrics",
    "read_run_record",
    "run_label",
]

logger = logging.getLogger(__name__)

#: Version of the layout, recorded in ``run.json`` and in every checkpoint.
RUN_FORMAT = 1
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
EVAL_IMAGES_FILE = "eval_images.npy"
EVAL_LABELS_FILE = "eval_labels.npy"
CHECKPOINT_DIR = "checkpoints"
DONE_FILE = "done.json"
#: An interrupted run's last finished epoch, when it is not a checkpoint epoch (in
#: ``CHECKPOINT_DIR``; training resumes from it, the analysis ignores it).
RESUME_FILE = "resume.pt"
ANALYSIS_FILE = "analysis.json"
#: TrainConfig fields that may change when a run is resumed; all others define the run.
RESUMABLE_FIELDS = frozenset(
    {
        "epochs",
        "checkpoint_epochs",
        "device",
        "amp",
        "channels_last",
        "deterministic",
        "num_threads",
    }
)
_CHECKPOINT_RE = re.compile(r"^epoch_(\d+)\.pt$")


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------
def config_to_json(config: TrainConfig | DataConfig) -> dict[str, Any]:
    """A configuration as the JSON object ``run.json`` stores (tuples become lists)."""
    out = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _train_config_from_json(values: dict[str, Any]) -> TrainConfig:
    values = dict(values)
    values["checkpoint_epochs"] = tuple(values.get("checkpoint_epochs", ()))
    return TrainConfig(**values)


def read_run_record(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The content of ``run.json``, or None when ``run_dir`` holds no run yet."""
    path = Path(run_dir) / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file ([] when missing); a partial line is skipped."""
    path = Path(path)
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


# Why a loss is null in metrics.jsonl: the only non-finite values a record can hold.
_DIVERGED = "non-finite (NaN or inf): training diverged at this epoch"
_METRIC_REASONS = {
    f"{part}.{name}": _DIVERGED for part in ("train", "eval") for name in ("loss", "recon", "kl")
}


def _metrics_line(record: dict[str, Any]) -> str:
    """One record as one line of strict JSON: NaN and inf become null, with a reason."""
    return dumps_json(record, reasons=_METRIC_REASONS) + "\n"


def checkpoint_path(run_dir: str | os.PathLike[str], epoch: int) -> Path:
    """Where the checkpoint of ``epoch`` lives: ``checkpoints/epoch_0010.pt``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"epoch_{epoch:04d}.pt"


def available_checkpoints(run_dir: str | os.PathLike[str]) -> tuple[int, ...]:
    """Epochs with a (complete) checkpoint on disk, ascending; temporary files are ignored."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return ()
    found = (_CHECKPOINT_RE.match(p.name) for p in folder.iterdir())
    return tuple(sorted(int(m.group(1)) for m in found if m))


def load_checkpoint(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint (``weights_only``: tensors and plain values, no code) onto ``device``.

    Raises
    ------
    ValueError
        If the file is damaged or not a checkpoint.
    """
    import torch  # the `conv` extra: only checkpoints need it

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises several types for damaged files
        raise ValueError(f"Cannot read checkpoint {path}: {err}") from err


def check_same_run(
    run_dir: str | os.PathLike[str],
    saved: dict[str, Any],
    config: TrainConfig,
    data: DataConfig,
) -> None:
    """Refuse to continue ``run_dir`` (whose ``run.json`` is ``saved``) with other settings.

    Only the fields in `RESUMABLE_FIELDS` may differ.

    Raises
    ------
    ValueError
        Naming every differing setting, old -> new.
    """
    old_train = saved["train_config"]
    new_train = config_to_json(config)
    diffs = [
        f"{key}: {old_train.get(key)!r} -> {new_train[key]!r}"
        for key in new_train
        if key not in RESUMABLE_FIELDS and old_train.get(key) != new_train[key]
    ]
    old_data, new_data = saved["data_config"], config_to_json(data)
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


def run_label(data: DataConfig) -> str:
    """Dataset label of a run (sweep directory names, figures): the file stem for npz data.

    Examples
    --------
    >>> run_label(DataConfig(dataset="npz", path="data/blobs.npz"))
    'blobs'
    """
    if data.dataset == "npz":
        return Path(str(data.path)).stem
    return data.dataset


# ---------------------------------------------------------------------------------------------
# Reading runs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """A run directory written by `conv_study.train.train` (see `load_run`).

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
        check_choice(
            "epoch",
            epoch,
            "Run.checkpoint_path",
            self.checkpoint_epochs,
            fix=f"Those are the checkpointed epochs of {self.path}.",
        )
        return checkpoint_path(self.path, epoch)

    def load_model(
        self, epoch: int | None = None, *, device: torch.device | str = "cpu"
    ) -> ConvVAE:
        """The `ConvVAE` at ``epoch`` (default: last), in eval mode."""
        # The network is torch (the `conv` extra); reading the run's files is not.
        from conv_study import model as network

        if epoch is None:
            if not self.checkpoint_epochs:
                raise ValueError(f"{self.path} has no checkpoint yet.")
            epoch = self.checkpoint_epochs[-1]
        checkpoint = load_checkpoint(self.checkpoint_path(epoch), device)
        model = network.ConvVAE(channels=self.channels, latent_dim=self.train_config.latent_dim)
        model.load_state_dict(checkpoint["model"])
        return model.to(device).eval()

    def eval_images(self) -> np.ndarray:
        """The evaluation images as the network saw them: float32 (N, C, 32, 32) in [0, 1]."""
        return to_model_input(np.load(self.path / EVAL_IMAGES_FILE))

    def eval_labels(self) -> np.ndarray | None:
        """Labels of the evaluation images (int64, (N,)), or None when the source has none."""
        path = self.path / EVAL_LABELS_FILE
        return np.load(path) if path.is_file() else None

    def metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records of ``metrics.jsonl`` (see the module docstring)."""
        return read_metrics(self.path / METRICS_FILE)


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Open a run directory written by `conv_study.train.train`.

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
    saved = read_run_record(run_dir)
    if saved is None:
        raise FileNotFoundError(f"{run_dir} is not a conv-study run directory (no run.json).")
    train_config = _train_config_from_json(saved["train_config"])
    done_file = run_dir / DONE_FILE
    complete = (
        done_file.is_file() and json.loads(done_file.read_text())["epochs"] >= train_config.epochs
    )
    return Run(
        path=run_dir,
        train_config=train_config,
        data_config=DataConfig(**saved["data_config"]),
        channels=int(saved["channels"]),
        checkpoint_epochs=available_checkpoints(run_dir),
        complete=complete,
    )


# ---------------------------------------------------------------------------------------------
# Writing runs
# ---------------------------------------------------------------------------------------------
class RunFolder:
    """A run directory as training writes it: the one writer of the run format.

    Training asks the folder to record the run (`write_record`, `write_eval_images`), to
    append each epoch's metrics (`append_metrics`), to save a checkpoint
    (`save_checkpoint`) or an interrupted run's last finished epoch (`save_interrupted`),
    and to mark the run done (`mark_done`); it reads back where to resume
    (`latest_checkpoint`). The folder owns the file names and the format version, and
    writes every file atomically, so that a run killed at any moment leaves only complete
    files. Reading a finished run is `load_run`'s.

    Parameters
    ----------
    path : path-like
        The run directory (created when first written).

    Examples
    --------
    >>> import tempfile
    >>> folder = RunFolder(tempfile.mkdtemp())
    >>> with folder.lock():
    ...     folder.append_metrics({"epoch": 0, "eval": {"loss": float("nan")}})
    >>> record = folder.metrics()[0]
    >>> record["eval"], record["null_reasons"]["eval.loss"]
    ({'loss': None}, 'non-finite (NaN or inf): training diverged at this epoch')
    """

    #: What training writes in a run directory, for an output check before a run starts.
    FILES: tuple[str, ...] = (
        RUN_FILE,
        METRICS_FILE,
        EVAL_IMAGES_FILE,
        EVAL_LABELS_FILE,
        CHECKPOINT_DIR,
        DONE_FILE,
    )

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._created = False

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- the lock ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str = "The run directory") -> Iterator[RunFolder]:
        """Hold the folder's write lock (`linvae.utils.process.folder_lock`) for the duration.

        The folder is created if missing; if it was, and nothing was written into it, it is
        removed again on the way out, so that a start that failed leaves no folder behind.

        Raises
        ------
        linvae.utils.process.FolderLocked
            (a ValueError) If another process writes the folder now; the message names it.
        """
        self._created = not self.path.exists()
        try:
            with folder_lock(self.path, name):
                yield self
        finally:
            if self._created and self.path.is_dir() and not any(self.path.iterdir()):
                self.path.rmdir()

    def discard_start(self) -> None:
        """Remove what a start that failed before its first epoch wrote.

        A folder this `lock` created goes entirely; in a folder that was there before, the
        run's settings, evaluation images and metrics go, so that a retry with other
        settings is not refused as "a different run".
        """
        if self._created:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for name in (RUN_FILE, EVAL_IMAGES_FILE, EVAL_LABELS_FILE, METRICS_FILE):
            (self.path / name).unlink(missing_ok=True)

    # -- the run's record ----------------------------------------------------------------------
    def record(self) -> dict[str, Any] | None:
        """The content of ``run.json``, or None when the folder holds no run yet."""
        return read_run_record(self.path)

    def write_record(self, record: dict[str, Any]) -> Path:
        """Write ``run.json`` (``record`` holds ``train_config``, ``data_config``, ...)."""
        return atomic_write_json(self.path / RUN_FILE, {"format": RUN_FORMAT, **record})

    def write_eval_images(self, images: np.ndarray, labels: np.ndarray | None) -> None:
        """Write the evaluation images as loaded and, when there are labels, their labels."""
        _save_array(self.path / EVAL_IMAGES_FILE, images)
        if labels is not None:
            _save_array(self.path / EVAL_LABELS_FILE, labels)

    # -- metrics -------------------------------------------------------------------------------
    @property
    def metrics_file(self) -> Path:
        """The per-epoch records' file (for messages; write through `append_metrics`)."""
        return self.path / METRICS_FILE

    def metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records written so far ([] for none)."""
        return read_metrics(self.metrics_file)

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one epoch's record as one line of strict JSON, and flush it.

        A non-finite loss is written as ``null``, and the record's ``null_reasons`` says why.
        """
        with self.metrics_file.open("a") as log:
            log.write(_metrics_line(record))
            log.flush()

    def rewind(self, epoch: int) -> None:
        """Make the folder a run that has finished the epochs before ``epoch`` and no more.

        Metrics records of ``epoch`` and later (an interrupted run's, or those past the
        checkpoint it resumes from) are dropped, atomically, and the run is no longer done.
        """
        kept = [record for record in self.metrics() if record["epoch"] < epoch]
        text = "".join(_metrics_line(record) for record in kept)
        atomic_write(self.metrics_file, lambda handle: handle.write(text.encode()))
        (self.path / DONE_FILE).unlink(missing_ok=True)

    # -- checkpoints ---------------------------------------------------------------------------
    @property
    def _resume_file(self) -> Path:
        return self.path / CHECKPOINT_DIR / RESUME_FILE

    def checkpoint_epochs(self) -> tuple[int, ...]:
        """Epochs with a complete checkpoint on disk, ascending."""
        return available_checkpoints(self.path)

    def save_checkpoint(self, epoch: int, payload: dict[str, Any]) -> Path:
        """Save the checkpoint of ``epoch`` (tensors and plain values; `load_checkpoint`).

        It supersedes an interrupted run's saved epoch, which is removed.
        """
        path = _save_payload(checkpoint_path(self.path, epoch), payload)
        self._resume_file.unlink(missing_ok=True)
        return path

    def save_interrupted(self, payload: dict[str, Any]) -> Path:
        """Save an interrupted run's last finished epoch, which is not a checkpoint epoch.

        Training resumes from it as from a checkpoint; the analysis ignores it.
        """
        return _save_payload(self._resume_file, payload)

    def latest_checkpoint(self, device: torch.device | str = "cpu") -> dict[str, Any] | None:
        """The latest saved epoch's payload (a checkpoint or an interrupted run's), or None.

        Raises
        ------
        ValueError
            If the file is damaged (see `load_checkpoint`).
        """
        epochs = self.checkpoint_epochs()
        interrupted = None
        if self._resume_file.is_file():
            interrupted = load_checkpoint(self._resume_file, device)
            if not epochs or int(interrupted["epoch"]) > epochs[-1]:
                return interrupted
        if not epochs:
            return None
        return load_checkpoint(checkpoint_path(self.path, epochs[-1]), device)

    # -- the end -------------------------------------------------------------------------------
    def mark_done(self, epochs: int, final: dict[str, Any] | None) -> Path:
        """Write ``done.json`` (the epochs trained and the last metrics record), last of all."""
        path = atomic_write_json(self.path / DONE_FILE, {"epochs": epochs, "final": final})
        self._resume_file.unlink(missing_ok=True)
        return path


def _save_array(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda handle: np.save(handle, array))


def _save_payload(path: Path, payload: dict[str, Any]) -> Path:
    import torch  # the `conv` extra: only checkpoints need it

    payload = {"format": RUN_FORMAT, **payload}
    return atomic_write(path, lambda handle: torch.save(payload, handle))
