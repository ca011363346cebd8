"""``molgen cache build|info``: the reference statistics of ``molgen evaluate`` built once, then reused."""

from __future__ import annotations

import logging

from molgen.cli import main


def test_build_then_evaluate_loads_from_the_cache(tmp_path, monkeypatch, train_smiles, test_smiles, capsys, caplog):
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    train, test = tmp_path / "train.smi", tmp_path / "test.smi"
    train.write_text("\n".join(train_smiles[:60]) + "\n")
    test.write_text("\n".join(test_smiles[:40]) + "\n")
    refs = ["--train", str(train), "--test", str(test), "--test-scaffolds", "none"]
    caplog.set_level(logging.INFO)
    assert main(["cache", "build", *refs, "--no-fcd", "-j", "1", "--no-progress"]) == 0
    assert "building reference statistics for the train set (60 SMILES" in caplog.text
    out = capsys.readouterr().out
    assert "2 cached reference set(s)" in out and str(tmp_path / "cache" / "metrics") in out
    caplog.clear()
    gen = tmp_path / "gen.smi"
    gen.write_text("\n".join(test_smiles[40:60]) + "\n")
    assert main(["evaluate", str(gen), *refs, "--no-fcd", "-j", "1", "--no-progress"]) == 0
    assert "building reference statistics" not in caplog.text
    assert caplog.text.count("loaded from cache") == 2


def test_info_on_an_empty_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "empty"))
    assert main(["cache", "info"]) == 0
    assert "0 cached reference set(s)" in capsys.readouterr().out
