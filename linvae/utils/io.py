"""Atomic file writes: a reader never sees a half-written file, even after a crash.

Every file the package writes (run files, sweep points and indexes, generated code caches,
conv-study checkpoints and analyses) goes through `atomic_write`: the content is written
to a temporary file in the destination folder, flushed and fsync'ed, then moved onto the
destination with `os.replace` (atomic on POSIX and Windows). The temporary file is
removed if writing fails. JSON files go through `atomic_write_json`, which makes the
object plain JSON first (`to_jsonable`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["atomic_write", "atomic_write_json", "to_jsonable"]


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` atomically: ``write(handle)`` fills a temporary binary file first.

    Parameters
    ----------
    path : str or path-like
        Destination. Its folder is created if missing.
    write : callable
        Called once with an open binary file handle; writes the whole content.

    Returns
    -------
    pathlib.Path
        The destination path.

    Notes
    -----
    The file gets the usual permissions of a new file (``0666`` masked by the umask), not the
    ``0600`` of `tempfile.mkstemp`: the temporary file is created with mode ``0666`` and
    the process umask applies to it (the umask is never changed, so threads are safe). Its
    name, ``.NAME.PID.RANDOM.tmp`` in the destination folder, is unique to each write.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "a.txt", lambda f: f.write(b"hi"))
    >>> p.read_bytes()
    b'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``to_jsonable(obj)`` as strict JSON, with a final newline, atomically.

    ``indent`` as in `json.dumps`; the JSON is strict (``allow_nan=False``), which
    `to_jsonable` guarantees for floats (inf and NaN become null).
    """
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False) + "\n"
    return atomic_write(path, lambda handle: handle.write(text.encode()))


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values, recursively.

    numpy scalars and arrays become Python numbers and (nested) lists, tuples become lists,
    mapping keys strings (``str(key)``), and the non-finite floats (inf, NaN) None: what strict
    JSON can hold. Other values are returned as they are.

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"a": (np.float64(1.5), float("nan")), 2: np.array([1, 2])})
    {'a': [1.5, None], '2': [1, 2]}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
