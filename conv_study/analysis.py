"""The layer-by-layer study of a training run: every checkpoint's profiles, cached.

For every checkpoint of a training run (see `conv_study.runs.load_run`) the eleven
representations l0..l10 (and the posterior mean ``mu``) of the evaluation images are computed
with bottleneck noise from a generator seeded per checkpoint (`checkpoint_seed`), through the
probe's capture (`conv_study.capture.capture` with the layer list
`conv_study.taps.STUDY_LAYERS`), and measured by
`conv_study.profiles.analyze_representations` (IDs, the imbalances to the first and last
layer and between neighbours: a `conv_study.profiles.CheckpointGeometry`).

`analyze_run` caches the results as ``analysis.json`` in the run directory (a `RunAnalysis`)
and only computes checkpoints it has not seen (with the same settings); `load_analysis`
reads that cache. The profile of one checkpoint and its reading ("single" or "double"
hunchback, `read_profile`) live in `conv_study.profiles`; their names are offered here too.

Runs are opened with `conv_study.runs`, without the training code. `load_analysis` needs
only numpy; `analyze_run` needs torch (the ``conv`` extra) for the forward passes.

Symbols
-------
K : bottleneck dimension.

References
----------
.. [1] P. Camboulin, D. Doimo, A. Glielmo, "Understanding Variational Autoencoders with
   Intrinsic Dimension and Information Imbalance", arXiv:2411.01978 (2024).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conv_study.capture import capture
from conv_study.constants import LAYER_NAMES, PAPER_N_EVAL, TwoNNMethod
from conv_study.profiles import (
    CheckpointGeometry,
    ProfileReading,
    analyze_representations,
    format_ids,
    read_profile,
)
from conv_study.runs import ANALYSIS_FILE, load_run, run_label
from conv_study.taps import STUDY_LAYERS, study_batches, study_forward
from linvae.utils.io import atomic_write_json
from linvae.utils.process import check_interrupt
from linvae.utils.progress import make_progress
from linvae.utils.validation import check_int
from linvae.utils.version import __version__

__all__ = [
    "ANALYSIS_FILE",
    "LAYER_NAMES",
    "CheckpointGeometry",
    "ProfileReading",
    "RunAnalysis",
    "analyze_representations",
    "analyze_run",
    "checkpoint_seed",
    "format_ids",
    "load_analysis",
    "read_profile",
]

logger = logging.getLogger(__name__)

_FORMAT = 1


@dataclass(frozen=True)
class RunAnalysis:
    """All analysed checkpoints of one run (the content of ``analysis.json``).

    Attributes
    ----------
    run_dir : str
        The run directory.
    label : str
        Dataset label (e.g. ``"fashion-mnist"``).
    latent_dim : int
        K.
    settings : dict
        ``points``, ``k``, ``discard``, ``method``: the options every checkpoint used.
    checkpoints : tuple of CheckpointGeometry
        Ascending epoch.
    metrics : tuple of dict
        Per-epoch ``{"epoch", "kl", "recon", "loss"}`` on the evaluation set, from the run's
        ``metrics.jsonl`` (for the training-phase figure).
    version : str
        ``conv_study`` version.
    """

    run_dir: str
    label: str
    latent_dim: int
    settings: dict[str, Any]
    checkpoints: tuple[CheckpointGeometry, ...]
    metrics: tuple[dict[str, Any], ...] = ()
    version: str = __version__

    @property
    def epochs(self) -> tuple[int, ...]:
        """Epochs analysed."""
        return tuple(int(c.epoch) for c in self.checkpoints if c.epoch is not None)

    @property
    def data_id(self) -> float:
        """2NN ID of the input layer l0 (the data; the same at every checkpoint)."""
        if not self.checkpoints:
            return float("nan")
        return float(self.checkpoints[-1].id[0])

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "format": _FORMAT,
            "run_dir": self.run_dir,
            "label": self.label,
            "latent_dim": self.latent_dim,
            "settings": self.settings,
            "checkpoints": [c.to_json() for c in self.checkpoints],
            "metrics": list(self.metrics),
            "version": self.version,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RunAnalysis:
        """Inverse of `to_json`."""
        return cls(
            run_dir=obj["run_dir"],
            label=obj["label"],
            latent_dim=int(obj["latent_dim"]),
            settings=dict(obj["settings"]),
            checkpoints=tuple(CheckpointGeometry.from_json(c) for c in obj["checkpoints"]),
            metrics=tuple(obj.get("metrics", ())),
            version=obj.get("version", "unknown"),
        )


def checkpoint_seed(seed: int, epoch: int) -> int:
    """Seed of the bottleneck noise used to analyse checkpoint ``epoch`` of a run.

    Derived from the run's ``seed`` and the epoch only (``numpy.random.SeedSequence``), so a
    checkpoint's representations do not depend on which other checkpoints were analysed, or
    in which order (a defect of the original analysis scripts).

    Parameters
    ----------
    seed : int
        The run's ``TrainConfig.seed``.
    epoch : int
        Checkpoint epoch.

    Returns
    -------
    int
        A 31-bit seed.

    Examples
    --------
    >>> len({checkpoint_seed(0, 10), checkpoint_seed(0, 20), checkpoint_seed(1, 10)})
    3
    """
    state = np.random.SeedSequence([int(seed), int(epoch), 0xA7A1]).generate_state(1)[0]
    return int(state) & 0x7FFFFFFF


def load_analysis(run_dir: str | os.PathLike[str]) -> RunAnalysis | None:
    """The cached ``analysis.json`` of a run directory, or None if there is none.

    Parameters
    ----------
    run_dir : path-like
        A run directory.

    Returns
    -------
    RunAnalysis or None
    """
    path = Path(run_dir) / ANALYSIS_FILE
    if not path.is_file():
        return None
    return RunAnalysis.from_json(json.loads(path.read_text()))


def _eval_metrics(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    out = []
    for rec in records:
        ev = rec.get("eval") or {}
        out.append(
            {
                "epoch": int(rec["epoch"]),
                "kl": ev.get("kl"),
                "recon": ev.get("recon"),
                "loss": ev.get("loss"),
            }
        )
    return tuple(out)


def analyze_run(
    run_dir: str | os.PathLike[str],
    *,
    points: int = PAPER_N_EVAL,
    epochs: Sequence[int] | None = None,
    k: int = 1,
    discard: float = 0.1,
    method: TwoNNMethod = "base",
    device: str = "cpu",
    force: bool = False,
    progress: bool | Callable[[float, float], None] = False,
) -> RunAnalysis:
    """Analyse the checkpoints of a training run, incrementally, caching ``analysis.json``.

    For each checkpoint epoch not yet in the cache (or every one with ``force``): load the
    model, compute l0..l10 and ``mu`` of the first ``points`` evaluation images with noise
    seed `checkpoint_seed` (run seed, epoch), run `analyze_representations`, and
    rewrite the cache atomically. A cache made with other settings is recomputed.

    Parameters
    ----------
    run_dir : path-like
        Directory written by `conv_study.train.train`.
    points : int, default 5000
        Number of evaluation images (the first ones), at most the run's ``n_eval``.
    epochs : sequence of int, optional
        Checkpoints to analyse (default: all on disk).
    k, discard, method :
        Estimator options (see `analyze_representations`).
    device : str, default "cpu"
        Torch device for the forward passes, and for the estimators' screening Gram matrices
        when it is not the CPU.
    force : bool, default False
        Recompute the requested checkpoints even if cached (others stay cached).
    progress : bool or callable(done, total), default False
        True: a progress bar over the checkpoints to analyse, on stderr; a callable is called
        after each (`linvae.utils.progress.make_progress`).

    Returns
    -------
    RunAnalysis
        Everything in the cache after the call.

    Raises
    ------
    ValueError
        If ``points`` exceeds the evaluation set or ``epochs`` names missing checkpoints.
    FileNotFoundError
        If ``run_dir`` is not a run directory.
    """
    run = load_run(run_dir)
    images = run.eval_images()
    points = check_int("points", points, "analyze_run", low=1)
    if points > len(images):
        raise ValueError(
            f"The `points` parameter of analyze_run must be in [1, {len(images)}] (the run's "
            f"evaluation images). Got {points}."
        )
    wanted = run.checkpoint_epochs if epochs is None else tuple(int(e) for e in epochs)
    missing = sorted(set(wanted) - set(run.checkpoint_epochs))
    if missing:
        raise ValueError(
            f"The `epochs` parameter of analyze_run names epochs without a checkpoint in "
            f"{run.path}: {missing}. Available: {list(run.checkpoint_epochs)}."
        )
    settings = {"points": int(points), "k": int(k), "discard": float(discard), "method": method}
    cached = load_analysis(run.path)
    done: dict[int, CheckpointGeometry] = {}
    if cached is not None and cached.settings == settings:
        done = {int(c.epoch): c for c in cached.checkpoints if c.epoch is not None}
    elif cached is not None:
        logger.info("%s: cached analysis has other settings; recomputing", run.path)
    todo = [e for e in wanted if force or e not in done]
    logger.info("%s: %d checkpoint(s) to analyse (%d cached)", run.path, len(todo), len(done))
    images = images[: int(points)]
    metrics = _eval_metrics(run.metrics())

    def snapshot() -> RunAnalysis:
        return RunAnalysis(
            run_dir=str(run.path),
            label=run_label(run.data_config),
            latent_dim=run.train_config.latent_dim,
            settings=settings,
            checkpoints=tuple(done[e] for e in sorted(done)),
            metrics=metrics,
        )

    started = time.perf_counter()
    bar = make_progress(progress, len(todo), "analyze", unit="checkpoints", warmup="loading")
    try:
        for count, epoch in enumerate(todo, start=1):
            check_interrupt()  # a safe point: every earlier checkpoint is in the cache
            tic = time.perf_counter()
            seed = checkpoint_seed(run.train_config.seed, epoch)
            model = run.load_model(epoch, device=device)
            reps = capture(
                model,
                study_batches(images, model.latent_dim, seed=seed),
                STUDY_LAYERS,
                n_points=len(images),
                device=device,
                forward=study_forward,
                seed=None,
            )
            del model
            forward = time.perf_counter() - tic

            geo = analyze_representations(
                reps,
                k=k,
                discard=discard,
                method=method,
                epoch=epoch,
                seed=seed,
                gram_device=None if str(device).startswith("cpu") else device,
            )
            done[epoch] = geo
            atomic_write_json(run.path / ANALYSIS_FILE, snapshot().to_json(), indent=1)
            bar(count)
            logger.info(
                "%s: epoch %d analysed (%d/%d) in %.1f s (forward %.1f s, estimators %.1f s): "
                "ID %s",
                run.path,
                epoch,
                count,
                len(todo),
                time.perf_counter() - tic,
                forward,
                geo.seconds,
                format_ids(geo.layers, geo.id, geo.id_mu),
            )
    finally:
        bar.close()
    if todo:
        logger.info(
            "%s: %d checkpoint(s) analysed in %.1f s",
            run.path,
            len(todo),
            time.perf_counter() - started,
        )
    result = snapshot()
    if not todo and cached is not None and cached.metrics != metrics:
        atomic_write_json(run.path / ANALYSIS_FILE, result.to_json(), indent=1)
    return result
