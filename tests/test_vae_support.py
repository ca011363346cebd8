"""Tiny VAE runs shared by the VAE, sampling and CLI tests (plus config validation tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from molgen.errors import ConfigError

TINY_TOML = """
seed = {seed}
log_every = 2
checkpoint_every = 3
[model]
latent_size = 8
conv_channels = [4, 4]
conv_kernels = [5, 5]
dense_size = 32
decoder_input_size = 8
hidden_size = 32
num_layers = 1
embedding_size = 8
[train]
batch_size = 32
lr = 3e-3
epochs = 2
max_steps = {steps}
val_every = 4
val_max = 32
val_decode = 8
kl_anneal_steps = 4
tensorboard = false
"""


def write_tiny_inputs(tmp: Path, smiles: list[str], steps: int = 8, seed: int = 0) -> tuple[Path, Path]:
    """A SMILES CSV and a tiny-model TOML config in ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "train.csv"
    data.write_text("SMILES\n" + "\n".join(smiles) + "\n")
    config = tmp / "tiny.toml"
    config.write_text(TINY_TOML.format(seed=seed, steps=steps))
    return data, config


def tiny_run(tmp: Path, kind: str, smiles: list[str], steps: int = 8, callbacks=(), seed: int = 0) -> tuple[int, Path]:
    """Train a tiny ``kind`` model for ``steps`` steps; returns (exit code, run directory)."""
    from molgen.training import TrainOptions
    from molgen.vae.trainer import train_from_options

    data, config = write_tiny_inputs(tmp, smiles, steps=steps, seed=seed)
    out = tmp / f"run-{kind}"
    opts = TrainOptions(kind=kind, data=data, out=out, config=config, progress=False, command="test")
    old = os.environ.get("MOLGEN_CACHE_DIR")
    os.environ["MOLGEN_CACHE_DIR"] = str(tmp / "cache")  # keep encoded-data caches out of the user's home
    try:
        return train_from_options(opts, callbacks=callbacks), out
    finally:
        if old is None:
            del os.environ["MOLGEN_CACHE_DIR"]
        else:
            os.environ["MOLGEN_CACHE_DIR"] = old


def test_config_rejects_unknown_key(tmp_path):
    from molgen.config import load_config
    from molgen.vae.config import VAEConfig

    path = tmp_path / "bad.toml"
    path.write_text("[model]\nlatent_sise = 4\n")
    with pytest.raises(ConfigError, match="latent_size"):
        load_config(VAEConfig, path)


def test_config_rejects_mismatched_convolutions(tmp_path):
    from molgen.config import load_config
    from molgen.vae.config import VAEConfig

    path = tmp_path / "bad.toml"
    path.write_text("[model]\nconv_channels = [4, 4]\nconv_kernels = [3]\n")
    with pytest.raises(ConfigError, match="same length"):
        load_config(VAEConfig, path)


def test_shipped_configs_validate():
    from molgen.config import load_config
    from molgen.vae.config import VAEConfig

    root = Path(__file__).resolve().parent.parent / "configs"
    paths = sorted(root.glob("gvae-*.toml")) + sorted(root.glob("cvae-*.toml"))
    assert any(p.name == "gvae-paper.toml" for p in paths)
    paper = load_config(VAEConfig, root / "gvae-paper.toml")
    assert (paper.model.latent_size, paper.model.hidden_size, paper.model.num_layers) == (56, 501, 3)
    assert paper.model.conv_kernels == (9, 9, 11) and paper.model.dense_size == 435
    for p in paths:
        load_config(VAEConfig, p)
