"""Conv-VAE geometry study: intrinsic dimension and information imbalance layer by layer.

Reproduces Camboulin, Doimo & Glielmo, "Understanding Variational Autoencoders with
Intrinsic Dimension and Information Imbalance" (arXiv 2411.01978).

* `conv_study.constants` - layer names, bottleneck index, image size, dataset names,
  the paper's checkpoint epochs and K values;
* `conv_study.data` - offline readers, the study's split, downloads;
* `conv_study.config`, `conv_study.model`, `conv_study.train` - the training
  recipe, the network and the resumable training loop (one epoch: `conv_study.epoch`;
  what a checkpoint holds: `conv_study.train_state`);
* `conv_study.device` - devices, mixed precision, threads and determinism;
* `conv_study.runs` - the run-directory format, read without the training code, and
  written by one object (`conv_study.runs.RunFolder`); `conv_study.tasks` - the runs of a
  sweep or a study;
* `conv_study.estimators` - 2NN intrinsic dimension and information imbalance;
* `conv_study.capture`, `conv_study.probe`, `conv_study.monitor`,
  `conv_study.probe_figures` - the same geometry for any torch network (its layers
  captured with hooks), live during training, and its figures; `conv_study.taps` - the
  study's eleven taps as a layer list of the probe, and its training monitor;
* `conv_study.profiles`, `conv_study.analysis`, `conv_study.figures` - the layer study:
  one checkpoint's profiles and their reading, every checkpoint of a run (cached), and
  the figures;
* `conv_study.study` - the whole study (train, analyse, draw) from a preset, resumable;
* `conv_study.linear` - the same lens on the linear VAE of `linvae`, measured and
  predicted from the order parameters;
* `conv_study.cli` - the ``conv-study`` program.

The estimators need only numpy and numba; training and the representations need the ``conv``
extra (torch). Importing the package is light (scientific-Python SPEC-1): submodules load on
first use, so ``import conv_study`` loads none of numba, sympy, matplotlib, torch or dask.
"""

import lazy_loader as _lazy

from linvae.utils.version import __version__

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=[
        "analysis",
        "capture",
        "cli",
        "config",
        "constants",
        "data",
        "device",
        "epoch",
        "estimators",
        "figures",
        "linear",
        "model",
        "monitor",
        "probe",
        "probe_figures",
        "profiles",
        "runs",
        "study",
        "taps",
        "tasks",
        "train",
        "train_state",
    ],
)
__all__ = [*__all__, "__version__"]
