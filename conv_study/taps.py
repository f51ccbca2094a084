"""The study's eleven taps as a probe layer list, for its analysis and its live monitor.

`ConvVAE.representations` computes l0..l10 and ``mu`` of a batch with the bottleneck noise
given; `STUDY_LAYERS` picks each from its result, `study_forward` runs one batch ``(x, eps)``
through it, `study_batches` draws the noise for a whole image set at once, and
`study_monitor` makes the `conv_study.monitor.GeometryMonitor` that `conv_study.train.train`
runs during training. `conv_study.analysis.analyze_run` captures checkpoints with the same
list, so there is one path from a network to its geometry.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from conv_study.constants import LAYER_NAMES, MU_NAME
from conv_study.monitor import DEFAULT_EVERY, DEFAULT_POINTS, GeometryMonitor
from conv_study.probe import PairSpec, resolve_pairs
from linvae.utils.validation import check_int

__all__ = ["STUDY_LAYERS", "study_batches", "study_forward", "study_monitor"]


#: The study's eleven taps l0..l10 and the posterior mean ``mu`` as a layer list of
#: `conv_study.capture.capture`: each picks its tensor from the dict that
#: `conv_study.model.ConvVAE.representations` returns (see `study_forward`).
STUDY_LAYERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    name: operator.itemgetter(name) for name in (*LAYER_NAMES, MU_NAME)
}


def study_forward(model, batch):
    """One probe batch ``(x, eps)`` through the study's taps (the ``forward`` of the probe).

    Returns ``model.representations(x, eps=eps)``: l0..l10 and ``mu`` with the bottleneck
    noise ``eps`` given, so the representations depend on the images and ``eps`` only.
    """
    x, eps = batch
    return model.representations(x, eps=eps)


def study_batches(images, latent_dim: int, *, seed: int, batch_size: int = 500) -> list:
    """The study's probe inputs: batches ``(x, eps)`` of images and their bottleneck noise.

    ``eps`` of shape (N, K) is drawn for the whole set at once from a CPU generator seeded
    with ``seed``, so the representations depend neither on the batch size nor on the device
    (as in `conv_study.model.compute_representations`).

    Parameters
    ----------
    images : array, shape (N, C, 32, 32)
        Images with pixels in [0, 1].
    latent_dim : int
        K.
    seed : int
        Seed of the noise (`checkpoint_seed` for a checkpoint).
    batch_size : int, default 500
        Images per batch.

    Returns
    -------
    list of (torch.Tensor, torch.Tensor)
    """
    import torch  # the `conv` extra: only the forward passes need it

    x_all = torch.as_tensor(np.asarray(images, dtype=np.float32))
    eps_all = torch.randn(
        (x_all.shape[0], int(latent_dim)), generator=torch.Generator().manual_seed(int(seed))
    )
    return [
        (x_all[start : start + batch_size], eps_all[start : start + batch_size])
        for start in range(0, x_all.shape[0], batch_size)
    ]


def study_monitor(
    *,
    every: int = DEFAULT_EVERY,
    points: int = DEFAULT_POINTS,
    pairs: PairSpec = "study",
    seed: int = 0,
) -> Callable[[Any, Any], GeometryMonitor]:
    """A `conv_study.train.train` monitor on the study's taps l0..l10 and ``mu``.

    Parameters
    ----------
    every : int, default `conv_study.monitor.DEFAULT_EVERY`
        Optimizer steps between measurements.
    points : int, default `conv_study.monitor.DEFAULT_POINTS`
        The probe subset: the first ``points`` evaluation images.
    pairs : str or sequence, default "study"
        Imbalances measured (`conv_study.probe.resolve_pairs`): "study" is the analysis's
        set (consecutive both ways, every layer to l0 and to l10).
    seed : int, default 0
        Seed of the bottleneck noise of the probe subset (drawn once, the same at every
        measurement).

    Returns
    -------
    callable(model, x_eval) -> GeometryMonitor
        The ``monitor`` argument of `conv_study.train.train`.
    """
    every = check_int("every", every, "study_monitor", low=1)
    points = check_int("points", points, "study_monitor", low=3)

    def make(model, x_eval) -> GeometryMonitor:
        images = x_eval[:points].detach().cpu()
        return GeometryMonitor(
            model,
            study_batches(images, model.latent_dim, seed=seed),
            STUDY_LAYERS,
            every=every,
            pairs=list(resolve_pairs(LAYER_NAMES, pairs)),
            n_points=points,
            forward=study_forward,
        )

    return make
