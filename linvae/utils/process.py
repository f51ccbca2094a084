"""The process contract of long commands: signals, folder locks, workers, memory.

Signals
-------
A signal handler that raises ``KeyboardInterrupt`` raises it wherever the main thread happens
to be, including inside a ``__del__`` method or a garbage-collection callback (matplotlib has
such callbacks), where Python prints "Exception ignored ..." and carries on: the interrupt is
lost. Under `deferred_interrupts` (what the ``linvae`` and ``conv-study`` programs run their
commands in) SIGINT and SIGTERM only *record* the signal; long loops call `check_interrupt`
at safe points (between steps, points, times, figures), which raises ``KeyboardInterrupt``
(`Terminated` for SIGTERM) there, so that the loop's own handler saves what is finished. A
second signal, while the first waits for a safe point, raises at once: the user who presses
Ctrl-C twice does not wait. Outside `deferred_interrupts` (the Python API in a script or a
notebook) Python's own handler raises on Ctrl-C and `check_interrupt` does nothing.

Folder locks
------------
`folder_lock` holds an operating-system lock (``fcntl.flock``) on ``FOLDER/.linvae.lock``
while a command writes the folder; a second writer is refused with `FolderLocked`, whose
message names the folder and the holder (process id and command line). The operating system
releases the lock when its holder ends, however it ends (``kill -9`` included), so a stale
lock file never blocks; a holder that ends normally removes the file.

Worker processes
----------------
`die_with_parent`, called first thing in a worker process (a pool's ``initializer``), ends the
worker when its parent ends, ``kill -9`` included: on Linux through ``prctl(PR_SET_PDEATHSIG)``,
everywhere through a watchdog thread that polls the parent's process id.

Memory
------
`check_memory` refuses a request larger than the memory this process may use
(`available_memory`: the smaller of the machine's available memory and the cgroup limit of a
container or a cluster job), before anything is allocated, with the figure.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "FolderLocked",
    "Terminated",
    "available_memory",
    "check_interrupt",
    "check_memory",
    "deferred_interrupts",
    "die_with_parent",
    "folder_lock",
    "format_bytes",
    "interrupt_signal",
    "interrupted_exit_code",
]


# ---------------------------------------------------------------------- signals
class Terminated(KeyboardInterrupt):
    """SIGTERM, raised at a safe point like Ctrl-C so that commands save what they have."""


# The signal received under deferred_interrupts (None: none; kept after it ends, for the exit
# code), whether signals are being deferred now, and the notice written to stderr when the
# first one arrives (None: none).
_pending: dict = {"signal": None, "active": False, "notice": None}


def interrupt_signal() -> signal.Signals | None:
    """The signal (SIGINT or SIGTERM) received under `deferred_interrupts`, or None."""
    return _pending["signal"]


def interrupted_exit_code() -> int:
    """The conventional exit code of an interrupted command: 128 + the signal's number.

    130 after SIGINT (also when no signal was recorded: a Ctrl-C that Python raised itself),
    143 after SIGTERM.
    """
    return 128 + int(_pending["signal"] or signal.SIGINT)


def _interrupt(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def check_interrupt() -> None:
    """A safe point: raise ``KeyboardInterrupt`` (`Terminated` for SIGTERM) if a signal came.

    Long loops call it between units of work (steps, points, figures); the loop's
    ``except KeyboardInterrupt`` then saves what is finished. Cheap (a dictionary look-up);
    does nothing outside `deferred_interrupts`.

    Raises
    ------
    KeyboardInterrupt
        If SIGINT (`Terminated`: SIGTERM) was received under `deferred_interrupts`. The
        signal stays recorded, so that every later safe point raises too and the program
        ends with `interrupted_exit_code`.
    """
    signum = _pending["signal"]
    if signum is not None and _pending["active"]:
        raise _interrupt(signum)


def _on_signal(signum: int, frame) -> None:
    already = _pending["signal"]
    if already is None or (signum == signal.SIGTERM and already == signal.SIGINT):
        _pending["signal"] = signal.Signals(signum)
    if already is None and _pending["notice"]:
        # os.write, not print: the main thread may be inside a write to sys.stderr (a
        # progress bar), which a buffered write from here would re-enter.
        text = f"\n{_pending['notice'].format(signal=signal.Signals(signum).name)}\n"
        with contextlib.suppress(OSError):
            os.write(2, text.encode())
    if already is not None:
        # The second signal: the user (or scheduler) insists, do not wait for a safe point.
        raise _interrupt(signum)


@contextlib.contextmanager
def deferred_interrupts(
    signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
    *,
    notice: str | None = None,
) -> Iterator[None]:
    """Record SIGINT and SIGTERM instead of raising; `check_interrupt` raises at safe points.

    Used around a whole command (both programs' frame does it), and inside the long functions
    whose loops must not be interrupted anywhere (`linvae.reproduce.reproduce`, whose figures
    have garbage-collection callbacks). In a thread other than the main one (where signal
    handlers cannot be set) it changes nothing; nested in another `deferred_interrupts`, it
    changes nothing either (the outer one's signals and notice stay). The previous handlers
    come back on exit, and the recorded signal is forgotten on entry (not on exit: the caller
    reads it to choose the exit code).

    Parameters
    ----------
    signals : tuple of signal numbers
        The signals to defer (a worker process that leaves Ctrl-C to its parent, which passes
        it on as SIGTERM, defers SIGTERM alone).
    notice : str, optional
        Written to stderr when the first signal arrives (``{signal}`` is replaced by its
        name), so that the user knows it was received and what happens next.

    Examples
    --------
    >>> import os, signal
    >>> with deferred_interrupts():
    ...     os.kill(os.getpid(), signal.SIGTERM)  # recorded, nothing raised here
    ...     interrupt_signal() == signal.SIGTERM
    True
    """
    nested = any(signal.getsignal(sig) is _on_signal for sig in signals)
    if nested or threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending["signal"] = None
    previous = {sig: signal.signal(sig, _on_signal) for sig in signals}
    _pending.update(active=True, notice=notice)
    try:
        yield
    finally:
        _pending.update(active=False, notice=None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------------- folder locks
LOCK_NAME = ".linvae.lock"


class FolderLocked(ValueError):
    """Another process is writing the folder (it holds the folder's lock).

    Attributes
    ----------
    folder : Path
        The folder.
    holder : str
        ``"pid P: command line"`` of the holder, as it wrote it (may be empty).
    """

    def __init__(self, folder: Path, holder: str, name: str):
        who = f" by {holder}" if holder else " by another process"
        super().__init__(
            f"{name} {folder} is being written{who}; wait for it to finish, stop it, or choose "
            "another folder."
        )
        self.folder, self.holder = folder, holder


def _holder_text() -> str:
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
    return f"pid {os.getpid()}: {command}".strip()


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, name: str = "folder") -> Iterator[Path]:
    """Hold the write lock of ``folder`` (created if missing) for the duration.

    Parameters
    ----------
    folder : str or path-like
        The folder a command writes.
    name : str
        What the folder is to the user (``"--out"``, ``"The `out_dir` parameter of
        run_sweep"``), named in the message.

    Yields
    ------
    pathlib.Path
        The folder.

    Raises
    ------
    FolderLocked
        (a ``ValueError``) If another process holds the lock; the message names the folder
        and the holder's process id and command line.

    Notes
    -----
    The lock is ``fcntl.flock`` on ``FOLDER/.linvae.lock`` (advisory, per open file), which
    holds the holder's process id and command line. The holder removes the file before it
    lets go of the lock (a process that locked the file in between checks that it still has
    the file of that name, and tries again otherwise). After ``kill -9`` the file stays, but
    the operating system has dropped the lock with its holder, so the next writer simply
    takes it: nothing stale ever blocks. A second `folder_lock` on the same folder in the
    same process is refused too, as a second writer would be. Without ``fcntl`` (Windows)
    ``msvcrt.locking`` of the file's first byte takes its place (there the file of a finished
    holder may stay: an open file cannot be removed; it blocks nothing either).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with folder_lock(folder, "--out"):  # doctest: +ELLIPSIS
    ...     with folder_lock(folder, "--out"):  # a second writer
    ...         pass
    Traceback (most recent call last):
    ...
    linvae.utils.process.FolderLocked: --out ... is being written by pid ...
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _try_lock(fd):
            os.lseek(fd, 1, os.SEEK_SET)
            holder = os.read(fd, 4096).decode(errors="replace").strip()
            os.close(fd)
            raise FolderLocked(folder, holder, name)
        if _same_file(fd, path):
            break
        # The holder removed the file between our open and our lock: lock the new one.
        os.close(fd)
    try:
        os.ftruncate(fd, 1)
        os.lseek(fd, 1, os.SEEK_SET)
        os.write(fd, (_holder_text() + "\n").encode())
        yield folder
    finally:
        # Removed while still held, so that nobody can lock the removed file's inode after us.
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)  # releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock of the open file ``fd`` without waiting; False if held."""
    try:
        import fcntl
    except ImportError:  # Windows: lock the file's first byte (the holder's text is after it)
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks from the current position
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


# ---------------------------------------------------------------------- worker processes
# prctl option: the signal a process gets when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
# Seconds between two looks of the watchdog at the parent's process id.
_WATCHDOG_INTERVAL = 1.0


def die_with_parent(parent_pid: int | None = None) -> None:
    """Make this process end when its parent ends (a worker's ``initializer``).

    Parameters
    ----------
    parent_pid : int, optional
        The parent's process id (default ``os.getppid()`` now). Give the id the parent had
        when it started the worker, so that a parent already gone is noticed.

    Notes
    -----
    On Linux the kernel sends SIGKILL to this process when the thread that started it ends
    (``prctl(PR_SET_PDEATHSIG)``); start workers from a thread that lives as long as they
    do. Everywhere, a daemon thread also checks every second that the parent's process id is
    unchanged (an orphan is re-parented) and ends the process with ``os._exit`` if not. A
    worker also leaves Ctrl-C to its parent (SIGINT ignored): a terminal sends SIGINT to the
    whole process group, and the parent stops its workers itself.
    """
    parent = os.getppid() if parent_pid is None else int(parent_pid)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent was gone before the request above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCHDOG_INTERVAL)
        os._exit(1)

    threading.Thread(target=watch, name="linvae-parent-watchdog", daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ---------------------------------------------------------------------- memory
def format_bytes(n: float) -> str:
    """``n`` bytes in words: ``"750 GiB"``, ``"1.5 MiB"``.

    Examples
    --------
    >>> format_bytes(750 * 2**30), format_bytes(1536 * 1024)
    ('750 GiB', '1.5 MiB')
    """
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "bytes" else f"{int(n)} bytes"
        n /= 1024
    raise AssertionError("unreachable")


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    """What is left under the cgroup's memory limit (v2, then v1), or None without one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit == "max" or int(limit) >= 2**60:  # no limit
                return None
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        return max(0, int(limit) - usage)
    return None


def available_memory() -> int | None:
    """Bytes this process may still allocate, or None where the system does not say.

    The smaller of the machine's available memory (``MemAvailable`` of ``/proc/meminfo``,
    else ``os.sysconf``) and what remains under the memory limit of the process's cgroup (a
    container, a cluster job). The environment variable ``LINVAE_MEMORY_LIMIT`` (bytes, or
    with a suffix: ``"8G"``, ``"512M"``) caps it further: a limit the system cannot see.
    """
    found = [m for m in (_meminfo_available(), _cgroup_available()) if m is not None]
    cap = os.environ.get("LINVAE_MEMORY_LIMIT", "").strip()
    if cap:
        found.append(_parse_bytes(cap))
    return min(found) if found else None


_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_bytes(text: str) -> int:
    body = text.upper().removesuffix("IB").removesuffix("B")
    suffix = body[-1:] if body[-1:] in _SUFFIXES else ""
    try:
        return int(float(body[: len(body) - len(suffix)]) * _SUFFIXES[suffix])
    except ValueError:
        raise ValueError(
            "The LINVAE_MEMORY_LIMIT environment variable must be a number of bytes, with an "
            f"optional K, M, G or T suffix (e.g. 8G). Got {text!r}."
        ) from None


def check_memory(nbytes: float, what: str, *, fix: str = "") -> None:
    """Refuse, before allocating, a request of ``nbytes`` that cannot fit in memory.

    Parameters
    ----------
    nbytes : float
        The estimated peak memory of the request.
    what : str
        The request in the user's words, naming the options that set its size
        (``"--N 10000000 --seeds 100"``).
    fix : str
        What to change, added to the message.

    Raises
    ------
    ValueError
        If ``nbytes`` exceeds `available_memory`: ``"<what> needs 750 GiB; this machine has
        24 GiB available."``. Nothing is checked where the available memory is unknown.

    Examples
    --------
    >>> check_memory(1024, "--N 10")  # a kibibyte always fits
    """
    available = available_memory()
    if available is not None and nbytes > available:
        raise ValueError(
            f"{what} needs {format_bytes(nbytes)} of memory; this machine has "
            f"{format_bytes(available)} available.{' ' + fix if fix else ''}"
        )
