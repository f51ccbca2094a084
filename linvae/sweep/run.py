"""Running a sweep: compute what is not on disk yet, write each point as it ends, gather.

`run_sweep` ties the pieces together: the grid (`linvae.sweep.grid`) says what to compute, an
execution strategy (`linvae.sweep.execution`) where, `compute_point` how, and the store
(`linvae.sweep.store`) keeps every finished point on disk.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from linvae.sweep import store
from linvae.sweep.compute import compute_point
from linvae.sweep.execution import Execution, execution_from
from linvae.sweep.grid import MAX_POINTS, Sweep, format_params
from linvae.utils.paths import check_writable
from linvae.utils.process import folder_lock
from linvae.utils.progress import make_progress
from linvae.utils.validation import check_int

__all__ = ["SweepInterrupted", "run_sweep"]

_LOG = logging.getLogger(__name__)
# Seconds between two rewrites of index.json while a sweep runs.
_INDEX_INTERVAL = 2.0


class SweepInterrupted(KeyboardInterrupt):
    """Raised when a sweep is interrupted (Ctrl-C; SIGTERM under the ``linvae`` program).

    Every finished point is on disk and ``index.json`` is up to date: running the same sweep
    on the same directory again computes only the rest.

    Attributes
    ----------
    done : int
        Points finished (on disk).
    total : int
        Points of the sweep.
    directory : Path
        The sweep's directory.
    """

    def __init__(self, done: int, total: int, directory: Path):
        super().__init__(f"Sweep interrupted: {done} of {total} points done in {directory}.")
        self.done, self.total, self.directory = done, total, directory


def run_sweep(
    sweep: Sweep,
    out_dir: str | Path,
    *,
    scheduler: Execution | str | Any = "processes",
    workers: int | None = None,
    threads_per_point: int = 1,
    retry_failed: bool = True,
    progress: bool | Callable[[int, int], None] = True,
    allow_large: bool = False,
) -> store.SweepResult:
    """Compute every point of ``sweep`` that ``out_dir`` does not hold yet, then gather.

    Parameters
    ----------
    sweep : Sweep
        What to compute.
    out_dir : path
        Output directory (created). If it holds this same sweep, finished points are kept and
        only the others run; if it holds another sweep, ValueError. It is locked while the
        sweep runs (`linvae.utils.process.folder_lock`): a second sweep started into it
        meanwhile, from this process or another, is refused.
    scheduler : Execution, "processes", "serial", str or distributed.Client
        Where the points run: an execution strategy (`Serial`,
        `ProcessPool`, `Dask`), or by name:
        ``"processes"`` is ``ProcessPool(workers)``, a local pool of spawned processes;
        ``"serial"`` is ``Serial()``, one after the other in this process; any other string is
        the address of a running Dask scheduler (``"tcp://host:8786"``) and a
        ``distributed.Client`` is used as it is (both ``Dask(scheduler)``). The Dask workers
        must be able to import linvae; results travel back to this process, which writes the
        files (workers need no shared disk).
    workers : int, optional
        Size of the local pool with ``scheduler="processes"`` (default: the number of CPUs).
        Ignored otherwise.
    threads_per_point : int
        numba threads of each point's seed-parallel loop. Results do not depend on it.
    retry_failed : bool
        Recompute points that failed in an earlier run (they have no file).
    progress : bool or callable
        True: a progress bar (tqdm) on stderr; a callable receives ``(points_done,
        points_total)`` after each point (an exception raised there stops the sweep; what is on
        disk is kept).
    allow_large : bool
        Run a sweep of more than `linvae.sweep.grid.MAX_POINTS` (a million) points; without
        it such a sweep is refused before anything is written.

    Returns
    -------
    SweepResult
        The gathered arrays (see `SweepResult`), also saved as
        ``out_dir/results.npz``.

    Raises
    ------
    ValueError
        For invalid arguments or a directory holding another sweep.
    linvae.utils.process.FolderLocked
        (a ValueError) If another sweep is writing ``out_dir``; the message names its
        process.
    SweepInterrupted
        On Ctrl-C (a KeyboardInterrupt): the finished points are on disk, the running ones
        are stopped; rerun to go on.

    Warns
    -----
    UserWarning
        When some points failed; each failure is logged (``linvae.sweep`` loggers) with its
        parameters and listed in ``SweepResult.failures`` and ``index.json``.

    Examples
    --------
    >>> import tempfile
    >>> from linvae import Model
    >>> from linvae.sweep import Serial, Sweep, run_sweep
    >>> sweep = Sweep(grid={"beta": [0.5, 2.0]}, model=Model(tau=0.1), N=50, t_max=4.0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     result = run_sweep(sweep, tmp, scheduler=Serial(), progress=False)
    >>> result["sgd_eps_g"].shape  # (beta, seed, time)
    (2, 1, 5)
    """
    if not isinstance(sweep, Sweep):
        raise ValueError(f"The `sweep` parameter of run_sweep must be a Sweep. Got {sweep!r}.")
    threads_per_point = check_int("threads_per_point", threads_per_point, "run_sweep")
    if sweep.size > MAX_POINTS and not allow_large:
        raise ValueError(
            f"The `sweep` parameter of run_sweep has {sweep.size:,} points, more than "
            f"MAX_POINTS = {MAX_POINTS:,} (a file each, days of computing). Check its grid, or "
            "pass allow_large=True."
        )
    execution = execution_from(scheduler, workers)
    directory = Path(out_dir)
    check_writable(directory, "The `out_dir` parameter of run_sweep", directory=True)
    with folder_lock(directory, "The sweep folder"):
        return _run_locked(sweep, directory, execution, threads_per_point, retry_failed, progress)


def _run_locked(
    sweep: Sweep,
    directory: Path,
    execution: Execution,
    threads_per_point: int,
    retry_failed: bool,
    progress: bool | Callable[[int, int], None],
) -> store.SweepResult:
    """`run_sweep` once ``directory`` is locked against other writers."""
    store.prepare_directory(sweep, directory)

    done = store.finished_points(sweep, directory)
    failed: dict[int, str] = {}
    if not retry_failed:
        failed = {i: e for i, e in store.recorded_failures(directory).items() if i not in done}
    todo = [i for i in range(sweep.size) if i not in done and i not in failed]
    total = sweep.size

    # Starting the workers (and numba's first compile in each) is no measure of the rate.
    report = make_progress(progress, total, "sweep", unit="points", warmup="starting")
    # index.json is a summary of the point files (which are the truth, written at once). One
    # rewrite costs O(n) (0.2 s at n = 1000), so rewriting it after each of n points cost
    # O(n^2); it is rewritten at most every _INDEX_INTERVAL seconds (and never spending more
    # than a tenth of the time on it), and always when the sweep ends or is interrupted.
    last_index, interval = -math.inf, _INDEX_INTERVAL

    def write_index(force: bool = False) -> None:
        nonlocal last_index, interval
        now = time.monotonic()
        if force or now - last_index >= interval:
            store.write_index(sweep, directory, done, failed)
            last_index = time.monotonic()
            interval = max(_INDEX_INTERVAL, 10.0 * (last_index - now))

    try:
        report(len(done) + len(failed))
        write_index(force=True)

        def on_outcome(index: int, outcome: Mapping[str, Any]) -> None:
            if "error" in outcome:
                failed[index] = outcome["error"]
                _LOG.warning(
                    "Sweep point %d (%s) failed: %s",
                    index,
                    format_params(sweep.parameters(index)),
                    outcome["error"],
                )
                _LOG.debug("%s", outcome.get("traceback", ""))
            else:
                store.write_point(directory, index, outcome)
                done.add(index)
                failed.pop(index, None)
            write_index()
            report(len(done) + len(failed))

        if todo:
            compute = functools.partial(compute_point, threads=threads_per_point)
            execution.run(compute, [(i, sweep.settings(i)) for i in todo], on_outcome)
    except KeyboardInterrupt:
        # A point file is complete once it exists (atomic writes), even if the interrupt came
        # before its outcome was counted.
        done.update(i for i in todo if store.point_path(directory, i).exists())
        raise SweepInterrupted(len(done), total, directory) from None
    finally:
        report.close()
        write_index(force=True)
    result = store.load_sweep(directory)
    result.save(directory / "results.npz")
    if failed:
        warnings.warn(
            f"{len(failed)} of {total} sweep points failed (see SweepResult.failures or "
            f"{store.index_path(directory)}); rerun run_sweep on the same directory to retry "
            "them.",
            stacklevel=3,
        )
    return result
