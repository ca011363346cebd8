"""Library side of the dashboard: model paths, in-memory uploads, filters, downloads, histograms."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
from rdkit import Chem

from molgen import api
from molgen import dashboard_support as ds
from molgen.errors import InputError, UsageError

SMILES = [
    "CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", "O=C(C=Cc1ccccc1)c1ccc(O)cc1", "C1CC",
    "CCCCCCCCCCCCCCCCCCCCCCCC(=O)O",
]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ds.molecule_table(ds.chunk_properties(SMILES), ["aspirin", "paracetamol", "chalcone", "bad", "fatty"])


# ----------------------------------------------------------------------------- model paths


def test_resolve_checkpoint_accepts_pt_and_run_dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "MODELS_DIR", tmp_path / "models")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.pt").write_bytes(b"x")
    assert ds.resolve_checkpoint(str(run)) == (run / "checkpoints" / "best.pt").resolve()
    assert ds.resolve_checkpoint(f"  {run}/checkpoints/best.pt ") == (run / "checkpoints" / "best.pt").resolve()
    shipped = tmp_path / "models" / "tiny"
    shipped.mkdir(parents=True)
    (shipped / "model.pt").write_bytes(b"x")
    assert ds.resolve_checkpoint("tiny") == shipped / "model.pt"
    assert ds.shipped_model_names() == ["tiny"]


@pytest.mark.parametrize("case", ["blank", "missing", "not-pt", "empty-dir", "nul"])
def test_resolve_checkpoint_refuses(tmp_path, monkeypatch, case):
    monkeypatch.setattr(api, "MODELS_DIR", tmp_path / "models")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    text = {"blank": " ", "missing": str(tmp_path / "nope.pt"), "not-pt": str(tmp_path / "notes.txt"),
            "empty-dir": str(tmp_path / "empty"), "nul": "a\x00b"}[case]
    with pytest.raises(InputError):
        ds.resolve_checkpoint(text)


def test_load_generator_rejects_non_checkpoint(tmp_path):
    from molgen.checkpoint import CheckpointError

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        ds.load_generator(bad)


# ----------------------------------------------------------------------------- input


def test_parse_pasted_names_comments_header():
    got = ds.parse_pasted("smiles name\n# comment\nCCO ethanol\n\nc1ccccc1,benzene\nCCN\n")
    assert got.smiles == ["CCO", "c1ccccc1", "CCN"]
    assert got.names == ["ethanol", "benzene", ""]
    assert ds.parse_pasted("CCO\nCCN").names is None
    with pytest.raises(InputError, match="no SMILES"):
        ds.parse_pasted("\n# nothing\n")


@pytest.mark.parametrize("name,data", [
    ("m.smi", b"CCO ethanol\nxyz bad\nc1ccccc1 benzene\n"),
    ("m.csv", b"id,SMILES\n1,CCO\n2,xyz\n3,c1ccccc1\n"),
    ("m.tsv.gz", gzip.compress(b"smiles\tname\nCCO\tethanol\nxyz\tbad\nc1ccccc1\tbenzene\n")),
])
def test_read_upload_formats(name, data):
    got = ds.read_upload(name, data)
    assert got.smiles == ["CCO", "c1ccccc1"]
    assert got.problems[0].startswith("1 entry could not be read")
    assert "line" in got.problems[1] and "xyz" in got.problems[1]


def test_read_upload_sdf_in_memory():
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "c1ccccc1O")]
    sdf = "".join(Chem.MolToMolBlock(m) + "$$$$\n" for m in mols).encode()
    got = ds.read_upload("x.sdf", sdf)
    assert got.smiles == ["CCO", "Oc1ccccc1"]


@pytest.mark.parametrize("name,data,message", [
    ("x.png", b"abc", "unsupported file type"),
    ("x.csv", b"a,b\n1,2\n", "no SMILES column"),
    ("x.smi", b"", "empty"),
    ("x.smi", b"\x00\x01\x02", "binary"),
    ("x.smi", b"\xff\xfeC\x00C\x00", "binary|UTF-8"),
    ("x.smi.gz", b"\x1f\x8bnot gzip", "corrupt gzip"),
    ("x.smi", b"# only a comment\n", "no molecules"),
])
def test_read_upload_errors(name, data, message):
    with pytest.raises(InputError, match=message):
        ds.read_upload(name, data)


def test_read_upload_column_choice():
    data = b"a,b\nCCO,CCN\n"
    assert ds.read_upload("x.csv", data, column="b").smiles == ["CCN"]
    with pytest.raises(InputError, match="no column 'c'"):
        ds.read_upload("x.csv", data, column="c")


def test_shipped_data_only_by_name():
    files = ds.shipped_data_files()
    assert "train.csv.gz" in files
    got = ds.read_shipped_data("test.csv.gz", limit=5)
    assert len(got.smiles) == 5
    with pytest.raises(InputError):
        ds.read_shipped_data("../models/x.pt")


# ----------------------------------------------------------------------------- table, filters


def test_molecule_table_and_messages(table):
    assert list(table.columns[:3]) == ["name", "smiles", "valid"]
    assert list(table.index) == [0, 1, 2, 3, 4]
    assert table["valid"].tolist() == [True, True, True, False, True]
    msgs = ds.invalid_messages(SMILES)
    assert len(msgs) == 1 and msgs[0].startswith("#3:")
    assert ds.display_columns(table)[:3] == ["name", "smiles", "valid"]


def test_filter_ranges_presets_expression(table):
    everything = ds.FilterChoice()
    assert not everything.is_active()
    assert ds.filter_mask(table, everything).all()
    assert ds.filter_mask(table, ds.FilterChoice(valid_only=True)).tolist() == [True, True, True, False, True]
    light = ds.filter_mask(table, ds.FilterChoice(ranges={"mw": (0.0, 160.0)}))
    assert light.tolist() == [False, True, False, False, False]
    expr = ds.filter_mask(table, ds.FilterChoice(expression="mw < 200 and qed > 0.5"))
    assert expr.tolist() == [True, True, False, False, False]
    assert not ds.filter_mask(table, ds.FilterChoice(presets=["brenk-free"])).any()  # all carry a Brenk alert
    pains_free = ds.filter_mask(table, ds.FilterChoice(presets=["pains-free"]))
    assert pains_free.tolist() == [True, True, True, False, True]
    both = ds.filter_mask(table, ds.FilterChoice(presets=["pains-free"], ranges={"mw": (0.0, 160.0)}))
    assert both.tolist() == [False, True, False, False, False]


def test_filter_errors(table):
    with pytest.raises(UsageError, match=r"\^"):
        ds.filter_mask(table, ds.FilterChoice(expression="qed >= = 0.5"))
    no_alerts = table.drop(columns=["pains"])
    with pytest.raises(InputError, match="pains"):
        ds.filter_mask(no_alerts, ds.FilterChoice(presets=["pains-free"]))


def test_sort_and_pages(table):
    by_mw = ds.sort_table(table, "mw", ascending=False)
    assert by_mw.index[0] == 4 and by_mw.index[-1] == 3  # NaN last
    assert ds.sort_table(table, None, True) is table
    assert ds.n_pages(0, 24) == 1 and ds.n_pages(49, 24) == 3
    assert list(ds.page_slice(table, 2, 2).index) == [2, 3]
    assert list(ds.page_slice(table, 99, 2).index) == [4]
    lo, hi = ds.slider_bounds(table, "mw")
    assert lo == 0.0 and hi == 1000.0


# ----------------------------------------------------------------------------- downloads, charts


def test_csv_and_sdf_downloads(table):
    csv = ds.table_csv(table).decode()
    assert csv.splitlines()[0].startswith("name,smiles,valid")
    assert len(csv.strip().splitlines()) == 6
    sdf = ds.table_sdf(table).decode()
    assert sdf.count("$$$$") == 4  # the invalid SMILES is left out
    supplier = Chem.SDMolSupplier()
    supplier.SetData(sdf)
    mols = [m for m in supplier]
    assert mols[0].GetProp("_Name") == "aspirin"
    assert float(mols[0].GetProp("qed")) == pytest.approx(table.loc[0, "qed"], rel=1e-3)
    assert Chem.MolToSmiles(mols[1]) == Chem.CanonSmiles(SMILES[1])


def test_histogram_frame(table):
    ref = ds.chunk_properties(["CCO", "CCCCO", "c1ccccc1", "CC(C)O"], alerts=False)
    frame = ds.histogram_frame(table, ref, "mw", bins=10)
    assert set(frame["set"]) == {"this set", "training set"}
    for _, part in frame.groupby("set"):
        assert part["density"].sum() == pytest.approx(1.0)
        assert len(part) == 10
    ints = ds.histogram_frame(table, None, "hbd")
    assert (ints["bin_end"] - ints["bin_start"] == 1).all()
    assert ds.histogram_chart(frame, "mw").to_dict()["mark"]["type"] == "bar"
    assert ds.histogram_frame(table.iloc[3:4], None, "mw").empty


def test_reference_smiles_is_reproducible():
    a = ds.reference_smiles(n=50, seed=1)
    assert a == ds.reference_smiles(n=50, seed=1) and len(set(a)) == 50
    assert a != ds.reference_smiles(n=50, seed=2)


def test_check_smiles():
    assert ds.check_smiles(" OCC ") == "CCO"
    with pytest.raises(InputError, match="not a valid SMILES"):
        ds.check_smiles("C1CC")
    with pytest.raises(InputError):
        ds.check_smiles("")


def test_generation_summary():
    table = pd.DataFrame({"smiles": ["CCO", "OCC", "x", "CCN"], "canonical_smiles": ["CCO", "CCO", "", "CCN"],
                          "valid": [True, True, False, True], "qed": [0.4, 0.4, float("nan"), 0.7]})
    got = ds.generation_summary(table)
    assert got == {"Generated": "4", "Valid": "75.0%", "Unique (of valid)": "66.7%", "Mean QED (valid)": "0.500"}
    assert ds.generation_summary(table.assign(valid=False))["Unique (of valid)"] == "–"


def test_property_sheet(table):
    sheet = ds.property_sheet(table.loc[0])
    assert list(sheet.columns) == ["property", "value"]
    values = dict(zip(sheet["property"], sheet["value"]))
    assert values["Name"] == "aspirin" and values["Valid"] == "yes"
    assert values["Molecular weight (Da)"] == "180.159"
    assert values["H-bond donors"] == "1"
    bad = dict(zip(*ds.property_sheet(table.loc[3]).T.values))
    assert bad["Valid"] == "no" and bad["QED"] == "–"
