"""Infrastructure written once: atomic writes, progress, validation, version.

Public, like scikit-learn's ``utils``: `conv_study` builds on these too.
"""

from linvae.utils.io import (
    atomic_write,
    atomic_write_json,
    check_writable,
    dumps_json,
    load_npy,
    load_npz,
    to_jsonable,
)
from linvae.utils.progress import CallbackProgress, NullProgress, ProgressBar, make_progress
from linvae.utils.version import __version__

__all__ = [
    "CallbackProgress",
    "NullProgress",
    "ProgressBar",
    "__version__",
    "atomic_write",
    "atomic_write_json",
    "check_writable",
    "dumps_json",
    "load_npy",
    "load_npz",
    "make_progress",
    "to_jsonable",
]
