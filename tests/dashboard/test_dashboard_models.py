"""Dashboard models: checkpoint paths typed by the user, safe loading, generation summaries."""

from __future__ import annotations

import pandas as pd
import pytest

from molgen import api
from molgen.dashboard import models
from molgen.errors import InputError


def test_resolve_checkpoint_accepts_pt_and_run_dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "MODELS_DIR", tmp_path / "models")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.pt").write_bytes(b"x")
    assert models.resolve_checkpoint(str(run)) == (run / "checkpoints" / "best.pt").resolve()
    assert models.resolve_checkpoint(f"  {run}/checkpoints/best.pt ") == (run / "checkpoints" / "best.pt").resolve()
    shipped = tmp_path / "models" / "tiny"
    shipped.mkdir(parents=True)
    (shipped / "model.pt").write_bytes(b"x")
    assert models.resolve_checkpoint("tiny") == shipped / "model.pt"
    assert models.shipped_model_names() == ["tiny"]


@pytest.mark.parametrize("case", ["blank", "missing", "not-pt", "empty-dir", "nul"])
def test_resolve_checkpoint_refuses(tmp_path, monkeypatch, case):
    monkeypatch.setattr(api, "MODELS_DIR", tmp_path / "models")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    text = {"blank": " ", "missing": str(tmp_path / "nope.pt"), "not-pt": str(tmp_path / "notes.txt"),
            "empty-dir": str(tmp_path / "empty"), "nul": "a\x00b"}[case]
    with pytest.raises(InputError):
        models.resolve_checkpoint(text)


def test_load_generator_rejects_non_checkpoint(tmp_path):
    from molgen.checkpoint import CheckpointError

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        models.load_generator(bad)


def test_generation_summary():
    table = pd.DataFrame({"smiles": ["CCO", "OCC", "x", "CCN"], "canonical_smiles": ["CCO", "CCO", "", "CCN"],
                          "valid": [True, True, False, True], "qed": [0.4, 0.4, float("nan"), 0.7]})
    got = models.generation_summary(table)
    assert got == {"Generated": "4", "Valid": "75.0%", "Unique (of valid)": "66.7%", "Mean QED (valid)": "0.500"}
    assert models.generation_summary(table.assign(valid=False))["Unique (of valid)"] == "–"


def test_model_summary_says_how_a_grammar_vae_decodes(semantic_run, tiny_models_dir):
    from molgen.dashboard import models

    semantic = models.model_summary(models.load_generator(semantic_run / "checkpoints" / "last.pt"))
    assert semantic["kind"] == "gvae" and semantic["grammar"] == "kekule (semantic constraints)"
    plain = models.model_summary(models.load_generator(tiny_models_dir / "tiny-gvae" / "model.pt"))
    assert plain["grammar"] == "smiles (grammar constraints)" and "command" in plain


def test_best_shipped_model_comes_first():
    """Issue 18 #5: the picker's default is the most valid shipped model, with its validity shown."""
    names = models.shipped_model_names()
    assert names[0] == "gvae" and names[-1] == "cvae"  # 100 % valid first, the character VAE (31 %) last
    validity = [models.shipped_validity(n) for n in names]
    assert validity == sorted(validity, reverse=True)
    assert models.model_label("cvae") == "cvae · 31.5% valid"
    assert models.with_article("organ") == "an organ" and models.with_article("gvae") == "a gvae"


def test_ranking_puts_models_without_a_report_last(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "MODELS_DIR", tmp_path)
    for name, report in (("a", None), ("b", '{"validity": 0.2}'), ("c", '{"validity": 0.9}'), ("d", "not json")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.pt").write_bytes(b"x")
        if report is not None:
            (tmp_path / name / "report.json").write_text(report)
    assert models.shipped_model_names() == ["c", "b", "a", "d"]


def test_generation_reports_progress_per_batch(tiny_models_dir):
    """Issue 18 #12: one progress message per decoded batch, not one for the whole sample."""
    model = models.load_generator(tiny_models_dir / "tiny-gvae" / "model.pt")
    calls = []
    table = models.generate_table(model, 10, seed=3, batch_size=3, progress=lambda f, msg: calls.append((f, msg)))
    sampled = [msg for _, msg in calls if msg.startswith("Sampled")]
    assert sampled == ["Sampled 3 / 10 strings", "Sampled 6 / 10 strings", "Sampled 9 / 10 strings",
                       "Sampled 10 / 10 strings"]
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    from molgen.sampling import sample_table

    assert table.equals(sample_table(model, 10, seed=3, batch_size=3))  # progress does not change the sample
