"""The shipped checkpoints: present, small, self-describing, loadable and reproducible.

This is what `molgen sample --model gvae` right after the README's set-up relies on.
"""

from __future__ import annotations

import logging

import pytest

from molgen import api
from molgen.checkpoint import load_checkpoint
from molgen.chem.mol import to_mol

SHIPPED = ("gvae", "gvae-cf", "cvae", "organ-mle", "organ-qed", "organ-grammar-mle", "organ-grammar-qed")
MAX_BYTES = 25 * 1024 * 1024


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_is_small_and_self_describing(name):
    path = api.MODELS_DIR / name / "model.pt"
    assert path.is_file(), f"shipped model {name} missing at {path}"
    assert path.stat().st_size <= MAX_BYTES
    for companion in ("config.toml", "log.csv", "report.json", "report.md", "README.md"):
        assert (path.parent / companion).is_file(), f"{name}: {companion} missing"
    ck = load_checkpoint(path)
    assert ck["kind"] in ("gvae", "cvae", "organ")
    assert ck["command"].startswith("molgen train "), ck["command"]
    assert ck["config"] and ck["versions"]["torch"]
    assert ("grammar" in ck) or ("vocab" in ck)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_samples_reproducibly(name):
    model = api.load_model(name)
    first = model.sample(32, seed=7)
    assert len(first) == 32
    assert model.sample(32, seed=7) == first
    assert model.sample(32, seed=8) != first
    # a trained model produces real molecules, not only noise
    assert sum(to_mol(s) is not None for s in first) >= 4


@pytest.mark.parametrize("name", SHIPPED)
def test_loading_a_shipped_model_warns_of_nothing(name, caplog):
    """``organ-mle`` and ``organ-qed`` were written before ``embed_dim`` became ``embedding_size``:
    a checkpoint's old keys are read quietly (the deprecation warning is for the user's TOML files,
    and nobody can edit a shipped checkpoint)."""
    with caplog.at_level(logging.WARNING):
        api.load_model(name)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
