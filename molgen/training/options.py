"""One entry point for training any model family: ``train(TrainOptions)`` dispatches through the
family registry (:mod:`molgen.families`) to the family's ``trainer.train_from_options``, which
returns the exit code: 0 done, 130 stopped by Ctrl-C/SIGTERM after saving a checkpoint.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from molgen.families import family

log = logging.getLogger("molgen.train")


@dataclass
class TrainOptions:
    """What the command line (or a Python caller) says about a training run."""

    kind: str                      # a family of molgen.families.FAMILIES: gvae | cvae | organ
    data: Path                     # SMILES file (any format molgen.data reads)
    out: Path                      # run directory
    config: Path | None = None     # TOML config; None = the family's defaults
    resume: bool = False           # continue from out/checkpoints/last.pt
    seed: int | None = None        # overrides the config's seed (must equal the run's on --resume)
    precision: str | None = None   # overrides the config's precision (must equal the run's on --resume)
    max_minutes: float | None = None  # overrides the config's wall-clock budget (new run or --resume; 0: none)
    device: str = "auto"
    column: str | None = None      # SMILES column for csv/tsv/parquet input
    command: str = ""              # exact command line, stored in checkpoints
    progress: bool = True
    allow_data_change: bool = False  # --resume on data other than the run's (recorded size and hash)
    dist_backend: str = "auto"     # under torchrun: gloo, nccl or auto (nccl on CUDA, gloo on CPU)


def read_training_smiles(opts: TrainOptions, limit: int = 0) -> list[str]:
    """The valid, canonical SMILES of ``opts.data`` (the first ``limit`` records when > 0); invalid
    records are skipped and counted in the logged report. Fewer than 2 molecules is an input error."""
    from molgen.data import read_smiles
    from molgen.errors import InputError

    mols = read_smiles(opts.data, column=opts.column, progress=opts.progress, max_records=limit or None,
                       map_chunks=_reading_pool(opts.data))
    log.info("read %s", mols.report.summary())
    if len(mols.smiles) < 2:
        raise InputError(f"{opts.data}: need at least 2 valid molecules to train, found {len(mols.smiles)}")
    return list(mols.smiles)


#: training files above this size are parsed by a process pool (one worker per usable core)
PARALLEL_READ_BYTES = 512 * 1024


def _reading_pool(path: Path):
    """``map_chunks`` for :func:`molgen.data.read_smiles`: a process pool over all usable cores for a
    big file (250k MOSES SMILES: ~4 min on one core), ``None`` (in-process) for a small one."""
    from molgen.parallel import imap_chunks, resolve_jobs

    try:
        big = os.path.getsize(path) > PARALLEL_READ_BYTES
    except OSError:
        return None  # the reader reports the unreadable path itself
    jobs = resolve_jobs(None)
    if not big or jobs < 2:
        return None
    return lambda func, chunks: imap_chunks(func, chunks, jobs)


def data_record(path: Path) -> dict[str, object]:
    """What identifies a training file: its path, size and SHA-256 (stored in checkpoints, checked on ``--resume``)."""
    import hashlib

    from molgen.errors import InputError

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        size = os.path.getsize(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the training data ({exc.strerror})") from None
    return {"path": str(path), "bytes": int(size), "sha256": digest.hexdigest()}


def check_resumed_data(stored: dict, current: dict, *, allow: bool, run: Path) -> None:
    """Refuse to resume a run on data other than it was trained on (size or hash differ), unless
    ``allow`` (``--allow-data-change``): then say so. A run recorded before hashes existed is let through
    with a warning."""
    from molgen.errors import UsageError

    if "sha256" not in stored:
        log.warning("the run in %s recorded no data hash (an older molgen): cannot check that %s is its data",
                    run, current["path"])
        return
    if stored["sha256"] == current["sha256"] and stored.get("bytes") == current["bytes"]:
        return
    what = (f"{current['path']} ({current['bytes']} bytes, sha256 {str(current['sha256'])[:12]}) is not the data the run "
            f"in {run} was trained on ({stored.get('path')}, {stored.get('bytes')} bytes, sha256 {str(stored['sha256'])[:12]})")
    if not allow:
        raise UsageError(f"{what}; resume with the same file, or pass --allow-data-change to continue on this data")
    log.warning("%s; continuing on it (--allow-data-change)", what)


def train(opts: TrainOptions) -> int:
    """Run (or resume) training for ``opts.kind``; returns the exit code."""
    return family(opts.kind).train(opts)
