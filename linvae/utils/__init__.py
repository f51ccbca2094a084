"""Infrastructure written once: atomic writes, progress, validation, version.

Public, like scikit-learn's ``utils``: :mod:`conv_study` builds on these too.
"""

from linvae.utils.io import atomic_write, atomic_write_json
from linvae.utils.progress import CallbackProgress, ProgressBar, make_progress
from linvae.utils.version import __version__

__all__ = [
    "CallbackProgress",
    "ProgressBar",
    "__version__",
    "atomic_write",
    "atomic_write_json",
    "make_progress",
]
