"""Infrastructure written once: output paths, atomic writes, progress, validation, version.

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
from linvae.utils.paths import Output, check_outputs, is_read_only, resolve_path
from linvae.utils.progress import CallbackProgress, NullProgress, ProgressBar, make_progress
from linvae.utils.version import __version__

__all__ = [
    "CallbackProgress",
    "NullProgress",
    "Output",
    "ProgressBar",
    "__version__",
    "atomic_write",
    "atomic_write_json",
    "check_outputs",
    "check_writable",
    "dumps_json",
    "is_read_only",
    "load_npy",
    "load_npz",
    "make_progress",
    "resolve_path",
    "to_jsonable",
]
