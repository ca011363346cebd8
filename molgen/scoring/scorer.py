"""The scorer: components over a batch of SMILES, cached per SMILES, in parallel, transformed, aggregated.

:class:`ObjectiveScorer` computes each component's raw value once per distinct SMILES (an
LRU cache: RL samples and rollouts meet the same molecules again), sends big batches of new
SMILES to worker processes (:class:`molgen.parallel.ChunkPool`) or to a Dask cluster
(``scheduler``: an expensive user component, a docking or physics call, scales past one machine;
the cache still answers repeats first), applies each term's transform
and aggregates the transformed values with the normalised weights. ORGAN's reward and
``molgen score`` both use it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from molgen.chem.mol import Mol, quiet_rdkit, to_mol
from molgen.errors import ClusterError
from molgen.parallel import ChunkPool
from molgen.scoring.aggregate import AGGREGATORS
from molgen.scoring.components import MolBatch, Objective, ObjectiveContext, check_objectives, resolve_objective
from molgen.scoring.spec import ObjectiveSpec
from molgen.scoring.transforms import apply_transform

log = logging.getLogger(__name__)


def _parse(smiles: Sequence[str]) -> list[Mol | None]:
    with quiet_rdkit():
        return [to_mol(s) for s in smiles]


def _run(obj: Objective, params: dict, smiles: list[str], mols: list[Mol | None], ctx: ObjectiveContext) -> np.ndarray:
    """Raw values of one component over a batch; NaN where it has none (an invalid molecule of a
    chemistry component, or a molecule the component raised on): such a molecule scores 0."""
    out = np.full(len(smiles), np.nan)
    if not obj.chemistry:
        out[:] = np.asarray(obj.fn(MolBatch(list(smiles), list(mols), ctx), **params), dtype=float)
        return out
    idx = [i for i, m in enumerate(mols) if m is not None]
    if idx:
        try:
            with quiet_rdkit():
                batch = MolBatch([smiles[i] for i in idx], [mols[i] for i in idx], ctx)
                out[idx] = np.asarray(obj.fn(batch, **params), dtype=float)
        except Exception:  # RDKit can still fail on a sanitised molecule (e.g. QED re-kekulising): go one by one
            for i in idx:
                out[i] = _one(obj, params, smiles[i], mols[i], ctx)
    return out


def _one(obj: Objective, params: dict, smiles: str, mol: Mol, ctx: ObjectiveContext) -> float:
    """One molecule's raw value, NaN when the component raises on it (RDKit's complaint silenced)."""
    try:
        with quiet_rdkit():
            return float(obj.fn(MolBatch([smiles], [mol], ctx), **params)[0])
    except Exception as exc:
        log.debug("objective %s failed on %s (%s): scored 0", obj.name, smiles, exc)
        return float("nan")


def per_molecule_values(terms: Sequence[tuple[Objective, dict]], smiles: list[str], ctx: ObjectiveContext) -> np.ndarray:
    """``(len(smiles), len(terms))`` raw values of per-molecule components (runs in worker processes too)."""
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


def cluster_values(specs: list[tuple[str, dict]], ctx: ObjectiveContext, smiles: list[str]) -> np.ndarray:
    """Raw per-molecule values of a batch on a Dask worker (components resolved there by name)."""
    return per_molecule_values([(resolve_objective(name), params) for name, params in specs], smiles, ctx)


@dataclass
class Scores:
    """A batch's scores: per term the ``raw`` value (NaN = none) and the transformed ``values``
    (0 where there is no raw value), and the aggregated ``total``; columns follow ``names``."""

    names: list[str]
    raw: np.ndarray
    values: np.ndarray
    total: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Each term's transformed values by name, and the total under ``"objective"``."""
        out = {name: self.values[:, j] for j, name in enumerate(self.names)}
        out["objective"] = self.total
        return out


class ObjectiveScorer:
    """O(Y) over a batch of SMILES: the terms' transformed values aggregated with their
    weights (normalised to sum 1), by weighted arithmetic (default) or geometric mean.

    Per-molecule components are cached per distinct SMILES; the uncached ones go to a process
    pool when there are at least ``parallel_min`` of them and ``n_jobs > 1``, else are computed here.
    With ``scheduler`` (a Dask address or ``local:N``, :func:`molgen.cluster.dask_client`) batches
    of at least ``parallel_min`` uncached SMILES go to that cluster instead, in pieces of at most
    ``cluster_batch``; :meth:`close` disconnects (and ends a ``local:N`` cluster).
    """

    def __init__(self, specs: Sequence[ObjectiveSpec], context: ObjectiveContext, n_jobs: int = 1,
                 parallel_min: int = 2000, cache_size: int = 500_000, aggregate: str = "arithmetic",
                 scheduler: str | None = None, cluster_batch: int = 1000) -> None:
        if aggregate not in AGGREGATORS:
            raise ValueError(f"unknown aggregate {aggregate!r}; choose from {', '.join(AGGREGATORS)}")
        objs = check_objectives(specs)
        self.specs = list(specs)
        self.context = context
        total = sum(s.weight for s in specs) or 1.0
        self.names = self._unique_names([s.name for s in specs])
        self.weights = np.array([s.weight / total for s in specs])
        self.aggregate = aggregate
        self.per_mol = [j for j, o in enumerate(objs) if o.per_molecule]
        self.batch_level = [j for j, o in enumerate(objs) if not o.per_molecule]
        self.objs = objs
        self.n_jobs, self.parallel_min, self.cache_size = n_jobs, parallel_min, cache_size
        self.cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pool: ChunkPool | None = None
        self.scheduler, self.cluster_batch = scheduler, max(1, cluster_batch)
        self._cluster: contextlib.ExitStack | None = None
        self._client = self._context_future = None
        self.cluster_tasks = 0  # batches sent to the cluster so far
        self._warned_negative = False
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
            specs = [(self.specs[j].name, self.specs[j].params) for j in self.per_mol]
            self._pool = ChunkPool(self.n_jobs, _init_worker, (specs, self.context))
        size = max(1, -(-len(todo) // (self.n_jobs * 4)))
        chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
        return np.concatenate(list(self._pool.imap(_worker_values, chunks)))

    def connect(self) -> None:
        """Reach the ``scheduler`` now (a run calls this at start, so an unreachable cluster fails
        before hours of pretraining, not at the first reward); later calls do nothing."""
        if self._client is None and self.scheduler:
            from molgen.cluster import dask_client

            stack = contextlib.ExitStack()
            self._client = stack.enter_context(dask_client(self.scheduler))
            self._cluster = stack
            # the reference set travels once to every worker, not with each batch
            self._context_future = self._client.scatter(self.context, broadcast=True)

    def _cluster_map(self, todo: list[str]) -> np.ndarray:
        self.connect()
        specs = [(self.specs[j].name, self.specs[j].params) for j in self.per_mol]
        chunks = [todo[i : i + self.cluster_batch] for i in range(0, len(todo), self.cluster_batch)]
        futures = [self._client.submit(cluster_values, specs, self._context_future, chunk, pure=False) for chunk in chunks]
        self.cluster_tasks += len(futures)
        try:
            values = self._client.gather(futures)
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a lost worker or scheduler, of whatever kind Dask reports: one line naming it
            raise ClusterError(f"scoring on the Dask cluster {self.scheduler} failed ({type(exc).__name__}: {exc})") from None
        return np.concatenate(values).reshape(len(todo), len(self.per_mol))

    def _per_molecule(self, distinct: list[str]) -> np.ndarray:
        todo = [s for s in distinct if s not in self.cache]
        fresh: dict[str, np.ndarray] = {}
        if todo:
            if self.scheduler and len(todo) >= self.parallel_min:
                values = self._cluster_map(todo)
            elif self.n_jobs > 1 and len(todo) >= self.parallel_min:
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

    def _transform(self, raw: np.ndarray) -> np.ndarray:
        """Each column through its term's transform; 0 where the raw value is NaN (none)."""
        values = np.zeros_like(raw)
        for j, spec in enumerate(self.specs):
            col = raw[:, j]
            missing = np.isnan(col)
            if spec.transform is not None:
                col = apply_transform(spec.transform.kind, np.where(missing, 0.0, col), spec.transform.params())
            values[:, j] = np.where(missing, 0.0, col)
        if self.aggregate == "geometric" and not self._warned_negative and (values < 0).any():
            self._warned_negative = True
            log.warning("the geometric mean counts negative component values as 0 (%s); add a transform "
                        "to map them onto [0, 1]", ", ".join(n for j, n in enumerate(self.names) if (values[:, j] < 0).any()))
        return values

    def evaluate(self, smiles: Sequence[str], groups: np.ndarray | None = None) -> Scores:
        """Raw, transformed and total scores; batch components are computed within each group
        (all one batch when ``groups`` is None)."""
        t0 = time.perf_counter()
        smiles = list(smiles)
        raw = self._raw_per_molecule(smiles)
        if self.batch_level:
            groups = np.zeros(len(smiles), dtype=np.int64) if groups is None else np.asarray(groups)
            distinct = list(dict.fromkeys(smiles))
            parsed = dict(zip(distinct, _parse(distinct)))
            for g in np.unique(groups):
                idx = np.flatnonzero(groups == g)
                sub = [smiles[i] for i in idx]
                for j in self.batch_level:
                    raw[idx, j] = _run(self.objs[j], self.specs[j].params, sub, [parsed[s] for s in sub], self.context)
        values = self._transform(raw)
        scores = Scores(self.names, raw, values, AGGREGATORS[self.aggregate](values, self.weights))
        self.seconds += time.perf_counter() - t0
        return scores

    def _raw_per_molecule(self, smiles: list[str]) -> np.ndarray:
        """``(len(smiles), n_terms)`` raw values with the per-molecule columns filled (cached per
        distinct SMILES), the batch-level ones 0."""
        raw = np.zeros((len(smiles), len(self.objs)))
        if self.per_mol:
            distinct = list(dict.fromkeys(smiles))
            where = {s: i for i, s in enumerate(distinct)}
            raw[:, self.per_mol] = self._per_molecule(distinct)[[where[s] for s in smiles]]
        return raw

    def per_molecule_total(self, smiles: Sequence[str]) -> np.ndarray:
        """Each molecule's own score: the aggregate of the per-molecule terms alone, their weights
        normalised over them (a term that scores a molecule against its batch, such as
        batch_diversity, has no value for one molecule). Ranks molecules, e.g. the real ones an RL
        anchor draws from."""
        if not self.per_mol:
            raise ValueError("no per-molecule objective among " + ", ".join(self.names))
        values = self._transform(self._raw_per_molecule(list(smiles)))[:, self.per_mol]
        weights = self.weights[self.per_mol]
        return AGGREGATORS[self.aggregate](values, weights / weights.sum())

    def score(self, smiles: Sequence[str], groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each term's transformed values and their aggregate (key ``"objective"``); see :meth:`evaluate`."""
        return self.evaluate(smiles, groups).as_dict()

    def close(self) -> None:
        """Shut the worker pool down and leave the cluster (if either was started)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = self._client = self._context_future = None
