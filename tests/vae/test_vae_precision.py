"""The VAE family under bf16: the semantic decoder still completes every derivation as a molecule,
mixed-precision training keeps fp32 weights, records its precision and resumes exactly."""

from __future__ import annotations

import pytest
import torch
from rdkit import Chem

from molgen.api import load_model
from molgen.checkpoint import load_checkpoint
from molgen.training import TrainOptions
from molgen.vae.trainer import train_from_options


def test_bf16_semantic_sampling_gives_complete_valid_molecules(semantic_run, one_thread):
    model = load_model(semantic_run, precision="bf16")
    assert model.precision == "bf16"
    details = model.sample_details(64, seed=0, batch_size=64)
    assert bool(details.complete.all())
    assert all(Chem.MolFromSmiles(s) is not None for s in details.smiles), details.smiles
    assert model.sample(16, seed=3) == model.sample(16, seed=3)  # reproducible for a seed


def test_bf16_decoder_steps_are_finite_and_the_state_stays_fp32(semantic_run, one_thread):
    from molgen.precision import autocast

    model = load_model(semantic_run)
    z = torch.randn(40, model.latent_size, generator=torch.Generator().manual_seed(0)) * 3
    with torch.no_grad(), autocast("cpu", "bf16"):
        state = model.net.decoder.init_state(z)
        prev = torch.full((40,), model.net.decoder.start_id)
        for _ in range(20):
            logits, state = model.net.decoder.step(prev, state)
            prev = logits.float().argmax(1)
    assert logits.dtype == torch.bfloat16 and bool(torch.isfinite(logits).all())
    assert all(h.dtype == torch.float32 for h in state.h)


def train(tmp_path, data, config, out, resume=False, precision=None, callbacks=()):
    return train_from_options(TrainOptions(kind="cvae", data=data, out=out, config=config, resume=resume,
                                           progress=False, precision=precision), callbacks=callbacks)


def test_bf16_training_records_precision_and_resumes_exactly(tmp_path, train_smiles, tiny_vae_inputs, monkeypatch,
                                                             one_thread):
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:300], steps=7)
    full, part = tmp_path / "full", tmp_path / "part"
    assert train(tmp_path, data, config, full, precision="bf16") == 0

    def stop_at_4(trainer):
        if trainer.step == 4:
            trainer.request_stop()

    assert train(tmp_path, data, config, part, precision="bf16", callbacks=[stop_at_4]) == 130
    assert train(tmp_path, data, None, part, resume=True) == 0
    a = load_checkpoint(full / "checkpoints" / "last.pt")
    b = load_checkpoint(part / "checkpoints" / "last.pt")
    assert a["precision"] == b["precision"] == "bf16" and a["config"]["precision"] == "bf16"
    assert a["step"] == b["step"] == 7
    for k, tensor in a["model"].items():
        assert tensor.dtype == torch.float32, k  # fp32 master weights
        assert torch.equal(tensor, b["model"][k]), k
    assert (full / "log.csv").read_text() == (part / "log.csv").read_text()
    fp32 = tmp_path / "fp32"
    assert train(tmp_path, data, config, fp32) == 0
    c = load_checkpoint(fp32 / "checkpoints" / "last.pt")
    assert c["precision"] == "fp32"
    assert not torch.equal(a["model"]["decoder.out.weight"], c["model"]["decoder.out.weight"])  # bf16 did run
    assert abs(a["extra"]["best_val"] - c["extra"]["best_val"]) < 0.05 * abs(c["extra"]["best_val"])


def test_a_bad_precision_in_the_config_is_refused_at_start(tmp_path, train_smiles, tiny_vae_inputs):
    from molgen.errors import ConfigError

    data, config = tiny_vae_inputs(tmp_path, train_smiles[:50], steps=2)
    config.write_text('precision = "fp16"\n' + config.read_text())
    with pytest.raises(ConfigError, match="precision"):
        train(tmp_path, data, config, tmp_path / "run")
