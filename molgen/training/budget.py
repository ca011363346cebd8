"""A run's wall-clock budget, ``max_minutes`` in every family's config: the sum of its training
steps' seconds (data reading and checkpoints excluded), kept in its checkpoints across resumes.

When it is spent the trainer checkpoints and ends with exit 0 where it is; ``--resume`` with a
larger ``max_minutes`` goes on, and one whose budget is still spent ends before it reads any data
(:func:`spent_at_resume`). Comparisons at equal time (``benchmarks/compare_seed_methods.py``)
and "train for an hour" both use it; the step reached is in the checkpoint, so the same weights
come back on any machine by configuring that many steps.
"""

from __future__ import annotations

import logging

from molgen.training.distributed import DistContext


def budget_spent(max_minutes: float, seconds: float, dist: DistContext) -> bool:
    """True, on every rank alike, once ``seconds`` of steps reach ``max_minutes`` (0: no budget)."""
    return max_minutes > 0 and dist.any(seconds >= max_minutes * 60)


def log_budget_spent(logger: logging.Logger, max_minutes: float, seconds: float, where: str) -> None:
    """The one warning line a run ends with when its budget is spent."""
    logger.warning("max_minutes = %g spent (%.1f min of steps) at %s; the run ends here: --resume with a larger "
                   "max_minutes goes on", max_minutes, seconds / 60, where)


def spent_at_resume(logger: logging.Logger, max_minutes: float, extra: dict, dist: DistContext, where: str) -> bool:
    """True (and the warning logged) when a resumed run's budget is already spent by the seconds in
    its checkpoint's ``extra``: the trainer then ends before reading and encoding its data (a minute
    on a 250k-molecule set), with nothing written."""
    seconds = float(extra.get("train_seconds", 0.0))
    if not budget_spent(max_minutes, seconds, dist):
        return False
    log_budget_spent(logger, max_minutes, seconds, where)
    return True
