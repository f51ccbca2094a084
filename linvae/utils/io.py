"""Atomic file writes: a reader never sees a half-written file, even after a crash.

Every file the package writes (run files, sweep points and indexes, generated code caches,
conv-study checkpoints and analyses) goes through :func:`atomic_write`: the content is written
to a temporary file in the destination folder, flushed and fsync'ed, then moved onto the
destination with :func:`os.replace` (atomic on POSIX and Windows). The temporary file is
removed if writing fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_json"]


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
    ``0600`` of :func:`tempfile.mkstemp`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "a.txt", lambda f: f.write(b"hi"))
    >>> p.read_bytes()
    b'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON (no NaN), with a final newline, atomically."""
    text = json.dumps(obj, indent=indent, allow_nan=False) + "\n"
    return atomic_write(path, lambda handle: handle.write(text.encode()))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
