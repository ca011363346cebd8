"""Latent space of the VAEs for the dashboard: neighbours of a molecule, interpolation between two.

Both return molecule tables (decoded SMILES with similarity and properties) the pages browse
like any other set; a SMILES the user typed is checked first so the error names RDKit's reason.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from molgen.dashboard.tables import chunk_properties
from molgen.errors import InputError, MolgenError


def check_smiles(smiles: str) -> str:
    """Canonical form of a user-typed SMILES; :class:`InputError` with RDKit's reason if it does not parse."""
    from rdkit import Chem

    from molgen.chem.mol import parse_smiles

    smiles = (smiles or "").strip()
    if not smiles:
        raise InputError("enter a SMILES string")
    mol, reason = parse_smiles(smiles)
    if mol is None:
        raise InputError(f"not a valid SMILES: {reason}")
    return Chem.MolToSmiles(mol)


def neighbours_table(model: Any, smiles: str, radius: float, n: int, seed: int = 0) -> pd.DataFrame:
    """Decoded molecules around ``smiles`` in latent space with similarity, plus properties."""
    from molgen.vae.latent import neighbours

    smiles = check_smiles(smiles)
    try:
        df = neighbours(model, smiles, radius=radius, n=n, seed=seed)
    except MolgenError:
        raise
    except (ValueError, KeyError) as exc:
        raise InputError(f"the model cannot encode {smiles}: {exc}") from exc
    return _with_properties(df)


def interpolation_table(model: Any, smiles_a: str, smiles_b: str, n_steps: int) -> pd.DataFrame:
    """Decoded molecules along the latent line from ``smiles_a`` to ``smiles_b``, plus properties."""
    from molgen.vae.latent import interpolate

    a, b = check_smiles(smiles_a), check_smiles(smiles_b)
    try:
        df = interpolate(model, a, b, n_steps)
    except MolgenError:
        raise
    except (ValueError, KeyError) as exc:
        raise InputError(f"the model cannot encode the endpoints: {exc}") from exc
    return _with_properties(df)


def _with_properties(df: pd.DataFrame) -> pd.DataFrame:
    """Add the property columns a latent-space result lacks (keeping its own columns)."""
    missing = [c for c in ("valid", "qed", "sa", "mw", "logp", "tpsa", "alerts") if c not in df.columns]
    if not missing:
        return df.reset_index(drop=True)
    props = chunk_properties(df["smiles"].astype(str).tolist(), alerts=True)
    out = df.reset_index(drop=True).copy()
    for c in props.columns:
        if c not in out.columns:
            out[c] = props[c].to_numpy()
    return out
