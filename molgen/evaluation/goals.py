"""Goal tables: targets a model's metrics should meet, checked into the report's ``goals`` section.

A goal set is named (``molgen evaluate --goals NAME``) and may need the training set: the
``organ-qed`` goals (ORGAN optimised for QED + validity + diversity, on 10,000 samples) ask for
a mean QED at least :data:`QED_MARGIN` above the training set's, computed on a seeded sample
of it; the ``organ-grammar-qed`` goals (the ORGAN over rules) are fixed targets. Each goal
records its target, the value and whether it is met.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

#: ORGAN (QED + validity + diversity) goals on 10,000 samples; QED is relative to the training mean.
ORGAN_QED_GOALS = {"valid": 0.95, "unique@10k": 0.95, "novelty": 0.80, "intdiv1": 0.85}
QED_MARGIN = 0.05


def training_qed(train_smiles: Sequence[str], n: int = 20000, seed: int = 0) -> float:
    """Mean QED of a seeded random sample of ``n`` training molecules (invalid ones skipped)."""
    from molgen.chem.mol import to_mol
    from molgen.chem.properties import PROPERTIES

    rng = np.random.default_rng(seed)
    pick = rng.choice(len(train_smiles), size=min(n, len(train_smiles)), replace=False)
    mols = [to_mol(train_smiles[i]) for i in pick]
    return float(np.mean([PROPERTIES["qed"](m) for m in mols if m is not None]))


@dataclass(frozen=True)
class OrganQedGoals:
    """The ``organ-qed`` goal table, with the training set's mean QED it is relative to."""

    train_qed_mean: float
    name = "organ-qed"

    def check(self, metrics: dict[str, float]) -> dict[str, Any]:
        """The report's ``goals`` section for one model's metrics."""
        checks = {k: {"target": f">= {v}", "value": metrics.get(k), "met": bool(metrics.get(k, -1) >= v)}
                  for k, v in ORGAN_QED_GOALS.items()}
        target = self.train_qed_mean + QED_MARGIN
        checks["qed"] = {"target": f">= {target:.3f} (training mean {self.train_qed_mean:.3f} + {QED_MARGIN})",
                         "value": metrics.get("qed"), "met": bool(metrics.get("qed", -1) >= target)}
        return {"set": self.name, "train_qed_mean": self.train_qed_mean, "checks": checks}


#: ORGAN over production rules under the semantic machine (issue 14), on 10,000 samples: fixed
#: targets, the FCD one below the shipped organ-qed's 5.16.
ORGAN_GRAMMAR_QED_GOALS = {"valid": (">=", 0.999), "unique@10k": (">=", 0.99), "novelty": (">=", 0.95),
                           "intdiv1": (">=", 0.85), "qed": (">=", 0.89), "fcd/test": ("<", 5.16)}


@dataclass(frozen=True)
class FixedGoals:
    """A goal table of fixed targets: metric -> (``">="`` or ``"<"``, value)."""

    name: str
    targets: dict[str, tuple[str, float]]
    train_qed_mean: float | None = None

    def check(self, metrics: dict[str, float]) -> dict[str, Any]:
        """The report's ``goals`` section for one model's metrics (a missing metric is not met)."""
        checks = {}
        for k, (op, v) in self.targets.items():
            value = metrics.get(k)
            met = value is not None and (value >= v if op == ">=" else value < v)
            checks[k] = {"target": f"{op} {v}", "value": value, "met": bool(met)}
        return {"set": self.name, "train_qed_mean": self.train_qed_mean, "checks": checks}


#: Goal set name -> a factory taking the training SMILES (the sets that need it).
GOAL_SETS: dict[str, Callable[[Sequence[str]], OrganQedGoals | FixedGoals]] = {
    "organ-qed": lambda train: OrganQedGoals(training_qed(train)),
    "organ-grammar-qed": lambda train: FixedGoals("organ-grammar-qed", ORGAN_GRAMMAR_QED_GOALS),
}


def add_goals(name: str, entries: dict[str, dict[str, Any]], train: Sequence[str] | None) -> None:
    """Check goal set ``name`` on every entry's metrics, into its ``goals`` section."""
    from molgen.errors import UsageError

    if name not in GOAL_SETS:
        raise UsageError(f"unknown goal set {name!r}; known: {', '.join(GOAL_SETS)}")
    if train is None:
        raise UsageError(f"the {name} goals are relative to the training set: give --train")
    goals = GOAL_SETS[name](train)
    for entry in entries.values():
        entry["goals"] = goals.check(entry["metrics"])
