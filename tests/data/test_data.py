"""molgen.data: readers for every format, reject reports, input errors, atomic writers."""

from __future__ import annotations

import gzip
import io
import logging

import pandas as pd
import pytest
from rdkit import Chem

from molgen.data import ReadReport, iter_records, read_smiles, write_sdf, write_table
from molgen.errors import InputError, UsageError

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"


def _write(path, text: str, gz: bool = False):
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_smi_with_names_comments_header_and_invalid(tmp_path, caplog):
    path = _write(tmp_path / "lib.smi", "SMILES Name\nOC(=O)c1ccccc1OC(C)=O aspirin\n\n# comment\nC1CC broken ring\nCN(C)(C)(C)C\n" + CAFFEINE + "\n")
    with caplog.at_level(logging.WARNING, logger="molgen.data"):
        ms = read_smiles(path)
    assert ms.smiles == [Chem.CanonSmiles(ASPIRIN), Chem.CanonSmiles(CAFFEINE)]
    assert ms.names == ["aspirin", None]
    rep = ms.report
    assert (rep.n_records, rep.n_valid, rep.n_invalid) == (4, 2, 2)
    assert [(line, reason.split()[0]) for _, line, reason in rep.examples] == [(5, "SMILES"), (6, "Explicit")]
    assert "valence" in rep.examples[1][2]
    assert "2 invalid" in rep.summary() and "line 5" in rep.summary()
    assert "2 invalid" in caplog.text  # never silently dropped


def test_canonical_false_keeps_input_spelling(tmp_path):
    path = _write(tmp_path / "a.smi", "OC(=O)c1ccccc1OC(C)=O\n")
    assert read_smiles(path, canonical=False).smiles == ["OC(=O)c1ccccc1OC(C)=O"]


def test_moses_csv_gz_and_max_records(data_dir, train_smiles):
    ms = read_smiles(data_dir / "moses" / "train.csv.gz", max_records=500)
    assert ms.report.n_records == 500 and ms.report.n_invalid == 0
    assert ms.smiles == [Chem.CanonSmiles(s) for s in train_smiles[:500]]


@pytest.mark.parametrize("header", ["SMILES", "smiles", "canonical_smiles", "Canonical_SMILES"])
def test_csv_column_found_case_insensitively(tmp_path, header):
    path = _write(tmp_path / "x.csv", f"id,{header},mw\nm1,{ASPIRIN},180\nm2,\"{CAFFEINE}\",194\n")
    ms = read_smiles(path)
    assert len(ms) == 2 and ms.names == ["m1", "m2"]


def test_tsv_gz_with_explicit_column(tmp_path):
    path = _write(tmp_path / "x.tsv.gz", f"a\tstructure\n1\t{ASPIRIN}\n2\tnot_a_smiles\n", gz=True)
    ms = read_smiles(path, column="Structure")
    assert ms.smiles == [Chem.CanonSmiles(ASPIRIN)]
    assert ms.report.examples[0][1] == 3


def test_headerless_single_column_csv(tmp_path):
    path = _write(tmp_path / "x.csv", f"{ASPIRIN}\n{CAFFEINE}\n")
    assert len(read_smiles(path)) == 2


def test_missing_column_lists_columns(tmp_path):
    path = _write(tmp_path / "x.csv", "id,structure,mw\n1,CCO,46\n")
    with pytest.raises(InputError, match=r"x\.csv: no SMILES column; columns found: id, structure, mw"):
        read_smiles(path)
    with pytest.raises(InputError, match="no column 'smi'"):
        read_smiles(path, column="smi")


def test_sdf_records_with_a_broken_one(tmp_path):
    good = Chem.MolFromSmiles(ASPIRIN)
    good.SetProp("_Name", "aspirin")
    block = Chem.MolToMolBlock(good)
    bad = "broken\n  junk\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nnot an atom line\nM  END\n"
    path = _write(tmp_path / "x.sdf.gz", block + "> <id>\n7\n\n$$$$\n" + bad + "$$$$\n", gz=True)
    ms = read_smiles(path)
    assert ms.smiles == [Chem.CanonSmiles(ASPIRIN)] and ms.names == ["aspirin"]
    assert ms.report.n_invalid == 1 and "broken" in ms.report.examples[0][2]
    assert ms.report.examples[0][1] == block.count("\n") + 5  # first line of the second record


def test_parquet(tmp_path):
    path = tmp_path / "x.parquet"
    pd.DataFrame({"Name": ["a", "b", "c"], "SMILES": [ASPIRIN, "C1CC", CAFFEINE]}).to_parquet(path)
    ms = read_smiles(path)
    assert ms.names == ["a", "c"] and ms.report.examples[0][1] == 2


def test_standardize_takes_parent_and_neutralises(tmp_path):
    path = _write(tmp_path / "x.smi", "CC(=O)[O-].[Na+]\nC[NH3+].[Cl-]\n")
    assert read_smiles(path).smiles == ["CC(=O)[O-].[Na+]", "C[NH3+].[Cl-]"]
    assert read_smiles(path, standardize=True).smiles == ["CC(=O)O", "CN"]


def test_iter_records_streams_raw_records(tmp_path):
    path = _write(tmp_path / "x.smi", "CCO ethanol\nxx\n")
    recs = list(iter_records(path))
    assert [(r.line, r.smiles, r.name) for r in recs] == [(1, "CCO", "ethanol"), (2, "xx", None)]
    assert [tuple(r) for r in recs] == [(1, "CCO", "ethanol"), (2, "xx", None)]
    assert len(list(iter_records(path, max_records=1))) == 1


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.smi", b"", r"empty\.smi: file is empty"),
        ("bin.smi", b"CCO\n\x00\x01\x02\x03binary", r"bin\.smi: line 2: binary data"),
        ("latin.csv", "smiles,name\nCCO,caf\xe9\n".encode("latin-1"), r"latin\.csv: line 2: not UTF-8"),
        ("header.csv", b"smiles\n", r"header\.csv: no molecules found"),
        ("x.xyz", b"CCO\n", r"unsupported file type '\.xyz'"),
        ("bad.smi.gz", b"\x1f\x8bnot really gzip", r"bad\.smi\.gz: corrupt gzip"),
        ("bad.parquet", b"PAR1 nope", r"bad\.parquet: not a readable Parquet file"),
    ],
)
def test_bad_files_give_one_line_input_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_smiles(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_smiles(tmp_path / "nope.smi")


def test_report_merge_caps_examples():
    a, b = ReadReport("f"), ReadReport("f")
    for i in range(8):
        a.add_invalid(i, "bad")
        b.add_invalid(100 + i, "bad")
    a.merge(b)
    assert a.n_invalid == 16 and len(a.examples) == 10 and a.examples[-1][1] == 101


TABLE = pd.DataFrame(
    {"smiles": [ASPIRIN, CAFFEINE], "name": ["aspirin", None], "mw": [180.159, 194.194],
     "hbd": pd.array([1, 0], dtype="Int64"), "pains": pd.array([False, True], dtype="boolean"), "alerts": ["", "x:y"]}
)


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".csv.gz", ".parquet"])
def test_write_table_round_trip(tmp_path, ext):
    path = tmp_path / f"out{ext}"
    write_table(TABLE, path)
    back = pd.read_parquet(path) if ext == ".parquet" else pd.read_csv(path, sep="\t" if ext == ".tsv" else ",")
    assert list(back.columns) == list(TABLE.columns)
    assert back["smiles"].tolist() == TABLE["smiles"].tolist()
    assert back["mw"].tolist() == pytest.approx(TABLE["mw"].tolist())
    assert read_smiles(path).names == ["aspirin", None]


def test_write_smi_and_sdf_read_back(tmp_path):
    write_table(TABLE, tmp_path / "o.smi")
    assert (tmp_path / "o.smi").read_text() == f"{ASPIRIN} aspirin\n{CAFFEINE}\n"
    write_table(TABLE, tmp_path / "o.sdf")
    mols = list(Chem.SDMolSupplier(str(tmp_path / "o.sdf")))
    assert [m.GetProp("_Name") for m in mols] == ["aspirin", ""]
    assert mols[1].GetProp("pains") == "True" and float(mols[0].GetProp("mw")) == pytest.approx(180.159)
    assert read_smiles(tmp_path / "o.sdf").smiles == [Chem.CanonSmiles(ASPIRIN), Chem.CanonSmiles(CAFFEINE)]


def test_a_quoted_name_over_lines_is_read_whole_and_written_on_one_line(tmp_path):
    """A CSV field quoted over several lines (a spreadsheet cell with line breaks) is one record whose
    name keeps its breaks (it used to lose them: "aspirinbatch 2"); CSV writes it back quoted, and
    the one-line places of .smi and SDF get it with spaces, one molecule per line or record."""
    path = tmp_path / "in.csv"
    path.write_text(f'name,smiles,note\n"aspirin\nbatch 2",{ASPIRIN},"a\n\nb"\ncaffeine,{CAFFEINE},x\n')
    records = list(iter_records(path))
    assert [(r.line, r.name) for r in records] == [(5, "aspirin\nbatch 2"), (6, "caffeine")]  # a record is named by its last line
    table = pd.DataFrame({"smiles": [r.smiles for r in records], "name": [r.name for r in records],
                          "note": ["a\n\nb", "x"]})
    write_table(table, tmp_path / "o.csv")
    assert [r.name for r in iter_records(tmp_path / "o.csv")] == ["aspirin\nbatch 2", "caffeine"]
    write_table(table, tmp_path / "o.smi")
    assert (tmp_path / "o.smi").read_text() == f"{ASPIRIN} aspirin batch 2\n{CAFFEINE} caffeine\n"
    write_table(table, tmp_path / "o.sdf")
    mols = list(Chem.SDMolSupplier(str(tmp_path / "o.sdf")))
    assert [m.GetProp("_Name") for m in mols] == ["aspirin batch 2", "caffeine"]
    assert [m.GetProp("note") for m in mols] == ["a  b", "x"]


def test_write_sdf_to_a_stream_keeps_or_skips_invalid_rows():
    table = pd.DataFrame({"smiles": [ASPIRIN, "C1CC"], "name": ["aspirin", "bad"], "mw": [180.159, 1.0]})
    kept = io.StringIO()
    assert write_sdf(table, kept) == 2
    assert kept.getvalue().count("$$$$") == 2 and ">  <mw>\n180.159\n" in kept.getvalue()
    skipped = io.StringIO()
    assert write_sdf(table, skipped, skip_invalid=True, float_format=".4g") == 1
    assert "aspirin" in skipped.getvalue() and "bad" not in skipped.getvalue()
    assert ">  <mw>\n180.2\n" in skipped.getvalue()


def test_write_is_atomic_on_failure(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("previous\n")
    with pytest.raises(ValueError):
        write_table(pd.DataFrame({"other": [1]}), path)
    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_write_unknown_extension_is_usage_error(tmp_path):
    with pytest.raises(UsageError, match="unsupported file type"):
        write_table(TABLE, tmp_path / "out.xlsx")


def test_a_pooled_read_equals_the_sequential_one(tmp_path, train_smiles, monkeypatch):
    """Training reads big files through a process pool (``map_chunks``): same molecules, names and
    order, and the same invalid records reported at the same lines, chunk boundaries included."""
    from molgen.data import readers
    from molgen.parallel import imap_chunks

    monkeypatch.setattr(readers, "READ_CHUNK", 7)  # many chunks, invalid records on their edges
    lines = ["smiles,name"]
    for i, smi in enumerate(train_smiles[:60]):
        lines.append(f"{smi},m{i}")
        if i % 13 == 6:
            lines.append(f"C1CC,bad{i}")  # unclosed ring
    path = tmp_path / "mols.csv"
    path.write_text("\n".join(lines) + "\n")
    seq = read_smiles(path)
    pooled = read_smiles(path, map_chunks=lambda func, chunks: imap_chunks(func, chunks, 2))
    assert pooled.smiles == seq.smiles and pooled.names == seq.names and len(seq.smiles) == 60
    assert pooled.report.examples == seq.report.examples and seq.report.n_invalid == 5
    assert (pooled.report.n_records, pooled.report.n_valid) == (seq.report.n_records, seq.report.n_valid) == (65, 60)
