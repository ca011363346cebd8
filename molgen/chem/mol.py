"""SMILES -> RDKit molecule and back, quietly.

RDKit prints every parse or sanitisation failure to stderr; on a million-molecule file that
is a million lines of noise. The log is silenced only inside :func:`quiet_rdkit` (datamol's
approach), never globally, so callers outside keep RDKit's messages.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

Mol = Chem.Mol


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's C++ log (errors and warnings) for the duration of the block."""
    block = rdBase.BlockLogs()
    try:
        yield
    finally:
        del block


def parse_smiles(smiles: str) -> tuple[Mol | None, str | None]:
    """Parse and sanitise ``smiles``; return ``(mol, None)`` or ``(None, reason)``.

    The reason separates syntax errors from chemistry errors (valence, kekulisation),
    which is what a user needs to fix a file.
    """
    if not smiles or not smiles.strip():
        return None, "empty SMILES"
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is None:
            return None, f"SMILES syntax error in {smiles!r}"
        try:
            Chem.SanitizeMol(mol)
        except Exception as exc:  # RDKit raises several MolSanitizeException subclasses
            return None, f"{str(exc).strip().rstrip('.')} in {smiles!r}"
    if mol.GetNumAtoms() == 0:
        return None, "molecule has no atoms"
    return mol, None


def to_mol(smiles: str) -> Mol | None:
    """RDKit molecule for ``smiles`` (sanitised), or ``None`` if it does not parse; never logs."""
    return parse_smiles(smiles)[0]


def canonical_smiles(smiles: str) -> str | None:
    """RDKit canonical SMILES (isomeric, aromatic form), or ``None`` for an invalid SMILES."""
    mol = to_mol(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def standardize_mol(mol: Mol) -> tuple[Mol | None, str | None]:
    """Standardise for library work: cleanup (normalise functional groups), keep the largest
    fragment (drops salts and solvents), neutralise charges where possible, and check that the
    result still sanitises and kekulises. Returns ``(mol, None)`` or ``(None, reason)``.
    """
    with quiet_rdkit():
        try:
            out = rdMolStandardize.Cleanup(mol)
            out = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(out)
            out = rdMolStandardize.Uncharger().uncharge(out)
            Chem.SanitizeMol(out)
            Chem.Kekulize(Chem.Mol(out), clearAromaticFlags=True)
        except Exception as exc:
            return None, f"standardisation failed: {str(exc).strip()}"
    return out, None


def kekule_smiles(smiles: str) -> tuple[str | None, str | None]:
    """Canonical Kekulé SMILES of ``smiles`` (explicit single/double bonds, no aromatic atoms, no
    stereo), or ``(None, reason)`` when it does not parse or RDKit cannot kekulise it.

    The representation of semantic grammar models: valence is exact arithmetic on it.
    """
    mol, reason = parse_smiles(smiles)
    if mol is None:
        return None, reason
    with quiet_rdkit():
        try:
            Chem.Kekulize(mol, clearAromaticFlags=True)
        except Exception as exc:  # RDKit's KekulizeException (a MolSanitizeException)
            return None, f"cannot be kekulised ({str(exc).strip()})"
        return Chem.MolToSmiles(mol, kekuleSmiles=True, isomericSmiles=False), None
