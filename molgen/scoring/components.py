"""Scoring components: the name -> component registry and the built-in components.

A component is a small function over a batch of molecules returning one number per molecule
(REINVENT-style), registered by name with typed keyword parameters::

    @objective("qed")
    def qed(batch: MolBatch) -> list[float]:
        return [QED.qed(m) for m in batch.mols]

A user adds one by writing such a function anywhere importable and naming it in the config by
its dotted path: ``objectives = [{name = "qed", weight = 0.5}, {name = "mypkg.mymod:score", weight = 0.5}]``.
Chemistry components only ever see valid molecules (an invalid one scores 0 without a call).
Per-molecule components (the default) are cached and computed in parallel by
:class:`~molgen.scoring.scorer.ObjectiveScorer`; batch components (``per_molecule=False``:
uniqueness, within-batch diversity) see one batch group at a time.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from rdkit import Chem, DataStructs

from molgen.chem.fingerprints import morgan_fp
from molgen.chem.mol import Mol, to_mol
from molgen.errors import ConfigError
from molgen.scoring.transforms import ramp

if TYPE_CHECKING:
    from molgen.scoring.spec import ObjectiveSpec


@dataclass
class ObjectiveContext:
    """What objectives may compare against: the training set (canonical SMILES) and a fingerprint sample of it."""

    train_canonical: frozenset[str] = frozenset()
    reference_fps: list = field(default_factory=list)

    @classmethod
    def from_training(cls, train_smiles: Sequence[str], reference_size: int = 1000, seed: int = 0) -> "ObjectiveContext":
        """Context from canonical training SMILES; the diversity reference is a seeded random sample."""
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(train_smiles), size=min(reference_size, len(train_smiles)), replace=False) if len(train_smiles) else []
        mols = [to_mol(train_smiles[i]) for i in pick]
        return cls(frozenset(train_smiles), [morgan_fp(m) for m in mols if m is not None])


@dataclass
class MolBatch:
    """The molecules an objective scores: SMILES, parsed molecules (all valid for chemistry
    objectives) and the run's context. Canonical SMILES and fingerprints are computed on first use."""

    smiles: list[str]
    mols: list[Mol | None]
    context: ObjectiveContext
    _canonical: list[str | None] | None = None
    _fps: list | None = None

    @property
    def canonical(self) -> list[str | None]:
        if self._canonical is None:
            self._canonical = [None if m is None else Chem.MolToSmiles(m) for m in self.mols]
        return self._canonical

    @property
    def fps(self) -> list:
        if self._fps is None:
            self._fps = [None if m is None else morgan_fp(m) for m in self.mols]
        return self._fps


@dataclass(frozen=True)
class Objective:
    """A registered objective: ``fn(batch, **params) -> one value per molecule`` (higher is better, in [0, 1] ideally)."""

    name: str
    fn: Callable[..., Sequence[float]]
    per_molecule: bool = True  # value depends on the molecule only: cached, computed in parallel
    chemistry: bool = True     # invalid molecules score 0 and are never passed to fn
    needs_reference: bool = False  # compares with the context's reference set (training molecules)


REGISTRY: dict[str, Objective] = {}


def objective(name: str, *, per_molecule: bool = True, chemistry: bool = True,
              needs_reference: bool = False) -> Callable:
    """Decorator registering ``fn`` under ``name`` in :data:`REGISTRY`."""
    def register(fn: Callable) -> Callable:
        REGISTRY[name] = Objective(name, fn, per_molecule, chemistry, needs_reference)
        return fn
    return register


@objective("validity", chemistry=False)
def validity(batch: MolBatch) -> list[float]:
    """1 for a SMILES RDKit parses and sanitises, else 0."""
    return [float(m is not None) for m in batch.mols]


@objective("qed")
def qed(batch: MolBatch, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Quantitative estimate of drug-likeness (Bickerton 2012), in [0, 1].

    ``low``/``high`` make it a desirability ramp (:func:`~molgen.scoring.transforms.ramp`): 0 at
    QED <= low, 1 at QED >= high, linear between; the defaults leave QED as it is. A ramp over
    the top of the training distribution (e.g. 0.7 to 0.95) gives the policy gradient a steeper
    signal where the molecules actually are. (Kept for shipped configs; any component takes
    ``transform = {kind = "ramp", low = .., high = ..}``.)
    """
    from rdkit.Chem import QED
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"qed needs 0 <= low < high <= 1, got low={low}, high={high}")
    return ramp([QED.qed(m) for m in batch.mols], low, high)


@objective("sa")
def sa(batch: MolBatch) -> list[float]:
    """Synthetic accessibility mapped to [0, 1]: (10 - SA) / 9, so easy-to-make scores high."""
    from molgen.chem.properties import PROPERTIES
    return [(10.0 - PROPERTIES["sa"](m)) / 9.0 for m in batch.mols]


@objective("logp_range")
def logp_range(batch: MolBatch, low: float = 1.0, high: float = 3.0, width: float = 1.0) -> list[float]:
    """1 when Crippen logP is in [low, high], falling linearly to 0 at ``width`` outside."""
    from rdkit.Chem import Crippen
    out = []
    for m in batch.mols:
        v = Crippen.MolLogP(m)
        dist = max(low - v, 0.0, v - high)
        out.append(max(0.0, 1.0 - dist / width))
    return out


@objective("novelty", needs_reference=True)
def novelty(batch: MolBatch) -> list[float]:
    """1 when the canonical SMILES is not in the training set."""
    return [float(c not in batch.context.train_canonical) for c in batch.canonical]


@objective("diversity", needs_reference=True)
def diversity(batch: MolBatch) -> list[float]:
    """Mean Tanimoto distance (Morgan r=2, 2048 bits) to a random sample of the training set."""
    ref = batch.context.reference_fps
    if not ref:
        return [1.0] * len(batch.mols)
    return [1.0 - float(np.mean(DataStructs.BulkTanimotoSimilarity(fp, ref))) for fp in batch.fps]


@objective("uniqueness", per_molecule=False)
def uniqueness(batch: MolBatch) -> list[float]:
    """ORGAN's rule: 1 / (number of copies of this molecule in the batch)."""
    counts: dict[str | None, int] = {}
    for c in batch.canonical:
        counts[c] = counts.get(c, 0) + 1
    return [1.0 / counts[c] for c in batch.canonical]


@objective("batch_diversity", per_molecule=False)
def batch_diversity(batch: MolBatch) -> list[float]:
    """Mean Tanimoto distance to the other molecules of the same batch (1 for a lone molecule)."""
    fps = batch.fps
    if len(fps) < 2:
        return [1.0] * len(fps)
    return [1.0 - (float(np.sum(DataStructs.BulkTanimotoSimilarity(fp, fps))) - 1.0) / (len(fps) - 1) for fp in fps]


@functools.lru_cache(maxsize=64)
def _smarts(pattern: str) -> Mol:
    query = Chem.MolFromSmarts(pattern)
    if query is None:
        raise ValueError(f"invalid SMARTS {pattern!r}")
    return query


@objective("smarts")
def smarts(batch: MolBatch, pattern: str = "", present: bool = True) -> list[float]:
    """1 when the SMARTS ``pattern`` matches (``present = true``) or does not match (``present = false``)."""
    query = _smarts(pattern)
    return [float(m.HasSubstructMatch(query) == present) for m in batch.mols]


@functools.lru_cache(maxsize=64)
def _target_fp(target: str):
    mol = to_mol(target)
    if mol is None:
        raise ValueError(f"invalid target SMILES {target!r}")
    return morgan_fp(mol)


@objective("similarity")
def similarity(batch: MolBatch, target: str = "") -> list[float]:
    """Tanimoto similarity (Morgan r=2, 2048 bits) to the ``target`` molecule."""
    ref = _target_fp(target)
    return list(DataStructs.BulkTanimotoSimilarity(ref, batch.fps)) if batch.mols else []


#: Set by :func:`registry_only`: the dotted objectives that may still be imported (None: any).
_IMPORTABLE: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar("importable_objectives", default=None)


@contextlib.contextmanager
def registry_only(allowed: Iterable[str] = ()) -> Iterator[None]:
    """Within the block, objectives resolve against the registry only: a ``module:function`` name is
    imported only when it is in ``allowed`` (the names the user gave again). Used when a checkpoint's
    config is read, so a file can never make molgen import and call code the user did not name. Nested
    blocks add to the names an outer block allows."""
    token = _IMPORTABLE.set(frozenset(allowed) | (_IMPORTABLE.get() or frozenset()))
    try:
        yield
    finally:
        _IMPORTABLE.reset(token)


def resolve_objective(name: str) -> Objective:
    """A registry entry, or ``package.module:function`` imported (flags read from the function's
    ``per_molecule``/``chemistry`` attributes, default per-molecule chemistry). Unknown -> ConfigError."""
    if name in REGISTRY:
        return REGISTRY[name]
    importable = _IMPORTABLE.get()
    if ":" in name and importable is not None and name not in importable:
        raise ConfigError(f"objective {name!r} is named by the checkpoint, not by you, and is not built in; "
                          "a checkpoint's objectives resolve against the registry only (name it again in --config "
                          "to import it)")
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"objective {name!r}: cannot import it ({exc})") from exc
        if not callable(fn):
            raise ConfigError(f"objective {name!r} is not callable")
        return Objective(name, fn, bool(getattr(fn, "per_molecule", True)), bool(getattr(fn, "chemistry", True)),
                         bool(getattr(fn, "needs_reference", False)))
    raise ConfigError(
        f"unknown objective {name!r}; registered: {', '.join(sorted(REGISTRY))} "
        "(or a dotted path 'package.module:function')"
    )


def _check_params(obj: Objective, params: dict[str, Any]) -> None:
    sig = inspect.signature(obj.fn)
    try:
        sig.bind(None, **params)
    except TypeError as exc:
        raise ConfigError(f"objective {obj.name!r}: bad params {params}: {exc}") from exc
    for key, value in params.items():
        ann = sig.parameters[key].annotation
        ann = {"float": float, "int": int, "str": str, "bool": bool}.get(ann, ann) if isinstance(ann, str) else ann
        ok = ann is inspect.Parameter.empty or not isinstance(ann, type) or isinstance(value, ann) or (
            ann is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise ConfigError(f"objective {obj.name!r}: param {key!r} must be {ann.__name__}, got {value!r}")


def check_objectives(specs: Sequence[ObjectiveSpec]) -> list[Objective]:
    """Resolve every spec and dry-run it on two molecules, so a typo or bad parameter fails at start."""
    resolved = []
    probe = MolBatch(["CCO", "c1ccccc1O"], [to_mol("CCO"), to_mol("c1ccccc1O")], ObjectiveContext())
    for spec in specs:
        obj = resolve_objective(spec.name)
        _check_params(obj, spec.params)
        try:
            values = list(obj.fn(probe, **spec.params))
        except Exception as exc:  # any failure of user code on a trivial batch is a config problem
            raise ConfigError(f"objective {spec.name!r} failed on a test batch: {type(exc).__name__}: {exc}") from exc
        if len(values) != 2:
            raise ConfigError(f"objective {spec.name!r} returned {len(values)} values for 2 molecules")
        resolved.append(obj)
    return resolved
