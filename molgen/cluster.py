"""Dask for library-scale jobs: partitions of the input run as tasks on a Dask cluster, each
writing its own Parquet part atomically, so a dead worker costs one partition and a re-run
skips what is done.

* :func:`resolve_scheduler` / :func:`dask_client`: ``--scheduler ADDRESS`` (a running
  ``dask scheduler``), ``local:N`` (a :class:`distributed.LocalCluster` of N one-thread worker
  processes on 127.0.0.1, no dashboard, closed afterwards) or ``MOLGEN_SCHEDULER``;
* :class:`PartStore`: the output directory (``part-00000.parquet`` …, a ``.json`` beside each
  part written after it as its completion mark, ``manifest.json``, ``rejects.csv``);
* :func:`run_partitions`: submit the unfinished partitions, collect their summaries in input
  order, merge the reject reports and write the manifest; :func:`concatenate` makes one file.

The work itself (filter, props, sampling) lives with its role (:mod:`molgen.screening`,
:mod:`molgen.sampling`): a function ``fn(partition, part_file, *args) -> summary`` that runs on a
worker and writes its part with :func:`write_part`. Dask is imported only here and only when a
cluster is asked for, so ``import molgen`` stays fast.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import logging
import os
import platform
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pandas as pd

from molgen.atomic import atomic_open
from molgen.data.partitions import Partition
from molgen.data.readers import ReadReport
from molgen.data.writers import TableWriter
from molgen.errors import ClusterError, InputError, OutputError, UsageError

log = logging.getLogger("molgen.cluster")

SCHEDULER_ENV = "MOLGEN_SCHEDULER"
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before giving up
MANIFEST = "manifest.json"
REJECTS = "rejects.csv"
FORMAT = "molgen-partitions/1"
_LOCAL = re.compile(r"local:(.*)")


def check_scheduler(scheduler: str | None) -> None:
    """For a config's ``validate``: a bad ``local:N`` as a ``ValueError`` (the loader names the key)."""
    if scheduler is not None:
        try:
            local_workers(scheduler)
        except UsageError as exc:
            raise ValueError(str(exc)) from None


def resolve_scheduler(given: str | None) -> str | None:
    """The scheduler a command uses: ``given`` (``--scheduler``), else ``MOLGEN_SCHEDULER``, else
    ``None`` (the built-in process pool). ``local:N`` must name at least one worker."""
    text = given if given else os.environ.get(SCHEDULER_ENV, "").strip() or None
    if text is not None:
        local_workers(text)  # refuse local:0 / local:x before any work
    return text


def local_workers(scheduler: str) -> int | None:
    """N of ``local:N``, ``None`` for a scheduler address; a bad N is a :class:`UsageError`."""
    m = _LOCAL.fullmatch(scheduler.strip())
    if m is None:
        return None
    try:
        n = int(m.group(1))
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"scheduler {scheduler!r}: local:N needs N >= 1 worker processes (e.g. local:2)")
    return n


@contextlib.contextmanager
def dask_client(scheduler: str, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A connected :class:`distributed.Client`; for ``local:N`` a LocalCluster this closes after.

    An unreachable address is a one-line :class:`~molgen.errors.ClusterError` naming it, raised
    after ``timeout`` seconds at most.
    """
    import dask
    from distributed import Client, LocalCluster

    n = local_workers(scheduler)
    _quiet_dask()
    # workers of a local cluster get this config: no statistical profiler sampling every thread
    # stack each 10 ms (CPU the work needs; nobody reads the profile without a dashboard)
    settings = {"distributed.comm.timeouts.connect": f"{timeout}s", "distributed.worker.profile.enabled": False}
    with dask.config.set(settings):
        if n is not None:
            # one thread per worker process: RDKit and torch work holds the GIL
            # dashboard off; the scheduler's plain HTTP routes (health) on a free port, not 8787
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
            try:
                with Client(cluster) as client:
                    yield client
            finally:
                cluster.close()
            return
        address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
                               f"({type(exc).__name__}); start one with 'dask scheduler' or use --scheduler local:N") from None
        with client:
            yield client


def _quiet_dask() -> None:
    """Dask's own INFO lines (scheduler and worker start and stop) and the connection-closed
    tracebacks of a normal shutdown are not the user's business: warnings and errors only."""
    logging.getLogger("distributed").setLevel(logging.WARNING)
    # "worker process still alive after 4 s, killing" is the nanny ending a worker that is
    # unloading torch at shutdown, after the job's results are in
    for name in ("tornado", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.ERROR)


def write_part(part_file: str | os.PathLike, frames: Iterable[pd.DataFrame], summary: dict) -> dict:
    """Write one partition's rows (Parquet, atomically), then its summary beside it (the mark
    that the part is complete); returns the summary with the row count. Runs on a worker."""
    part = Path(part_file)
    with TableWriter(part) as writer:
        for df in frames:
            if len(df) or writer.rows == 0:
                writer.write(df)
        rows = writer.rows
    summary = {**summary, "rows": rows, "file": part.name}
    with atomic_open(part.with_suffix(".json")) as fh:
        json.dump(summary, fh)
    return summary


_VERSIONED = ("molgen", "rdkit", "numpy", "pandas", "pyarrow", "torch", "dask", "distributed")


@functools.lru_cache(maxsize=1)
def installed_versions() -> dict[str, str]:
    """Python's and the installed packages' versions for a manifest, read from package metadata:
    a filter job does not import torch (seconds) to stamp its output."""
    from importlib import metadata

    from molgen import __version__

    found = {"python": platform.python_version(), "molgen": __version__}
    for name in _VERSIONED[1:]:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


class PartStore:
    """An output directory of Parquet parts with their summaries and the job's manifest.

    ``job`` describes the work (command, options, partitions); a directory holding another job's
    manifest, or other files, is refused rather than mixed with it.
    """

    def __init__(self, folder: str | os.PathLike, job: dict, n_parts: int = 0) -> None:
        self.folder = Path(folder)
        self.job = json.loads(json.dumps(job))  # as it reads back from the manifest
        self.set_parts(n_parts)

    def set_parts(self, n_parts: int) -> None:
        """The number of partitions (it sets the width of the part numbers)."""
        self.width = max(5, len(str(max(n_parts - 1, 0))))

    def set_plan(self, partitions: Sequence[Partition]) -> None:
        """Record the partitions in the job (the manifest keeps them for a re-run)."""
        self.job = json.loads(json.dumps({**self.job, "partitions": [p.as_dict() for p in partitions]}))
        self.set_parts(len(partitions))

    def open(self) -> None:
        """Create the folder, or check that what it holds is this job's (to resume it)."""
        manifest = self.folder / MANIFEST
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"{self.folder}: is a file; give a directory for the partitioned output")
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(f"{manifest}: unreadable manifest ({exc}); remove {self.folder} to start over") from None
            if old.get("job") != self.job:
                raise UsageError(f"{self.folder}: holds the output of another job (see {MANIFEST}); "
                                 "use a new output directory or remove this one")
        elif self.folder.is_dir() and any(self.folder.iterdir()):
            raise UsageError(f"{self.folder}: directory is not empty and holds no {MANIFEST}; "
                             "use a new output directory")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.folder}: cannot create the output directory: {exc.strerror or exc}") from None

    def previous_plan(self) -> list[dict] | None:
        """The partitions an earlier run of this job recorded (a re-run keeps them, whatever the
        cluster's size now), or ``None``."""
        manifest = self.folder / MANIFEST
        if not manifest.exists():
            return None
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return None
        job = old.get("job", {})
        same = {k: v for k, v in job.items() if k != "partitions"} == self.job
        return job.get("partitions") if same else None

    def part_file(self, index: int) -> Path:
        """Where partition ``index`` writes its rows."""
        return self.folder / f"part-{index:0{self.width}d}.parquet"

    def done(self, index: int) -> dict | None:
        """The summary of a partition finished by an earlier run, or ``None``."""
        mark = self.part_file(index).with_suffix(".json")
        if not (mark.exists() and self.part_file(index).exists()):
            return None
        try:
            return json.loads(mark.read_text())
        except ValueError:  # written atomically, so only a hand-edited file is unreadable: redo it
            return None

    def write_manifest(self, summaries: Sequence[dict | None], extra: dict) -> None:
        """``manifest.json``: the job, every partition's counts (``null`` = not done) and the totals."""
        done = [s for s in summaries if s is not None]
        parts = [None if s is None else {k: v for k, v in s.items() if k != "rejects"} for s in summaries]
        manifest = {
            "format": FORMAT, "job": self.job, "complete": len(done) == len(summaries),
            "partitions": parts, "records": sum(s["records"] for s in done),
            "invalid": sum(s["invalid"] for s in done), "rows": sum(s["rows"] for s in done),
            "rejects": REJECTS, "versions": installed_versions(), **extra,
        }
        with atomic_open(self.folder / MANIFEST) as fh:
            json.dump(manifest, fh, indent=1)

    def write_rejects(self, summaries: Sequence[dict]) -> None:
        """``rejects.csv`` (file, line, reason): every skipped record, in input order."""
        with atomic_open(self.folder / REJECTS, newline="") as fh:
            out = csv.writer(fh, lineterminator="\n")
            out.writerow(["file", "line", "reason"])
            for s in summaries:
                out.writerows(s.get("rejects", []))


@dataclass
class JobResult:
    """What :func:`run_partitions` did: per-partition summaries in input order and the merged report."""

    summaries: list[dict]
    report: ReadReport
    skipped: int  # partitions finished by an earlier run
    seconds: float
    folder: Path
    extra: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(s["rows"] for s in self.summaries)


def _describe(partitions: Sequence[Partition], index: int) -> str:
    return partitions[index].describe() if index < len(partitions) else f"partition {index}"


def run_partitions(
    client: Any, fn: Callable[..., dict], items: Sequence[Any], store: PartStore, args: tuple = (),
    report_path: str = "", progress: bool = False, desc: str = "partitions", manifest: dict | None = None,
) -> JobResult:
    """Run ``fn(item, part_file, *args)`` on the cluster for every item whose part is not done yet.

    Summaries come back as the parts land (the manifest is rewritten after each, so an
    interrupted job shows its progress); a task whose worker dies is run again elsewhere by
    Dask. Rejects are merged in input order. ``items`` are :class:`Partition` s or any picklable
    description of a piece of work (sampling passes indices).
    """
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from tqdm.auto import tqdm

    start = time.perf_counter()
    store.open()
    summaries: list[dict | None] = [store.done(i) for i in range(len(items))]
    skipped = sum(s is not None for s in summaries)
    if skipped:
        log.info("%s: %d of %d partitions already done; running the other %d", store.folder, skipped,
                 len(items), len(items) - skipped)
    extra = manifest or {}
    store.write_manifest(summaries, extra)
    todo = [i for i, s in enumerate(summaries) if s is None]
    futures = {client.submit(fn, items[i], str(store.part_file(i)), *args, key=f"molgen-part-{i}-{os.getpid()}-{time.time_ns()}",
                             pure=False, retries=0): i for i in todo}
    bar = tqdm(total=len(items), initial=skipped, unit="part", desc=desc, disable=not progress)
    try:
        for fut in as_completed(list(futures)):
            i = futures[fut]
            try:
                summaries[i] = fut.result()
            except (MemoryError, KeyboardInterrupt):
                raise
            except (InputError, UsageError):
                raise
            except FutureCancelledError:
                raise ClusterError(f"{_describe(items, i) if isinstance(items[i], Partition) else f'partition {i}'}: "
                                   "the task was cancelled (the scheduler went away?); re-run to finish the "
                                   "other partitions") from None
            except Exception as exc:  # a worker-side failure of any kind: name the partition, keep the finished ones
                what = _describe(items, i) if isinstance(items[i], Partition) else f"partition {i}"
                raise ClusterError(f"{what}: failed on the cluster ({type(exc).__name__}: {exc}); "
                                   f"finished partitions are kept in {store.folder}, a re-run does the rest") from None
            store.write_manifest(summaries, extra)
            bar.update(1)
    finally:
        bar.close()
        pending = [fut for fut in futures if not fut.done()]
        if pending:
            client.cancel(pending)
    done = [s for s in summaries if s is not None]
    store.write_rejects(done)
    report = ReadReport(report_path)
    for s in done:
        report.n_records += s["records"]
        report.n_invalid += s["invalid"]
        for file, line, reason in s.get("rejects", []):
            if len(report.examples) >= 10:
                break
            report.examples.append((file, line, reason))
    report.n_valid = report.n_records - report.n_invalid
    return JobResult(done, report, skipped, time.perf_counter() - start, store.folder, extra)


def concatenate(store: PartStore, summaries: Sequence[dict], output: str | os.PathLike) -> TableWriter:
    """Write every part, in order, into one table file (any format molgen writes), atomically;
    returns the finished writer (rows, dropped columns)."""
    import pyarrow.parquet as pq

    with TableWriter(output) as writer:
        for s in summaries:
            df = pq.read_table(store.folder / s["file"]).to_pandas()
            if len(df) or writer.rows == 0:
                writer.write(df)
    return writer


def n_workers(client: Any) -> int:
    """Workers connected to the scheduler now."""
    return max(1, len(client.scheduler_info().get("workers", {})))


def is_directory_output(output: str | os.PathLike) -> bool:
    """An output written as a directory of parts: an existing directory, a name ending in ``/``,
    or a name without a table extension."""
    from molgen.data.readers import detect_format

    text = str(output)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return True
    try:
        detect_format(text)
    except InputError:
        return not Path(text).suffix
    return False


def staging_folder(output: str | os.PathLike) -> Path:
    """Where the parts of a one-file output wait (``out.csv.parts/``) until they are joined."""
    out = Path(output)
    return out.with_name(out.name + ".parts")


def finish_output(store: PartStore, result: JobResult, output: str | os.PathLike) -> list[str]:
    """For a one-file ``output``: join the parts into it and remove the staging folder; for a
    directory output nothing more. Returns the columns a ``.smi`` output could not hold."""
    if is_directory_output(output):
        return []
    writer = concatenate(store, result.summaries, output)
    shutil.rmtree(store.folder, ignore_errors=True)
    return writer.dropped
