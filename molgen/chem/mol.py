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


def _caret(smiles: str, pos: int, reason: str) -> str:
    return f"{reason} at position {pos}\n  {smiles}\n  {' ' * pos}^"


def _token_starts(tokens: list[str]) -> list[int]:
    starts, pos = [], 0
    for tok in tokens:
        starts.append(pos)
        pos += len(tok)
    return starts


def explain_smiles(smiles: str) -> str | None:
    """Why ``smiles`` is not a valid molecule, with a caret under the failing position where it
    can be located (``None`` when it is valid).

    Syntax errors come from the project's tokenizer and SMILES grammar (unexpected character,
    unclosed or unmatched parenthesis, unclosed ring label, misplaced bond); chemistry errors keep
    RDKit's reason, with the caret under the atom RDKit names (valence, kekulisation).
    """
    import re

    from grammar import GrammarError, load_grammar, tokenize

    mol, reason = parse_smiles(smiles)
    if mol is not None:
        return None
    if not smiles or not smiles.strip():
        return reason
    try:
        tokens = tokenize(smiles)
    except GrammarError as exc:
        return str(exc)
    starts = _token_starts(tokens)
    atoms = [s for t, s in zip(tokens, starts) if t[0] == "[" or t[0].isalpha() or t == "*"]
    if reason and reason.startswith("SMILES syntax error"):
        opened: list[int] = []
        rings: dict[str, int] = {}
        for tok, pos in zip(tokens, starts):
            if tok == "(":
                opened.append(pos)
            elif tok == ")":
                if not opened:
                    return _caret(smiles, pos, "unmatched ')'")
                opened.pop()
            elif tok.isdigit() or tok.startswith("%"):
                label = tok.lstrip("%")
                if label in rings:
                    del rings[label]
                else:
                    rings[label] = pos
        if opened:
            return _caret(smiles, opened[-1], "unclosed parenthesis '('")
        if rings:
            label, pos = min(rings.items(), key=lambda kv: kv[1])
            return _caret(smiles, pos, f"unclosed ring {label}")
        try:
            load_grammar("smiles").parse(smiles)
        except GrammarError as exc:
            return str(exc)
        return reason
    found = re.search(r"atom # ?(\d+)|Unkekulized atoms: (\d+)", reason or "")
    if found:
        index = int(found.group(1) or found.group(2))
        if index < len(atoms):
            plain = reason.split(f" in {smiles!r}", 1)[0]
            if found.group(2) is not None:
                plain = "cannot kekulize the aromatic system starting here"
            return _caret(smiles, atoms[index], plain)
    return reason
