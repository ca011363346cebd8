"""``molgen encode``: one row per input record, NaN latents where a molecule cannot be encoded,
input names/ids carried (what its ``--help`` promises)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molgen.cli import main


@pytest.fixture(scope="module")
def ckpt(tiny_models_dir):
    return tiny_models_dir / "tiny-gvae" / "model.pt"


def test_invalid_records_keep_their_row_with_nan_latents_and_names(ckpt, tmp_path, train_smiles):
    src = tmp_path / "in.smi"
    src.write_text(f"{train_smiles[0]} mol-a\nC1CC mol-bad\n{train_smiles[1]} mol-b\nnot_a_smiles mol-junk\n")
    out = tmp_path / "z.csv"
    assert main(["encode", "--model", str(ckpt), str(src), "-o", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert df["name"].tolist() == ["mol-a", "mol-bad", "mol-b", "mol-junk"]
    assert df["line"].tolist() == [1, 2, 3, 4]
    assert df["smiles"].tolist() == [train_smiles[0], "C1CC", train_smiles[1], "not_a_smiles"]
    assert df["encoded"].tolist() == [True, False, True, False]
    z = pd.read_csv(out)[[f"z{k}" for k in range(8)]].to_numpy()
    assert np.isfinite(z[[0, 2]]).all() and np.isnan(z[[1, 3]]).all()
    npy = tmp_path / "z.npy"
    assert main(["encode", "--model", str(ckpt), str(src), "-o", str(npy)]) == 0
    np.testing.assert_allclose(np.load(npy), z.astype(np.float32), rtol=1e-6)


def test_id_column_of_a_csv_is_carried(ckpt, tmp_path, train_smiles):
    src = tmp_path / "in.csv"
    src.write_text(f"id,smiles\nA1,{train_smiles[0]}\nA2,C(\nA3,{train_smiles[2]}\n")
    out = tmp_path / "z.parquet"
    assert main(["encode", "--model", str(ckpt), str(src), "--id-column", "id", "-o", str(out)]) == 0
    df = pd.read_parquet(out)
    assert df["name"].tolist() == ["A1", "A2", "A3"] and df["encoded"].tolist() == [True, False, True]
