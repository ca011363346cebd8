"""Dashboard inputs: pasted SMILES, in-memory uploads of every format, shipped data by name only."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
from rdkit import Chem

from molgen.dashboard import inputs
from molgen.errors import InputError


def test_parse_pasted_names_comments_header():
    got = inputs.parse_pasted("smiles name\n# comment\nCCO ethanol\n\nc1ccccc1,benzene\nCCN\n")
    assert got.smiles == ["CCO", "c1ccccc1", "CCN"]
    assert got.names == ["ethanol", "benzene", ""]
    assert inputs.parse_pasted("CCO\nCCN").names is None
    with pytest.raises(InputError, match="no SMILES"):
        inputs.parse_pasted("\n# nothing\n")


@pytest.mark.parametrize("name,data", [
    ("m.smi", b"CCO ethanol\nxyz bad\nc1ccccc1 benzene\n"),
    ("m.csv", b"id,SMILES\n1,CCO\n2,xyz\n3,c1ccccc1\n"),
    ("m.tsv.gz", gzip.compress(b"smiles\tname\nCCO\tethanol\nxyz\tbad\nc1ccccc1\tbenzene\n")),
])
def test_read_upload_formats(name, data):
    got = inputs.read_upload(name, data)
    assert got.smiles == ["CCO", "c1ccccc1"]
    assert got.problems[0].startswith("1 entry could not be read")
    assert "line" in got.problems[1] and "xyz" in got.problems[1]


def test_read_upload_sdf_in_memory():
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "c1ccccc1O")]
    sdf = "".join(Chem.MolToMolBlock(m) + "$$$$\n" for m in mols).encode()
    got = inputs.read_upload("x.sdf", sdf)
    assert got.smiles == ["CCO", "Oc1ccccc1"]


@pytest.mark.parametrize("name,data,message", [
    ("x.png", b"abc", "unsupported file type"),
    ("x.csv", b"a,b\n1,2\n", "no SMILES column"),
    ("x.smi", b"", "empty"),
    ("x.smi", b"\x00\x01\x02", "binary"),
    ("x.smi", b"\xff\xfe\x00\xd8C\x00", "not UTF-16 text"),  # a lone surrogate (valid UTF-16 is read)
    ("x.smi.gz", b"\x1f\x8bnot gzip", "corrupt gzip"),
    ("x.smi", b"# only a comment\n", "no molecules"),
])
def test_read_upload_errors(name, data, message):
    with pytest.raises(InputError, match=message):
        inputs.read_upload(name, data)


def test_read_upload_column_choice():
    data = b"a,b\nCCO,CCN\n"
    assert inputs.read_upload("x.csv", data, column="b").smiles == ["CCN"]
    with pytest.raises(InputError, match="no column 'c'"):
        inputs.read_upload("x.csv", data, column="c")


def test_shipped_data_only_by_name():
    files = inputs.shipped_data_files()
    assert "train.csv.gz" in files
    got = inputs.read_shipped_data("test.csv.gz", limit=5)
    assert len(got.smiles) == 5
    with pytest.raises(InputError):
        inputs.read_shipped_data("../models/x.pt")


def test_salts_and_inorganics_are_standardised_and_flagged():
    """Issue 18 #4: the CLI's standardisation (largest organic fragment, neutralised) on dashboard inputs,
    with a flag on multi-fragment and inorganic ones; Lipinski no longer passes table salt."""
    from molgen.dashboard import tables

    given = ["[Na+].[Cl-]", "CC(=O)[O-].[Na+]", "CC(=O)Nc1ccc(O)cc1", "C1CC", "C[N+](C)(C)C"]
    scored, prepared = inputs.prepare_molecules(given, standardize=True)
    assert scored[1:4] == ["CC(=O)O", "CC(=O)Nc1ccc(O)cc1", "C1CC"]
    assert prepared["input_smiles"].tolist() == given
    assert prepared["fragments"].tolist() == [2, 2, 1, 0, 1]
    assert prepared["inorganic"].tolist() == [True, False, False, False, False]
    flags = prepared["flags"].tolist()
    assert "2 fragments (salt or mixture)" in flags[0] and "inorganic (no carbon)" in flags[0]
    assert "standardised to CC(=O)O" in flags[1] and flags[2] == "" and flags[3] == ""
    assert "net charge +1" in flags[4]
    kept, raw = inputs.prepare_molecules(given, standardize=False)
    assert kept == given and raw["flags"].tolist()[:2] == [f.split("; standardised")[0] for f in flags[:2]]
    table = tables.molecule_table(tables.chunk_properties(scored)).join(tables.numbered(prepared))
    lipinski = tables.filter_mask(table, tables.FilterChoice(presets=["lipinski"]))
    assert lipinski.tolist() == [False, True, True, False, True]  # the inorganic salt is not a drug


def test_an_upload_carries_its_other_columns():
    """A chemist's CSV with activity and assay columns: both come with the molecules they belong to
    (the invalid row's values with it), numbers as numbers, a clashing name marked as the file's."""
    from molgen.dashboard import tables

    data = b"compound_id,smiles,activity,assay,qed\nCPD-1,CCO,5.1,A,0.1\nCPD-2,C1CC(,9.9,X,0\nCPD-3,c1ccccc1,,B,0.2\n"
    got = inputs.read_upload("mine.csv", data)
    assert got.names == ["CPD-1", "CPD-3"] and not any("not shown" in p for p in got.problems)
    assert got.columns == {"activity": ["5.1", ""], "assay": ["A", "B"], "qed": ["0.1", "0.2"]}
    frame = tables.file_columns(got.columns, ["smiles", "qed"])
    assert list(frame.index) == [1, 2] and list(frame.columns) == ["activity", "assay", "qed (file)"]
    assert frame["activity"].iloc[0] == 5.1 and pd.isna(frame["activity"].iloc[1])
    assert frame["assay"].tolist() == ["A", "B"]
    tab = inputs.read_upload("m.tsv", b"SMILES\tpIC50\nCCO\t5\n")
    assert tab.columns == {"pIC50": ["5"]}
    assert inputs.other_columns("m.smi", b"CCO ethanol\n") == []
    assert inputs.other_columns("m.csv", b"CCO\nc1ccccc1\n") == []  # headerless: no column names at all
    assert inputs.other_columns("m.csv", b"structure,act\nCCO,1\n", column="structure") == ["act"]
