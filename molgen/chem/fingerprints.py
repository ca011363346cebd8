"""Morgan fingerprints and Tanimoto similarity in bulk (IntDiv, SNN, similarity filters).

All similarities go through ``DataStructs.BulkTanimotoSimilarity`` (C++), one row at a time,
so memory stays at one row of the matrix unless the caller asks for the whole matrix.
"""

from __future__ import annotations

import functools
from typing import Iterable, Sequence

import numpy as np
from rdkit import DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.DataStructs import ExplicitBitVect

from molgen.chem.mol import Mol, quiet_rdkit, to_mol


@functools.lru_cache(maxsize=16)
def _generator(radius: int, n_bits: int):
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def morgan_fp(mol: Mol, radius: int = 2, n_bits: int = 2048) -> ExplicitBitVect:
    """Morgan (ECFP-like) bit fingerprint of one molecule; r=2, 2048 bits is the MOSES setting."""
    return _generator(radius, n_bits).GetFingerprint(mol)


def fingerprints(
    smiles_or_mols: Iterable[str | Mol | None], radius: int = 2, n_bits: int = 2048
) -> list[ExplicitBitVect | None]:
    """Fingerprint per input (SMILES or Mol); ``None`` where the input is invalid."""
    out: list[ExplicitBitVect | None] = []
    with quiet_rdkit():
        for x in smiles_or_mols:
            mol = to_mol(x) if isinstance(x, str) else x
            out.append(None if mol is None else morgan_fp(mol, radius, n_bits))
    return out


def _valid(fps: Sequence[ExplicitBitVect | None]) -> list[ExplicitBitVect]:
    return [f for f in fps if f is not None]


def tanimoto_max_to_reference(
    query: Sequence[ExplicitBitVect | None], reference: Sequence[ExplicitBitVect | None]
) -> np.ndarray:
    """For each query fingerprint, its highest Tanimoto similarity to any reference one
    (NaN for a ``None`` query). This is SNN's per-molecule term and the similarity filter."""
    ref = _valid(reference)
    out = np.full(len(query), np.nan)
    if not ref:
        return out
    for i, fp in enumerate(query):
        if fp is not None:
            out[i] = max(DataStructs.BulkTanimotoSimilarity(fp, ref))
    return out


def tanimoto_matrix(a: Sequence[ExplicitBitVect], b: Sequence[ExplicitBitVect] | None = None) -> np.ndarray:
    """Dense ``len(a) × len(b)`` Tanimoto matrix (``b`` defaults to ``a``); float32 to halve memory."""
    a = _valid(a)
    b = a if b is None else _valid(b)
    out = np.empty((len(a), len(b)), dtype=np.float32)
    for i, fp in enumerate(a):
        out[i] = DataStructs.BulkTanimotoSimilarity(fp, b)
    return out


def mean_pairwise_similarity(fps: Sequence[ExplicitBitVect | None], power: int = 1) -> float:
    """Mean of Tanimoto^power over all ordered pairs including self-pairs (the MOSES IntDiv term:
    IntDiv_p = 1 − mean(T^p)^(1/p)); computed row by row, O(n) memory."""
    valid = _valid(fps)
    n = len(valid)
    if n == 0:
        return float("nan")
    total = 0.0
    for fp in valid:
        row = np.asarray(DataStructs.BulkTanimotoSimilarity(fp, valid))
        total += float(np.sum(row**power))
    return total / (n * n)

