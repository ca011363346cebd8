"""Scoring configuration: objective terms, their transforms, aggregation and the diversity memory.

Plain dataclasses validated by :func:`molgen.config.from_dict` (bounds in field metadata), so a
bad key or value fails when the TOML is loaded. The same ``objectives`` list serves ORGAN's
reward (``[reward]`` of an ORGAN config) and ``molgen score`` (:class:`ScoringConfig`)::

    aggregate = "geometric"
    objectives = [
        { name = "qed", weight = 0.6 },
        { name = "sa", weight = 0.4, transform = { kind = "sigmoid", low = 0.5, high = 0.8, k = 0.5 } },
    ]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from molgen.scoring.aggregate import AGGREGATES
from molgen.scoring.transforms import TRANSFORMS, check_transform


@dataclass
class TransformSpec:
    """How a component's raw value maps onto [0, 1] (:mod:`molgen.scoring.transforms`)."""

    kind: str = field(default="identity", metadata={"choices": tuple(TRANSFORMS)})
    low: float | None = None
    high: float | None = None
    k: float | None = None

    def validate(self) -> None:
        check_transform(self.kind, self.params())

    def params(self) -> dict[str, float | None]:
        """``low``/``high``/``k`` by name (None where not given)."""
        return {"low": self.low, "high": self.high, "k": self.k}


@dataclass
class ObjectiveSpec:
    """One scoring term: a registry name or ``package.module:function``, its weight, its
    parameters and an optional transform of its value."""

    name: str
    weight: float = field(default=1.0, metadata={"gt": 0})
    params: dict[str, Any] = field(default_factory=dict)
    transform: TransformSpec | None = None


@dataclass
class MemoryConfig:
    """A diversity filter across steps (REINVENT's "diversity filter", Blaschke et al. 2020).

    Every sampled molecule whose objective O reaches ``min_score`` is counted in a bucket keyed by
    the molecule (``kind = "molecule"``: canonical SMILES) or its Bemis-Murcko scaffold
    (``"scaffold"``; acyclic molecules share the bucket ""). Once a bucket holds ``bucket_size``
    molecules, later molecules of it get O multiplied by ``penalty``, so the policy cannot keep
    cashing in on a molecule (or scaffold) it already found. ORGAN's per-batch duplicate rule
    only sees repeats within one batch; the memory sees them across the whole run and is saved
    in the checkpoint.
    """

    kind: str = field(default="none", metadata={"choices": ("none", "molecule", "scaffold")})
    bucket_size: int = field(default=25, metadata={"ge": 1})
    min_score: float = field(default=0.4, metadata={"ge": 0})
    penalty: float = field(default=0.0, metadata={"ge": 0, "lt": 1})


@dataclass
class ScoringConfig:
    """A scoring run (``molgen score``): the terms, how they combine, and what novelty and
    diversity compare against (``reference``: a molecule file, e.g. the training set)."""

    objectives: list[ObjectiveSpec] = field(default_factory=list)
    aggregate: str = field(default="arithmetic", metadata={"choices": AGGREGATES})
    n_jobs: int = field(default=0, metadata={"ge": 0})  # 0 = all cores
    reference: str | None = None
    reference_size: int = field(default=1000, metadata={"ge": 1})
    seed: int = 0
    #: a Dask cluster for the per-molecule components (address or "local:N"; --scheduler overrides)
    scheduler: str | None = None
    cluster_batch: int = field(default=1000, metadata={"ge": 1})  # SMILES per task sent to the cluster

    def validate(self) -> None:
        from molgen.cluster import check_scheduler

        check_scheduler(self.scheduler)
        if not self.objectives:
            raise ValueError("objectives is empty; give at least one, e.g. objectives = [{name = \"qed\"}]")
        from molgen.scoring.components import check_objectives  # late: components import RDKit

        objs = check_objectives(self.objectives)
        needs = [o.name for o in objs if o.needs_reference]
        if needs and self.reference is None:
            raise ValueError(f"objective {needs[0]!r} compares with a reference set; "
                             "set reference = \"train.smi\" (a molecule file)")
