"""One entry point for training any model family: ``train(TrainOptions)`` dispatches through the
family registry (:mod:`molgen.families`) to the family's ``trainer.train_from_options``, which
returns the exit code: 0 done, 130 stopped by Ctrl-C/SIGTERM after saving a checkpoint.
"""

from __future__ import annotations

import logging
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
    device: str = "auto"
    column: str | None = None      # SMILES column for csv/tsv/parquet input
    command: str = ""              # exact command line, stored in checkpoints
    progress: bool = True


def read_training_smiles(opts: TrainOptions, limit: int = 0) -> list[str]:
    """The valid, canonical SMILES of ``opts.data`` (the first ``limit`` records when > 0); invalid
    records are skipped and counted in the logged report. Fewer than 2 molecules is an input error."""
    from molgen.data import read_smiles
    from molgen.errors import InputError

    mols = read_smiles(opts.data, column=opts.column, progress=opts.progress, max_records=limit or None)
    log.info("read %s", mols.report.summary())
    if len(mols.smiles) < 2:
        raise InputError(f"{opts.data}: need at least 2 valid molecules to train, found {len(mols.smiles)}")
    return list(mols.smiles)


def train(opts: TrainOptions) -> int:
    """Run (or resume) training for ``opts.kind``; returns the exit code."""
    return family(opts.kind).train(opts)
