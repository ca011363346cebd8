"""Fixtures of the dashboard library tests: a small molecule table with names, one SMILES invalid."""

from __future__ import annotations

import pandas as pd
import pytest

from molgen.dashboard import tables


@pytest.fixture(scope="session")
def dashboard_smiles() -> list[str]:
    """Aspirin, paracetamol, a chalcone, an unclosed ring (invalid) and a long fatty acid."""
    return [
        "CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", "O=C(C=Cc1ccccc1)c1ccc(O)cc1", "C1CC",
        "CCCCCCCCCCCCCCCCCCCCCCCC(=O)O",
    ]


@pytest.fixture(scope="session")
def table(dashboard_smiles) -> pd.DataFrame:
    """:func:`tables.molecule_table` of :func:`dashboard_smiles` with their properties and names."""
    return tables.molecule_table(tables.chunk_properties(dashboard_smiles),
                                 ["aspirin", "paracetamol", "chalcone", "bad", "fatty"])
