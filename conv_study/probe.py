"""The layer geometry of any torch network: ID per layer and information imbalances.

`probe` runs a `torch.nn.Module` on a set of inputs, captures chosen layers' outputs with
forward hooks (flattened per example, gathered batch by batch into one preallocated array
per layer: nothing beyond the chosen points is kept), and measures on them what the
study measures on its conv VAE:

* the 2NN intrinsic dimension of every layer (`conv_study.estimators.twonn_id`; with
  ``scaling=True`` also its scale dependence, `conv_study.estimators.twonn_scaling`);
* the information imbalances ``Delta(a -> b)`` of the requested pairs of layers
  (`conv_study.estimators.information_imbalance`), from one screened Gram matrix per layer
  (`conv_study.estimators.layer_geometry`).

The two halves are public on their own: `conv_study.capture.capture` (the forward passes)
and `measure` (the estimators, on arrays). The study's own analysis (`conv_study.analysis`)
is a user of both: its eleven taps l0..l10 are one layer list.

Symbols
-------
L : number of probed layers.
N : number of points (examples).
Delta(a -> b) : information imbalance from layer a to layer b (~0: a predicts b's
    neighbourhoods; ~1: no information).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from conv_study.capture import LayerSpec, capture
from conv_study.constants import TwoNNMethod
from conv_study.device import resolve_device
from linvae.utils.io import to_jsonable
from linvae.utils.version import __version__

if TYPE_CHECKING:
    import torch

    from conv_study.estimators.twonn import IDScaling

__all__ = ["PairSpec", "Probe", "measure", "probe", "resolve_pairs"]

_PAIR_KEYWORDS = ("consecutive", "to-input", "to-output", "study", "all")

#: A pair keyword, or a sequence of keywords and explicit ``(a, b)`` name pairs.
PairSpec = str | Sequence[str | tuple[str, str]]


@dataclass(frozen=True)
class Probe:
    """The geometry of a network's layers on one set of points (result of `probe`).

    Attributes
    ----------
    layers : tuple of str
        Layer names, in the order given (network order for ``layers=None``).
    ids : dict of str to float
        2NN intrinsic dimension per layer (duplicate points dropped first).
    imbalances : dict of (str, str) to float
        ``Delta(a -> b)`` for every requested pair ``(a, b)``.
    sizes : dict of str to int
        Flattened size D of each layer.
    n_duplicates : dict of str to int
        Points with an identical earlier point, per layer (left out of its ID).
    n_points : int
        Number of points N.
    k : int
        Neighbours averaged in the imbalance.
    method : {"base", "ml"}
        2NN fit.
    discard : float
        Fraction of the largest ratios left out of the "base" fit.
    seed : int or None
        Seed of torch's random number generators during the forward passes, and of the
        subsets of the scaling curves.
    scaling : dict of str to IDScaling, or None
        The ID versus scale per layer (``scaling=True``).
    seconds : float
        Wall time of the estimators.
    capture_seconds : float
        Wall time of the forward passes (0 when the representations were given).
    version : str
        ``conv_study`` version.
    """

    layers: tuple[str, ...]
    ids: dict[str, float]
    imbalances: dict[tuple[str, str], float]
    sizes: dict[str, int]
    n_duplicates: dict[str, int]
    n_points: int
    k: int
    method: str
    discard: float
    seed: int | None
    scaling: dict[str, IDScaling] | None = field(default=None, repr=False)
    seconds: float = 0.0
    capture_seconds: float = 0.0
    version: str = __version__

    def delta(self, a: str, b: str) -> float:
        """``Delta(a -> b)``, or ``nan`` when that pair was not measured."""
        return self.imbalances.get((a, b), float("nan"))

    @property
    def delta_forward(self) -> tuple[float, ...]:
        """``Delta(l -> l+1)`` for consecutive layers (``nan`` where not measured)."""
        return tuple(self.delta(a, b) for a, b in itertools.pairwise(self.layers))

    @property
    def delta_backward(self) -> tuple[float, ...]:
        """``Delta(l+1 -> l)`` for consecutive layers (``nan`` where not measured)."""
        return tuple(self.delta(b, a) for a, b in itertools.pairwise(self.layers))

    @property
    def relative_difference(self) -> tuple[float, ...]:
        """Relative imbalance difference per transition l -> l+1 (negative: compression).

        ``(Delta(l -> l+1) - Delta(l+1 -> l)) / ((|Delta(l -> l+1)| + |Delta(l+1 -> l)|) / 2)``.
        """
        # numba (the estimators' module): loaded already by `measure`, which made this result
        from conv_study.estimators.imbalance import relative_imbalance_difference

        out = relative_imbalance_difference(self.delta_forward, self.delta_backward)
        return tuple(float(v) for v in np.atleast_1d(out))

    def to_json(self) -> dict[str, Any]:
        """Strict-JSON-ready dict, the study's per-checkpoint shape plus the pair list.

        Keys ``layers``, ``id``, ``delta_to_first``, ``delta_to_last``, ``delta_forward``,
        ``delta_backward``, ``relative_difference``, ``n_duplicates``, ``n_points``, ``seed``,
        ``k``, ``seconds`` and ``version`` read as in the study's ``analysis.json``
        (unmeasured pairs are null); ``sizes``, ``imbalances`` (a list of ``{"from", "to",
        "delta"}``), ``method``, ``discard``, ``capture_seconds`` and, with scaling,
        ``scaling`` (per layer ``n_points``, ``id``, ``id_err``, ``scale``) add to it.
        """
        first, last = self.layers[0], self.layers[-1]
        out: dict[str, Any] = {
            "layers": list(self.layers),
            "sizes": [self.sizes[name] for name in self.layers],
            "id": [self.ids[name] for name in self.layers],
            "delta_to_first": [self.delta(name, first) for name in self.layers],
            "delta_to_last": [self.delta(name, last) for name in self.layers],
            "delta_forward": list(self.delta_forward),
            "delta_backward": list(self.delta_backward),
            "relative_difference": list(self.relative_difference),
            "imbalances": [
                {"from": a, "to": b, "delta": value} for (a, b), value in self.imbalances.items()
            ],
            "n_duplicates": [self.n_duplicates[name] for name in self.layers],
            "n_points": self.n_points,
            "seed": self.seed,
            "k": self.k,
            "method": self.method,
            "discard": self.discard,
            "seconds": self.seconds,
            "capture_seconds": self.capture_seconds,
            "version": self.version,
        }
        if self.scaling is not None:
            out["scaling"] = {
                name: {
                    "n_points": s.n_points.tolist(),
                    "id": s.id.tolist(),
                    "id_err": s.id_err.tolist(),
                    "scale": s.scale.tolist(),
                }
                for name, s in self.scaling.items()
            }
        return to_jsonable(out)


# --------------------------------------------------------------------------------------------
# Layers and pairs
# --------------------------------------------------------------------------------------------


def resolve_pairs(layers: Sequence[str], pairs: PairSpec) -> tuple[tuple[str, str], ...]:
    """The ordered layer pairs ``(a, b)`` of ``Delta(a -> b)`` that ``pairs`` asks for.

    Keywords: ``"consecutive"`` (``l -> l+1`` and ``l+1 -> l``), ``"to-input"`` (every layer
    to the first), ``"to-output"`` (every layer to the last), ``"study"`` (the three
    together, as the study measures them) and ``"all"`` (every ordered pair). A sequence
    combines keywords and explicit ``(a, b)`` name pairs; keyword pairs come in index order,
    explicit pairs as given, without repeats or self-pairs.

    Parameters
    ----------
    layers : sequence of str
        Layer names, network order.
    pairs : str or sequence
        As above.

    Returns
    -------
    tuple of (str, str)

    Raises
    ------
    ValueError
        For an unknown keyword or a pair naming an unknown layer.

    Examples
    --------
    >>> resolve_pairs(["a", "b", "c"], "consecutive")
    (('a', 'b'), ('b', 'a'), ('b', 'c'), ('c', 'b'))
    >>> resolve_pairs(["a", "b", "c"], ["to-input", ("a", "c")])
    (('b', 'a'), ('c', 'a'), ('a', 'c'))
    """
    names = list(layers)
    index = {name: i for i, name in enumerate(names)}
    L = len(names)
    items = [pairs] if isinstance(pairs, str) else list(pairs)
    keyword_pairs: set[tuple[int, int]] = set()
    explicit: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            if item not in _PAIR_KEYWORDS:
                raise ValueError(
                    f"The `pairs` parameter of probe must be one of {list(_PAIR_KEYWORDS)} or "
                    f"(a, b) layer-name pairs. Got {item!r}."
                )
            for a in range(L):
                for b in range(L):
                    if a == b:
                        continue
                    if (
                        item == "all"
                        or (item in ("consecutive", "study") and abs(a - b) == 1)
                        or (item in ("to-input", "study") and b == 0)
                        or (item in ("to-output", "study") and b == L - 1)
                    ):
                        keyword_pairs.add((a, b))
        else:
            pair = tuple(item)
            if len(pair) != 2 or any(p not in index for p in pair):
                raise ValueError(
                    "The `pairs` parameter of probe must name pairs of probed layers "
                    f"({names}). Got {item!r}."
                )
            explicit.append((str(pair[0]), str(pair[1])))
    out = [(names[a], names[b]) for a, b in sorted(keyword_pairs)]
    for pair in explicit:
        if pair[0] != pair[1] and pair not in out:
            out.append(pair)
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Measure: the estimators on arrays
# --------------------------------------------------------------------------------------------


def measure(
    representations: Mapping[str, np.ndarray],
    *,
    pairs: PairSpec = "consecutive",
    k: int = 1,
    discard: float = 0.1,
    method: TwoNNMethod = "base",
    scaling: bool = False,
    seed: int | None = 0,
    progress: Callable[[int, int], None] | None = None,
    gram_device: str | None = None,
) -> Probe:
    """ID per layer and the requested imbalances, from representations already computed.

    Parameters
    ----------
    representations : mapping of str to array (N, ...)
        Layer name -> points (flattened per row), network order.
    pairs : str or sequence, default "consecutive"
        Imbalances to measure (`resolve_pairs`).
    k : int, default 1
        Neighbours averaged in the imbalance.
    discard, method :
        2NN options (`conv_study.estimators.twonn_id`).
    scaling : bool, default False
        Also the ID versus scale per layer (`conv_study.estimators.twonn_scaling`).
    seed : int or None, default 0
        Randomness of the scaling curves' subsets; recorded in the result.
    progress : callable(done, total), optional
        Progress of the estimators (rows done).
    gram_device : str, optional
        Torch device for the screening Gram matrices; default numpy.

    Returns
    -------
    Probe
        See its attributes (``capture_seconds`` is 0).

    Raises
    ------
    ValueError
        Inconsistent N, bad arrays or options (messages from the estimators).
    """
    # numba: loaded when representations are measured
    from conv_study.estimators.geometry import layer_geometry
    from conv_study.estimators.twonn import twonn_scaling

    names = tuple(representations)
    if not names:
        raise ValueError("The `representations` argument of probe is empty.")
    arrays = [np.asarray(representations[n]) for n in names]
    arrays = [a.reshape(len(a), -1) for a in arrays]
    wanted = resolve_pairs(names, pairs)
    index = {name: i for i, name in enumerate(names)}
    start = time.perf_counter()
    geo = layer_geometry(
        arrays,
        pairs=tuple((index[a], index[b]) for a, b in wanted),
        k=k,
        discard=discard,
        method=method,
        progress=progress,
        gram_device=gram_device,
    )
    curves = None
    if scaling:
        curves = {
            name: twonn_scaling(a, discard=discard, method=method, rng=seed)
            for name, a in zip(names, arrays, strict=True)
        }
    return Probe(
        layers=names,
        ids={name: float(geo.id[i]) for i, name in enumerate(names)},
        imbalances={(a, b): float(geo.imbalance[index[a], index[b]]) for a, b in wanted},
        sizes={name: int(a.shape[1]) for name, a in zip(names, arrays, strict=True)},
        n_duplicates={name: int(geo.n_duplicates[i]) for i, name in enumerate(names)},
        n_points=int(geo.n_points),
        k=int(geo.k),
        method=str(method),
        discard=float(discard),
        seed=None if seed is None else int(seed),
        scaling=curves,
        seconds=time.perf_counter() - start,
    )


def probe(
    module: torch.nn.Module,
    inputs: Any,
    layers: Mapping[str, LayerSpec] | Sequence[LayerSpec] | None = None,
    *,
    n_points: int = 2000,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    pairs: PairSpec = "consecutive",
    seed: int | None = 0,
    k: int = 1,
    discard: float = 0.1,
    method: TwoNNMethod = "base",
    scaling: bool = False,
    forward: Callable[[torch.nn.Module, Any], Any] | None = None,
) -> Probe:
    """The intrinsic dimension and information imbalances of a network's layers.

    Runs ``module`` on the first ``n_points`` examples of ``inputs``
    (`conv_study.capture.capture`) and measures the 2NN ID of every chosen layer and
    ``Delta(a -> b)`` for the requested pairs (`measure`):

    $$
    \\Delta(a \\to b) = \\frac{2}{N} \\frac{1}{N} \\sum_{i=1}^{N} r^b_i\\big(n^a(i)\\big),
    $$

    with ``n^a(i)`` the nearest neighbour of example ``i`` in layer ``a`` and ``r^b_i(j)`` the
    rank of ``j`` among ``i``'s neighbours in layer ``b`` (Euclidean distances of the
    flattened outputs).

    Parameters
    ----------
    module : torch.nn.Module
        The network (any; run in eval mode, mode restored after).
    inputs : tensor, array, or iterable of batches
        The examples (see `conv_study.capture.capture`).
    layers : sequence or mapping, optional
        Module names (``named_modules()``), ``"input"``, ``"output"``, or callables on the
        module's output. Default: the input and every leaf module (capped).
    n_points : int, default 2000
        Number of examples N (the first ones).
    batch_size : int, default 256
        Examples per forward pass for tensor or array inputs.
    device : str or torch.device, default "auto"
        Where the forward passes (and, on a GPU, the screening Gram matrices) run.
    pairs : str or sequence, default "consecutive"
        ``"consecutive"``, ``"to-input"``, ``"to-output"``, ``"study"``, ``"all"`` or a
        sequence of those and explicit ``(a, b)`` name pairs (`resolve_pairs`).
    seed : int or None, default 0
        Seed of torch's generators during the forward passes and of the scaling subsets.
    k : int, default 1
        Neighbours averaged in the imbalance.
    discard, method :
        2NN options (`conv_study.estimators.twonn_id`).
    scaling : bool, default False
        Also the ID versus scale per layer.
    forward : callable(module, batch), optional
        How to run one batch (default ``module(x)``).

    Returns
    -------
    Probe
        ``ids`` (layer -> float), ``imbalances`` ((a, b) -> float), ``sizes``, and the
        rest of its attributes; ``to_json()``. `conv_study.probe_figures.plot_probe` draws it.

    Raises
    ------
    ValueError
        Unknown layers or pairs, bad inputs or options, a layer with fewer than 3 distinct
        points (each message names what to change).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    >>> x = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
    >>> result = probe(net, x, ["0", "1", "2"], n_points=200)
    >>> sorted(result.ids), len(result.imbalances)
    (['0', '1', '2'], 4)
    """
    start = time.perf_counter()
    reps = capture(
        module,
        inputs,
        layers,
        n_points=n_points,
        batch_size=batch_size,
        device=device,
        forward=forward,
        seed=seed,
    )
    captured = time.perf_counter() - start
    target = resolve_device(module, device)
    result = measure(
        reps,
        pairs=pairs,
        k=k,
        discard=discard,
        method=method,
        scaling=scaling,
        seed=seed,
        gram_device=None if target.type == "cpu" else str(target),
    )
    return replace(result, capture_seconds=captured)
