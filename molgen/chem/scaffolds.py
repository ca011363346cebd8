"""Bemis–Murcko scaffolds: the ring systems and linkers of a molecule, side chains removed.

Used by the scaffold metrics (MOSES scaffold similarity) and by the reward's diversity
memory in scaffold mode, so both agree on what "the same scaffold" means.
"""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from molgen.chem.mol import Mol


def scaffold(mol: Mol, min_rings: int = 2) -> str | None:
    """Bemis–Murcko scaffold SMILES, ``None`` if it has fewer than ``min_rings`` rings (MOSES)."""
    try:
        scaf = MurckoScaffold.GetScaffoldForMol(mol)
    except Exception:  # RDKit raises on a few odd valence states
        return None
    smi = Chem.MolToSmiles(scaf)
    if not smi or scaf.GetRingInfo().NumRings() < min_rings:
        return None
    return smi
