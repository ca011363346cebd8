"""SMILES -> RDKit molecule and back, quietly.

RDKit prints every parse or sanitisation failure to stderr; on a million-molecule file that
is a million lines of noise. The log is silenced only inside :func:`quiet_rdkit` (datamol's
approach), never globally, so callers outside keep RDKit's messages.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Iterator

from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

Mol = Chem.Mol


@dataclass(frozen=True)
class SizeLimits:
    """The largest molecule let through to RDKit, checked on the text before parsing.

    RDKit's recursive SMILES writer segfaults on a chain of ~30,000 atoms and a megabyte SMILES
    takes minutes; no drug-like or natural-product library needs more than a few hundred heavy
    atoms (cyclosporin has 85, insulin ~400). Larger records are skipped and reported.
    """

    max_heavy_atoms: int = 500
    max_chars: int = 10_000

    def __post_init__(self) -> None:
        for name, option in (("max_heavy_atoms", "--max-atoms"), ("max_chars", "--max-chars")):
            if getattr(self, name) < 1:
                from molgen.errors import UsageError

                raise UsageError(f"{option} must be at least 1, got {getattr(self, name)}")


DEFAULT_LIMITS = SizeLimits()

# One SMILES atom: a bracket atom, a two-letter organic-subset halogen, one letter, or '*'.
_ATOM = re.compile(r"\[[^\]]*\]|Br|Cl|[BCNOSPFI]|[bcnosp]|\*")


def _is_heavy(token: str) -> bool:
    # [H], [2H], [H+] are hydrogens and '*' a dummy atom (RDKit counts neither); [Hg], [Ho] are heavy
    body = token[1:-1].lstrip("0123456789") if token.startswith("[") else token
    return not (body.startswith("*") or (body.startswith("H") and not body[1:2].islower()))


def heavy_atom_count(smiles: str) -> int:
    """Heavy atoms written in ``smiles``, counted on the text (no RDKit), for the size guard."""
    return sum(1 for m in _ATOM.finditer(smiles) if _is_heavy(m.group()))


def size_problem(smiles: str, limits: SizeLimits = DEFAULT_LIMITS) -> str | None:
    """Why ``smiles`` is too large to hand to RDKit under ``limits``, or ``None`` when it is not."""
    if len(smiles) > limits.max_chars:
        return f"SMILES too long ({len(smiles):,} characters; limit {limits.max_chars:,}, --max-chars)"
    atoms = heavy_atom_count(smiles)
    if atoms > limits.max_heavy_atoms:
        return f"molecule too large ({atoms:,} heavy atoms; limit {limits.max_heavy_atoms:,}, --max-atoms)"
    return None


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's C++ log (errors and warnings) for the duration of the block."""
    block = rdBase.BlockLogs()
    try:
        yield
    finally:
        del block


def parse_smiles(smiles: str, limits: SizeLimits = DEFAULT_LIMITS) -> tuple[Mol | None, str | None]:
    """Parse and sanitise ``smiles``; return ``(mol, None)`` or ``(None, reason)``.

    The reason separates syntax errors from chemistry errors (valence, kekulisation),
    which is what a user needs to fix a file. Molecules above ``limits`` are refused before
    RDKit sees them.
    """
    if not smiles or not smiles.strip():
        return None, "empty SMILES"
    too_large = size_problem(smiles, limits)
    if too_large:
        return None, too_large
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


def to_mol(smiles: str, limits: SizeLimits = DEFAULT_LIMITS) -> Mol | None:
    """RDKit molecule for ``smiles`` (sanitised), or ``None`` if it does not parse or is above
    ``limits``; never logs."""
    return parse_smiles(smiles, limits)[0]


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
