"""The run plumbing every family shares: config resolution on resume, key migration, to_toml,
seeds, the family registry, and device errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from molgen.api import load_model
from molgen.checkpoint import load_checkpoint, save_checkpoint
from molgen.cli import main
from molgen.config import from_dict, load_config, to_dict, to_toml
from molgen.errors import ConfigError, UsageError
from molgen.families import FAMILIES
from molgen.organ import trainer as organ_trainer
from molgen.organ.config import OrganConfig
from molgen.training import TrainOptions
from molgen.training.rng import capture_rng, derive_seed, restore_rng
from molgen.vae.config import VAEConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def organ_cfg(organ_toml):
    """``organ_cfg(path, lr=0.01, adv=1) -> path``: the smallest ORGAN run with this MLE rate and
    this many adversarial steps."""

    def write(path: Path, lr: float = 0.01, adv: int = 1) -> Path:
        return organ_toml(path, "mini", mle__lr=lr, adversarial__steps=adv)

    return write


@pytest.fixture
def organ_run(tmp_path, train_smiles, organ_cfg):
    torch.set_num_threads(1)
    data = tmp_path / "train.smi"
    data.write_text("\n".join(train_smiles[:120]) + "\n")
    cfg = organ_cfg(tmp_path / "c.toml", adv=2)
    out = tmp_path / "run"

    def opts(config=cfg, resume=False, seed=None):
        return TrainOptions(kind="organ", data=data, out=out, config=config, resume=resume, seed=seed,
                            command="test", progress=False)

    assert organ_trainer.train_from_options(opts()) == 0
    return tmp_path, out, opts


def test_organ_resume_refuses_a_changed_config_or_seed(organ_run, organ_cfg):
    """ORGAN's --resume used to ignore --config and --seed silently; now it follows the VAE's rule."""
    tmp, out, opts = organ_run
    with pytest.raises(UsageError, match=r"mle\.lr"):
        organ_trainer.train_from_options(opts(config=organ_cfg(tmp / "lr.toml", lr=0.5, adv=2), resume=True))
    with pytest.raises(UsageError, match="--seed 9 differs"):
        organ_trainer.train_from_options(opts(config=None, resume=True, seed=9))
    with pytest.raises(UsageError, match="only grow"):
        organ_trainer.train_from_options(opts(config=organ_cfg(tmp / "less.toml", adv=1), resume=True))


def test_a_wall_clock_budget_may_be_set_raised_lowered_or_lifted_on_resume(tmp_path, organ_toml):
    """``max_minutes`` only decides where a run stops: a run started without one (0) takes one on
    ``--resume`` (it used to be refused as "may only grow"); steps still may only grow."""
    from molgen.training.rundir import resolve_config

    stored = load_config(OrganConfig, organ_toml(tmp_path / "run.toml", "mini", adversarial__steps=2))
    extendable = organ_trainer.EXTENDABLE
    for minutes in (95.0, 0.5, 0.0):
        given = organ_toml(tmp_path / f"m{minutes}.toml", "mini", adversarial__steps=2, max_minutes=minutes)
        stored = resolve_config(OrganConfig, config_path=given, seed=None, stored=stored, extendable=extendable)
        assert stored.max_minutes == minutes
    fewer = organ_toml(tmp_path / "fewer.toml", "mini", adversarial__steps=1, max_minutes=5.0)
    with pytest.raises(UsageError, match=r"adversarial\.steps may only grow \(0 means no limit\)"):
        resolve_config(OrganConfig, config_path=fewer, seed=None, stored=stored, extendable=extendable)


def test_organ_resume_may_train_longer(organ_run, organ_cfg):
    tmp, out, opts = organ_run
    before = load_checkpoint(out / "checkpoints" / "last.pt")["step"]
    assert organ_trainer.train_from_options(opts(config=organ_cfg(tmp / "more.toml", adv=4), resume=True)) == 0
    after = load_checkpoint(out / "checkpoints" / "last.pt")
    assert after["step"] == before + 2 and after["config"]["adversarial"]["steps"] == 4
    assert load_config(OrganConfig, out / "config.toml").adversarial.steps == 4


def test_resume_without_a_run_says_so(tmp_path, train_smiles):
    opts = TrainOptions(kind="organ", data=tmp_path / "x.smi", out=tmp_path / "none", resume=True, progress=False)
    with pytest.raises(UsageError, match="nothing to resume"):
        organ_trainer.train_from_options(opts)


def test_old_config_keys_are_read_with_a_deprecation_warning(caplog):
    old = {"train": {"log_every": 7, "max_molecules": 5, "batch_size": 4}, "model": {"gru_size": 12, "gru_layers": 2}}
    with caplog.at_level(logging.WARNING, logger="molgen.config"):
        cfg = from_dict(VAEConfig, old, where="old.toml")
    assert (cfg.log_every, cfg.max_molecules, cfg.train.batch_size) == (7, 5, 4)
    assert (cfg.model.hidden_size, cfg.model.num_layers) == (12, 2)
    warned = " ".join(r.getMessage() for r in caplog.records)
    for key in ("'train.log_every'", "'gru_size'", "'gru_layers'", "'train.max_molecules'"):
        assert key in warned, key
    organ = from_dict(OrganConfig, {"max_train_molecules": 9, "generator": {"embed_dim": 5}})
    assert organ.max_molecules == 9 and organ.generator.embedding_size == 5
    with pytest.raises(ConfigError, match="both 'gru_size' .* and 'hidden_size'"):
        from_dict(VAEConfig, {"model": {"gru_size": 1, "hidden_size": 2}})


def test_loading_for_sampling_ignores_the_training_config(tiny_models_dir, tmp_path):
    """A renamed or retired training key never makes an old checkpoint unloadable."""
    ckpt = load_checkpoint(tiny_models_dir / "tiny-gvae" / "model.pt")
    model = ckpt["config"]["model"]
    model["gru_size"] = model.pop("hidden_size")  # written by an older molgen
    ckpt["config"]["train"]["a_key_molgen_retired"] = 1
    old = save_checkpoint(tmp_path / "old.pt", {k: v for k, v in ckpt.items() if k not in ("format", "format_version")})
    a = load_model(old).sample(16, seed=1)
    assert a == load_model(tiny_models_dir / "tiny-gvae").sample(16, seed=1)


@pytest.mark.parametrize("cls, path", [
    (VAEConfig, "gvae-paper.toml"), (VAEConfig, "gvae-moses.toml"), (OrganConfig, "organ-qed.toml"),
    (OrganConfig, "organ-mle.toml"),
])
def test_to_toml_reads_back_to_the_same_config(cls, path, tmp_path):
    cfg = load_config(cls, ROOT / "configs" / path)
    written = tmp_path / "config.toml"
    written.write_text(to_toml(to_dict(cfg)))
    assert load_config(cls, written) == cfg


def test_derive_seed_streams_are_reproducible_and_unrelated():
    assert derive_seed(0, 1) == derive_seed(0, 1)
    seeds = {derive_seed(s, k) for s in range(20) for k in range(20)}
    assert len(seeds) == 400  # seed + k would collide 210 times here
    # molgen sample's chunk seeds are these streams (kept from before the shared helper)
    assert derive_seed(5, 2) == int(np.random.SeedSequence([5, 2]).generate_state(1)[0])


def test_rng_capture_restores_every_stream():
    import random

    g = torch.Generator().manual_seed(4)
    state = capture_rng({"noise": g})
    first = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g).item())
    restore_rng(state, {"noise": g})
    assert (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g).item()) == first


def test_a_generator_saved_on_another_device_type_continues_reproducibly(caplog):
    """A run checkpointed on the CPU resumed on a GPU (or back): torch cannot load a CUDA generator's
    16-byte state into a CPU generator (or the reverse); the stream continues from a seed that the
    saved state fixes, with a warning, instead of a crash ('RNG state is wrong size')."""
    cuda_like = {"torch": torch.get_rng_state(), "generators": {"noise": torch.arange(16, dtype=torch.uint8)}}
    draws = []
    for _ in range(2):
        g = torch.Generator().manual_seed(4)
        with caplog.at_level(logging.WARNING, logger="molgen.train"):
            restore_rng(cuda_like, {"noise": g})
        draws.append(torch.rand(3, generator=g).tolist())
    assert draws[0] == draws[1]
    assert draws[0] != torch.rand(3, generator=torch.Generator().manual_seed(4)).tolist()
    assert "saved on another device type" in caplog.text


def test_every_family_has_the_same_inner_files():
    """The recipe of ARCHITECTURE.md: config.py, trainer.py with train_from_options, api.py with from_checkpoint."""
    for kind, fam in FAMILIES.items():
        assert callable(fam.module("api").from_checkpoint), kind
        assert callable(fam.module("trainer").train_from_options), kind
        assert fam.module("config")
    from molgen.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    kinds = next(a for a in train._actions if a.dest == "kind").choices
    assert sorted(kinds) == sorted(FAMILIES)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device, message", [("cuda", "CUDA is not available"), ("nonsense", "unknown device")])
def test_device_errors_are_one_clear_line(device, message, tmp_path, capsys):
    code = main(["sample", "--model", "organ-mle", "-n", "2", "--device", device, "--out", str(tmp_path / "x.smi")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.smi").exists()
