"""Progress of long computations, shown with tqdm (``tqdm.auto``: a widget in notebooks).

Long computations take a ``progress`` argument: ``False`` shows nothing, ``True`` shows a bar on
stderr, and a callable is called as ``progress(done, total)`` (for a caller's own display).
`make_progress` turns that argument into one reporter, ``report(done)``, with
``report.close()`` to call when the computation ends, however it ends (``try``/``finally``);
``progress=False`` gets a `NullProgress` that does nothing, so callers need no test.

Time spent before the first report (compiling numba code, starting worker processes) is no
measure of the work's speed: given ``warmup="compiling"``, the bar shows that word and the
elapsed time, without an estimate, until the first report; the clock of the estimate starts
there.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CallbackProgress", "NullProgress", "ProgressBar", "make_progress"]


class ProgressBar:
    """``ProgressBar(total, label)(done)``: a tqdm bar advanced to ``done`` of ``total``.

    ``done`` is absolute (a time t, a count of points), not an increment; `close` closes
    the bar (closing twice is harmless). tqdm limits redraws to ``mininterval`` seconds.
    """

    _FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}]"

    def __init__(
        self,
        total: float,
        label: str = "",
        *,
        unit: str = "it",
        mininterval=0.2,
        warmup: str | None = None,
    ):
        # tqdm.auto takes ~80 ms to import (it probes for a notebook): only a drawn bar pays.
        from tqdm.auto import tqdm

        self.total = float(total)
        self._waiting = True  # nothing done yet: no rate to estimate from
        self._bar = tqdm(
            total=self._shown_total(),
            desc=label,
            unit=unit,
            mininterval=mininterval,
            leave=True,
            dynamic_ncols=True,
            # 300k/1.5M steps, not 300000.0/1500000.0; a small count as it is (1/6 times, not
            # 1.00/6.00 times).
            unit_scale=self.total >= 1000,
            # Before any work is done there is no rate: no estimate (tqdm would say "?" or
            # "nan"), only the elapsed time.
            bar_format=("{desc}: " + warmup + " [{elapsed}]") if warmup else "{desc} [{elapsed}]",
        )

    def __call__(self, done: float) -> None:
        done = min(float(done), self.total)
        done = int(done) if done.is_integer() else done  # "10/100 points", not "10.0/100"
        if self._waiting:
            if done > 0:
                self._start_clock(done)
            return
        if done > self._bar.n:
            self._bar.update(done - self._bar.n)

    def _start_clock(self, done: float) -> None:
        """Show the bar from ``done`` on, estimating the rate from now on only."""
        bar = self._bar
        self._waiting = False
        bar.reset(total=self._shown_total())  # restarts tqdm's clock and its rate averages
        bar.bar_format = self._FORMAT
        bar.n = bar.last_print_n = bar.initial = done
        bar.refresh()

    def set_label(self, label: str) -> None:
        """Show ``label`` in front of the bar from now on (a long job's current stage)."""
        self._bar.set_description_str(label)

    def _shown_total(self) -> float:
        # A count shows as one ("1/6 times"), not as a float ("1.00/6.00 times").
        return int(self.total) if self.total.is_integer() else self.total

    def close(self) -> None:
        self._bar.close()


class CallbackProgress:
    """``CallbackProgress(callback, total)(done)`` calls ``callback(done, total)``; the
    reporter of a callable ``progress`` argument (`close` does nothing)."""

    def __init__(self, callback: Callable[[float, float], None], total: float):
        self.callback = callback
        self.total = total

    def __call__(self, done: float) -> None:
        self.callback(done, self.total)

    def set_label(self, label: str) -> None:
        pass

    def close(self) -> None:
        pass


class NullProgress:
    """The reporter of ``progress=False``: calling it and `close` do nothing."""

    def __call__(self, done: float) -> None:
        pass

    def set_label(self, label: str) -> None:
        pass

    def close(self) -> None:
        pass


def make_progress(
    progress: bool | Callable[[float, float], None],
    total: float,
    label: str,
    *,
    unit: str = "it",
    warmup: str | None = None,
) -> ProgressBar | CallbackProgress | NullProgress:
    """Normalize the ``progress`` argument of long computations.

    False: a `NullProgress` (reports nothing); True: a tqdm `ProgressBar` on
    stderr; a callable: a `CallbackProgress` that calls ``progress(done, total)``. Every
    reporter is called as ``report(done)`` and has ``set_label(label)`` (the bar's text, for a
    job in stages) and ``close()``. ``warmup`` (e.g.
    ``"compiling"``) is what the bar shows until the first report, without an estimate.
    """
    if progress is True:
        return ProgressBar(total, label, unit=unit, warmup=warmup)
    if callable(progress):
        return CallbackProgress(progress, total)
    return NullProgress()
