"""``molgen evaluate`` end to end in-process, on tiny reference files (no FCD unless asked)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from molgen.cli import main
from molgen.evaluation import flat_metrics, load_report

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
    assert main(["evaluate", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


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


def test_help_examples_parse_and_name_shipped_models():
    """Every example of ``--help`` is a valid command line whose models exist."""
    import shlex

    from molgen.api import resolve_model_path
    from molgen.cli import build_parser
    from molgen.commands import evaluate

    examples = [line.strip() for line in evaluate.DESCRIPTION.split("examples:")[1].splitlines() if line.strip()]
    assert len(examples) >= 5
    for line in examples:
        args = build_parser().parse_args(shlex.split(line)[1:])
        evaluate._check_args(args)
        for name in args.model:
            assert resolve_model_path(name).is_file()


def test_file_report_json_counts_invalid_records(tmp_path, refs, gen_file, capsys):
    report = tmp_path / "report.json"
    assert main(["evaluate", str(gen_file), *refs, "--no-fcd", "-o", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["schema"] == "molgen-report" and data["models"]["gen.csv"]["kind"] == "file"
    col = flat_metrics(data)["gen.csv"]
    assert col["n_generated"] == 7
    assert col["valid"] == pytest.approx(5 / 7)  # "C1CC(" and the empty cell are invalid
    assert col["unique@1k"] == pytest.approx(4 / 5)  # fewer than 1,000 valid: computed on those 5 (MOSES)
    assert col["novelty"] == pytest.approx(3 / 4)  # "OCC" (ethanol) is in the train file
    assert 0 < col["snn/test"] <= 1 and 0 < col["snn/testsf"] <= 1
    assert "fcd/test" not in col
    assert data["settings"]["fcd"] is None and "n_samples" not in data["settings"]
    out = capsys.readouterr().out
    assert out.startswith("| metric | gen.csv |") and "| valid | 0.7143 |" in out
    # A second run hits the reference cache and gives identical numbers.
    assert main(["evaluate", str(gen_file), *refs, "--no-fcd", "-o", str(report)]) == 0
    assert flat_metrics(json.loads(report.read_text()))["gen.csv"] == col


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
    monkeypatch.setattr(molgen.api, "load_model", lambda name, device="cpu", precision="fp32": models[name])

    def vae_measures(model, test_smiles, *, seed, n_prior, progress=False, **options):
        calls["vae"] = (model.kind, len(test_smiles), seed, n_prior)
        return {"reconstruction": 0.5, "prior_validity": 0.25}

    monkeypatch.setattr("molgen.evaluation.vae.vae_measures", vae_measures)

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
    col = flat_metrics(data)["gen.csv"]
    assert col["fcd/test"] > 0 and "fcd/testsf" not in col
    assert data["settings"]["fcd"].startswith("fcd-torch 1.0.7")


def test_report_dir_of_a_vae_has_the_vae_section(tmp_path, refs, tiny_models_dir):
    """``--model RUN --report-dir RUN`` writes the one report schema; a VAE gets its ``vae`` section."""
    run = tiny_models_dir / "tiny-gvae"
    out = tmp_path / "run"
    assert main(["evaluate", "--model", str(run), "-n", "16", "--seed", "1", "--n-recon", "5", "--n-stochastic", "1",
                 *refs, "--no-fcd", "--report-dir", str(out)]) == 0
    report = load_report(out)
    assert report["schema"] == "molgen-report" and report["version"] == 1 and "converted_from" not in report
    assert report["settings"]["n_samples"] == 16 and report["settings"]["n_stochastic"] == 1
    entry = report["models"]["tiny-gvae"]  # a path's label is its run folder's name
    assert entry["kind"] == "gvae" and entry["source"].endswith("model.pt")
    assert entry["metrics"]["n_generated"] == 16
    assert entry["vae"]["n_recon"] == 5 and entry["vae"]["n_prior"] == 16 and 0 <= entry["vae"]["reconstruction_stochastic"] <= 1
    assert "goals" not in entry
    flat = flat_metrics(report)["tiny-gvae"]
    assert flat["prior_validity"] == entry["vae"]["prior_validity"] and flat["valid"] == entry["metrics"]["valid"]
    md = (out / "report.md").read_text()
    assert md.startswith("| metric | tiny-gvae |") and "| prior_validity |" in md and "Command: `" in md


def test_report_dir_of_organ_with_goals(tmp_path, refs):
    """A shipped ORGAN model: no ``vae`` section; ``--goals organ-qed`` adds the goal table."""
    out = tmp_path / "organ"
    assert main(["evaluate", "--model", "organ-mle", "-n", "40", *refs, "--no-fcd", "--goals", "organ-qed",
                 "--report-dir", str(out), "-o", str(tmp_path / "organ.csv")]) == 0
    report = load_report(out / "report.json")
    entry = report["models"]["organ-mle"]
    assert entry["kind"] == "organ" and "vae" not in entry and entry["sampling_seconds"] > 0
    assert report["settings"]["n_samples"] == 40 and "n_recon" not in report["settings"]
    goals = entry["goals"]
    assert goals["set"] == "organ-qed" and 0.5 < goals["train_qed_mean"] < 1
    assert set(goals["checks"]) == {"valid", "unique@10k", "novelty", "intdiv1", "qed"}
    assert goals["checks"]["valid"]["value"] == entry["metrics"]["valid"]
    assert flat_metrics(report)["organ-mle"]["goal/valid"] == float(goals["checks"]["valid"]["met"])
    assert "## Goals (organ-qed) of organ-mle" in (out / "report.md").read_text()
    table = pd.read_csv(tmp_path / "organ.csv", index_col="metric")
    assert table.loc["valid", "organ-mle"] == pytest.approx(entry["metrics"]["valid"])


def test_goals_need_a_training_set(refs, capsys):
    assert main(["evaluate", "--model", "organ-mle", *refs, "--train", "none", "--goals", "organ-qed"]) == 2
    assert "--train" in capsys.readouterr().err
