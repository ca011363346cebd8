"""The one report schema: write -> load -> flat_metrics round trip, and the three old shapes read."""

from __future__ import annotations

import json
import math

import pytest

from molgen.errors import InputError
from molgen.evaluation import flat_metrics, load_report, new_report, render_markdown, write_report

# Old report.json shapes, cut down from the shipped data/models/*/report.json and a
# `molgen evaluate -o x.json` written before the schema.
OLD_VAE = {
    "model": "data/models/gvae/model.pt", "kind": "gvae", "test": "data/moses/test.csv.gz", "seed": 0,
    "vae": {"n_recon": 1000.0, "reconstruction": 0.64, "reconstruction_stochastic": 0.5582, "n_prior": 10000.0,
            "prior_validity": 0.4899},
    "distribution": {"n_generated": 10000.0, "valid": 0.4899, "unique@10k": 0.9963257807715861, "fcd/test": 4.321025687111245},
}
OLD_ORGAN = {
    "model": "organ-qed", "n_samples": 10000, "seed": 0, "train_qed_mean": 0.806884467687715,
    "metrics": {"valid": 0.9583, "qed": 0.8720127801175249, "seconds_sampling": 7.294368371000019},
    "compared": {"organ-mle": {"valid": 0.9478}, "organ-qed": {"valid": 0.9583}},
    "goals": {"valid": {"target": ">= 0.95", "value": 0.9583, "met": True},
              "qed": {"target": ">= 0.857 (training mean 0.807 + 0.05)", "value": 0.8720127801175249, "met": True}},
}
OLD_CLI = {
    "results": {"gen.csv": {"n_generated": 7.0, "valid": 0.7142857142857143, "unique@10k": None},
                "gvae": {"valid": 0.5, "reconstruction": 0.5, "prior_validity": 0.25}},
    "meta": {"references": {"train": "t.csv", "test": "s.csv", "test_scaffolds": None}, "n_samples": 12, "seed": 3,
             "fcd": None, "versions": {"molgen": "0.1.0"}, "command": "molgen evaluate gen.csv --model gvae"},
}


def _report():
    models = {
        "gvae": {"source": "data/models/gvae/model.pt", "kind": "gvae",
                 "metrics": {"valid": 0.5, "unique@10k": math.nan, "fcd/test": 4.3},
                 "vae": {"reconstruction": 0.64, "prior_validity": 0.49}, "sampling_seconds": 1.5},
        "organ-qed": {"source": "data/models/organ-qed/model.pt", "kind": "organ", "metrics": {"valid": 0.96, "qed": 0.87},
                      "goals": {"set": "organ-qed", "train_qed_mean": 0.807,
                                "checks": {"valid": {"target": ">= 0.95", "value": 0.96, "met": True},
                                           "qed": {"target": ">= 0.857", "value": 0.87, "met": False}}}},
    }
    settings = {"n_samples": 100, "seed": 0, "temperature": 1.0, "test": "data/moses/test.csv.gz", "fcd": None, "goals": "organ-qed"}
    return new_report(models, settings, command="molgen evaluate --model gvae --model organ-qed")


def test_schema_round_trip(tmp_path):
    report = _report()
    written = write_report(tmp_path / "run", report)
    assert [p.name for p in written] == ["report.json", "report.md"]
    raw = json.loads((tmp_path / "run" / "report.json").read_text())
    assert raw["schema"] == "molgen-report" and raw["version"] == 1 and raw["molgen_version"]
    assert raw["models"]["gvae"]["metrics"]["unique@10k"] is None  # NaN is written as null
    loaded = load_report(tmp_path / "run")
    assert loaded["models"]["organ-qed"]["goals"] == report["models"]["organ-qed"]["goals"]
    flat = flat_metrics(loaded)
    assert list(flat) == ["gvae", "organ-qed"]
    assert flat["gvae"] == pytest.approx({"valid": 0.5, "unique@10k": math.nan, "fcd/test": 4.3, "reconstruction": 0.64,
                                          "prior_validity": 0.49}, nan_ok=True)
    assert flat["organ-qed"] == {"valid": 0.96, "qed": 0.87, "goal/train_qed_mean": 0.807, "goal/valid": 1.0, "goal/qed": 0.0}
    assert flat_metrics(report) == flat  # NaN is math.nan both ways, so dict equality holds
    md = (tmp_path / "run" / "report.md").read_text()
    assert md.startswith("| metric | gvae | organ-qed |") and "| unique@10k | n/a | n/a |" in md
    assert "| qed | >= 0.857 | 0.87 | NO |" in md and md == render_markdown(loaded)


def test_single_file_formats(tmp_path):
    report = _report()
    assert write_report(tmp_path / "r.json", report) == [tmp_path / "r.json"]
    assert load_report(tmp_path / "r.json")["models"].keys() == report["models"].keys()
    write_report(tmp_path / "r.csv", report)
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == "metric,gvae,organ-qed"


def test_old_vae_shape(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(OLD_VAE))
    report = load_report(tmp_path)
    assert report["schema"] == "molgen-report" and report["converted_from"] == "python -m molgen.vae.evaluate"
    entry = report["models"]["gvae"]
    assert entry["kind"] == "gvae" and entry["vae"]["reconstruction"] == 0.64
    assert report["settings"]["seed"] == 0 and report["settings"]["n_samples"] == 10000
    assert flat_metrics(report)["gvae"] == {**OLD_VAE["distribution"], **OLD_VAE["vae"]}


def test_old_organ_shape_drops_the_compared_models(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(OLD_ORGAN))
    report = load_report(tmp_path / "report.json")
    assert list(report["models"]) == ["organ-qed"]
    goals = report["models"]["organ-qed"]["goals"]
    assert goals["set"] == "organ-qed" and goals["train_qed_mean"] == OLD_ORGAN["train_qed_mean"]
    flat = flat_metrics(report)["organ-qed"]
    assert flat["valid"] == 0.9583 and flat["goal/qed"] == 1.0 and flat["goal/train_qed_mean"] == pytest.approx(0.8069, abs=1e-4)
    assert "## Goals (organ-qed) of organ-qed" in render_markdown(report)


def test_old_cli_shape_splits_the_vae_measures(tmp_path):
    (tmp_path / "cmp.json").write_text(json.dumps(OLD_CLI))
    report = load_report(tmp_path / "cmp.json")
    assert list(report["models"]) == ["gen.csv", "gvae"]
    assert report["models"]["gvae"]["vae"] == {"reconstruction": 0.5, "prior_validity": 0.25}
    assert "vae" not in report["models"]["gen.csv"]
    assert report["settings"]["seed"] == 3 and report["settings"]["train"] == "t.csv"
    assert report["command"] == OLD_CLI["meta"]["command"]
    flat = flat_metrics(report)
    assert math.isnan(flat["gen.csv"]["unique@10k"]) and flat["gvae"]["prior_validity"] == 0.25


def test_any_other_object_shows_its_numbers_and_junk_is_an_input_error(tmp_path):
    assert flat_metrics({"validity": 0.5, "uniqueness": {"at_1k": 0.9}, "model": "x", "ok": True}) == {
        "report": {"validity": 0.5, "uniqueness.at_1k": 0.9, "ok": 1.0}}
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable JSON report"):
        load_report(tmp_path)
    with pytest.raises(InputError, match="no such report"):
        load_report(tmp_path / "missing.json")
    (tmp_path / "new.json").write_text(json.dumps({**_report(), "version": 99}))
    with pytest.raises(InputError, match="upgrade molgen"):
        load_report(tmp_path / "new.json")
