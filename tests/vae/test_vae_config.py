"""VAE config validation: unknown keys, mismatched convolutions, every shipped preset."""

from __future__ import annotations

import pytest

from molgen.errors import ConfigError
from molgen.paths import ROOT


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

    root = ROOT / "configs"
    paths = sorted(root.glob("gvae-*.toml")) + sorted(root.glob("cvae-*.toml"))
    assert any(p.name == "gvae-paper.toml" for p in paths)
    paper = load_config(VAEConfig, root / "gvae-paper.toml")
    assert (paper.model.latent_size, paper.model.hidden_size, paper.model.num_layers) == (56, 501, 3)
    assert paper.model.conv_kernels == (9, 9, 11) and paper.model.dense_size == 435
    for p in paths:
        load_config(VAEConfig, p)
