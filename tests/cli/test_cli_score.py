"""`molgen score` end to end through molgen.cli.main: columns, values against direct calls, rejects, config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit.Chem import QED, Crippen

from molgen.chem.mol import to_mol
from molgen.cli import main
from molgen.paths import ROOT
from molgen.scoring.components import MolBatch, ObjectiveContext, sa
from molgen.scoring.transforms import ramp, sigmoid

SMILES = ["CC(=O)Nc1ccc(O)cc1", "c1ccccc1", "C1CC", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"]


@pytest.fixture()
def library(tmp_path) -> Path:
    path = tmp_path / "lib.smi"
    path.write_text("".join(f"{s} m{i}\n" for i, s in enumerate(SMILES)))
    return path


def test_score_writes_raw_transformed_and_total_and_reports_the_invalid_line(library, tmp_path, capsys):
    out = tmp_path / "scored.csv"
    assert main(["score", str(library), "--config", str(ROOT / "configs" / "scoring-qed.toml"), "-o", str(out), "-j", "1"]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["smiles", "name", "qed_raw", "qed", "sa_raw", "sa", "logp_range_raw", "logp_range", "score"]
    assert df["name"].tolist() == ["m0", "m1", "m3"]  # line 3 is invalid
    mols = [to_mol(s) for s in df["smiles"]]
    qed = np.array([QED.qed(m) for m in mols])
    sa_raw = np.asarray(sa(MolBatch(list(df["smiles"]), mols, ObjectiveContext())))
    logp = np.array([Crippen.MolLogP(m) for m in mols])
    logp_range = np.clip(1.0 - np.maximum.reduce([1.0 - logp, np.zeros(3), logp - 3.0]) / 2.0, 0.0, 1.0)
    # text tables carry 10 significant digits (molgen.data.writers.FLOAT_FORMAT: no binary noise)
    assert df["qed_raw"].to_numpy() == pytest.approx(qed, rel=1e-9)
    assert df["qed"].to_numpy() == pytest.approx(ramp(qed, 0.4, 0.8), rel=1e-9)
    assert df["sa_raw"].to_numpy() == pytest.approx(sa_raw, rel=1e-9)
    assert df["sa"].to_numpy() == pytest.approx(sigmoid(sa_raw, 0.45, 0.75, 0.5), rel=1e-9)
    assert df["logp_range"].to_numpy() == pytest.approx(logp_range, rel=1e-9)
    total = df["qed"] ** 0.5 * df["sa"] ** 0.3 * df["logp_range"] ** 0.2  # geometric mean, weights 0.5/0.3/0.2
    assert df["score"].to_numpy() == pytest.approx(total.to_numpy(), rel=1e-9)
    err = capsys.readouterr().err
    assert "4 records, 3 valid, 1 invalid (line 3: SMILES syntax error in 'C1CC')" in err
    assert "wrote 3 scored molecules" in err


def test_novelty_with_a_reference_file_and_the_arithmetic_mean(tmp_path):
    (tmp_path / "train.smi").write_text("CCO\nCCN\n")
    (tmp_path / "s.toml").write_text('reference = "train.smi"\nobjectives = [{name = "novelty"}, {name = "validity", weight = 3}]\n')
    (tmp_path / "in.csv").write_text("smiles\nOCC\nCCCC\n")
    assert main(["score", str(tmp_path / "in.csv"), "--config", str(tmp_path / "s.toml"), "-o", str(tmp_path / "o.tsv")]) == 0
    df = pd.read_csv(tmp_path / "o.tsv", sep="\t")
    assert df["novelty"].tolist() == [0.0, 1.0] and df["score"].tolist() == pytest.approx([0.75, 1.0])


@pytest.mark.parametrize("text, needle", [
    ('objectives = [{name = "qed", wieght = 2}]\n', "unknown key 'wieght' (did you mean 'weight'?)"),
    ('aggregate = "median"\nobjectives = [{name = "qed"}]\n', "'median' is not one of 'arithmetic', 'geometric'"),
    ('objectives = [{name = "qed", transform = {kind = "sigmoid", low = 0.2, high = 0.8}}]\n', "missing k"),
    ('objectives = [{name = "diversity"}]\n', "reference"),
    ('objectives = []\n', "objectives is empty"),
])
def test_a_bad_config_is_one_clear_line_and_a_non_zero_exit(library, tmp_path, capsys, text, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    out = tmp_path / "o.csv"
    assert main(["score", str(library), "--config", str(cfg), "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("molgen score: error: ") and str(cfg) in err and needle in err and "\n" not in err
    assert not out.exists()
