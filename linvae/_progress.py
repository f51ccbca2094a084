"""A dependency-free progress bar on stderr, shown only when the caller asks for it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


class ProgressBar:
    """``ProgressBar(total, label)(done)`` redraws at most ``hz`` times a second."""

    def __init__(self, total: float, label: str = "", *, stream=None, hz: float = 5.0):
        self.total = max(float(total), 1e-300)
        self.label = label
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self._last = 0.0
        self._period = 1.0 / hz

    def __call__(self, done: float, *, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and now - self._last < self._period:
            return
        self._last = now
        frac = min(max(done / self.total, 0.0), 1.0)
        elapsed = now - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        self.stream.write(
            f"\r{self.label} [{bar}] {100 * frac:5.1f}%  {elapsed:6.1f}s elapsed, {eta:6.1f}s left"
        )
        if final:
            self.stream.write("\n")
        self.stream.flush()


def make_progress(
    progress: bool | Callable[[float, float], None], total: float, label: str
) -> Callable[..., None] | None:
    """Normalize the ``progress`` argument of long computations.

    False: nothing; True: a bar on stderr; a callable: called as ``progress(done, total)``.
    """
    if progress is True:
        return ProgressBar(total, label)
    if callable(progress):
        return lambda done, final=False: progress(done, total)
    return None
