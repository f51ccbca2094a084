"""Progress of long computations, shown with tqdm (``tqdm.auto``: a widget in notebooks).

Long computations take a ``progress`` argument: ``False`` shows nothing, ``True`` shows a bar on
stderr, and a callable is called as ``progress(done, total)`` (for a caller's own display).
:func:`make_progress` turns that argument into one callable ``report(done, final=False)``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressBar", "make_progress"]


class ProgressBar:
    """``ProgressBar(total, label)(done)``: a tqdm bar advanced to ``done`` of ``total``.

    ``done`` is absolute (a time t, a count of points), not an increment; ``final=True`` closes
    the bar. tqdm limits redraws to ``mininterval`` seconds.
    """

    def __init__(self, total: float, label: str = "", *, unit: str = "it", mininterval=0.2):
        from tqdm.auto import tqdm

        self.total = float(total)
        self._bar = tqdm(
            total=self.total,
            desc=label,
            unit=unit,
            mininterval=mininterval,
            leave=True,
            dynamic_ncols=True,
            bar_format="{l_bar}{bar}| {n:.4g}/{total:.4g} [{elapsed}<{remaining}]",
        )

    def __call__(self, done: float, *, final: bool = False) -> None:
        done = min(float(done), self.total)
        if done > self._bar.n:
            self._bar.update(done - self._bar.n)
        if final:
            self.close()

    def close(self) -> None:
        self._bar.close()


def make_progress(
    progress: bool | Callable[[float, float], None], total: float, label: str
) -> Callable[..., None] | None:
    """Normalize the ``progress`` argument of long computations.

    False: nothing; True: a tqdm bar on stderr; a callable: called as ``progress(done, total)``.
    """
    if progress is True:
        return ProgressBar(total, label)
    if callable(progress):
        return lambda done, final=False: progress(done, total)
    return None
