"""Finite data: the linear VAE trained to convergence on a fixed set of n = alpha N samples.

The theory of the global minimum of the regularized empirical loss (`.theory`, with the
spectral inputs of `.spectrum`), its (alpha, beta) phase diagram (`.phase`), and
training at finite N by full-batch Adam, gradient descent or multi-epoch minibatch SGD
(`.train`, with the numba kernels of `.kernels`). The finite-data page
(docs/offline.md) derives and checks the theory (Ichikawa & Hukushima, arXiv 2309.07663).

Importing the package is light (scientific-Python SPEC-1): the names below load their modules
on first use; only training loads numba.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["kernels", "phase", "spectrum", "theory", "train"],
    submod_attrs={
        "phase": ["OfflinePhase", "offline_phase_diagram"],
        "spectrum": ["Spectrum", "bbp_threshold", "sample_spectrum", "spiked_spectrum"],
        "theory": [
            "OfflineSolution",
            "collapse_threshold",
            "gaussian_bound",
            "global_minimum",
            "plateau_end",
            "scalar_loss",
            "solve_offline",
            "solve_sample",
            "solve_spectrum",
        ],
        "train": [
            "Adam",
            "Datasets",
            "GradientDescent",
            "MinibatchSGD",
            "OfflineRun",
            "TrainingDiverged",
            "make_datasets",
            "train_offline",
        ],
    },
)
