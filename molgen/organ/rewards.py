"""ORGAN's reward R(Y) = lambda * D(Y) + (1 - lambda) * O(Y) and the objective registry behind O.

An objective is a small function over a batch of molecules returning one number per molecule
(REINVENT-style components), registered by name with typed keyword parameters::

    @objective("qed")
    def qed(batch: MolBatch) -> list[float]:
        return [QED.qed(m) for m in batch.mols]

A user adds one by writing such a function anywhere importable and naming it in the config by
its dotted path: ``objectives = [{name = "qed", weight = 0.5}, {name = "mypkg.mymod:score", weight = 0.5}]``.
Chemistry objectives only ever see valid molecules (an invalid one scores 0 without a call).
Per-molecule objectives (the default) are computed once per distinct SMILES (cache) and, for big
batches, in a process pool; batch objectives (``per_molecule=False``: uniqueness, within-batch
diversity) see one batch group at a time.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import multiprocessing
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from rdkit import Chem, DataStructs
from torch import Tensor

from molgen.chem.fingerprints import morgan_fp
from molgen.chem.mol import Mol, quiet_rdkit, to_mol
from molgen.errors import ConfigError
from molgen.organ.config import MemoryConfig, ObjectiveSpec
from molgen.vocab import Vocabulary

log = logging.getLogger(__name__)


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


REGISTRY: dict[str, Objective] = {}


def objective(name: str, *, per_molecule: bool = True, chemistry: bool = True) -> Callable:
    """Decorator registering ``fn`` under ``name`` in :data:`REGISTRY`."""
    def register(fn: Callable) -> Callable:
        REGISTRY[name] = Objective(name, fn, per_molecule, chemistry)
        return fn
    return register


@objective("validity", chemistry=False)
def validity(batch: MolBatch) -> list[float]:
    """1 for a SMILES RDKit parses and sanitises, else 0."""
    return [float(m is not None) for m in batch.mols]


@objective("qed")
def qed(batch: MolBatch, low: float = 0.0, high: float = 1.0) -> list[float]:
    """Quantitative estimate of drug-likeness (Bickerton 2012), in [0, 1].

    ``low``/``high`` make it a desirability ramp (REINVENT's score transform): 0 at QED <= low,
    1 at QED >= high, linear between; the defaults leave QED as it is. A ramp over the top of
    the training distribution (e.g. 0.7 to 0.95) gives the policy gradient a steeper signal
    where the molecules actually are.
    """
    from rdkit.Chem import QED
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"qed needs 0 <= low < high <= 1, got low={low}, high={high}")
    return [min(1.0, max(0.0, (QED.qed(m) - low) / (high - low))) for m in batch.mols]


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


@objective("novelty")
def novelty(batch: MolBatch) -> list[float]:
    """1 when the canonical SMILES is not in the training set."""
    return [float(c not in batch.context.train_canonical) for c in batch.canonical]


@objective("diversity")
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


def resolve_objective(name: str) -> Objective:
    """A registry entry, or ``package.module:function`` imported (flags read from the function's
    ``per_molecule``/``chemistry`` attributes, default per-molecule chemistry). Unknown -> ConfigError."""
    if name in REGISTRY:
        return REGISTRY[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"objective {name!r}: cannot import it ({exc})") from exc
        if not callable(fn):
            raise ConfigError(f"objective {name!r} is not callable")
        return Objective(name, fn, bool(getattr(fn, "per_molecule", True)), bool(getattr(fn, "chemistry", True)))
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


def _parse(smiles: Sequence[str]) -> list[Mol | None]:
    with quiet_rdkit():
        return [to_mol(s) for s in smiles]


def _run(obj: Objective, params: dict, smiles: list[str], mols: list[Mol | None], ctx: ObjectiveContext) -> np.ndarray:
    """Values of one objective over a batch, 0 for invalid molecules of chemistry objectives."""
    out = np.zeros(len(smiles))
    if not obj.chemistry:
        out[:] = np.asarray(obj.fn(MolBatch(list(smiles), list(mols), ctx), **params), dtype=float)
        return out
    idx = [i for i, m in enumerate(mols) if m is not None]
    if idx:
        try:
            with quiet_rdkit():
                batch = MolBatch([smiles[i] for i in idx], [mols[i] for i in idx], ctx)
                out[idx] = np.asarray(obj.fn(batch, **params), dtype=float)
        except Exception:  # RDKit can still fail on a sanitised molecule (e.g. QED re-kekulising): score it 0, go on
            for i in idx:
                out[i] = _one(obj, params, smiles[i], mols[i], ctx)
    return out


def _one(obj: Objective, params: dict, smiles: str, mol: Mol, ctx: ObjectiveContext) -> float:
    """One molecule's value, 0 when the objective raises on it (RDKit's complaint silenced)."""
    try:
        with quiet_rdkit():
            return float(obj.fn(MolBatch([smiles], [mol], ctx), **params)[0])
    except Exception as exc:
        log.debug("objective %s failed on %s (%s): scored 0", obj.name, smiles, exc)
        return 0.0


def per_molecule_values(terms: Sequence[tuple[Objective, dict]], smiles: list[str], ctx: ObjectiveContext) -> np.ndarray:
    """``(len(smiles), len(terms))`` values of per-molecule objectives (runs in worker processes too)."""
    mols = _parse(smiles)
    out = np.zeros((len(smiles), len(terms)))
    for j, (obj, params) in enumerate(terms):
        out[:, j] = _run(obj, params, smiles, mols, ctx)
    return out


_WORKER: dict[str, Any] = {}


def _init_worker(specs: list[tuple[str, dict]], ctx: ObjectiveContext) -> None:
    _WORKER["terms"] = [(resolve_objective(name), params) for name, params in specs]
    _WORKER["ctx"] = ctx


def _worker_values(smiles: list[str]) -> np.ndarray:
    return per_molecule_values(_WORKER["terms"], smiles, _WORKER["ctx"])


class ObjectiveScorer:
    """O(Y) over a batch of SMILES: a weighted mean of objectives (weights normalised to sum 1).

    Per-molecule objectives are cached per distinct SMILES; the uncached ones go to a process pool
    when there are at least ``parallel_min`` of them and ``n_jobs > 1``, else are computed here.
    """

    def __init__(self, specs: Sequence[ObjectiveSpec], context: ObjectiveContext, n_jobs: int = 1,
                 parallel_min: int = 2000, cache_size: int = 500_000) -> None:
        objs = check_objectives(specs)
        self.specs = list(specs)
        self.context = context
        total = sum(s.weight for s in specs) or 1.0
        self.names = self._unique_names([s.name for s in specs])
        self.weights = np.array([s.weight / total for s in specs])
        self.per_mol = [j for j, o in enumerate(objs) if o.per_molecule]
        self.batch_level = [j for j, o in enumerate(objs) if not o.per_molecule]
        self.objs = objs
        self.n_jobs, self.parallel_min, self.cache_size = n_jobs, parallel_min, cache_size
        self.cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pool: ProcessPoolExecutor | None = None
        self.seconds = 0.0

    @staticmethod
    def _unique_names(names: list[str]) -> list[str]:
        out, seen = [], {}
        for n in names:
            short = n.rsplit(":", 1)[-1]
            seen[short] = seen.get(short, 0) + 1
            out.append(short if seen[short] == 1 else f"{short}_{seen[short]}")
        return out

    def _pool_map(self, todo: list[str]) -> np.ndarray:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            specs = [(self.specs[j].name, self.specs[j].params) for j in self.per_mol]
            self._pool = ProcessPoolExecutor(self.n_jobs, mp_context=ctx, initializer=_init_worker,
                                             initargs=(specs, self.context))
        size = max(1, -(-len(todo) // (self.n_jobs * 4)))
        chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
        return np.concatenate(list(self._pool.map(_worker_values, chunks)))

    def _per_molecule(self, distinct: list[str]) -> np.ndarray:
        todo = [s for s in distinct if s not in self.cache]
        fresh: dict[str, np.ndarray] = {}
        if todo:
            if self.n_jobs > 1 and len(todo) >= self.parallel_min:
                values = self._pool_map(todo)
            else:
                values = per_molecule_values([(self.objs[j], self.specs[j].params) for j in self.per_mol], todo, self.context)
            fresh = dict(zip(todo, values))
        if not distinct:
            return np.zeros((0, len(self.per_mol)))
        table = np.stack([fresh[s] if s in fresh else self.cache[s] for s in distinct])
        self.cache.update(fresh)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return table

    def score(self, smiles: Sequence[str], groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each objective's values and their weighted mean (key ``"objective"``); batch objectives
        are computed within each group (all one batch when ``groups`` is None)."""
        t0 = time.perf_counter()
        smiles = list(smiles)
        values = np.zeros((len(smiles), len(self.objs)))
        if self.per_mol:
            distinct = list(dict.fromkeys(smiles))
            where = {s: i for i, s in enumerate(distinct)}
            table = self._per_molecule(distinct)
            values[:, self.per_mol] = table[[where[s] for s in smiles]]
        if self.batch_level:
            groups = np.zeros(len(smiles), dtype=np.int64) if groups is None else np.asarray(groups)
            distinct = list(dict.fromkeys(smiles))
            parsed = dict(zip(distinct, _parse(distinct)))
            for g in np.unique(groups):
                idx = np.flatnonzero(groups == g)
                sub = [smiles[i] for i in idx]
                for j in self.batch_level:
                    values[idx, j] = _run(self.objs[j], self.specs[j].params, sub, [parsed[s] for s in sub], self.context)
        out = {name: values[:, j] for j, name in enumerate(self.names)}
        out["objective"] = values @ self.weights
        self.seconds += time.perf_counter() - t0
        return out

    def close(self) -> None:
        """Shut the worker pool down (if one was started)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class DiversityMemory:
    """REINVENT's diversity filter across steps (see :class:`~molgen.organ.config.MemoryConfig`).

    ``counts`` maps a bucket key (canonical SMILES or Murcko scaffold) to how many sampled
    molecules with O >= ``min_score`` it has collected; it is plain data, saved in checkpoints.
    Bucket keys are cached per SMILES string (rollouts meet the same completions again).
    """

    def __init__(self, cfg: MemoryConfig, counts: dict[str, int] | None = None, cache_size: int = 500_000) -> None:
        if cfg.kind == "none":
            raise ValueError("DiversityMemory needs kind 'molecule' or 'scaffold'")
        self.cfg = cfg
        self.counts: dict[str, int] = dict(counts or {})
        self._keys: OrderedDict[str, str | None] = OrderedDict()
        self.cache_size = cache_size

    def _key(self, smiles: str) -> str | None:
        """Bucket of one SMILES: None for an invalid one; "" for an acyclic one (or one whose
        scaffold RDKit cannot compute) in scaffold mode."""
        from molgen.metrics.features import scaffold  # here: molgen.metrics costs ~0.7 s to import

        with quiet_rdkit():
            mol = to_mol(smiles)
            if mol is None:
                return None
            if self.cfg.kind == "molecule":
                return Chem.MolToSmiles(mol)
            return scaffold(mol, min_rings=0) or ""

    def keys(self, smiles: Sequence[str]) -> list[str | None]:
        """Bucket keys of a batch of SMILES (cached)."""
        out = []
        for s in smiles:
            if s in self._keys:
                out.append(self._keys[s])
                continue
            key = self._key(s)
            self._keys[s] = key
            out.append(key)
        while len(self._keys) > self.cache_size:
            self._keys.popitem(last=False)
        return out

    def factors(self, smiles: Sequence[str]) -> np.ndarray:
        """Per molecule: ``penalty`` if its bucket is full, else 1."""
        full = self.cfg.bucket_size
        return np.array([self.cfg.penalty if k is not None and self.counts.get(k, 0) >= full else 1.0
                         for k in self.keys(smiles)])

    def record(self, smiles: Sequence[str], objective: Sequence[float]) -> int:
        """Count the molecules whose (unpenalised) O reaches ``min_score``; returns how many were counted."""
        n = 0
        for key, value in zip(self.keys(smiles), objective):
            if key is not None and value >= self.cfg.min_score:
                self.counts[key] = self.counts.get(key, 0) + 1
                n += 1
        return n

    @property
    def full_buckets(self) -> int:
        """Buckets at or over ``bucket_size``."""
        return sum(c >= self.cfg.bucket_size for c in self.counts.values())


class OrganReward:
    """The reward given to the rollouts: R(Y) = lam * D(Y) + (1 - lam) * O(Y) on token sequences,
    then (optionally) ORGAN's duplicate rule: divided by the count of the same sequence in its group.
    D is evaluated once per distinct sequence; O once per distinct SMILES (scorer cache)."""

    def __init__(self, vocab: Vocabulary, discriminator: torch.nn.Module | None, scorer: ObjectiveScorer | None,
                 lam: float, divide_by_count: bool = True, memory: DiversityMemory | None = None) -> None:
        if lam > 0 and discriminator is None:
            raise ValueError("lam > 0 needs a discriminator")
        if lam < 1 and scorer is None:
            raise ValueError("lam < 1 needs objectives")
        self.vocab, self.discriminator, self.scorer = vocab, discriminator, scorer
        self.lam, self.divide_by_count = lam, divide_by_count
        self.memory = memory if lam < 1 else None
        self.seconds = {"discriminator": 0.0, "chemistry": 0.0, "decode": 0.0}

    def components(self, seqs: Tensor, groups: Tensor | None = None) -> dict[str, Tensor]:
        """Every term per sequence: ``d``, each objective, ``objective`` and the final ``reward``;
        with a diversity memory also ``memory`` (its factor) and ``objective_raw`` (O before it)."""
        n = seqs.size(0)
        groups = torch.zeros(n, dtype=torch.long, device=seqs.device) if groups is None else groups
        uniq, inverse = torch.unique(seqs, dim=0, return_inverse=True)
        out: dict[str, Tensor] = {}
        reward = torch.zeros(n, device=seqs.device)
        if self.lam > 0:
            t0 = time.perf_counter()
            out["d"] = self.discriminator.reward(uniq)[inverse].float()
            self.seconds["discriminator"] += time.perf_counter() - t0
            reward = reward + self.lam * out["d"]
        if self.lam < 1:
            t0 = time.perf_counter()
            words = [self.vocab.decode(r) for r in uniq.tolist()]
            smiles = [words[i] for i in inverse.tolist()]
            t1 = time.perf_counter()
            self.seconds["decode"] += t1 - t0
            terms = self.scorer.score(smiles, groups.cpu().numpy())
            if self.memory is not None:
                factors = self.memory.factors(words)[inverse.cpu().numpy()]
                terms["memory"] = factors
                terms["objective_raw"] = terms["objective"]
                terms["objective"] = terms["objective"] * factors
            self.seconds["chemistry"] += time.perf_counter() - t1
            for k, v in terms.items():
                out[k] = torch.as_tensor(v, dtype=torch.float32, device=seqs.device)
            reward = reward + (1 - self.lam) * out["objective"]
        if self.divide_by_count:
            key = inverse * (int(groups.max()) + 1) + groups
            _, key_inv, counts = torch.unique(key, return_inverse=True, return_counts=True)
            reward = reward / counts[key_inv].float()
        out["reward"] = reward
        return out

    def __call__(self, seqs: Tensor, groups: Tensor) -> Tensor:
        return self.components(seqs, groups)["reward"]
