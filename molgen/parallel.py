"""One chunked process-pool runner for every batch computation (datamol's ``utils/jobs.py`` idea).

Properties, file filtering, metric features and reward scoring all map a function over
chunks of molecules. They share this module so that the number of workers, the start
method, read-ahead and ordering are decided in one place:

* :func:`resolve_jobs`: ``None``/``0`` = all usable cores, negative counts back (``-1`` = all);
* :func:`mp_context`: ``fork`` on Linux (workers start in milliseconds), else the platform
  default; ``MOLGEN_MP_START`` overrides it (e.g. ``spawn`` from a threaded host process);
* :class:`ChunkPool` / :func:`imap_chunks`: results in input order, at most ``max_in_flight``
  chunks read ahead (memory stays flat however long the input), an optional initializer
  (run in each worker, or here when the work runs in-process).

* faults: Ctrl-C/SIGTERM end the workers within seconds and re-raise in the parent; a worker
  that dies (a segfault in RDKit, the OOM killer) raises :class:`WorkerCrashed` naming the work
  in flight, never a hang.

Imports only :mod:`molgen.errors`: any layer may use it.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from typing import Any, Callable, Iterable, Iterator, Sequence

from molgen.errors import MolgenError

KILL_AFTER = 3.0  # seconds a terminated worker gets before SIGKILL


def resolve_jobs(n_jobs: int | None) -> int:
    """Worker count: ``None`` or ``0`` -> all usable cores; negative counts back from that (``-1`` = all)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cores = os.cpu_count() or 1
    if not n_jobs:
        return cores
    return max(1, cores + 1 + n_jobs) if n_jobs < 0 else n_jobs


def mp_context() -> BaseContext:
    """Process start method: ``fork`` on Linux (workers start in milliseconds), else the default.

    Override with ``MOLGEN_MP_START`` (e.g. ``spawn`` from a threaded host process).
    """
    method = os.environ.get("MOLGEN_MP_START") or ("fork" if os.name == "posix" and os.uname().sysname == "Linux" else None)
    return get_context(method)


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last one shorter), streaming."""
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class WorkerCrashed(MolgenError):
    """A worker process died (killed by a signal, a crash inside RDKit) while ``indices`` were in flight.

    The pool is ended and nothing waits on it; the caller names the input those work units held.
    """

    def __init__(self, indices: range, cause: str):
        self.indices, self.cause = indices, cause
        units = f"work unit {indices.start + 1}" if len(indices) == 1 else f"one of work units {indices.start + 1}-{indices.stop}"
        super().__init__(f"a worker process died ({cause}) on {units}")


#: how long a broken pool waits for its dead worker's exit code, to say what ended it
CRASH_REAP_SECONDS = 5.0


def _signal_name(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return "exit code unknown" if code is None else f"exit code {code}"


def _worker_start(initializer: Callable | None, initargs: tuple) -> None:
    """Runs first in every worker: Ctrl-C goes to the whole process group, but only the parent
    acts on it (it ends the workers); SIGTERM kills a worker at once, whatever the parent installed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer(*initargs)


def bounded_imap(pool: Any, func: Callable, tasks: Iterable, max_in_flight: int) -> Iterator:
    """Ordered ``func`` over ``tasks`` on an executor (``pool.submit``) that reads ahead at most
    ``max_in_flight`` tasks.

    ``Executor.map`` consumes its input iterator at once, so a fast reader and slow workers would
    queue a whole file in memory; this keeps memory flat in input size.
    """
    pending: deque = deque()
    for task in tasks:
        pending.append(pool.submit(func, task))
        if len(pending) >= max_in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class ChunkPool:
    """``jobs`` worker processes (:func:`mp_context`) mapping functions over chunks, in order.

    With ``jobs <= 1`` nothing is started: the initializer runs here and :meth:`imap` is a
    plain ``map``, so callers have one code path; ``isolate=True`` starts one worker even then,
    for command-line work that must stay interruptible and survive a crash: RDKit's substructure
    search takes SIGINT for itself while it runs (and returns a partial result), so a Ctrl-C
    during an in-process search would be swallowed, and a segfault would end the whole process. Reusable across calls (the reward scorer
    keeps one for a whole run); :meth:`close` or a ``with`` block ends it.

    Faults end the pool instead of hanging it: workers ignore SIGINT, so a Ctrl-C (or a SIGTERM
    turned into an exception by the CLI) reaches the parent alone, which terminates the workers
    (SIGTERM, then SIGKILL after :data:`KILL_AFTER` seconds) and re-raises; a worker that dies
    raises :class:`WorkerCrashed` in the parent for the work in flight.
    """

    def __init__(self, jobs: int, initializer: Callable | None = None, initargs: Sequence = (),
                 isolate: bool = False) -> None:
        self.jobs = max(1, jobs)
        self.isolated = isolate or self.jobs > 1
        self._pool: ProcessPoolExecutor | None = None
        self._done = 0  # work units returned so far, to name the ones in flight after a crash
        self._workers: dict = {}
        if self.isolated:
            self._pool = ProcessPoolExecutor(
                self.jobs, mp_context=mp_context(), initializer=_worker_start, initargs=(initializer, tuple(initargs)),
            )
        elif initializer is not None:
            initializer(*initargs)

    @property
    def start_method(self) -> str | None:
        """The workers' start method (``fork``, ``spawn``…), ``None`` in-process."""
        return None if self._pool is None else self._pool._mp_context.get_start_method()

    def imap(self, func: Callable, tasks: Iterable, max_in_flight: int | None = None) -> Iterator:
        """``func`` over ``tasks``, results in input order; at most ``max_in_flight`` (default
        ``2 * jobs``) tasks are submitted ahead of the one being returned."""
        if self._pool is None:
            if self.isolated:
                raise RuntimeError("ChunkPool is closed")
            return map(func, tasks)
        return self._guarded(bounded_imap(self, func, tasks, max_in_flight or 2 * self.jobs),
                             max_in_flight or 2 * self.jobs)

    def submit(self, func: Callable, task: Any):
        """Submit one task to the workers (a future); remembers the worker processes so that a
        crash can be reported with the signal that ended one."""
        future = self._pool.submit(func, task)
        self._workers.update(getattr(self._pool, "_processes", None) or {})
        return future

    def _guarded(self, results: Iterator, in_flight: int) -> Iterator:
        start = self._done
        try:
            for res in results:
                self._done += 1
                yield res
        except BrokenProcessPool:
            # the pool can break before the dead worker is reaped (a segfaulting worker may still be
            # writing its faulthandler dump): wait, a few seconds at most, until some worker has a code
            deadline = time.monotonic() + CRASH_REAP_SECONDS
            while time.monotonic() < deadline and not any(p.exitcode not in (None, 0) for p in self._workers.values()):
                time.sleep(0.02)
            for p in self._workers.values():
                p.join(0.1)
            # the executor SIGTERMs the other workers after a death: the first cause is the other code
            codes = sorted((p.exitcode for p in self._workers.values() if p.exitcode not in (None, 0)),
                           key=lambda c: c == -signal.SIGTERM)
            self.close(wait=False)
            raise WorkerCrashed(range(self._done - start, self._done - start + in_flight),
                                _signal_name(codes[0] if codes else None)) from None
        except BaseException:  # Ctrl-C, SIGTERM (Terminated) or the caller's error: end the workers, then let it go on
            self.close(wait=False)
            raise

    def close(self, wait: bool = True) -> None:
        """End the workers: let them finish (``wait``), or terminate them (after an error or an interrupt)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if wait:
            pool.shutdown(wait=True)
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + KILL_AFTER
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1.0)
        pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "ChunkPool":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(wait=exc_type is None)


def imap_chunks(func: Callable, tasks: Iterable, jobs: int, initializer: Callable | None = None,
                initargs: Sequence = (), max_in_flight: int | None = None, isolate: bool = False) -> Iterator:
    """``func`` over ``tasks`` in order: in-process when ``jobs <= 1`` (unless ``isolate``), else
    over a :class:`ChunkPool` of ``jobs`` workers that ends with the iteration (terminated if the
    consumer stops early or fails)."""
    pool = ChunkPool(jobs, initializer, initargs, isolate)
    done = False
    try:
        yield from pool.imap(func, tasks, max_in_flight)
        done = True
    finally:
        pool.close(wait=done)
