"""``molgen sample`` / ``encode`` / ``decode`` end to end on a tiny checkpoint made here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molgen.cli import main


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, train_smiles, tiny_vae_run):
    rc, out = tiny_vae_run(tmp_path_factory.mktemp("cli"), "gvae", train_smiles[:300], steps=6)
    assert rc == 0
    return out / "checkpoints" / "last.pt"


def test_sample_csv_with_properties(ckpt, tmp_path):
    out = tmp_path / "s.csv"
    assert main(["sample", "--model", str(ckpt), "-n", "25", "--seed", "1", "--out", str(out), "--no-progress",
                 "--device", "cpu"]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert len(df) == 25
    assert list(df.columns[:4]) == ["id", "smiles", "valid", "canonical_smiles"] and "qed" in df.columns
    assert df["id"].tolist() == list(range(1, 26))
    assert list(df.columns[-4:]) == ["model", "seed", "temperature", "molgen_version"]
    assert set(df["model"]) == {str(ckpt)} and set(df["seed"]) == {1} and set(df["temperature"]) == {1.0}
    assert "00000000" not in out.read_text() and "99999999" not in out.read_text()  # no float noise
    again = tmp_path / "again.csv"
    main(["sample", "--model", str(ckpt), "-n", "25", "--seed", "1", "--out", str(again), "--no-progress"])
    assert out.read_text() == again.read_text()


def test_sample_to_stdout(ckpt, tmp_path, capsys):
    """Without --out (or with --out -) SMILES go to stdout, one per line; --format csv gives the table."""
    file = tmp_path / "s.smi"
    assert main(["sample", "--model", str(ckpt), "-n", "6", "--seed", "2", "--no-progress", "--out", str(file)]) == 0
    capsys.readouterr()
    assert main(["sample", "--model", str(ckpt), "-n", "6", "--seed", "2", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.out == file.read_text() and len(captured.out.splitlines()) == 6
    assert main(["sample", "--model", str(ckpt), "-n", "4", "--seed", "2", "--no-progress", "--out", "-",
                 "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("id,smiles,valid,canonical_smiles,") and len(lines) == 5
    assert main(["sample", "--model", str(ckpt), "-n", "4", "--no-progress", "--format", "parquet"]) == 2
    assert "cannot stream format 'parquet'" in capsys.readouterr().err


def test_sample_smi_no_props_and_bad_args(ckpt, tmp_path, capsys):
    out = tmp_path / "s.smi"
    assert main(["sample", "--model", str(ckpt), "-n", "7", "--no-props", "--out", str(out), "--no-progress",
                 "--chunk-size", "3"]) == 0
    assert len(out.read_text().splitlines()) == 7
    assert main(["sample", "--model", str(ckpt), "-n", "5", "--temperature", "0", "--out", str(out)]) == 2
    assert main(["sample", "--model", str(tmp_path / "missing.pt"), "-n", "5", "--out", str(out)]) == 2
    bad = tmp_path / "bad.pt"
    bad.write_text("nope")
    assert main(["sample", "--model", str(bad), "-n", "5", "--out", str(out)]) == 1
    assert "not a readable torch checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["npy", "csv", "parquet"])
def test_encode_decode_round_trip(ckpt, tmp_path, train_smiles, fmt):
    src = tmp_path / "in.smi"
    src.write_text("\n".join(train_smiles[:6]) + "\n")
    latents = tmp_path / f"z.{fmt}"
    assert main(["encode", "--model", str(ckpt), str(src), "-o", str(latents)]) == 0
    if fmt == "npy":
        z = np.load(latents)
    else:
        df = pd.read_csv(latents) if fmt == "csv" else pd.read_parquet(latents)
        assert df["smiles"].tolist() == train_smiles[:6]
        z = df[[c for c in df.columns if c.startswith("z")]].to_numpy()
    assert z.shape == (6, 8) and np.isfinite(z).all()
    out = tmp_path / "dec.csv"
    assert main(["decode", "--model", str(ckpt), str(latents), "-o", str(out), "--no-props"]) == 0
    dec = pd.read_csv(out, keep_default_na=False)
    assert len(dec) == 6 and list(dec.columns) == ["smiles", "valid", "canonical_smiles"]

    from molgen.api import load_model

    model = load_model(ckpt)
    assert dec["smiles"].tolist() == model.decode(model.encode(train_smiles[:6]))


def test_decode_rejects_wrong_dimensions(ckpt, tmp_path):
    z = tmp_path / "z.npy"
    np.save(z, np.zeros((2, 3), dtype=np.float32))
    assert main(["decode", "--model", str(ckpt), str(z), "-o", str(tmp_path / "x.csv")]) == 1
