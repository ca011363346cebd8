"""The scoring run mode (REINVENT's ``scoring``): score a molecule file with a :class:`ScoringConfig`.

Molecules come from :mod:`molgen.data` readers (invalid records skipped, counted and named in
the report), the scores from :class:`~molgen.scoring.scorer.ObjectiveScorer`; the table holds
every term's raw and transformed value and the total, written atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from molgen.config import load_config
from molgen.data import ReadReport, read_smiles, write_table
from molgen.parallel import resolve_jobs
from molgen.scoring.components import ObjectiveContext
from molgen.scoring.scorer import ObjectiveScorer, Scores
from molgen.scoring.spec import ScoringConfig


@dataclass
class ScoreResult:
    """What a :func:`score_file` run did: the reader's report and the number of molecules scored."""

    report: ReadReport
    n_scored: int


def score_table(smiles: list[str], names: list[str | None] | None, scores: Scores) -> pd.DataFrame:
    """``smiles``, ``name`` (when given), then per term ``<name>_raw`` and ``<name>``, then ``score``."""
    cols: dict[str, object] = {"smiles": smiles}
    if names is not None:
        cols["name"] = names
    for j, name in enumerate(scores.names):
        cols[f"{name}_raw"] = scores.raw[:, j]
        cols[name] = scores.values[:, j]
    cols["score"] = scores.total
    return pd.DataFrame(cols)


def context_for(cfg: ScoringConfig, base: Path) -> ObjectiveContext:
    """The reference set novelty and diversity compare with: ``cfg.reference`` (relative to ``base``), or none."""
    if cfg.reference is None:
        return ObjectiveContext()
    path = Path(cfg.reference)
    ref = read_smiles(path if path.is_absolute() else base / path)
    return ObjectiveContext.from_training(ref.smiles, cfg.reference_size, cfg.seed)


def score_file(input_path: str | os.PathLike, config_path: str | os.PathLike, output_path: str | os.PathLike,
               column: str | None = None, n_jobs: int | None = None, scheduler: str | None = None) -> ScoreResult:
    """Score every valid molecule of ``input_path`` with the config at ``config_path`` and write
    the table (:func:`score_table`) to ``output_path`` atomically; ``n_jobs`` and ``scheduler``
    (a Dask cluster for the per-molecule components) override the config's."""
    cfg = load_config(ScoringConfig, config_path)  # validated before the input is read
    ctx = context_for(cfg, Path(config_path).resolve().parent)
    mols = read_smiles(input_path, column=column, canonical=False)
    cluster = scheduler or cfg.scheduler
    # on a cluster every batch goes there (parallel_min 1), in tasks of cluster_batch SMILES
    scorer = ObjectiveScorer(cfg.objectives, ctx, n_jobs=resolve_jobs(cfg.n_jobs if n_jobs is None else n_jobs),
                             parallel_min=1 if cluster else 2000, cache_size=0, aggregate=cfg.aggregate,
                             scheduler=cluster, cluster_batch=cfg.cluster_batch)
    try:
        scores = scorer.evaluate(mols.smiles)
    finally:
        scorer.close()
    names = mols.names if any(n is not None for n in mols.names) else None
    write_table(score_table(mols.smiles, names, scores), output_path)
    return ScoreResult(mols.report, len(mols.smiles))
