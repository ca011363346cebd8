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


def test_the_index_is_cached_on_disk_and_rebuilt_when_stale(tmp_path, monkeypatch):
    """The second start of the dashboard reads the training set's index instead of canonicalising
    every training molecule again; a changed file or a damaged cache file is indexed afresh."""
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    train = tmp_path / "train.csv"
    pd.DataFrame({"SMILES": ["CCO", "CC(=O)Nc1ccc(OC)cc1", "OC(=O)c1ccccc1O"]}).to_csv(train, index=False)
    first = novelty.load_training_index(train)
    target = novelty.index_cache_path(train)
    assert target.is_file() and target.parent == tmp_path / "cache" / "novelty"

    built = []
    monkeypatch.setattr(novelty, "build_training_index", lambda *a, **k: built.append(1) or first)
    again = novelty.load_training_index(train)
    assert not built, "a cached index should not be rebuilt"
    assert (again.canonical, again.sample, again.n, again.source) == (first.canonical, first.sample, 3, "train.csv")
    assert [f.ToBitString() for f in again.fingerprints] == [f.ToBitString() for f in first.fingerprints]

    target.write_bytes(b"not an npz")  # damaged: rebuilt, not a crash
    novelty.load_training_index(train)
    assert built == [1]
    train.write_text("SMILES\nCCO\nCCN\n")  # the file changed: another cache entry
    assert novelty.index_cache_path(train) != target
