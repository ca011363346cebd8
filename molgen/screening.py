"""File-level screening: stream a molecule file through a filter spec and write the kept molecules.

The file side of :mod:`molgen.chem.filters` (which knows molecules and tables only): records
come from :mod:`molgen.data` readers, go in chunks over worker processes
(:func:`molgen.parallel.imap_chunks`), and inside a chunk the cheap tests run first while an
expensive column (QED, structural alerts) is computed only for the molecules still in the
running; kept molecules then get every output column. The result is identical to computing
everything and filtering afterwards (:func:`molgen.chem.filters.apply_filters`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from rdkit import Chem

from molgen.chem.alerts import ALERT_FAMILIES
from molgen.chem.filters import CompiledFilter, FilterSpec, compile_spec
from molgen.chem.mol import Mol, SizeLimits, quiet_rdkit
from molgen.chem.properties import (
    ALERT_COLUMNS,
    INT_COLUMNS,
    SCALAR_COLUMNS,
    MolProperties,
    frame_from_rows,
    warm_up,
)
from molgen.cluster import write_part
from molgen.data.partitions import Partition
from molgen.data.readers import ReadReport, RecordReader, parse_record
from molgen.data.writers import TableWriter
from molgen.errors import InputError, UsageError
from molgen.parallel import WorkerCrashed, chunked, imap_chunks, resolve_jobs

log = logging.getLogger("molgen.filter")

REUSABLE = (*SCALAR_COLUMNS, *ALERT_COLUMNS)  # columns an input table may already hold
CHECKED_PER_CHUNK = 2  # input values checked against RDKit per column and chunk before the rest are trusted



@dataclass
class ChunkResult:
    """What one chunk produced: kept rows and the counts/rejects behind them."""

    kept: pd.DataFrame
    n_records: int
    n_invalid: int
    examples: list[tuple[int, str]]
    reused: dict[str, int] = field(default_factory=dict)  # column -> values taken from the input
    mismatched: dict[str, str] = field(default_factory=dict)  # column -> why it was recomputed


def _output_columns(alerts: bool) -> list[str]:
    return list(SCALAR_COLUMNS) + (list(ALERT_COLUMNS) if alerts else [])


def _input_value(column: str, raw):
    """An input file's value for ``column`` in the type molgen computes, or ``None`` when it is
    missing or unreadable (then it is computed)."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    if column == "alerts":
        return str(raw)
    if column in ALERT_FAMILIES:
        return raw if isinstance(raw, bool) else {"true": True, "1": True, "false": False, "0": False}.get(str(raw).strip().lower())
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    if math.isnan(value):
        return None
    if column in INT_COLUMNS:
        return int(value) if value.is_integer() else None
    return value


def _same(given, computed) -> bool:
    if isinstance(given, float) or isinstance(computed, float):
        return computed is not None and math.isclose(given, computed, rel_tol=1e-6, abs_tol=1e-9)
    return given == computed


def _reuse_input_values(props: list[MolProperties], values: list[dict | None], lines: list[int],
                        result: ChunkResult) -> None:
    """Give each molecule the property values its input row already has, column by column, after
    checking the first :data:`CHECKED_PER_CHUNK` of them against RDKit: a column that disagrees
    (another tool's definition, rounding) is computed for the whole chunk and the reason kept."""
    columns = next((list(v) for v in values if v), [])
    for column in columns:
        given = [_input_value(column, (v or {}).get(column)) for v in values]
        checked = 0
        for i, value in enumerate(given):
            if value is None or checked >= CHECKED_PER_CHUNK:
                continue
            computed = props[i].get(column)
            if not _same(value, computed):
                result.mismatched[column] = f"line {lines[i]} has {value!r}, RDKit gives {computed!r}"
                break
            checked += 1
        else:
            for p, value in zip(props, given):
                if value is not None:
                    p.set(column, value)
            result.reused[column] = sum(value is not None for value in given)


def run_chunk(records: Sequence, compiled: CompiledFilter, with_names: bool, standardize: bool = False,
              alerts: bool = True, limits: SizeLimits | None = None, reuse: bool = False,
              max_examples: int | None = 10) -> ChunkResult:
    """Parse, test and describe one chunk of :class:`~molgen.data.Record` s (runs in a worker).

    Tests run cheapest first on the molecules still alive; a column is computed only when a
    test needs it, and every output column only for the kept molecules. With ``reuse``, property
    values the records carry (:attr:`~molgen.data.Record.values`) are used once checked.
    ``examples`` keeps the first ``max_examples`` rejects (line, reason); ``None`` keeps them all.
    """
    result = ChunkResult(pd.DataFrame(), len(records), 0, [])
    preds, sim = compiled.predicates, compiled.similarity
    mols: list[Mol] = []
    lines: list[int] = []
    names: list[str | None] = []
    values: list[dict | None] = []
    examples: list[tuple[int, str]] = []
    n_invalid = 0
    with quiet_rdkit():
        for rec in records:
            mol, reason = parse_record(rec, standardize, limits)
            if mol is None:
                n_invalid += 1
                if max_examples is None or len(examples) < max_examples:
                    examples.append((rec.line, reason or "invalid"))
                continue
            mols.append(mol)
            lines.append(rec.line)
            names.append(rec.name)
            values.append(rec.values)
        props = [MolProperties(m) for m in mols]
        if reuse and not standardize:
            _reuse_input_values(props, values, lines, result)
        alive = np.arange(len(mols))
        similarity = np.full(len(mols), np.nan)
        for p in preds:
            if len(alive) == 0:
                break
            cols = {c: [props[i].get(c) for i in alive] for c in sorted(p.columns) if c != "similarity"}
            frame = frame_from_rows(cols) if cols else pd.DataFrame(index=range(len(alive)))
            if "similarity" in p.columns and sim is not None:
                todo = alive[np.isnan(similarity[alive])]
                similarity[todo] = sim.similarities([mols[i] for i in todo])
                frame["similarity"] = similarity[alive]
            keep = p.test(frame, [mols[i] for i in alive])
            alive = alive[np.asarray(keep, dtype=bool)]
        out_cols = _output_columns(alerts)
        data: dict[str, list] = {"smiles": [Chem.MolToSmiles(mols[i]) for i in alive]}
        if with_names:
            data["name"] = [names[i] for i in alive]
        for c in out_cols:
            data[c] = [props[i].get(c) for i in alive]
    kept = frame_from_rows(data)
    if sim is not None:
        kept["similarity"] = similarity[alive]
    result.kept, result.n_invalid, result.examples = kept, n_invalid, examples
    return result


_WORKER: dict = {}


def _init_worker(spec: FilterSpec, standardize: bool, alerts: bool, limits: SizeLimits | None = None,
                 reuse: bool = False) -> None:
    # Each worker compiles the spec itself: RDKit query molecules do not cross processes.
    _WORKER.update(compiled=compile_spec(spec), standardize=standardize, alerts=alerts, limits=limits, reuse=reuse)


def _work(args: tuple[list, bool]) -> ChunkResult:
    records, with_names = args
    return run_chunk(records, _WORKER["compiled"], with_names, _WORKER["standardize"], _WORKER["alerts"],
                     _WORKER.get("limits"), _WORKER.get("reuse", False))


def _spanned(chunks, spans: list[tuple[int, int]]):
    for chunk in chunks:
        spans.append((chunk[0].line, chunk[-1].line))
        yield chunk


@contextlib.contextmanager
def _name_crash(input_path, spans: list[tuple[int, int]]):
    """Turn a dead worker into one line naming the input lines it was working on."""
    try:
        yield
    except WorkerCrashed as exc:
        inside = spans[exc.indices.start : exc.indices.stop] or spans[-1:]
        where = f"lines {inside[0][0]}-{inside[-1][1]}" if inside else "its first chunk"
        raise InputError(
            f"{input_path}: a worker process died ({exc.cause}) while working on {where}; no output written. "
            "A molecule there may be too large or malformed for RDKit: lower --max-atoms, or rerun with "
            "-j 1 --chunk-size 1 to find it"
        ) from None


@dataclass
class FilterResult:
    """Counts of a :func:`filter_file` run."""

    n_records: int
    n_invalid: int
    n_kept: int
    seconds: float
    report: ReadReport
    dropped: list[str] = field(default_factory=list)  # columns the output format could not hold
    reused: dict[str, int] = field(default_factory=dict)  # column -> values taken from the input file
    not_reused: dict[str, str] = field(default_factory=dict)  # input column -> why it was computed anyway

    @property
    def n_rejected(self) -> int:
        """Valid molecules that failed a test."""
        return self.n_records - self.n_invalid - self.n_kept

    def summary(self) -> str:
        return (
            f"{self.n_records:,} records: kept {self.n_kept:,}, rejected {self.n_rejected:,}, "
            f"invalid {self.n_invalid:,} ({self.seconds:.1f} s, {self.n_records / max(self.seconds, 1e-9):,.0f} mol/s)"
        )


def filter_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    spec: FilterSpec,
    column: str | None = None,
    n_jobs: int | None = None,
    chunk_size: int = 2000,
    standardize: bool = False,
    alerts: bool = True,
    progress: bool = False,
    desc: str = "filter",
    limits: SizeLimits | None = None,
    reuse: bool = False,
) -> FilterResult:
    """Stream ``input_path`` through ``spec`` and write kept molecules with their properties.

    Chunks of ``chunk_size`` records go to ``n_jobs`` worker processes (``None`` = all cores;
    1 = one worker, never this process: see :class:`~molgen.parallel.ChunkPool`'s ``isolate``).
    At most two chunks per worker are in flight, so memory stays flat
    however large the input. Output (canonical SMILES, name when the input has names, every
    property column; alerts unless ``alerts=False``) is written atomically in input order.
    Records above the size ``limits`` are skipped and reported with their line, like invalid ones.
    With ``reuse``, property columns the input already has (a ``molgen props`` table) are used
    instead of recomputed where they agree with RDKit on the first molecules of each chunk; the
    result says which were reused and why any other was not.
    """
    from tqdm.auto import tqdm

    if chunk_size < 1:
        raise UsageError(f"--chunk-size must be at least 1, got {chunk_size}")
    compiled = compile_spec(spec)  # validate in the parent so a typo fails before any work
    reader = RecordReader(input_path, column, columns=REUSABLE if reuse else ())
    writer = TableWriter(output_path)  # an output that cannot be written fails here, before the work
    jobs = resolve_jobs(n_jobs)
    report = ReadReport(str(input_path))
    n_kept = 0
    reused: dict[str, int] = {}
    not_reused: dict[str, str] = {}
    start = time.perf_counter()
    bar = tqdm(unit="mol", disable=not progress, desc=desc, mininterval=0.5)
    if jobs > 1:  # forked workers inherit the SA table and alert catalogs
        warm_up(alerts or any(c in ALERT_COLUMNS for p in compiled.predicates for c in p.columns))
    try:
        with writer:
            spans: list[tuple[int, int]] = []  # first and last line of each chunk, to name a crash's input
            tasks = ((chunk, reader.has_names) for chunk in _spanned(chunked(reader, chunk_size), spans))
            # closing() ends the workers on an error too; isolate: even -j 1 works in a child, so
            # Ctrl-C (which RDKit's substructure search would swallow here) and a crash inside RDKit
            # both reach this process
            results = imap_chunks(_work, tasks, jobs, initializer=_init_worker,
                                  initargs=(spec, standardize, alerts, limits, reuse), isolate=True)
            with contextlib.closing(results), _name_crash(input_path, spans):
                for res in results:
                    report.n_records += res.n_records
                    report.n_invalid += res.n_invalid
                    report.n_valid += res.n_records - res.n_invalid
                    for line, reason in res.examples:
                        if len(report.examples) < 10:
                            report.examples.append((str(input_path), line, reason))
                    if len(res.kept) or writer.rows == 0:
                        writer.write(res.kept)
                    n_kept += len(res.kept)
                    for c, n in res.reused.items():
                        reused[c] = reused.get(c, 0) + n
                    for c, why in res.mismatched.items():
                        not_reused.setdefault(c, f"{why} (computed in the chunks where it disagrees)")
                    bar.update(res.n_records)
            if report.n_records == 0:
                raise InputError(f"{input_path}: no molecules found (only a header, blank lines or comments)")
    finally:
        bar.close()
    if report.n_invalid:
        # the caller gets the report in the result; the CLI prints it
        log.debug("skipped invalid records: %s", report.summary())
    if reuse and standardize:
        not_reused = {c: "--standardize changes the molecules the input's values describe" for c in reader.found}
    return FilterResult(report.n_records, report.n_invalid, n_kept, time.perf_counter() - start, report,
                        writer.dropped, reused, not_reused)


_COMPILED: dict[str, CompiledFilter] = {}  # per worker process: a spec is compiled once, not per partition


def filter_partition(part: Partition, part_file: str, spec: FilterSpec, column: str | None, chunk_size: int,
                     standardize: bool, alerts: bool, limits: SizeLimits | None, reuse: bool) -> dict:
    """Filter one partition (a file or a byte range of one) and write its kept rows as a Parquet
    part (runs on a Dask worker; :func:`filter_partitioned`). The rows are those
    :func:`filter_file` writes for the same records; every reject is kept with file and line."""
    key = repr(spec)
    if key not in _COMPILED:
        _COMPILED[key] = compile_spec(spec)
    compiled = _COMPILED[key]
    reader = RecordReader(part.path, column, columns=REUSABLE if reuse else (), span=part.span)
    summary: dict = {"index": part.index, "source": part.describe(), "records": 0, "invalid": 0, "rejects": [],
                     "reused": {}, "not_reused": {}}
    start = time.perf_counter()

    def frames():
        for chunk in chunked(reader, chunk_size):
            res = run_chunk(chunk, compiled, reader.has_names, standardize, alerts, limits, reuse, max_examples=None)
            summary["records"] += res.n_records
            summary["invalid"] += res.n_invalid
            summary["rejects"].extend([part.path, line, reason] for line, reason in res.examples)
            for c, n in res.reused.items():
                summary["reused"][c] = summary["reused"].get(c, 0) + n
            for c, why in res.mismatched.items():
                summary["not_reused"].setdefault(c, f"{why} (computed in the chunks where it disagrees)")
            yield res.kept

    summary = write_part(part_file, frames(), summary)
    summary["seconds"] = time.perf_counter() - start
    return summary


def filter_partitioned(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    spec: FilterSpec,
    scheduler: str,
    column: str | None = None,
    chunk_size: int = 2000,
    partition_bytes: int | None = None,
    standardize: bool = False,
    alerts: bool = True,
    progress: bool = False,
    desc: str = "filter",
    limits: SizeLimits | None = None,
    reuse: bool = False,
    command: str = "filter",
) -> FilterResult:
    """:func:`filter_file` on a Dask cluster: ``input_path`` (a file, directory or glob) is cut
    into partitions (files, byte ranges of about ``partition_bytes``; ``None``: about four per
    worker, 64 KiB to 64 MiB each), each filtered on a worker into a Parquet part. ``output_path`` is a directory of parts with ``manifest.json`` and
    ``rejects.csv``, or one table file (the parts joined in order). The rows equal
    :func:`filter_file`'s; a re-run into the same output skips the partitions already written."""
    from molgen.cluster import (PartStore, dask_client, finish_output, is_directory_output, n_workers, run_partitions,
                                staging_folder)
    from molgen.data.partitions import Partition, auto_partition_bytes, input_files, plan_partitions

    if chunk_size < 1:
        raise UsageError(f"--chunk-size must be at least 1, got {chunk_size}")
    compile_spec(spec)  # a typo fails here, before a cluster is started
    files = input_files(input_path)  # a missing input fails here too
    one_file = not is_directory_output(output_path)
    if one_file:
        TableWriter(output_path)  # an output that cannot be written fails before the work
    folder = staging_folder(output_path) if one_file else Path(output_path)
    job = {"command": command, "inputs": str(input_path), "spec": repr(spec), "column": column,
           "standardize": standardize, "alerts": alerts, "limits": repr(limits), "reuse": reuse}
    store = PartStore(folder, job)
    with dask_client(scheduler) as client:
        earlier = store.previous_plan()
        if earlier is not None:  # a re-run finishes the plan it started with
            parts = [Partition.from_dict(d) for d in earlier]
        else:
            size = partition_bytes or auto_partition_bytes(files, n_workers(client))
            parts = plan_partitions(input_path, size)
        store.set_plan(parts)
        result = run_partitions(client, filter_partition, parts, store,
                                (spec, column, chunk_size, standardize, alerts, limits, reuse),
                                report_path=str(input_path), progress=progress, desc=desc)
    if result.report.n_records == 0:
        raise InputError(f"{input_path}: no molecules found (only a header, blank lines or comments)")
    reused: dict[str, int] = {}
    not_reused: dict[str, str] = {}
    for s in result.summaries:
        for c, n in s.get("reused", {}).items():
            reused[c] = reused.get(c, 0) + n
        for c, why in s.get("not_reused", {}).items():
            not_reused.setdefault(c, why)
    store.write_manifest(result.summaries, {"seconds": result.seconds})
    dropped = finish_output(store, result, output_path)
    log.info("%d partitions on %s, %d of them done by an earlier run%s", len(parts), scheduler, result.skipped,
             "" if one_file else f"; {folder}/manifest.json and rejects.csv list them and every skipped record")
    return FilterResult(result.report.n_records, result.report.n_invalid, result.rows, result.seconds,
                        result.report, dropped, reused, not_reused)
