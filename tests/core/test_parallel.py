"""molgen.parallel: job counts, the start method from MOLGEN_MP_START, ordered chunked maps, initializers."""

from __future__ import annotations

import os
import signal
import time

import pytest

from molgen import parallel

_STATE: dict = {}


def _init(offset: int) -> None:
    _STATE["offset"] = offset


def _add(chunk: list[int]) -> list[int]:
    return [x + _STATE["offset"] for x in chunk]


def test_resolve_jobs():
    cores = parallel.resolve_jobs(None)
    assert cores >= 1 and parallel.resolve_jobs(0) == cores and parallel.resolve_jobs(-1) == cores
    assert parallel.resolve_jobs(3) == 3 and parallel.resolve_jobs(-10_000) == 1


def test_start_method_follows_the_environment(monkeypatch):
    monkeypatch.setenv("MOLGEN_MP_START", "spawn")
    assert parallel.mp_context().get_start_method() == "spawn"
    monkeypatch.delenv("MOLGEN_MP_START")
    if os.uname().sysname == "Linux":
        assert parallel.mp_context().get_start_method() == "fork"


def test_chunked():
    assert list(parallel.chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(parallel.chunked([], 3)) == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_imap_chunks_is_ordered_and_runs_the_initializer(jobs):
    chunks = list(parallel.chunked(range(50), 4))
    out = list(parallel.imap_chunks(_add, iter(chunks), jobs, initializer=_init, initargs=(100,), max_in_flight=2))
    assert [x for part in out for x in part] == [x + 100 for x in range(50)]


def test_chunk_pool_is_reusable_and_closes():
    with parallel.ChunkPool(2, _init, (1,)) as pool:
        assert list(pool.imap(_add, [[1], [2]])) == [[2], [3]]
        assert list(pool.imap(_add, [[5]])) == [[6]]
    assert pool._pool is None


def _crash_on(chunk: list[int]) -> list[int]:
    if 13 in chunk:
        os.kill(os.getpid(), signal.SIGSEGV)  # what RDKit's writer does on a 30,000-atom chain
    return chunk


def test_a_dead_worker_raises_worker_crashed_instead_of_hanging():
    start = time.monotonic()
    with pytest.raises(parallel.WorkerCrashed, match=r"killed by SIGSEGV\) on (work unit|one of work units) \d"):
        list(parallel.imap_chunks(_crash_on, parallel.chunked(range(40), 4), 2, max_in_flight=2))
    assert time.monotonic() - start < 30


def test_a_closed_pool_refuses_work_instead_of_running_in_process():
    pool = parallel.ChunkPool(2)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.imap(_add, [[1]])


def test_an_isolated_pool_of_one_runs_in_a_child_and_reports_its_crash():
    assert list(parallel.imap_chunks(_pid, [[1]], 1)) == [os.getpid()]  # a plain in-process map
    pids = list(parallel.imap_chunks(_pid, [[1], [2]], 1, isolate=True))
    assert set(pids) != {os.getpid()} and len(set(pids)) == 1
    with pytest.raises(parallel.WorkerCrashed, match="killed by SIGSEGV"):
        list(parallel.imap_chunks(_crash_on, parallel.chunked(range(20), 4), 1, isolate=True))


def _pid(chunk: list[int]) -> int:
    return os.getpid()
