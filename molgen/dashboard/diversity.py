"""Scaffold grouping and diversity picking of a molecule table (what DataWarrior and mols2grid users do
with a library): Bemis–Murcko scaffolds with counts, and RDKit's MaxMin picker on Morgan fingerprints.
"""

from __future__ import annotations

import pandas as pd

#: Scaffold of an acyclic molecule (it has no ring system).
ACYCLIC = "(acyclic)"


def scaffold_column(table: pd.DataFrame) -> pd.Series:
    """Bemis–Murcko scaffold of each row (:func:`molgen.chem.scaffolds.scaffold`, any ring count);
    :data:`ACYCLIC` for a molecule without rings, ``""`` for an invalid one."""
    from molgen.chem.mol import to_mol
    from molgen.chem.scaffolds import scaffold

    out = []
    for smi in table["smiles"].astype(str):
        mol = to_mol(smi)
        out.append("" if mol is None else (scaffold(mol, min_rings=1) or ACYCLIC))
    return pd.Series(out, index=table.index, name="scaffold")


def scaffold_groups(table: pd.DataFrame, sort_by: str | None = "qed") -> pd.DataFrame:
    """One row per scaffold of the valid molecules: the scaffold, how many molecules share it, their
    ids (the grid's ``#n``) and the best of ``sort_by`` among them; largest groups first."""
    scaffolds = table["scaffold"] if "scaffold" in table.columns else scaffold_column(table)
    frame = pd.DataFrame({"scaffold": scaffolds, "id": table.index})
    if sort_by and sort_by in table.columns:
        frame[sort_by] = pd.to_numeric(table[sort_by], errors="coerce").to_numpy()
    frame = frame[frame["scaffold"] != ""]
    grouped = frame.groupby("scaffold", sort=False)
    out = pd.DataFrame({"count": grouped.size(), "ids": grouped["id"].agg(lambda ids: ", ".join(f"#{i}" for i in ids))})
    if sort_by and sort_by in frame.columns:
        out[f"best {sort_by}"] = grouped[sort_by].max()
    out = out.reset_index().sort_values(["count", "scaffold"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


def maxmin_pick(table: pd.DataFrame, k: int, seed: int = 0) -> list:
    """Ids (index labels) of ``k`` diverse valid molecules of ``table``: RDKit's MaxMin picker on
    Morgan fingerprints (r=2, 2048 bits), each pick the farthest (Tanimoto) from those already
    picked. Reproducible for a seed; fewer than ``k`` when the table has fewer valid molecules."""
    from rdkit.SimDivFilters.rdSimDivPickers import MaxMinPicker

    from molgen.chem.fingerprints import fingerprints

    fps = fingerprints(table["smiles"].astype(str).tolist())
    ids = [i for i, fp in zip(table.index, fps) if fp is not None]
    valid = [fp for fp in fps if fp is not None]
    k = min(int(k), len(valid))
    if k <= 0:
        return []
    picks = MaxMinPicker().LazyBitVectorPick(valid, len(valid), k, seed=int(seed))
    return [ids[i] for i in picks]
