"""Grammar-test fixtures: real (aromatic) SMILES written the way each grammar reads them."""

from __future__ import annotations

from typing import Callable

import pytest
from rdkit import Chem


def _kekule(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    return Chem.MolToSmiles(mol, kekuleSmiles=True, isomericSmiles=False)


@pytest.fixture(scope="session")
def as_input() -> Callable[[str, str], str]:
    """``as_input(grammar_name, smiles)``: ``smiles`` as grammar ``grammar_name`` reads it (the
    ``kekule`` grammar reads canonical Kekulé SMILES, the others the SMILES as given)."""
    return lambda name, smiles: _kekule(smiles) if name == "kekule" else smiles
