"""Per-molecule novelty against a training set: "in training set" (exact, by canonical SMILES over
the whole file) and the Tanimoto similarity to the nearest training neighbour (Morgan r=2, 2048
bits, against a fixed random sample of the training set so that it costs seconds, not minutes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from molgen.errors import MolgenError

#: Training molecules fingerprinted for the nearest-neighbour similarity (a fixed random sample;
#: 2,000 generated molecules against 10,000 took 7 s on one core of a machine under a load of 7.5).
NN_SAMPLE = 10_000
#: Molecules canonicalised per progress step while the index is built.
CHUNK = 10_000
#: Bump when the content or meaning of a cached index changes.
CACHE_VERSION = 1

log = logging.getLogger(__name__)


@dataclass
class TrainingIndex:
    """What the novelty columns compare with: the canonical SMILES of every training molecule and
    the fingerprints of a sample of them."""

    source: str
    n: int
    canonical: frozenset[str]
    fingerprints: list[Any]
    #: The SMILES of each fingerprint, same order (for :func:`nearest_neighbour`).
    sample: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        """How the columns were computed, for a caption."""
        return (f"in training set: exact match among the {self.n:,} molecules of {self.source}; "
                f"NN train: Tanimoto (Morgan r=2) to the nearest of {len(self.fingerprints):,} of them")


def training_smiles(path: str | os.PathLike | None = None) -> tuple[str, list[str]]:
    """Name and SMILES of a training file (default: the shipped MOSES training set)."""
    from molgen.dashboard.inputs import smiles_column, training_file

    p = training_file(path)
    return p.name, smiles_column(p)


def build_training_index(
    path: str | os.PathLike | None = None, nn_sample: int = NN_SAMPLE, seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> TrainingIndex:
    """Canonicalise every training molecule and fingerprint a random ``nn_sample`` of them
    (``progress(fraction, message)`` after each chunk)."""
    from molgen.chem.fingerprints import fingerprints
    from molgen.chem.mol import canonical_smiles

    report = progress or (lambda fraction, message: None)
    name, smiles = training_smiles(path)
    canonical: set[str] = set()
    for start in range(0, len(smiles), CHUNK):
        canonical.update(c for c in map(canonical_smiles, smiles[start:start + CHUNK]) if c is not None)
        done = min(start + CHUNK, len(smiles))
        report(0.8 * done / len(smiles), f"Reading the training set… {done:,} / {len(smiles):,}")
    pool = sorted(canonical)
    rng = np.random.default_rng(seed)
    sample = [pool[i] for i in rng.choice(len(pool), size=min(nn_sample, len(pool)), replace=False)] if pool else []
    report(0.8, f"Fingerprinting {len(sample):,} training molecules…")
    pairs = [(s, f) for s, f in zip(sample, fingerprints(sample)) if f is not None]
    report(1.0, "Training set ready")
    return TrainingIndex(name, len(smiles), frozenset(canonical), [f for _, f in pairs],
                         tuple(s for s, _ in pairs))


def index_cache_path(path: str | os.PathLike | None = None, nn_sample: int = NN_SAMPLE, seed: int = 0) -> Path:
    """Where :func:`load_training_index` keeps the index of a training file: ``$MOLGEN_CACHE_DIR/novelty``
    (default ``~/.cache/molgen/novelty``), keyed by the file (path, size, modification time), the
    sample, the RDKit version (it defines canonical SMILES) and :data:`CACHE_VERSION`."""
    from rdkit import rdBase

    from molgen import paths
    from molgen.dashboard.inputs import training_file

    p = Path(training_file(path)).resolve()
    stat = p.stat()
    key = json.dumps([str(p), stat.st_size, stat.st_mtime_ns, nn_sample, seed, rdBase.rdkitVersion, CACHE_VERSION])
    return paths.cache_dir("novelty") / f"{p.name}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def _save_index(index: TrainingIndex, target: Path) -> None:
    """The canonical set and the sample as JSON inside an ``.npz`` (no pickle: reading it runs no code)."""
    from molgen.atomic import atomic_open

    meta = {"version": CACHE_VERSION, "source": index.source, "n": index.n,
            "canonical": sorted(index.canonical), "sample": list(index.sample)}
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(target, "wb") as fh:
        np.savez(fh, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def _load_index(source: Path) -> TrainingIndex | None:
    """A cached index (fingerprints recomputed from the sample: seconds); ``None`` if missing or unreadable."""
    from molgen.chem.fingerprints import fingerprints

    try:
        with np.load(source, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
        if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION:
            return None
        sample = tuple(meta["sample"])
        fps = fingerprints(list(sample))
        if any(f is None for f in fps):
            return None
        return TrainingIndex(meta["source"], int(meta["n"]), frozenset(meta["canonical"]), fps, sample)
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, UnicodeDecodeError):
        return None


def load_training_index(
    path: str | os.PathLike | None = None, nn_sample: int = NN_SAMPLE, seed: int = 0,
    progress: Callable[[float, str], None] | None = None, cache: bool = True,
) -> TrainingIndex:
    """:func:`build_training_index` through a disk cache (:func:`index_cache_path`).

    Canonicalising the 250,000 MOSES training molecules took 260 s on the 2-core machine under a
    load of 12, on every start of the dashboard; the cached index loads in seconds. A damaged or
    stale cache file is rebuilt; a cache that cannot be written only costs the next start its time.
    """
    target = index_cache_path(path, nn_sample, seed) if cache else None
    if target is not None and target.is_file():
        if progress:
            progress(0.5, "Reading the training set's index from the cache…")
        index = _load_index(target)
        if index is not None:
            return index
        log.warning("rebuilding the unreadable training-set index cache %s", target)
    index = build_training_index(path, nn_sample=nn_sample, seed=seed, progress=progress)
    if target is not None:
        try:
            _save_index(index, target)
        except (OSError, MolgenError) as exc:  # a read-only or full cache folder: work on, uncached
            log.warning("could not cache the training-set index at %s: %s", target, exc)
    return index


def novelty_columns(table: pd.DataFrame, index: TrainingIndex) -> pd.DataFrame:
    """``in_training`` (nullable boolean, NA for an invalid row) and ``nn_similarity`` (1.0 for a
    training molecule, NaN for an invalid one) for every row of ``table``, same index."""
    from molgen.chem.fingerprints import fingerprints, tanimoto_max_to_reference
    from molgen.chem.mol import canonical_smiles

    if "canonical_smiles" in table.columns:
        canon = [c if isinstance(c, str) and c else None for c in table["canonical_smiles"]]
    else:
        canon = [canonical_smiles(str(s)) for s in table["smiles"]]
    in_training = pd.array([None if c is None else c in index.canonical for c in canon], dtype="boolean")
    similarity = tanimoto_max_to_reference(fingerprints([c or "" for c in canon]), index.fingerprints)
    similarity[np.asarray(in_training.fillna(False), dtype=bool)] = 1.0
    return pd.DataFrame({"in_training": in_training, "nn_similarity": similarity}, index=table.index)


@dataclass(frozen=True)
class Neighbour:
    """The training molecule most similar to a query: its canonical SMILES and Tanimoto similarity."""

    smiles: str
    similarity: float
    exact: bool


def nearest_neighbour(smiles: str, index: TrainingIndex) -> Neighbour | None:
    """The nearest training molecule to ``smiles`` among the index's fingerprinted sample (the one the
    ``nn_similarity`` column measures), or the molecule itself when it is in the training set;
    ``None`` for an invalid SMILES or an empty index. The detail view draws it beside the query."""
    from rdkit import DataStructs

    from molgen.chem.fingerprints import fingerprints
    from molgen.chem.mol import canonical_smiles

    canon = canonical_smiles(smiles) if smiles else None
    if canon is None:
        return None
    if canon in index.canonical:
        return Neighbour(canon, 1.0, True)
    fp = fingerprints([canon])[0]
    if fp is None or not index.fingerprints or len(index.sample) != len(index.fingerprints):
        return None
    similarities = DataStructs.BulkTanimotoSimilarity(fp, index.fingerprints)
    best = int(np.argmax(similarities))
    return Neighbour(index.sample[best], float(similarities[best]), False)
