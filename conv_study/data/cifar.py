"""CIFAR-10 in its standard "python version", read from a user's folder or archive.

The official distribution, ``cifar-10-python.tar.gz``, holds ``cifar-10-batches-py/`` with
five training batches ``data_batch_1`` ... ``data_batch_5`` (10,000 images each), the
``test_batch`` (10,000) and ``batches.meta``. Each batch is a pickle (protocol 2, written by
Python 2) of a dict with bytes keys: ``b"data"``, a uint8 array of shape (n, 3072) whose
rows hold the 1024 red, then green, then blue pixels of a 32 x 32 image, each plane row by
row; ``b"labels"``, a list of n integers in 0..9; and ``b"batch_label"``,
``b"filenames"``. ``batches.meta`` holds ``b"label_names"`` (the ten class names),
``b"num_vis"`` (3072) and ``b"num_cases_per_batch"``.

`load_cifar10` reads the extracted folder, a folder that contains it, or the ``.tar.gz``
itself (read in memory, never extracted), and checks every file: a missing batch, a
truncated or foreign pickle, wrong shapes, labels out of range or a CIFAR-100 folder given
by mistake is a one-line error naming the file. Pickles are read with an unpickler that
rebuilds numpy arrays and plain containers only, since loading an arbitrary pickle can run
arbitrary code.

Example
-------
>>> from conv_study.data import load_cifar10
>>> train, test = load_cifar10("~/data/cifar-10-python.tar.gz")      # doctest: +SKIP
>>> train.images.shape, test.images.shape, train.classes[:2]          # doctest: +SKIP
((50000, 3, 32, 32), (10000, 3, 32, 32), ('airplane', 'automobile'))
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from conv_study.data.readers import DataFormatError, ImageSet

__all__ = ["CIFAR10_ARCHIVE", "CIFAR10_FOLDER", "load_cifar10", "read_cifar10_batch"]

#: The folder of the python batches, as extracted from the archive.
CIFAR10_FOLDER = "cifar-10-batches-py"
#: The official archive of the python batches.
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"
_META = "batches.meta"
_PIXELS = 3 * 32 * 32
_N_CLASSES = 10
_HOW_TO_GET = (
    f"Pass the folder {CIFAR10_FOLDER} (or the folder holding it, or {CIFAR10_ARCHIVE}), "
    "or run `conv-study download --dataset cifar10`."
)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and plain containers, and nothing else."""

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


def _unpickle(handle: IO[bytes], where: str) -> dict[str, Any]:
    """One CIFAR pickle as a dict with str keys (the files' keys are Python 2 byte strings)."""
    try:
        content = _ArrayOnlyUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DataFormatError(
            f"Cannot read {where}: truncated or not a CIFAR-10 python pickle ({err}). {_HOW_TO_GET}"
        ) from err
    if not isinstance(content, dict):
        raise DataFormatError(f"{where} is not a CIFAR-10 batch: it does not hold a dict.")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in content.items()}


def _batch_arrays(batch: dict[str, Any], where: str) -> tuple[np.ndarray, np.ndarray]:
    """The images (n, 3, 32, 32) and labels (n,) of one unpickled batch, checked."""
    if "data" not in batch or "labels" not in batch:
        if "fine_labels" in batch or "coarse_labels" in batch:
            raise DataFormatError(
                f"{where} is a CIFAR-100 file (fine and coarse labels); the study reads "
                f"CIFAR-10. {_HOW_TO_GET}"
            )
        raise DataFormatError(
            f"{where} is not a CIFAR-10 batch: keys {sorted(batch)} lack 'data' and 'labels'."
        )
    data = np.asarray(batch["data"])
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise DataFormatError(f"{where}: 'labels' must be integers ({err}).") from err
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        raise DataFormatError(
            f"{where}: 'data' must be a uint8 array of shape (N, {_PIXELS}). "
            f"Got {data.dtype} {data.shape}."
        )
    if labels.shape != (data.shape[0],):
        raise DataFormatError(f"{where}: {labels.size} labels for {data.shape[0]} images.")
    if labels.size and (labels.min() < 0 or labels.max() >= _N_CLASSES):
        raise DataFormatError(
            f"{where}: labels must lie in 0..{_N_CLASSES - 1}. "
            f"Got range [{labels.min()}, {labels.max()}]."
        )
    # Rows are the R, G, B planes one after the other, each 32 x 32 row by row: (n, 3, 32, 32).
    return data.reshape(-1, 3, 32, 32), labels


def _class_names(meta: dict[str, Any], where: str) -> tuple[str, ...]:
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != _N_CLASSES:
        raise DataFormatError(
            f"{where} is not CIFAR-10's batches.meta: it must list {_N_CLASSES} label_names."
        )
    if meta.get("num_vis", _PIXELS) != _PIXELS:
        raise DataFormatError(
            f"{where}: num_vis must be {_PIXELS} (3 x 32 x 32). Got {meta['num_vis']}."
        )
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def read_cifar10_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch (``data_batch_1`` ... ``test_batch``).

    Parameters
    ----------
    path : path-like
        The batch file.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (N, 3, 32, 32)
        ``images[i, c, y, x]`` is ``data[i, 1024 c + 32 y + x]`` of the file.
    labels : numpy.ndarray of int64, shape (N,)
        Class indices in 0..9.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    DataFormatError
        If it is not a CIFAR-10 batch (unreadable pickle, missing keys, wrong shapes,
        labels out of range).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch {path} does not exist. {_HOW_TO_GET}")
    with path.open("rb") as handle:
        return _batch_arrays(_unpickle(handle, f"CIFAR-10 batch {path}"), str(path))


def load_cifar10(data_dir: str | os.PathLike[str]) -> tuple[ImageSet, ImageSet]:
    """CIFAR-10's training (50,000) and test (10,000) images from the python batches.

    Parameters
    ----------
    data_dir : path-like
        ``cifar-10-batches-py`` itself, a folder containing it, the archive
        ``cifar-10-python.tar.gz`` (read without extracting it), or a folder containing the
        archive; looked for in that order. ``~`` is expanded.

    Returns
    -------
    train, test : ImageSet
        uint8 images of shape (N, 3, 32, 32), int64 labels, and the ten class names of
        ``batches.meta`` as ``classes`` (None when the file is absent).

    Raises
    ------
    FileNotFoundError
        If no CIFAR-10 batches are found, or some are missing (all of them are named).
    DataFormatError
        If a file is truncated or corrupt, or not CIFAR-10 (the message names it).
    """
    data_dir = Path(data_dir).expanduser()
    for folder in (data_dir, data_dir / CIFAR10_FOLDER):
        if folder.is_dir() and any((folder / n).is_file() for n in (*_TRAIN_BATCHES, _TEST_BATCH)):
            return _load_folder(folder)
    for archive in (data_dir, data_dir / CIFAR10_ARCHIVE):
        if archive.is_file():
            return _load_archive(archive)
    raise FileNotFoundError(
        f"No CIFAR-10 python batches (data_batch_1 ... data_batch_5, test_batch) in "
        f"{data_dir} or {data_dir / CIFAR10_FOLDER}, and no {CIFAR10_ARCHIVE}. {_HOW_TO_GET}"
    )


def _load_folder(folder: Path) -> tuple[ImageSet, ImageSet]:
    missing = [n for n in (*_TRAIN_BATCHES, _TEST_BATCH) if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 in {folder} lacks {', '.join(missing)}. Copy the whole "
            f"{CIFAR10_FOLDER} folder, or extract {CIFAR10_ARCHIVE} again."
        )
    batches = {name: read_cifar10_batch(folder / name) for name in (*_TRAIN_BATCHES, _TEST_BATCH)}
    classes = None
    if (folder / _META).is_file():
        with (folder / _META).open("rb") as handle:
            classes = _class_names(_unpickle(handle, str(folder / _META)), str(folder / _META))
    return _image_sets(batches, classes, str(folder), str(folder / _TEST_BATCH))


def _load_archive(archive: Path) -> tuple[ImageSet, ImageSet]:
    where = f"the CIFAR-10 archive {archive}"
    wanted = (*_TRAIN_BATCHES, _TEST_BATCH, _META)
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    classes = None
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = Path(member.name).name
                if not member.isfile() or name not in wanted:
                    continue
                handle = tar.extractfile(member)
                label = f"{name} in {where}"
                content = _unpickle(io.BytesIO(handle.read()), label)
                if name == _META:
                    classes = _class_names(content, label)
                else:
                    batches[name] = _batch_arrays(content, label)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DataFormatError(
            f"Cannot read {where}: truncated or not a tar archive ({err}). Download it again "
            "(`conv-study download --dataset cifar10` verifies its checksum)."
        ) from err
    missing = [n for n in (*_TRAIN_BATCHES, _TEST_BATCH) if n not in batches]
    if missing:
        raise DataFormatError(f"{where} lacks {', '.join(missing)}: it is not CIFAR-10's.")
    return _image_sets(batches, classes, str(archive), f"{archive}:{_TEST_BATCH}")


def _image_sets(
    batches: dict[str, tuple[np.ndarray, np.ndarray]],
    classes: tuple[str, ...] | None,
    source: str,
    test_source: str,
) -> tuple[ImageSet, ImageSet]:
    train = [batches[name] for name in _TRAIN_BATCHES]
    test_images, test_labels = batches[_TEST_BATCH]
    return (
        ImageSet(
            images=np.concatenate([images for images, _ in train]),
            labels=np.concatenate([labels for _, labels in train]),
            source=source,
            classes=classes,
        ),
        ImageSet(images=test_images, labels=test_labels, source=test_source, classes=classes),
    )
