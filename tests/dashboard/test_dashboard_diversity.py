"""Scaffold grouping, MaxMin diversity picking and per-molecule novelty against a training file."""

from __future__ import annotations

import pandas as pd
import pytest

from molgen.dashboard import diversity, novelty, tables
from molgen.errors import InputError


def test_scaffold_groups(table):
    groups = diversity.scaffold_groups(table)
    assert groups.columns.tolist() == ["scaffold", "count", "ids", "best qed"]
    first = groups.iloc[0]
    assert first["scaffold"] == "c1ccccc1" and first["count"] == 2 and first["ids"] == "#1, #2"
    assert set(groups["scaffold"]) == {"c1ccccc1", "O=C(C=Cc1ccccc1)c1ccccc1", diversity.ACYCLIC}
    assert groups["count"].sum() == 4  # the invalid SMILES has no scaffold


def test_maxmin_pick_is_diverse_and_reproducible(train_smiles):
    lib = tables.molecule_table(pd.DataFrame({"smiles": train_smiles[:60] + ["C1CC"]}))
    picks = diversity.maxmin_pick(lib, 8, seed=3)
    assert len(picks) == 8 == len(set(picks)) and picks == diversity.maxmin_pick(lib, 8, seed=3)
    assert 61 not in picks  # never the invalid one
    assert len(diversity.maxmin_pick(lib, 1000)) == 60

    from molgen.chem.fingerprints import fingerprints, mean_pairwise_similarity

    picked = mean_pairwise_similarity(fingerprints(lib.loc[picks, "smiles"]))
    first = mean_pairwise_similarity(fingerprints(lib.loc[1:8, "smiles"]))
    assert picked < first  # more diverse than the first eight


def test_novelty_columns(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("SMILES\nOCC\nc1ccccc1O\nCC(=O)Nc1ccc(O)cc1\nnot a smiles\n")
    index = novelty.build_training_index(train, nn_sample=10)
    assert index.n == 4 and index.canonical == {"CCO", "Oc1ccccc1", "CC(=O)Nc1ccc(O)cc1"}
    assert "3 of them" in index.description or "of 3" in index.description
    table = tables.molecule_table(tables.chunk_properties(["CCO", "CC(=O)Nc1ccc(OC)cc1", "C1CC"], alerts=False))
    cols = novelty.novelty_columns(table, index)
    assert cols["in_training"].tolist() == [True, False, pd.NA]
    assert cols.loc[1, "nn_similarity"] == 1.0 and 0.3 < cols.loc[2, "nn_similarity"] < 1.0
    assert pd.isna(cols.loc[3, "nn_similarity"])
    with pytest.raises(InputError, match="training set not found"):
        novelty.build_training_index(tmp_path / "missing.csv")
