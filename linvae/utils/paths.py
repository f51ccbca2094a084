"""Output paths checked before any work: resolved, apart from the inputs, proven writable.

A command that computes for minutes and then cannot write its result has lost the minutes; a
command that writes its result over its own input has lost the input. `check_outputs` is
called by every command of ``linvae`` and ``conv-study`` (and is public for the Python API)
before the work starts. For each output it

1. **resolves** the path: ``~`` expanded, symlinks followed (the file is written to the
   link's target and the link stays a link), a trailing slash read as "a folder";
2. **compares** it with every input and every other output of the command: the same resolved
   file, the same folder, or an output folder holding an input (or another output) at a name
   the command writes there is a clash, refused with one line naming both options;
3. **proves it writable**: missing folders are created and a probe file is created and
   removed in the output's folder (``os.access`` answers yes to root even where the write
   would fail, on ``/proc`` or a read-only mount); folders created for the probe are removed
   again, so a refused command leaves nothing behind;
4. **refuses a read-only target**: an existing file (or folder) without write permission is
   read-only even to root, whom permissions do not stop; ``force=True`` (a command's
   ``--force``) replaces a read-only file.

Every refusal is a `ValueError` whose message is one line naming the option, the path and the
reason in words (never a bare error number).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Output",
    "check_outputs",
    "check_writable",
    "is_read_only",
    "resolve_path",
]

_WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True, kw_only=True)
class Output:
    """One output of a command, as `check_outputs` checks it.

    Parameters
    ----------
    name : str
        What the path is to the user (``"--out"``, ``"--plot"``), named in every message.
    path : str or path-like
        The path as given. A trailing slash means a folder.
    folder : bool
        The output is a folder that files are written into (otherwise a file).
    writes : sequence of str
        For a folder: the names (shell patterns, e.g. ``"*.png"``) of the files and folders
        the command writes directly in it. An input found there is a clash; other files in
        the folder are left alone.
    """

    name: str
    path: str | os.PathLike
    folder: bool = False
    writes: Sequence[str] = field(default=())


def resolve_path(path: str | os.PathLike) -> Path:
    """``path`` absolute, with ``~`` expanded and every symlink followed (it need not exist).

    Examples
    --------
    >>> import os, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> os.symlink(d / "target.npz", d / "link.npz")
    >>> resolve_path(d / "link.npz") == (d / "target.npz").resolve()
    True
    """
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def is_read_only(path: str | os.PathLike) -> bool:
    """Whether the existing ``path`` (file or folder) is read-only.

    Read-only means without any write permission bit, or not writable by this process. The
    permission bits are read directly because ``os.access`` answers yes to root for every file.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not mode & _WRITE_BITS or not os.access(path, os.W_OK)


# Reasons, in words, for the errors of creating a folder or a file.
_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "the file system does not permit it",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "too many levels of symbolic links",
    # mkdir in an existing folder that refuses new entries (/proc, /sys, ...)
    errno.ENOENT: "the file system does not permit it",
}


def _reason(err: OSError) -> str:
    return _REASONS.get(err.errno, os.strerror(err.errno).lower() if err.errno else str(err))


def _mode(path: Path) -> str:
    return f"mode {stat.S_IMODE(path.stat().st_mode):04o}"


def _check_kind(
    out: Output, given: str, target: Path, folder: bool, force: bool, force_flag: str | None
) -> None:
    """Refuse a target of the wrong kind (file where a folder is needed, ...) or read-only."""
    where = f"{out.name} {given}"
    or_force = f", or pass {force_flag} to replace it" if force_flag else ""
    if folder:
        if target.exists() and not target.is_dir():
            raise ValueError(f"{where} is a file, not a folder; give a folder.")
        if target.is_dir() and is_read_only(target):
            raise ValueError(
                f"{where} is a read-only folder ({_mode(target)}); make it writable "
                f"(chmod u+w {target}) or choose another {out.name}."
            )
        for entry in _written_entries(target, out.writes):
            if is_read_only(entry) and not (force and entry.is_file()):
                raise ValueError(
                    f"{where}: {entry}, which the command writes, is read-only "
                    f"({_mode(entry)}); make it writable (chmod u+w {entry}), choose "
                    f"another {out.name}{or_force}."
                )
        return
    if given.endswith(("/", os.sep)) or target.is_dir():
        raise ValueError(f"{where} is a folder, not a file; give a file name in it.")
    if target.exists() and not target.is_file():
        raise ValueError(f"{where} is not a regular file (a device or a pipe); give a file name.")
    if target.exists() and is_read_only(target) and not force:
        raise ValueError(
            f"{where} is read-only ({_mode(target)}); make it writable (chmod u+w {target})"
            f"{',' if force_flag else ' or'} choose another path{or_force}."
        )


def _prove_writable(out: Output, given: str, folder: Path) -> None:
    """Create the missing folders down to ``folder`` and a probe file in it; undo both."""
    where = f"{out.name} {given}"
    missing: list[Path] = []
    existing = folder
    while not existing.exists():
        if existing.is_symlink():  # a dangling link above: realpath stopped there
            raise ValueError(f"{where}: {existing} is a broken or looping symbolic link.")
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        what = "a file, not a folder" if existing.is_file() else "not a folder"
        raise ValueError(f"{where}: {existing} is {what}.")
    created: list[Path] = []
    try:
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:  # made by someone else meanwhile
                continue
            except OSError as err:
                raise ValueError(
                    f"{where}: cannot create the folder {path} ({_reason(err)})."
                ) from None
            created.append(path)
        probe = folder / f".{secrets.token_hex(6)}.probe"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as err:
            raise ValueError(
                f"{where}: cannot write in the folder {folder} ({_reason(err)})."
            ) from None
        try:
            os.close(fd)
        finally:
            os.unlink(probe)
    finally:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                path.rmdir()


def _written_entries(folder: Path, writes: Sequence[str]) -> list[Path]:
    """The existing entries of ``folder`` at names the command writes there."""
    if not writes or not folder.is_dir():
        return []
    return sorted(
        entry
        for entry in folder.iterdir()
        if any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in writes)
    )


def _inside(path: Path, folder: Path, writes: Sequence[str]) -> bool:
    """Whether ``path`` is in ``folder`` at one of the names the command writes there."""
    try:
        first = path.relative_to(folder).parts[0]
    except (ValueError, IndexError):
        return False
    return any(fnmatch.fnmatchcase(first, pattern) for pattern in writes)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two existing paths are one file (hard links; a case-insensitive file system)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _clash(a: Output, a_path: Path, b_name: str, b_path: Path) -> str | None:
    """The words for a clash of the output ``a`` with ``b`` (an input or output), or None."""
    if a_path == b_path or _same_file(a_path, b_path):
        kind = "path"
        if b_path.is_dir() or (a.folder and not b_path.exists()):
            kind = "folder"
        elif not a.folder:  # two files, or a file and an input that does not exist yet
            kind = "file"
        return f"{a.name} and {b_name} are the same {kind} ({a_path})"
    if a.folder and _inside(b_path, a_path, a.writes):
        return f"{a.name} {a_path} would overwrite {b_name} ({b_path}), which is inside it"
    return None


def check_outputs(
    outputs: Iterable[Output],
    *,
    inputs: Mapping[str, str | os.PathLike | None] | None = None,
    force: bool = False,
    force_flag: str | None = None,
) -> dict[str, Path]:
    """Check every output of a command before any work; return each one's resolved path.

    Parameters
    ----------
    outputs : iterable of Output
        The command's outputs; one whose ``path`` is None is skipped.
    inputs : mapping of str to path, optional
        The command's inputs, by the name the user knows them by (``"the input RUN"``,
        ``"--init"``); None values are skipped.
    force : bool
        Replace read-only output files (a command's ``--force``).
    force_flag : str, optional
        The command's option that sets ``force`` (``"--force"``), offered in the message
        that refuses a read-only file.

    Returns
    -------
    dict of str to Path
        For each output's ``name``, its resolved path: the file (or folder) that will be
        written, the target of a symlink.

    Raises
    ------
    ValueError
        One line naming the option(s), the path and the reason: an output that is an input or
        another output, or lies in an output folder at a name written there; a file where a
        folder is needed or the reverse; a folder that cannot be created or written in; a
        read-only target (without ``force``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> run = d / "run.npz"
    >>> _ = run.write_bytes(b"")
    >>> check_outputs([Output(name="--out", path=run)], inputs={"the input RUN": run})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --out and the input RUN are the same file (.../run.npz); ...
    >>> check_outputs([Output(name="--out", path="/dev/null/x/run.npz")])
    Traceback (most recent call last):
    ...
    ValueError: --out /dev/null/x/run.npz: /dev/null is not a folder.
    """
    outputs = [out for out in outputs if out.path is not None]
    resolved = {out.name: resolve_path(out.path) for out in outputs}
    named_inputs = {
        name: resolve_path(path) for name, path in (inputs or {}).items() if path is not None
    }
    for i, out in enumerate(outputs):
        for name, path in named_inputs.items():
            words = _clash(out, resolved[out.name], name, path)
            if words is not None:
                raise ValueError(f"{words}; choose another {out.name}.")
        for other in outputs[i + 1 :]:
            words = _clash(out, resolved[out.name], other.name, resolved[other.name])
            words = words or _clash(other, resolved[other.name], out.name, resolved[out.name])
            if words is not None:
                raise ValueError(f"{words}; give them different paths.")
    for out in outputs:
        target, given = resolved[out.name], os.fspath(out.path)
        _check_kind(out, given, target, out.folder, force, force_flag)
        _prove_writable(out, given, target if out.folder else target.parent)
    return resolved


def check_writable(
    path: str | os.PathLike, name: str = "path", *, directory: bool = False, force: bool = False
) -> Path:
    """Check one output path before any work (`check_outputs` for one output); return it.

    Parameters
    ----------
    path : str or path-like
        The output file (or, with ``directory``, the output folder).
    name : str
        What the path is to the user (``"--out"``), named in the message.
    directory : bool
        ``path`` is a folder to write files into.
    force : bool
        A read-only existing file may be replaced.

    Returns
    -------
    pathlib.Path
        ``path`` as given (not resolved).

    Raises
    ------
    ValueError
        If it cannot be written; the message says why.

    Examples
    --------
    >>> check_writable("/dev/null/run.npz", "--out")
    Traceback (most recent call last):
    ...
    ValueError: --out /dev/null/run.npz: /dev/null is not a folder.
    """
    check_outputs([Output(name=name, path=path, folder=directory)], force=force)
    return Path(path)
