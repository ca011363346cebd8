"""``molgen evaluate`` end to end in-process, on tiny reference files (no FCD unless asked)."""

from __future__ import annotations

import json
import sys
import types

import pandas as pd
import pytest

from molgen.cli import main

GENERATED = ["CCO", "c1ccccc1O", "CCO", "C1CC(", "CC(=O)Nc1ccc(O)cc1", "Cc1ccc2ccccc2c1"]


@pytest.fixture
def refs(tmp_path, monkeypatch, train_smiles, test_smiles):
    """Small train/test/scaffold-test CSVs and a private cache folder."""
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    paths = {}
    for name, smiles in (("train", train_smiles[:150] + ["OCC"]), ("test", test_smiles[:80]), ("sf", test_smiles[80:140])):
        path = tmp_path / f"{name}.csv"
        path.write_text("SMILES\n" + "\n".join(smiles) + "\n")
        paths[name] = str(path)
    return ["--train", paths["train"], "--test", paths["test"], "--test-scaffolds", paths["sf"], "--no-progress"]


@pytest.fixture
def gen_file(tmp_path):
    path = tmp_path / "gen.csv"
    # An empty SMILES cell in a two-column CSV is a record too: it must count as invalid.
    path.write_text("smiles,name\n" + "\n".join(f"{s},m{i}" for i, s in enumerate(GENERATED)) + "\n,empty\n")
    return path


def test_usage_errors_exit_2(tmp_path, gen_file, capsys):
    assert main(["evaluate"]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
    assert main(["evaluate", str(gen_file), "-o", str(tmp_path / "r.txt")]) == 2
    assert main(["evaluate", str(gen_file), "-n", "0", "--model", "gvae"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--bogus"])
    assert exc.value.code == 2


def test_missing_file_and_unknown_model_are_clean_errors(tmp_path, refs, capsys):
    assert main(["evaluate", str(tmp_path / "nope.smi"), *refs, "--no-fcd"]) == 1
    assert "nope.smi" in capsys.readouterr().err
    assert main(["evaluate", "--model", "no-such-model", *refs, "--no-fcd"]) == 2
    assert "no-such-model" in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--model" in out and "fcd-torch 1.0.7" in out


def test_file_report_json_counts_invalid_records(tmp_path, refs, gen_file, capsys):
    report = tmp_path / "report.json"
    assert main(["evaluate", str(gen_file), *refs, "--no-fcd", "-o", str(report)]) == 0
    data = json.loads(report.read_text())
    col = data["results"]["gen.csv"]
    assert col["n_generated"] == 7
    assert col["valid"] == pytest.approx(5 / 7)  # "C1CC(" and the empty cell are invalid
    assert col["unique@1k"] == pytest.approx(4 / 5)  # fewer than 1,000 valid: computed on those 5 (MOSES)
    assert col["novelty"] == pytest.approx(3 / 4)  # "OCC" (ethanol) is in the train file
    assert 0 < col["snn/test"] <= 1 and 0 < col["snn/testsf"] <= 1
    assert "fcd/test" not in col
    assert data["meta"]["fcd"] is None
    out = capsys.readouterr().out
    assert out.startswith("| metric | gen.csv |") and "| valid | 0.7143 |" in out
    # A second run hits the reference cache and gives identical numbers.
    assert main(["evaluate", str(gen_file), *refs, "--no-fcd", "-o", str(report)]) == 0
    assert json.loads(report.read_text())["results"]["gen.csv"] == col


def test_side_by_side_models_with_vae_measures(tmp_path, refs, monkeypatch):
    """Two models -> two columns; the VAE column also gets ``vae_measures``."""
    import molgen.api

    calls = {}

    class FakeGenerator:
        kind = "organ"
        checkpoint: dict = {}

        def __init__(self, samples):
            self.samples = samples

        def sample(self, n, *, temperature=1.0, seed=None, batch_size=512, progress=False):
            calls.setdefault("sample", []).append((n, seed))
            return (self.samples * n)[:n]

    class FakeVAE(FakeGenerator):
        kind = "gvae"
        latent_size = 4

        def encode(self, smiles):
            raise NotImplementedError

        def decode(self, z, *, greedy=True, temperature=1.0, seed=None):
            raise NotImplementedError

    models = {"organ-x": FakeGenerator(["CCO", "CCN", "bad"]), "gvae-x": FakeVAE(["c1ccccc1", "CCOC"])}
    monkeypatch.setattr(molgen.api, "load_model", lambda name, device="cpu": models[name])

    def vae_measures(model, test_smiles, *, seed, n_prior, progress=False):
        calls["vae"] = (model.kind, len(test_smiles), seed, n_prior)
        return {"reconstruction": 0.5, "prior_validity": 0.25}

    fake = types.ModuleType("molgen.vae.evaluate")
    fake.vae_measures = vae_measures
    monkeypatch.setitem(sys.modules, "molgen.vae.evaluate", fake)

    out_csv = tmp_path / "cmp.csv"
    rc = main(["evaluate", "--model", "organ-x", "--model", "gvae-x", "-n", "12", "--seed", "3", *refs,
               "--no-fcd", "-o", str(out_csv)])
    assert rc == 0
    assert calls["sample"] == [(12, 3), (12, 3)]
    assert calls["vae"] == ("gvae", 80, 3, 12)
    table = pd.read_csv(out_csv, index_col="metric")
    assert list(table.columns) == ["organ-x", "gvae-x"]
    assert table.loc["valid", "organ-x"] == pytest.approx(8 / 12)
    assert table.loc["valid", "gvae-x"] == 1.0
    assert table.loc["reconstruction", "gvae-x"] == 0.5
    assert pd.isna(table.loc["reconstruction", "organ-x"])

    md = tmp_path / "cmp.md"
    assert main(["evaluate", "--model", "organ-x", "-n", "5", *refs, "--no-fcd", "-o", str(md)]) == 0
    assert md.read_text().startswith("| metric | organ-x |")


def test_fcd_in_the_report(tmp_path, refs, gen_file):
    report = tmp_path / "r.json"
    assert main(["evaluate", str(gen_file), *refs, "--test-scaffolds", "none", "-o", str(report)]) == 0
    data = json.loads(report.read_text())
    col = data["results"]["gen.csv"]
    assert col["fcd/test"] > 0 and "fcd/testsf" not in col
    assert data["meta"]["fcd"].startswith("fcd-torch 1.0.7")
