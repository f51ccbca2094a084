"""Atomic file writes: a reader never sees a half-written file, even after a crash.

Every file the package writes (run files, sweep points and indexes, generated code caches,
conv-study checkpoints and analyses) goes through `atomic_write`: the content is written
to a temporary file in the destination folder, flushed and fsync'ed, then moved onto the
destination with `os.replace` (atomic on POSIX and Windows). The temporary file is
removed if writing fails. JSON files go through `atomic_write_json`, which makes the
object plain JSON first (`to_jsonable`); `dumps_json` is the same strict JSON as
text (what the command-line programs print).

Writes follow symlinks (the target is written, the link stays), keep a replaced file's
permissions and refuse a read-only file unless forced. Reading is checked the same way
everywhere: `load_npz` and `load_npy` turn a missing, truncated or foreign file into one
clear error that names the file. Output paths are checked before any work by
`linvae.utils.paths.check_outputs` (`check_writable` for one path, re-exported here).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import stat
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from linvae.utils.paths import check_writable, is_read_only, resolve_path

__all__ = [
    "atomic_write",
    "atomic_write_json",
    "check_writable",
    "dumps_json",
    "load_npy",
    "load_npz",
    "to_jsonable",
]


def atomic_write(
    path: str | os.PathLike, write: Callable[[IO[bytes]], Any], *, force: bool = False
) -> Path:
    """Write ``path`` atomically: ``write(handle)`` fills a temporary binary file first.

    Parameters
    ----------
    path : str or path-like
        Destination. Its folder is created if missing. A symlink is written through: its
        target gets the content and the link stays a link.
    write : callable
        Called once with an open binary file handle; writes the whole content.
    force : bool
        Replace the destination even if it is read-only.

    Returns
    -------
    pathlib.Path
        The destination path, as given.

    Raises
    ------
    PermissionError
        If the destination exists and is read-only (no write permission bit, or not writable
        by this process; root too is refused) and ``force`` is False.

    Notes
    -----
    The temporary file, ``.NAME.PID.RANDOM.tmp`` in the destination's folder, is flushed and
    fsync'ed, then moved onto the destination with `os.replace` (atomic on POSIX and
    Windows); it is removed on every exit path that runs Python code (an error in ``write``,
    Ctrl-C). A replaced file keeps its permission bits; a new file gets the usual ones
    (``0666`` masked by the umask, never the ``0600`` of `tempfile.mkstemp`; the umask is
    never changed, so threads are safe).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "a.txt", lambda f: f.write(b"hi"))
    >>> p.read_bytes()
    b'hi'
    """
    given = Path(path)
    target = resolve_path(path)
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
    if mode is not None and is_read_only(target) and not force:
        raise PermissionError(
            f"{given} is read-only (mode {mode:04o}); make it writable or choose another path "
            "(force=True, or a command's --force, replaces it)."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return given


def atomic_write_json(
    path: str | os.PathLike, obj: Any, *, indent: int | None = 2, force: bool = False
) -> Path:
    """Write ``to_jsonable(obj)`` as strict JSON, with a final newline, atomically.

    ``indent`` as in `json.dumps`; the JSON is strict (``allow_nan=False``), which
    `to_jsonable` guarantees for floats (inf and NaN become null). ``force`` as in
    `atomic_write`.
    """
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False) + "\n"
    return atomic_write(path, lambda handle: handle.write(text.encode()), force=force)


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


def _nonfinite_kinds(obj: Any, path: str, found: dict[str, set[str]]) -> None:
    """Collect, per dotted key path (list positions dropped), the kinds of non-finite floats."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _nonfinite_kinds(v, f"{path}.{k}" if path else str(k), found)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _nonfinite_kinds(v, path, found)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            flat = obj.ravel()
            for kind, hit in (
                ("NaN", np.isnan(flat)),
                ("inf", np.isposinf(flat)),
                ("-inf", np.isneginf(flat)),
            ):
                if hit.any():
                    found.setdefault(path, set()).add(kind)
        elif obj.dtype == object:
            _nonfinite_kinds(obj.tolist(), path, found)
    elif isinstance(obj, float | np.floating) and not math.isfinite(obj):
        kind = "NaN" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
        found.setdefault(path, set()).add(kind)


_NONFINITE_WORDS = {
    "NaN": "not a number (NaN: undefined)",
    "inf": "infinite (inf)",
    "-inf": "minus infinity (-inf)",
}


def dumps_json(obj: Any, *, indent: int | None = None, reasons: dict | None = None) -> str:
    """``obj`` as strict JSON text: non-finite floats become ``null``, each with a reason.

    Strict JSON has no ``NaN`` or ``Infinity`` tokens (``json.dumps(..., allow_nan=False)``).
    When ``obj`` is a mapping (or a list of them) holding such values, each gains a
    ``"null_reasons"`` entry: the dotted key of each such value and why it is ``null``
    (``reasons`` gives the caller's words for a key; otherwise "not a number (NaN:
    undefined)", "infinite (inf)", ...).

    Examples
    --------
    >>> print(dumps_json({"a": 1.5, "b": float("inf")}))
    {"a": 1.5, "b": null, "null_reasons": {"b": "infinite (inf)"}}
    >>> print(dumps_json({"id": float("nan")}, reasons={"id": "a lattice"}))
    {"id": null, "null_reasons": {"id": "a lattice"}}
    """
    return json.dumps(_with_reasons(obj, reasons), indent=indent, allow_nan=False)


def _with_reasons(obj: Any, reasons: dict | None) -> Any:
    """``to_jsonable(obj)``, a mapping (or each mapping of a list) with its ``null_reasons``."""
    if isinstance(obj, list | tuple):
        return [_with_reasons(item, reasons) for item in obj]
    plain = to_jsonable(obj)
    if isinstance(plain, dict):
        found: dict[str, set[str]] = {}
        _nonfinite_kinds(obj, "", found)
        if found:
            given = dict(reasons or {})
            notes = {
                key: given.get(key) or " and ".join(_NONFINITE_WORDS[k] for k in sorted(kinds))
                for key, kinds in found.items()
            }
            earlier = to_jsonable(plain.get("null_reasons", {}))
            plain = {**plain, "null_reasons": {**earlier, **notes}}
    return plain


# ---------------------------------------------------------------------- reading
def _check_readable(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}.")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a file.")


def _not_numpy(path: Path, want: str, err: BaseException) -> ValueError:
    """The error for a file that numpy cannot read as ``want`` ("an .npz archive", ...)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as read_err:
        return ValueError(f"Cannot read {path}: {read_err}.")
    if not head:
        return ValueError(f"{path} is empty; expected {want}.")
    pickled = "allow_pickle" in str(err)
    if head.startswith(b"PK"):
        what = (
            "an archive of Python objects (pickles)"
            if pickled
            else "a damaged or truncated zip archive"
        )
    elif head.startswith(b"\x93NUMPY"):
        if want != _NPY:
            what = "a single .npy array"
        elif pickled:
            what = "an array of Python objects (dtype object)"
        else:
            what = "a damaged or truncated .npy array"
    else:
        what = f"not a NumPy file (it starts with {head!r})"
    return ValueError(f"{path} is {what}; expected {want}.")


_NPZ, _NPY = "an .npz archive", "a .npy array of numbers"
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` archive (no pickles), or fail with one clear message.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict of str to ndarray
        The archive's arrays, read into memory.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is a directory, empty, truncated, a single ``.npy`` array, a text file or
        anything else that is not an ``.npz`` archive of plain arrays; the message names the
        file and what it is.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> bad = pathlib.Path(tempfile.mkdtemp()) / "run.npz"
    >>> _ = bad.write_text("hello")
    >>> load_npz(bad)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../run.npz is not a NumPy file (it starts with b'hello'); expected an .npz archive.
    """
    path = Path(path)
    _check_readable(path)
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            raise ValueError(f"{path} is a single .npy array; expected {_NPZ}.")
        with data:
            return {name: data[name] for name in data.files}
    except _READ_ERRORS as err:
        if str(err).startswith(str(path)):
            raise
        raise _not_numpy(path, _NPZ, err) from None


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.npy`` array of numbers (no pickles), or fail with one clear message.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is a directory, empty, truncated, an ``.npz`` archive, holds Python
        objects, or is not a NumPy file at all; the message names the file.
    """
    path = Path(path)
    _check_readable(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except _READ_ERRORS as err:
        raise _not_numpy(path, _NPY, err) from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        names = ", ".join(arr.files)
        arr.close()
        raise ValueError(f"{path} is an .npz archive (arrays {names}); expected {_NPY}.")
    return arr
