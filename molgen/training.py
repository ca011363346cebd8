"""One entry point for training any model family: ``train(TrainOptions)`` dispatches by kind.

Each family module exposes ``train_from_options(opts: TrainOptions) -> int`` (exit code:
0 done, 130 stopped by Ctrl-C/SIGTERM after saving a checkpoint).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from molgen.errors import UsageError

FAMILIES = {
    "gvae": "molgen.vae.trainer",
    "cvae": "molgen.vae.trainer",
    "organ": "molgen.organ.trainer",
}


@dataclass
class TrainOptions:
    """What the command line (or a Python caller) says about a training run."""

    kind: str                      # gvae | cvae | organ
    data: Path                     # SMILES file (any format molgen.data reads)
    out: Path                      # run directory
    config: Path | None = None     # TOML config; None = the family's defaults
    resume: bool = False           # continue from out/checkpoints/last.pt
    seed: int | None = None        # overrides the config's seed
    device: str = "auto"
    column: str | None = None      # SMILES column for csv/tsv/parquet
    command: str = ""              # exact command line, stored in checkpoints
    progress: bool = True


def train(opts: TrainOptions) -> int:
    """Run (or resume) training for ``opts.kind``; returns the exit code."""
    if opts.kind not in FAMILIES:
        raise UsageError(f"unknown model kind {opts.kind!r}; choose one of {', '.join(FAMILIES)}")
    module = importlib.import_module(FAMILIES[opts.kind])
    return int(module.train_from_options(opts))
