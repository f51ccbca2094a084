"""The layer profile of one checkpoint: ID and information imbalance per layer, and its reading.

`analyze_representations` turns the representations of one set of points, layer by layer
(the study's eleven l0..l10 and the posterior mean ``mu``, or any ordered list of arrays),
into a `CheckpointGeometry` (through the probe's estimators, `conv_study.probe.measure`):

* the 2NN intrinsic dimension of every layer (and of ``mu``);
* ``Delta(l -> l0)`` and ``Delta(l -> l10)`` for every layer (to the first and last);
* ``Delta(l -> l+1)`` and ``Delta(l+1 -> l)`` and their relative difference
  (negative: compression, positive: expansion).

`read_profile` reads an ID profile: local maxima in the encoder and the decoder ("single" or
"double" hunchback) and whether the bottleneck K is above the data's ID (the study predicts
the second hunchback then; see the estimators page, docs/conv-study-estimators.md, "Command
line"). `format_ids` writes a profile on one line.

Everything here needs only numpy (and numba for the estimators); the checkpoints of a
training run are analysed by `conv_study.analysis.analyze_run`, which calls
`analyze_representations` once per checkpoint.

Symbols
-------
L : number of analysed layers (11 in the study).
K : bottleneck dimension.
Delta(a -> b) : information imbalance, `conv_study.estimators.information_imbalance`.

References
----------
.. [1] P. Camboulin, D. Doimo, A. Glielmo, "Understanding Variational Autoencoders with
   Intrinsic Dimension and Information Imbalance", arXiv:2411.01978 (2024).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from conv_study.constants import LATENT_LAYER, LAYER_NAMES, MU_NAME, TwoNNMethod
from conv_study.probe import measure
from linvae.utils.io import to_jsonable
from linvae.utils.validation import check_real
from linvae.utils.version import __version__

__all__ = [
    "CheckpointGeometry",
    "ProfileReading",
    "analyze_representations",
    "format_ids",
    "read_profile",
]


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
