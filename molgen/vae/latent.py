"""Latent-space exploration for VAE models (the dashboard's "explore around a molecule").

Both functions work on posterior means and greedy decodes, so the same inputs give the same
table; similarities are Tanimoto on Morgan fingerprints (r=2, 2048 bits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def _similarity(smiles: list[str], reference: str) -> np.ndarray:
    """Tanimoto similarity of each SMILES to ``reference`` (NaN for invalid ones)."""
    from rdkit import DataStructs

    from molgen.chem.fingerprints import morgan_fp
    from molgen.chem.mol import to_mol

    ref_mol = to_mol(reference)
    out = np.full(len(smiles), np.nan)
    if ref_mol is None:
        return out
    ref = morgan_fp(ref_mol)
    for i, s in enumerate(smiles):
        mol = to_mol(s) if s else None
        if mol is not None:
            out[i] = DataStructs.TanimotoSimilarity(ref, morgan_fp(mol))
    return out


def _annotate(decoded: list[str]) -> tuple[list[bool], list[str]]:
    from molgen.chem.mol import canonical_smiles

    canon = [canonical_smiles(s) if s else None for s in decoded]
    return [c is not None for c in canon], [c or "" for c in canon]


def interpolate(model, smiles_a: str, smiles_b: str, n_steps: int = 10) -> pd.DataFrame:
    """Decode ``n_steps`` evenly spaced points on the line between the two molecules' latent means.

    Columns: step, t (0 at ``a``, 1 at ``b``), smiles (raw decode), valid, canonical_smiles,
    similarity_a, similarity_b.
    """
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2, got {n_steps}")
    za, zb = model.encode([smiles_a, smiles_b])
    t = torch.linspace(0.0, 1.0, n_steps)
    z = za.unsqueeze(0) * (1 - t).unsqueeze(1) + zb.unsqueeze(0) * t.unsqueeze(1)
    decoded = model.decode(z, greedy=True)
    valid, canon = _annotate(decoded)
    return pd.DataFrame({
        "step": np.arange(n_steps), "t": t.numpy(), "smiles": decoded, "valid": valid, "canonical_smiles": canon,
        "similarity_a": _similarity(canon, smiles_a), "similarity_b": _similarity(canon, smiles_b),
    })


def neighbours(model, smiles: str, radius: float = 1.0, n: int = 100, seed: int = 0, unique: bool = True) -> pd.DataFrame:
    """Molecules decoded from ``n`` points around ``smiles`` (z = mean + radius * N(0, I)), most similar first.

    Columns: smiles, valid, canonical_smiles, similarity (to ``smiles``), distance (in latent
    space); with ``unique`` only valid, distinct molecules are kept, with a ``count`` column.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    mu = model.encode([smiles])[0]
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn((n, mu.shape[0]), generator=gen)
    z = mu.unsqueeze(0) + radius * noise
    decoded = model.decode(z, greedy=True)
    valid, canon = _annotate(decoded)
    df = pd.DataFrame({
        "smiles": decoded, "valid": valid, "canonical_smiles": canon,
        "similarity": _similarity(canon, smiles), "distance": (z - mu).norm(dim=1).numpy(),
    })
    if unique:
        df = df[df["valid"]]
        counts = df["canonical_smiles"].value_counts()
        df = df.sort_values("distance").drop_duplicates("canonical_smiles").copy()
        df["count"] = df["canonical_smiles"].map(counts).astype(int)
    return df.sort_values(["similarity", "distance"], ascending=[False, True], kind="stable").reset_index(drop=True)
