"""The diversity memory: REINVENT's diversity filter across RL steps (Blaschke et al. 2020).

Molecules (or their Bemis-Murcko scaffolds) that already scored well are counted in buckets;
once a bucket is full, later members get their objective multiplied by a penalty, so a policy
cannot keep cashing in on what it already found. Configured by :class:`~molgen.scoring.spec.MemoryConfig`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np
from rdkit import Chem

from molgen.chem.mol import quiet_rdkit, to_mol
from molgen.chem.scaffolds import scaffold
from molgen.scoring.spec import MemoryConfig


class DiversityMemory:
    """REINVENT's diversity filter across steps (see :class:`~molgen.scoring.spec.MemoryConfig`).

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
