"""Reference-set statistics, computed once and reused for every model scored against them.

A :class:`ReferenceStats` holds what the metrics need from a train/test set: canonical
SMILES (novelty), packed fingerprints (SNN), fragment and scaffold counts, property values,
FCD mean/covariance and a ≤10k subset's KL descriptors. :func:`reference_stats` computes it
and caches it on disk (``~/.cache/molgen/metrics`` or ``$MOLGEN_CACHE_DIR/metrics``) under a
hash of the SMILES, the role and the library versions, so a second ``molgen evaluate``
against the same files skips the reference side entirely.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from molgen import paths
from molgen.metrics.fcd import FCDStats, fcd_stats
from molgen.metrics.features import KL_DESCRIPTORS, SetFeatures, compute_features
from molgen.metrics.similarity import nearest_neighbour_within

log = logging.getLogger("molgen.metrics")

Role = Literal["train", "test"]
#: Bump when the content or meaning of the cached statistics changes.
CACHE_VERSION = 2
#: GuacaMol compares with a random subset of this many reference molecules (seed 42).
KL_SUBSET = 10_000
KL_SEED = 42


@dataclass
class ReferenceStats:
    """Precomputed statistics of a reference set.

    ``role="train"`` holds the canonical set (novelty) and the KL subset only (the full train
    set is too big to fingerprint); ``role="test"`` holds everything, FCD if requested.
    ``kl_values`` is the KL subset's descriptor matrix, columns :data:`KL_NAMES`.
    """

    role: str
    n: int
    n_valid: int
    canonical: frozenset[str]
    kl_values: np.ndarray
    fps: np.ndarray | None = None
    fragments: Counter = field(default_factory=Counter)
    scaffolds: Counter = field(default_factory=Counter)
    properties: dict[str, np.ndarray] = field(default_factory=dict)
    fcd: FCDStats | None = None

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` atomically as ``.npz``: arrays as arrays, the rest as JSON (no pickle,
        so reading a cache file can never run code)."""
        from molgen.atomic import atomic_open

        meta = {
            "version": CACHE_VERSION, "role": self.role, "n": self.n, "n_valid": self.n_valid,
            "canonical": sorted(self.canonical), "fragments": dict(self.fragments),
            "scaffolds": dict(self.scaffolds), "properties": sorted(self.properties),
            "fps": self.fps is not None, "fcd_n": None if self.fcd is None else self.fcd.n,
        }
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), "kl_values": self.kl_values}
        if self.fps is not None:
            arrays["fps"] = self.fps
        for name, values in self.properties.items():
            arrays[f"prop_{name}"] = np.asarray(values)
        if self.fcd is not None:
            arrays["fcd_mu"], arrays["fcd_sigma"] = self.fcd.mu, self.fcd.sigma
        with atomic_open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @staticmethod
    def load(path: str | os.PathLike) -> "ReferenceStats | None":
        """Read a cache file; ``None`` if it is missing, unreadable or from another version."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes().decode())
                if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION:
                    return None
                return ReferenceStats(
                    role=meta["role"], n=meta["n"], n_valid=meta["n_valid"],
                    canonical=frozenset(meta["canonical"]), kl_values=z["kl_values"],
                    fps=z["fps"] if meta["fps"] else None,
                    fragments=Counter(meta["fragments"]), scaffolds=Counter(meta["scaffolds"]),
                    properties={name: z[f"prop_{name}"] for name in meta["properties"]},
                    fcd=None if meta["fcd_n"] is None else FCDStats(z["fcd_mu"], z["fcd_sigma"], meta["fcd_n"]),
                )
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
            return None


#: Columns of the KL descriptor matrices: GuacaMol's descriptors, then internal similarity.
KL_NAMES = (*KL_DESCRIPTORS, "internal_similarity")


def kl_matrix(feats: SetFeatures, device: str = "cpu") -> np.ndarray:
    """KL descriptor matrix (columns :data:`KL_NAMES`) of a feature set computed with the
    ``kl`` group: its descriptors plus each molecule's nearest-neighbour similarity within it."""
    nn = nearest_neighbour_within(feats.kl_fps, device=device)
    return np.column_stack([feats.descriptors, nn]) if len(nn) else np.zeros((0, len(KL_NAMES)))


def kl_subset(valid: list[str]) -> list[str]:
    """The unique canonical reference molecules GuacaMol compares with: ≤10k, fixed seed."""
    unique = list(dict.fromkeys(valid))
    if len(unique) <= KL_SUBSET:
        return unique
    idx = np.random.default_rng(KL_SEED).choice(len(unique), KL_SUBSET, replace=False)
    return [unique[i] for i in sorted(idx)]


def compute_reference_stats(
    smiles: Sequence[str],
    role: Role = "test",
    fcd: bool = True,
    n_jobs: int | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> ReferenceStats:
    """Statistics of ``smiles`` for its ``role`` (no cache). Invalid reference SMILES are dropped."""
    if role not in ("train", "test"):
        raise ValueError(f"role must be 'train' or 'test', got {role!r}")
    smiles = list(smiles)
    if role == "train":
        feats = compute_features(smiles, groups=(), n_jobs=n_jobs, progress=progress, desc="train (canonical)")
        valid = feats.valid_smiles
        sub = compute_features(kl_subset(valid), groups=("kl",), n_jobs=n_jobs, progress=progress, desc="train (KL subset)")
        stats = ReferenceStats(
            role=role, n=len(smiles), n_valid=len(valid), canonical=frozenset(valid),
            kl_values=kl_matrix(sub, device),
        )
    else:
        feats = compute_features(smiles, groups=("fp", "frag", "scaf", "props"), n_jobs=n_jobs, progress=progress, desc="test")
        valid = feats.valid_smiles
        sub = compute_features(kl_subset(valid), groups=("kl",), n_jobs=n_jobs, progress=progress, desc="test (KL subset)")
        stats = ReferenceStats(
            role=role, n=len(smiles), n_valid=len(valid), canonical=frozenset(valid),
            kl_values=kl_matrix(sub, device), fps=feats.fps,
            fragments=feats.fragments, scaffolds=feats.scaffolds, properties=feats.properties,
            fcd=fcd_stats(valid, device=device, progress=progress) if fcd else None,
        )
    if len(valid) < len(smiles):
        log.warning("reference (%s): %d of %d SMILES are invalid and were ignored", role, len(smiles) - len(valid), len(smiles))
    return stats


def cache_dir() -> Path:
    """Where reference statistics are cached: ``$MOLGEN_CACHE_DIR/metrics`` or ``~/.cache/molgen/metrics``."""
    return paths.cache_dir("metrics")


def cache_key(smiles: Sequence[str], role: str, fcd: bool) -> str:
    """Hash of the SMILES (in order), the role, FCD on/off and the RDKit/torch/cache versions."""
    import rdkit
    import torch

    h = hashlib.sha256()
    h.update(f"v{CACHE_VERSION}|{role}|fcd={fcd}|rdkit={rdkit.__version__}|torch={torch.__version__}\n".encode())
    for s in smiles:
        h.update(str(s).encode())
        h.update(b"\n")
    return h.hexdigest()[:32]


def reference_stats(
    smiles: Sequence[str],
    role: Role = "test",
    fcd: bool = True,
    n_jobs: int | None = None,
    device: str = "cpu",
    progress: bool = False,
    cache: bool | str | os.PathLike = True,
) -> ReferenceStats:
    """:func:`compute_reference_stats` through the disk cache (``cache=False`` to bypass it,
    or a folder to use instead of :func:`cache_dir`). A test-role cache entry with FCD also
    serves a request without FCD."""
    smiles = list(smiles)
    fcd = fcd and role == "test"  # train statistics never include FCD
    if cache is False:
        return compute_reference_stats(smiles, role, fcd, n_jobs, device, progress)
    folder = cache_dir() if cache is True else Path(cache)
    for want_fcd in ((True, False) if not fcd else (True,)):
        path = folder / f"{role}-{cache_key(smiles, role, want_fcd)}.npz"
        stats = ReferenceStats.load(path)
        if stats is not None:
            log.info("reference statistics (%s, %d SMILES) loaded from cache %s", role, len(smiles), path)
            return stats
    path = folder / f"{role}-{cache_key(smiles, role, fcd)}.npz"
    log.info("building reference statistics for the %s set (%d SMILES: canonical set, KL descriptors%s); "
             "minutes the first time, then cached at %s (warm the cache once with 'molgen cache build')",
             role, len(smiles), ", fingerprints, fragments, scaffolds, properties" + (", FCD (ChemNet)" if fcd else "")
             if role == "test" else "", path)
    stats = compute_reference_stats(smiles, role, fcd, n_jobs, device, progress)
    try:
        stats.save(path)
    except OSError as exc:  # a read-only home must not stop an evaluation
        log.warning("could not cache reference statistics at %s: %s", path, exc)
    return stats
