"""REINVENT-style scoring shared by ORGAN and any later RL generator.

* :mod:`.spec`: config dataclasses (``ObjectiveSpec``, ``TransformSpec``, ``MemoryConfig``, ``ScoringConfig``);
* :mod:`.components`: the name -> component registry (``@objective``) and the built-in components;
* :mod:`.transforms`: ramp, sigmoid, reverse sigmoid, step: raw value -> [0, 1], for any component;
* :mod:`.aggregate`: weighted arithmetic or geometric mean of the transformed values;
* :mod:`.scorer`: ``ObjectiveScorer``, cached and parallel; :mod:`.memory`: ``DiversityMemory``.

Imports no model code. The config dataclasses load without RDKit; the rest is imported on use.
"""

from typing import Any

from molgen.scoring.spec import MemoryConfig, ObjectiveSpec, ScoringConfig, TransformSpec

_LAZY = {
    "REGISTRY": "components", "MolBatch": "components", "Objective": "components", "ObjectiveContext": "components",
    "check_objectives": "components", "objective": "components", "resolve_objective": "components",
    "ObjectiveScorer": "scorer", "Scores": "scorer", "DiversityMemory": "memory",
}

__all__ = ["MemoryConfig", "ObjectiveSpec", "ScoringConfig", "TransformSpec", *_LAZY]


def __getattr__(name: str) -> Any:
    """The RDKit-backed names on first use (``from molgen.scoring import ObjectiveScorer``)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"molgen.scoring.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
