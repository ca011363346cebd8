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

Imports nothing from molgen: any layer may use it.
"""

from __future__ import annotations

import os
from collections import deque
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from typing import Any, Callable, Iterable, Iterator, Sequence


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


def bounded_imap(pool: Any, func: Callable, tasks: Iterable, max_in_flight: int) -> Iterator:
    """Ordered ``pool.imap(func, tasks)`` that reads ahead at most ``max_in_flight`` tasks.

    ``Pool.imap`` consumes its input iterator as fast as it can, so a fast reader and slow
    workers would queue a whole file in memory; this keeps memory flat in input size.
    """
    pending: deque = deque()
    for task in tasks:
        pending.append(pool.apply_async(func, (task,)))
        if len(pending) >= max_in_flight:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


class ChunkPool:
    """``jobs`` worker processes (:func:`mp_context`) mapping functions over chunks, in order.

    With ``jobs <= 1`` nothing is started: the initializer runs here and :meth:`imap` is a
    plain ``map``, so callers have one code path. Reusable across calls (the reward scorer
    keeps one for a whole run); :meth:`close` or a ``with`` block ends it.
    """

    def __init__(self, jobs: int, initializer: Callable | None = None, initargs: Sequence = ()) -> None:
        self.jobs = max(1, jobs)
        self._pool = None
        if self.jobs > 1:
            self._pool = mp_context().Pool(self.jobs, initializer=initializer, initargs=tuple(initargs))
        elif initializer is not None:
            initializer(*initargs)

    def imap(self, func: Callable, tasks: Iterable, max_in_flight: int | None = None) -> Iterator:
        """``func`` over ``tasks``, results in input order; at most ``max_in_flight`` (default
        ``2 * jobs``) tasks are submitted ahead of the one being returned."""
        if self._pool is None:
            return map(func, tasks)
        return bounded_imap(self._pool, func, tasks, max_in_flight or 2 * self.jobs)

    def close(self, wait: bool = True) -> None:
        """End the workers: let them finish (``wait``), or terminate them (after an error)."""
        if self._pool is not None:
            if wait:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> "ChunkPool":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(wait=exc_type is None)


def imap_chunks(func: Callable, tasks: Iterable, jobs: int, initializer: Callable | None = None,
                initargs: Sequence = (), max_in_flight: int | None = None) -> Iterator:
    """``func`` over ``tasks`` in order: in-process when ``jobs <= 1``, else over a
    :class:`ChunkPool` of ``jobs`` workers that ends with the iteration (terminated if the
    consumer stops early or fails)."""
    pool = ChunkPool(jobs, initializer, initargs)
    done = False
    try:
        yield from pool.imap(func, tasks, max_in_flight)
        done = True
    finally:
        pool.close(wait=done)
