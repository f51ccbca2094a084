"""The layer-by-layer study: ID and information-imbalance profiles of trained checkpoints.

For every checkpoint of a training run (see `conv_study.runs.load_run`) the eleven
representations l0..l10 (and the posterior mean ``mu``) of the evaluation images are computed
with bottleneck noise from a generator seeded per checkpoint (`checkpoint_seed`), and
`analyze_representations` turns them into (both through the probe: `conv_study.capture.capture`
with the layer list `conv_study.taps.STUDY_LAYERS`, and `conv_study.probe.measure`)

* the 2NN intrinsic dimension of every layer (and of ``mu``);
* ``Delta(l -> l0)`` and ``Delta(l -> l10)`` for every layer (to the first and last);
* ``Delta(l -> l+1)`` and ``Delta(l+1 -> l)`` and their relative difference
  (negative: compression, positive: expansion).

`analyze_run` caches the results as ``analysis.json`` in the run directory and only
computes checkpoints it has not seen (with the same settings). `read_profile` reads the
ID profile: local maxima in the encoder and the decoder ("single" or "double" hunchback) and
whether the bottleneck K is above the data's ID (the study predicts the second hunchback then;
see the estimators page, docs/conv-study-estimators.md, "Command line").

Runs are opened with `conv_study.runs`, without the training code. The core
(`analyze_representations`, `read_profile`, `load_analysis`) needs only
numpy; `analyze_run` needs torch (the ``conv`` extra) for the forward passes.

Symbols
-------
L : number of analysed layers (11).
K : bottleneck dimension.
Delta(a -> b) : information imbalance, `conv_study.estimators.information_imbalance`.

References
----------
.. [1] P. Camboulin, D. Doimo, A. Glielmo, "Understanding Variational Autoencoders with
   Intrinsic Dimension and Information Imbalance", arXiv:2411.01978 (2024).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from conv_study.capture import capture
from conv_study.constants import LATENT_LAYER, LAYER_NAMES, MU_NAME, PAPER_N_EVAL, TwoNNMethod
from conv_study.probe import measure
from conv_study.runs import ANALYSIS_FILE, load_run, run_label
from conv_study.taps import STUDY_LAYERS, study_batches, study_forward
from linvae.utils.io import atomic_write_json, to_jsonable
from linvae.utils.process import check_interrupt
from linvae.utils.progress import make_progress
from linvae.utils.validation import check_int, check_real
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
class CheckpointGeometry:
    """ID and imbalance profiles of one set of representations (one checkpoint).

    Attributes
    ----------
    epoch : int or None
        Checkpoint epoch (None when not from a run).
    layers : tuple of str
        Layer names, network order (length L).
    id : tuple of float
        2NN ID per layer.
    id_mu : float or None
        2NN ID of the posterior mean ``mu`` (None when not given).
    delta_to_first, delta_to_last : tuple of float
        ``Delta(l -> first)`` and ``Delta(l -> last)`` per layer (``nan`` for the layer
        itself).
    delta_forward, delta_backward : tuple of float
        ``Delta(l -> l+1)`` and ``Delta(l+1 -> l)``, length L - 1.
    relative_difference : tuple of float
        Relative II difference per transition l -> l+1 (negative: compression).
    n_duplicates : tuple of int
        Duplicate points dropped from each layer's ID.
    n_points : int
        Number of points N.
    seed : int or None
        Seed of the bottleneck noise.
    k : int
        Neighbours averaged in the imbalance.
    seconds : float
        Wall time of the estimators.
    version : str
        ``conv_study`` version.
    """

    epoch: int | None
    layers: tuple[str, ...]
    id: tuple[float, ...]
    id_mu: float | None
    delta_to_first: tuple[float, ...]
    delta_to_last: tuple[float, ...]
    delta_forward: tuple[float, ...]
    delta_backward: tuple[float, ...]
    relative_difference: tuple[float, ...]
    n_duplicates: tuple[int, ...]
    n_points: int
    seed: int | None
    k: int
    seconds: float
    version: str = __version__

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (``nan`` written as null)."""
        return to_jsonable(asdict(self))

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CheckpointGeometry:
        """Inverse of `to_json`."""
        values = dict(obj)
        for key in (
            "id",
            "delta_to_first",
            "delta_to_last",
            "delta_forward",
            "delta_backward",
            "relative_difference",
        ):
            values[key] = tuple(np.nan if v is None else float(v) for v in values[key])
        values["layers"] = tuple(values["layers"])
        values["n_duplicates"] = tuple(int(v) for v in values["n_duplicates"])
        return cls(**values)


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


@dataclass(frozen=True)
class ProfileReading:
    """What an ID profile says (see `read_profile`).

    Attributes
    ----------
    peaks : tuple of int
        Layers that are prominent local maxima of the ID.
    encoder_peaks, decoder_peaks : tuple of int
        The peaks before and after the bottleneck.
    shape : {"none", "single", "double"}
        "double" when both encoder and decoder peak, "single" when one of them does.
    data_id : float
        ID of the input layer.
    latent_dim : int or None
        K, when known.
    predicted_shape : {"single", "double"} or None
        "double" when K > data ID (the study's prediction), None without K.
    agrees : bool or None
        Whether ``shape`` matches ``predicted_shape``.
    """

    peaks: tuple[int, ...]
    encoder_peaks: tuple[int, ...]
    decoder_peaks: tuple[int, ...]
    shape: Literal["none", "single", "double"]
    data_id: float
    latent_dim: int | None
    predicted_shape: Literal["single", "double"] | None
    agrees: bool | None


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


def analyze_representations(
    representations: Mapping[str, np.ndarray] | Sequence[np.ndarray],
    *,
    layers: Sequence[str] = LAYER_NAMES,
    k: int = 1,
    discard: float = 0.1,
    method: TwoNNMethod = "base",
    epoch: int | None = None,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    gram_device: str | None = None,
) -> CheckpointGeometry:
    """ID per layer and the study's imbalances, from the representations (no torch needed).

    Computes, with one screened Gram matrix per layer
    (`conv_study.estimators.layer_geometry`), the 2NN ID of every layer and of ``mu``
    (if given), ``Delta(l -> first)``, ``Delta(l -> last)``, ``Delta(l -> l+1)``,
    ``Delta(l+1 -> l)`` and the relative difference

    $$
    \\frac{\\Delta(l \\to l+1) - \\Delta(l+1 \\to l)}
        {(|\\Delta(l \\to l+1)| + |\\Delta(l+1 \\to l)|)/2}.
    $$

    Parameters
    ----------
    representations : mapping name -> array (N, D_l), or sequence of arrays
        The layers (a mapping must hold every name in ``layers``; an extra ``"mu"`` gets an
        ID too). A sequence is taken in order, named l0, l1, ...
    layers : sequence of str, default `LAYER_NAMES` (l0..l10)
        Names to analyse, in network order, when ``representations`` is a mapping.
    k : int, default 1
        Neighbours averaged in the imbalance (the paper: 1).
    discard, method :
        2NN options (`conv_study.estimators.twonn_id`).
    epoch, seed : int, optional
        Recorded in the result.
    progress : callable(done, total), optional
        Progress of the estimators (rows done).
    gram_device : str, optional
        Torch device for the screening Gram matrices (e.g. ``"cuda"``); default numpy.

    Returns
    -------
    CheckpointGeometry
        See its attributes.

    Raises
    ------
    ValueError
        Missing layers, inconsistent N, or bad options.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((300, 6))
    >>> geo = analyze_representations([x, x[:, :4], x[:, :2], x[:, :4], x])
    >>> len(geo.id), len(geo.relative_difference)
    (5, 4)
    """
    # numba: loaded when representations are analysed
    from conv_study.estimators.imbalance import study_pairs

    if isinstance(representations, Mapping):
        missing = [name for name in layers if name not in representations]
        if missing:
            raise ValueError(
                "The `representations` argument of analyze_representations must hold every "
                f"layer in `layers`. Missing {missing}; got {sorted(representations)}."
            )
        names = tuple(layers)
        arrays = {name: representations[name] for name in names}
        mu = representations.get(MU_NAME)
    else:
        listed = list(representations)
        names = tuple(f"l{i}" for i in range(len(listed)))
        arrays = dict(zip(names, listed, strict=True))
        mu = None
    L = len(arrays)
    if L < 2:
        raise ValueError(
            f"analyze_representations needs at least 2 layers. Got {L}: {list(names)}."
        )
    if mu is not None:
        arrays[MU_NAME] = mu
    # The study's pairs, in `study_pairs` order; ``mu`` gets an ID and no imbalance.
    result = measure(
        arrays,
        pairs=[(names[a], names[b]) for a, b in study_pairs(L)],
        k=k,
        discard=discard,
        method=method,
        seed=None,
        progress=progress,
        gram_device=gram_device,
    )
    return CheckpointGeometry(
        epoch=None if epoch is None else int(epoch),
        layers=names,
        id=tuple(result.ids[name] for name in names),
        id_mu=None if mu is None else result.ids[MU_NAME],
        delta_to_first=tuple(result.delta(name, names[0]) for name in names),
        delta_to_last=tuple(result.delta(name, names[-1]) for name in names),
        delta_forward=tuple(result.delta(a, b) for a, b in itertools.pairwise(names)),
        delta_backward=tuple(result.delta(b, a) for a, b in itertools.pairwise(names)),
        relative_difference=result.relative_difference[: L - 1],
        n_duplicates=tuple(result.n_duplicates[name] for name in names),
        n_points=result.n_points,
        seed=None if seed is None else int(seed),
        k=result.k,
        seconds=result.seconds,
    )


def format_ids(layers: Sequence[str], ids: Sequence[float], id_mu: float | None = None) -> str:
    """An ID profile as one line of ``name=value`` pairs (and ``mu``).

    Examples
    --------
    >>> format_ids(["l0", "l1"], [12.04, 30.5], 7.25)
    'l0=12.0 l1=30.5 mu=7.2'
    """
    parts = [f"{name}={value:.1f}" for name, value in zip(layers, ids, strict=True)]
    if id_mu is not None:
        parts.append(f"{MU_NAME}={id_mu:.1f}")
    return " ".join(parts)


def read_profile(
    ids: Sequence[float],
    *,
    latent_layer: int = LATENT_LAYER,
    latent_dim: int | None = None,
    min_prominence: float = 0.2,
) -> ProfileReading:
    """Read an ID profile: where it peaks, and whether that is one hunchback or two.

    A layer is a peak when it is a local maximum whose prominence (its height above the
    higher of the two minima separating it from higher ground, ``scipy.signal.find_peaks``)
    is at least ``min_prominence`` times its ID: small wiggles of a flat decoder at ID ~ K are
    not hunchbacks. Peaks before ``latent_layer`` are encoder peaks, after it decoder peaks.

    Parameters
    ----------
    ids : sequence of float, length L
        ID per layer, network order.
    latent_layer : int, default 5
        Index of the bottleneck layer.
    latent_dim : int, optional
        K; with it the reading includes the prediction "double iff K > data ID".
    min_prominence : float, default 0.2
        Relative prominence a peak needs, in (0, 1].

    Returns
    -------
    ProfileReading
        ``peaks``, ``encoder_peaks``, ``decoder_peaks``, ``shape``, ``data_id``,
        ``latent_dim``, ``predicted_shape``, ``agrees``.

    Raises
    ------
    ValueError
        If ``min_prominence`` is out of (0, 1] or ``ids`` has fewer than 3 finite values.

    Examples
    --------
    >>> read_profile([12, 60, 80, 50, 30, 8, 10, 40, 60, 30, 12], latent_dim=8).shape
    'double'
    """
    min_prominence = check_real(
        "min_prominence", min_prominence, "read_profile", low=0.0, high=1.0, high_open=False
    )
    ids = np.asarray(ids, dtype=np.float64)
    if ids.size < 3 or not np.all(np.isfinite(ids)):
        raise ValueError(
            f"The `ids` argument of read_profile must hold at least 3 finite values. Got {ids}."
        )
    from scipy.signal import find_peaks  # scipy.signal (~1 s): loaded when a profile is read

    found, props = find_peaks(ids, prominence=0.0)
    keep = props["prominences"] >= min_prominence * ids[found]
    peaks = tuple(int(p) for p in found[keep])
    enc = tuple(p for p in peaks if p < latent_layer)
    dec = tuple(p for p in peaks if p > latent_layer)
    shape = "double" if enc and dec else ("single" if enc or dec else "none")
    data_id = float(ids[0])
    predicted = None
    if latent_dim is not None:
        predicted = "double" if latent_dim > data_id else "single"
    return ProfileReading(
        peaks=peaks,
        encoder_peaks=enc,
        decoder_peaks=dec,
        shape=shape,
        data_id=data_id,
        latent_dim=latent_dim,
        predicted_shape=predicted,
        agrees=None if predicted is None else shape == predicted,
    )


# --------------------------------------------------------------------------------------
# Runs (the forward passes need torch)
# --------------------------------------------------------------------------------------


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
