"""Where the points of a sweep run: small strategy objects with one interface.

Every strategy has ``run(compute, jobs, on_outcome)``: it calls ``compute(settings)`` for each
``(index, settings)`` of ``jobs``, wherever it computes, and calls ``on_outcome(index,
outcome)`` back in this process as each point finishes, in whatever order they finish.
``compute`` never raises (a failing point is an outcome with an ``"error"``); a worker that
dies becomes such an outcome too. If ``on_outcome`` raises, the strategy cancels what has not
started and lets the exception through. Between outcomes every strategy is at a safe point
for interrupts (`linvae.utils.process.check_interrupt`): a signal received under the
command-line programs stops the run there, after the finished points have been reported.

* `Serial` - one point after the other, in this process;
* `ProcessPool` - a local pool of spawned processes;
* `Dask` - a Dask cluster, by scheduler address or through a ``distributed.Client``.

A point's numbers do not depend on the strategy (its seed is fixed by its index), so the
three give bit-identical results. `execution_from` turns the ``scheduler=`` and
``workers=`` arguments of `linvae.sweep.run_sweep` into a strategy.
"""

from __future__ import annotations

import abc
import itertools
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from linvae.utils.process import check_interrupt, die_with_parent
from linvae.utils.validation import check_int

__all__ = ["Dask", "Execution", "ProcessPool", "Serial", "execution_from"]

Outcome = dict[str, Any]
Compute = Callable[[Mapping[str, Any]], Outcome]
OnOutcome = Callable[[int, Outcome], None]
# Seconds between two looks at the interrupt flag while waiting for points to finish.
_POLL_INTERVAL = 0.2
# Points handed to a process pool at a time, per worker: enough to keep every worker busy.
_IN_FLIGHT = 2


class Execution(abc.ABC):
    """A way of computing sweep points; subclass it to add one."""

    @abc.abstractmethod
    def run(
        self,
        compute: Compute,
        jobs: Sequence[tuple[int, Mapping[str, Any]]],
        on_outcome: OnOutcome,
    ) -> None:
        """Compute every job and report each outcome, in this process, as it finishes.

        Parameters
        ----------
        compute : callable
            ``compute(settings) -> outcome``; picklable (a module-level function or a
            ``functools.partial`` of one) when the strategy sends it to other processes.
        jobs : sequence of (int, mapping)
            Point indices and their settings.
        on_outcome : callable
            ``on_outcome(index, outcome)``, called in this process.
        """


def failed_outcome(err: BaseException) -> Outcome:
    """The outcome of a point whose worker failed outside ``compute`` (e.g. it was killed)."""
    return {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the worker processes of ``pool`` (their running points are abandoned)."""
    # concurrent.futures has no public way to stop running work before Python 3.14
    # (terminate_workers); its process table is the only handle on the workers.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _outcome_of(future) -> Outcome:
    """A finished future's outcome; a crashed worker becomes a failed point."""
    try:
        return future.result()
    except Exception as err:  # e.g. BrokenProcessPool, a worker killed by the OS
        return failed_outcome(err)


@dataclass(frozen=True)
class Serial(Execution):
    """One point after the other, in this process.

    Examples
    --------
    >>> seen = []
    >>> Serial().run(lambda s: {"arrays": s}, [(0, {"x": 1}), (1, {"x": 2})],
    ...              lambda i, outcome: seen.append((i, outcome["arrays"]["x"])))
    >>> seen
    [(0, 1), (1, 2)]
    """

    def run(self, compute: Compute, jobs, on_outcome: OnOutcome) -> None:
        for index, settings in jobs:
            check_interrupt()
            on_outcome(index, compute(settings))


@dataclass(frozen=True)
class ProcessPool(Execution):
    """A local pool of ``workers`` spawned processes (``concurrent.futures``).

    Parameters
    ----------
    workers : int, optional
        Pool size; default: the number of CPUs. Never more processes than points.

    Notes
    -----
    Processes are spawned, not forked: safe with numba's threads and on every platform; each
    worker imports linvae afresh. Workers end with this process, however it ends (``kill
    -9`` included: `linvae.utils.process.die_with_parent`), and leave Ctrl-C to it: it stops
    them itself, after reporting what has finished.
    """

    workers: int | None = None

    def __post_init__(self):
        if self.workers is not None:
            object.__setattr__(self, "workers", check_int("workers", self.workers, "ProcessPool"))

    def run(self, compute: Compute, jobs, on_outcome: OnOutcome) -> None:
        if not jobs:
            return
        workers = min(self.workers or os.cpu_count() or 1, len(jobs))
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )
        # Points are submitted a few per worker at a time, not all at once: each bounded wait
        # below costs time in the number of futures it watches (0.3 s for 10^5 of them).
        todo = iter(jobs)
        futures: dict = {}
        try:
            while True:
                for index, settings in itertools.islice(todo, _IN_FLIGHT * workers - len(futures)):
                    futures[pool.submit(compute, settings)] = index
                if not futures:
                    break
                # A bounded wait, so that a signal is acted upon within _POLL_INTERVAL.
                finished, _ = wait(futures, timeout=_POLL_INTERVAL, return_when=FIRST_COMPLETED)
                for future in finished:
                    on_outcome(futures.pop(future), _outcome_of(future))
                check_interrupt()
        except BaseException:
            # Interrupted (or on_outcome failed): stop the running points now rather than
            # wait for them; what has finished is already reported.
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Dask(Execution):
    """A Dask cluster (``pip install 'linvae[sweep]'``).

    Parameters
    ----------
    scheduler : str or distributed.Client
        The address of a running scheduler (``"tcp://host:8786"``; a client is opened and
        closed around the run), or a client of your own (e.g. of a ``LocalCluster`` or a
        job-queue cluster), left open.

    Notes
    -----
    The workers must be able to import linvae (same environment). Results travel back to this
    process, which writes the files: the workers need no shared disk.
    """

    scheduler: Any

    def __post_init__(self):
        if isinstance(self.scheduler, str):
            return
        # A Client can only exist if distributed is imported: no need to import it to check.
        distributed = sys.modules.get("distributed")
        if distributed is None or not isinstance(self.scheduler, distributed.Client):
            raise ValueError(
                "The `scheduler` parameter of Dask must be a Dask scheduler address or a "
                f"distributed.Client. Got {self.scheduler!r}."
            )

    def run(self, compute: Compute, jobs, on_outcome: OnOutcome) -> None:
        try:
            import distributed  # optional (the `sweep` extra), and heavy
        except ImportError:
            raise ImportError(
                "Running a sweep on a Dask cluster needs dask.distributed: "
                "pip install 'linvae[sweep]'."
            ) from None
        own_client = isinstance(self.scheduler, str)
        client = distributed.Client(self.scheduler) if own_client else self.scheduler
        token = f"{os.getpid()}-{time.time_ns()}"
        futures = {}
        try:
            for index, settings in jobs:
                future = client.submit(compute, settings, key=f"linvae-sweep-{token}-{index}")
                futures[future] = index
            ready = distributed.as_completed(list(futures))
            while not ready.is_empty():
                finished = ready.next_batch(block=False)
                for future in finished:
                    on_outcome(futures[future], _outcome_of(future))
                check_interrupt()
                if not finished:
                    time.sleep(_POLL_INTERVAL)
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                client.cancel(pending)
            if own_client:
                client.close()


def execution_from(scheduler: Any = "processes", workers: int | None = None) -> Execution:
    """The strategy named by `linvae.sweep.run_sweep`'s ``scheduler=`` and ``workers=``.

    Parameters
    ----------
    scheduler : Execution, "processes", "serial", str or distributed.Client
        A strategy is returned as it is; ``"processes"`` gives ``ProcessPool(workers)``,
        ``"serial"`` gives ``Serial()``, any other string or a client gives ``Dask(scheduler)``.
    workers : int, optional
        Pool size for ``"processes"``; ignored otherwise.

    Raises
    ------
    ValueError
        For anything else.

    Examples
    --------
    >>> execution_from("processes", workers=4)
    ProcessPool(workers=4)
    >>> execution_from("serial")
    Serial()
    """
    if isinstance(scheduler, Execution):
        return scheduler
    if isinstance(scheduler, str) and scheduler == "serial":
        return Serial()
    if isinstance(scheduler, str) and scheduler == "processes":
        return ProcessPool(workers)
    try:
        return Dask(scheduler)
    except ValueError:
        raise ValueError(
            "The `scheduler` parameter of run_sweep must be 'processes', 'serial', a Dask "
            "scheduler address, a distributed.Client or an execution strategy (Serial(), "
            f"ProcessPool(workers), Dask(scheduler)). Got {scheduler!r}."
        ) from None
