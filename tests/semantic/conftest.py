"""Fixtures of the semantic-grammar tests: a tiny Grammar VAE trained with semantic constraints."""

from __future__ import annotations

import pytest

TINY = """
seed = 0
grammar = "kekule"
constraints = "semantic"
log_every = 2
checkpoint_every = 4
max_molecules = 300
[model]
latent_size = 8
encoder = "gru"
encoder_size = 16
dense_size = 16
decoder_input_size = 8
hidden_size = 32
embedding_size = 8
[train]
batch_size = 32
epochs = 1
max_steps = 6
val_every = 3
val_max = 32
val_decode = 16
tensorboard = false
"""


@pytest.fixture(scope="session")
def semantic_run(tmp_path_factory, train_tiny_cli):
    """A tiny Grammar VAE trained 6 steps with semantic constraints (its run folder)."""
    return train_tiny_cli(tmp_path_factory.mktemp("semantic"), TINY)


@pytest.fixture(scope="session")
def tiny_semantic_toml() -> str:
    """The tiny semantic Grammar VAE's config text."""
    return TINY
