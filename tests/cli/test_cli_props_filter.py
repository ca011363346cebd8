"""`molgen props` and `molgen filter` end to end through molgen.cli.main (and one subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from molgen.cli import main
from molgen.paths import ROOT

RHODANINE = "O=C1C(=Cc2ccccc2)SC(=S)N1"


@pytest.fixture()
def library(tmp_path, train_smiles) -> Path:
    path = tmp_path / "lib.csv"
    rows = [f"{s},mol{i}" for i, s in enumerate(train_smiles[:60])] + ["C1CC,broken", f"{RHODANINE},rhod"]
    path.write_text("SMILES,name\n" + "\n".join(rows) + "\n")
    return path


def test_props_writes_table_and_reports_rejects(library, tmp_path, capsys):
    out = tmp_path / "props.tsv"
    assert main(["props", str(library), "-o", str(out), "-j", "1", "--no-progress"]) == 0
    df = pd.read_csv(out, sep="\t")
    assert len(df) == 61 and df["name"].iloc[-1] == "rhod" and bool(df["pains"].iloc[-1])
    assert list(df.columns[:4]) == ["smiles", "name", "mw", "logp"] and "alerts" in df.columns
    err = capsys.readouterr().err
    assert "62 records, 61 valid, 1 invalid (line 62: SMILES syntax error in 'C1CC')" in err
    assert "wrote 61 rows" in err


def test_props_no_alerts_sdf(library, tmp_path):
    out = tmp_path / "props.sdf"
    assert main(["props", str(library), "-o", str(out), "--no-alerts", "-j", "2", "--chunk-size", "16", "--no-progress"]) == 0
    text = out.read_text()
    assert text.count("$$$$") == 61 and "<qed>" in text and "<pains>" not in text


def test_filter_counts_and_output(library, tmp_path, capsys):
    out = tmp_path / "kept.parquet"
    argv = ["filter", str(library), "-o", str(out), "--preset", "lipinski", "--preset", "pains-free",
            "--range", "qed=0.6:", "--where", "mw <= 400 and not brenk", "-j", "2", "--chunk-size", "20", "--no-progress"]
    assert main(argv) == 0
    df = pd.read_parquet(out)
    assert len(df) > 0 and (df["qed"] >= 0.6).all() and (df["mw"] <= 400).all() and not df["pains"].any()
    assert "rhod" not in set(df["name"])
    err = capsys.readouterr().err
    assert f"62 records: kept {len(df)}, rejected {61 - len(df)}, invalid 1" in err


def test_filter_similarity_and_smarts(library, tmp_path, train_smiles):
    out = tmp_path / "near.csv"
    assert main(["filter", str(library), "-o", str(out), "--similar-to", train_smiles[3], "--min-sim", "0.99",
                 "--smarts-exclude", "[Cl]", "-j", "1", "--no-progress"]) == 0
    df = pd.read_csv(out)
    assert df["name"].tolist() == ["mol3"] and df["similarity"].iloc[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--where", "qde >= 0.6"], "unknown property 'qde' (did you mean 'qed'?)\n  qde >= 0.6\n  ^^^"),
        (["--preset", "lipinsky"], "unknown preset 'lipinsky'; did you mean 'lipinski'? available: lipinski, veber"),
        (["--range", "mw=500:200"], "low bound 500 is above high bound 200"),
        (["--chunk-size", "0"], "argument --chunk-size: 0 must be >= 1"),
    ],
)
def test_filter_usage_errors_exit_2(library, tmp_path, capsys, extra, message):
    out = tmp_path / "o.csv"
    assert main(["filter", str(library), "-o", str(out), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("molgen filter: error: ") and message in err
    assert not out.exists()


def test_bad_input_exits_1(tmp_path, capsys):
    (tmp_path / "bin.smi").write_bytes(b"\x00\x01\x02")
    assert main(["props", str(tmp_path / "bin.smi"), "-o", str(tmp_path / "o.csv"), "--no-progress"]) == 1
    assert "bin.smi: line 1: binary data" in capsys.readouterr().err
    assert main(["filter", str(tmp_path / "missing.smi"), "-o", str(tmp_path / "o.csv"), "--no-progress"]) == 1
    assert "missing.smi: no such file" in capsys.readouterr().err
    (tmp_path / "x.csv").write_text("id,mw\n1,2\n")
    assert main(["filter", str(tmp_path / "x.csv"), "-o", str(tmp_path / "o.csv"), "--no-progress"]) == 1
    assert "no SMILES column; columns found: id, mw" in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["filter", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "--preset lipinski --preset pains-free" in text and "lead-like" in text


@pytest.mark.integration
def test_filter_subprocess(tmp_path):
    src = tmp_path / "in.smi"
    src.write_text(f"CC(=O)Oc1ccccc1C(=O)O aspirin\n{RHODANINE} rhod\nnonsense\n")
    out = tmp_path / "out.smi"
    proc = subprocess.run(
        [sys.executable, "-m", "molgen.cli", "filter", str(src), "-o", str(out), "--preset", "pains-free", "-j", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "CC(=O)Oc1ccccc1C(=O)O aspirin\n"
    assert "3 records: kept 1, rejected 1, invalid 1" in proc.stderr
    assert "line 3: SMILES syntax error in 'nonsense'" in proc.stderr


WHERE = "qed > 0.6 and not pains and sa < 3"


@pytest.mark.parametrize("fmt", [".csv", ".parquet"])
def test_filter_reuses_the_properties_a_props_table_already_has(fmt, library, tmp_path, capsys):
    table = tmp_path / f"props{fmt}"
    assert main(["props", str(library), "-o", str(table), "-j", "1", "--no-progress"]) == 0
    fresh, reused = tmp_path / "fresh.csv", tmp_path / "reused.csv"
    assert main(["filter", str(library), "-o", str(fresh), "--where", WHERE, "-j", "1", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["filter", str(table), "-o", str(reused), "--where", WHERE, "-j", "2", "--chunk-size", "20",
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"reused from {table}: mw, logp, qed, sa" in err and "pains, brenk, nih, alerts" in err
    assert "recomputed" not in err
    assert reused.read_text() == fresh.read_text()
    assert main(["filter", str(table), "-o", str(reused), "--where", WHERE, "-j", "1", "--no-progress",
                 "--recompute"]) == 0
    assert "reused from" not in capsys.readouterr().err and reused.read_text() == fresh.read_text()


def test_filter_recomputes_a_column_that_disagrees_and_says_why(library, tmp_path, capsys):
    table = tmp_path / "props.csv"
    assert main(["props", str(library), "-o", str(table), "-j", "1", "--no-progress"]) == 0
    df = pd.read_csv(table)
    true_qed = df.loc[0, "qed"]
    df.loc[0, "qed"] = 0.99  # another tool's QED, or a hand edit, on the first row
    df.to_csv(table, index=False)
    fresh, out = tmp_path / "fresh.csv", tmp_path / "out.csv"
    assert main(["filter", str(library), "-o", str(fresh), "--where", WHERE, "-j", "1", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["filter", str(table), "-o", str(out), "--where", WHERE, "-j", "1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"recomputed qed: line 2 has 0.99, RDKit gives {float(true_qed)!r}" in err
    assert out.read_text() == fresh.read_text()
    assert main(["filter", str(table), "-o", str(out), "--where", WHERE, "-j", "1", "--no-progress",
                 "--standardize"]) == 0
    assert "--standardize changes the molecules the input's values describe" in capsys.readouterr().err
