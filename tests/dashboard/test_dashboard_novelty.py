"""Novelty against a training file: exact membership and the nearest training molecule."""

from __future__ import annotations

import pandas as pd
import pytest

from molgen.dashboard import novelty


@pytest.fixture
def index(tmp_path):
    train = tmp_path / "train.csv"
    pd.DataFrame({"SMILES": ["CCO", "CC(=O)Nc1ccc(OC)cc1", "OC(=O)c1ccccc1O", "not a smiles"]}).to_csv(train, index=False)
    return novelty.build_training_index(train)


def test_nearest_neighbour_agrees_with_the_similarity_column(index, table):
    """The molecule the detail view draws is the one whose similarity the nn_similarity column reports."""
    columns = novelty.novelty_columns(table, index)
    for number in (1, 2, 3):  # aspirin, paracetamol, the chalcone
        neighbour = novelty.nearest_neighbour(table.loc[number, "smiles"], index)
        assert neighbour is not None and not neighbour.exact
        assert neighbour.similarity == pytest.approx(columns.loc[number, "nn_similarity"])
    assert novelty.nearest_neighbour("CC(=O)Nc1ccc(O)cc1", index).smiles == "COc1ccc(NC(C)=O)cc1"
    assert novelty.nearest_neighbour("OCC", index) == novelty.Neighbour("CCO", 1.0, True)
    assert novelty.nearest_neighbour("C1CC", index) is None  # invalid
    assert len(index.sample) == len(index.fingerprints) == 3
