"""Tiny Grammar / character VAE runs on real SMILES: loss falls, samples parse, checkpoints round-trip, resume is exact."""

from __future__ import annotations

import csv

import pytest
import torch

from molgen.api import LatentGenerator, load_model
from molgen.checkpoint import CheckpointError, load_checkpoint
from molgen.errors import UsageError


@pytest.fixture(scope="module")
def gvae_run(tmp_path_factory, train_smiles, tiny_vae_run):
    rc, out = tiny_vae_run(tmp_path_factory.mktemp("gvae"), "gvae", train_smiles[:400], steps=10)
    assert rc == 0
    return out


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_gvae_loss_falls_and_samples_parse(gvae_run):
    rows = _rows(gvae_run / "log.csv")
    recon = [float(r["recon"]) for r in rows]
    assert recon[-1] < recon[0]
    assert any(r["val_loss"] for r in rows) and any(r["val_valid"] for r in rows)
    model = load_model(gvae_run)
    assert isinstance(model, LatentGenerator) and model.kind == "gvae"
    details = model.sample_details(64, seed=0)
    assert len(details.smiles) == 64
    g = model.codec.grammar
    for s, complete in zip(details.smiles, details.complete):
        if complete:
            assert s and g.to_smiles(g.parse(s)) == s  # a complete derivation of the grammar
        else:
            assert s == ""
    assert (details.complete | details.out_of_length | details.overflow).all()


def test_checkpoint_is_self_describing(gvae_run):
    ckpt = load_checkpoint(gvae_run / "checkpoints" / "last.pt", kind="gvae")
    assert ckpt["step"] == 10 and ckpt["command"] == "test"
    assert set(ckpt["grammar"]) == {"name", "text", "hash"}
    for key in ("optimizer", "scheduler", "versions", "config"):
        assert ckpt[key]
    assert isinstance(ckpt["extra"]["rng"]["torch"], torch.Tensor)
    assert (gvae_run / "checkpoints" / "best.pt").is_file() and (gvae_run / "config.toml").is_file()


def test_save_load_gives_identical_samples(gvae_run):
    a = load_model(gvae_run / "checkpoints" / "last.pt")
    b = load_model(gvae_run / "checkpoints" / "last.pt")
    assert a.sample(40, seed=3, batch_size=16) == b.sample(40, seed=3, batch_size=16)
    assert a.sample(40, seed=3, batch_size=16) != a.sample(40, seed=4, batch_size=16)
    z = torch.randn(5, a.latent_size, generator=torch.Generator().manual_seed(0))
    assert a.decode(z) == b.decode(z)


def test_encode_decode_shapes_and_errors(gvae_run, train_smiles):
    model = load_model(gvae_run)
    z = model.encode(train_smiles[:3])
    assert z.shape == (3, model.latent_size)
    assert torch.allclose(z, model.encode(train_smiles[:3]))
    assert len(model.decode(z)) == 3
    with pytest.raises(ValueError):
        model.encode(["not a molecule"])
    with pytest.raises(ValueError):
        model.decode(torch.zeros(2, model.latent_size + 1))


def test_resume_equals_uninterrupted(tmp_path, train_smiles, tiny_vae_run):
    smiles = train_smiles[:300]
    rc, full = tiny_vae_run(tmp_path / "full", "cvae", smiles, steps=9)
    assert rc == 0

    def stop_at_5(trainer):
        if trainer.step == 5:
            trainer.request_stop()

    rc, part = tiny_vae_run(tmp_path / "part", "cvae", smiles, steps=9, callbacks=[stop_at_5])
    assert rc == 130
    assert load_checkpoint(part / "checkpoints" / "last.pt")["step"] == 5
    from molgen.training import TrainOptions
    from molgen.vae.trainer import train_from_options

    rc = train_from_options(TrainOptions(kind="cvae", data=tmp_path / "part" / "train.csv", out=part, resume=True,
                                         progress=False))
    assert rc == 0
    a = load_checkpoint(full / "checkpoints" / "last.pt")
    b = load_checkpoint(part / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 9
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert _rows(full / "log.csv") == _rows(part / "log.csv")


def test_checkpoint_keeps_its_grammar_when_the_shipped_one_changes(gvae_run):
    from grammar import Grammar
    from molgen.vae.api import from_checkpoint

    ckpt = load_checkpoint(gvae_run / "checkpoints" / "last.pt")
    text = ckpt["grammar"]["text"]
    ckpt["grammar"] = {"name": "no-longer-shipped", "text": text, "hash": Grammar.from_text(text).hash}
    model = from_checkpoint(ckpt)  # rebuilt from the stored text, not from the package
    assert model.codec.grammar.rules == load_model(gvae_run).codec.grammar.rules


def test_existing_run_needs_resume(gvae_run, train_smiles):
    from molgen.training import TrainOptions
    from molgen.vae.trainer import train_from_options

    with pytest.raises(UsageError, match="--resume"):
        train_from_options(TrainOptions(kind="gvae", data=gvae_run.parent / "train.csv", out=gvae_run, progress=False))


def test_corrupted_and_wrong_kind_checkpoints_fail_clearly(gvae_run, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_model(bad)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((gvae_run / "checkpoints" / "last.pt").read_bytes()[:2000])
    with pytest.raises(CheckpointError):
        load_model(truncated)
    with pytest.raises(CheckpointError, match="'gvae' model, expected 'cvae'"):
        load_checkpoint(gvae_run / "checkpoints" / "last.pt", kind="cvae")
    from molgen.vae.api import from_checkpoint

    ckpt = load_checkpoint(gvae_run / "checkpoints" / "last.pt")
    ckpt["grammar"] = dict(ckpt["grammar"], hash="0" * 16)
    with pytest.raises(CheckpointError, match="does not match its hash"):
        from_checkpoint(ckpt)
    ckpt = load_checkpoint(gvae_run / "checkpoints" / "last.pt")
    del ckpt["model"]["encoder.mu.weight"]
    with pytest.raises(CheckpointError, match="inconsistent"):
        from_checkpoint(ckpt)


def test_paper_style_decoder_sees_only_z(train_smiles, tmp_path):
    """autoregressive = false (the paper's decoder): logits do not depend on the targets fed in."""
    from grammar import load_grammar
    from molgen.vae.api import VAEModel, build_net
    from molgen.vae.codec import GrammarCodec
    from molgen.vae.config import ModelConfig, VAEConfig

    cfg = VAEConfig(model=ModelConfig(latent_size=4, conv_channels=(3,), conv_kernels=(3,), dense_size=8,
                                      decoder_input_size=4, hidden_size=8, autoregressive=False))
    codec = GrammarCodec(load_grammar("gvae-zinc"), max_len=0)
    enc = codec.encode(train_smiles[:20], n_jobs=1, cache_dir=tmp_path)
    net = build_net(cfg.model, codec)
    x = torch.from_numpy(enc.ids[enc.keep])
    z = torch.randn(len(x), 4)
    a = net.decoder(z, x)
    b = net.decoder(z, torch.flip(x, dims=[0]))
    assert torch.equal(a, b)
    out = VAEModel(net, codec, cfg.model, {}).decode_details(z[:4], greedy=True)
    assert len(out.smiles) == 4


def test_resume_with_more_steps_equals_a_longer_run(tmp_path, train_smiles, tiny_vae_run, tiny_vae_inputs):
    from molgen.training import TrainOptions
    from molgen.vae.trainer import train_from_options

    smiles = train_smiles[:300]
    rc, longer = tiny_vae_run(tmp_path / "long", "cvae", smiles, steps=12)
    rc, short = tiny_vae_run(tmp_path / "short", "cvae", smiles, steps=8)
    data, config = tiny_vae_inputs(tmp_path / "more", smiles, steps=12)
    opts = TrainOptions(kind="cvae", data=data, out=short, config=config, resume=True, progress=False)
    assert train_from_options(opts) == 0
    a = load_checkpoint(longer / "checkpoints" / "last.pt")
    b = load_checkpoint(short / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 12
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert _rows(longer / "log.csv") == _rows(short / "log.csv")

    config.write_text(config.read_text().replace("lr = 3e-3", "lr = 1e-3"))
    with pytest.raises(UsageError, match="train.lr"):
        train_from_options(opts)


def _train(kind: str, data, config, out):
    from molgen.training import TrainOptions
    from molgen.vae.trainer import train_from_options

    return train_from_options(TrainOptions(kind=kind, data=data, out=out, config=config, progress=False, command="test"))


def test_gru_encoder_trains_and_encodes_each_molecule_on_its_own(tmp_path, train_smiles, monkeypatch, tiny_vae_inputs):
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:300], steps=12)
    config.write_text(config.read_text().replace("latent_size = 8", 'latent_size = 8\nencoder = "gru"\nencoder_size = 16'))
    assert _train("gvae", data, config, tmp_path / "run") == 0
    recon = [float(r["recon"]) for r in _rows(tmp_path / "run" / "log.csv")]
    assert recon[-1] < recon[0]
    model = load_model(tmp_path / "run")
    assert "encoder.forward_gru.weight_hh_l0" in model.net.state_dict()
    short, long = "CCO", max(train_smiles[:50], key=len)
    alone = model.encode([short])
    together = model.encode([short, long])  # the batch is padded to the long molecule
    assert torch.allclose(alone[0], together[0], atol=1e-5)
    assert not torch.allclose(together[0], together[1], atol=1e-3)


def test_warm_start_takes_the_weights_and_grammar_of_a_checkpoint(gvae_run, tmp_path, train_smiles, monkeypatch, tiny_vae_inputs):
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    source = gvae_run / "checkpoints" / "last.pt"
    data, config = tiny_vae_inputs(tmp_path, train_smiles[400:600], steps=1)
    text = config.read_text().replace("lr = 3e-3", "lr = 1e-12")  # one step that moves nothing measurable
    config.write_text(text.replace("[train]\n", f'[train]\ninit_checkpoint = "{source}"\n'))
    assert _train("gvae", data, config, tmp_path / "warm") == 0
    a, b = load_checkpoint(source), load_checkpoint(tmp_path / "warm" / "checkpoints" / "last.pt")
    assert b["step"] == 1 and b["extra"]["data"]["init_checkpoint"]["step"] == a["step"]
    assert b["extra"]["max_len"] == a["extra"]["max_len"] and b["grammar"] == a["grammar"]
    assert all(torch.allclose(a["model"][k], b["model"][k], atol=1e-8) for k in a["model"])

    second = tmp_path / "warm" / "checkpoints" / "last.pt"  # a warm start from a warm start keeps the lineage
    config.write_text(text.replace("[train]\n", f'[train]\ninit_checkpoint = "{second}"\n'))
    assert _train("gvae", data, config, tmp_path / "warm2") == 0
    lineage = load_checkpoint(tmp_path / "warm2" / "checkpoints" / "last.pt")["extra"]["data"]["init_checkpoint"]
    assert lineage["path"] == str(second) and lineage["init_checkpoint"]["path"] == str(source)
    assert lineage["init_checkpoint"]["step"] == a["step"] and "init_checkpoint" not in lineage["init_checkpoint"]
    # resuming a warm-started run with more steps keeps the record of where it started
    from molgen.training import TrainOptions
    from molgen.vae.trainer import train_from_options

    config.write_text(config.read_text().replace("max_steps = 1\n", "max_steps = 2\n"))
    opts = TrainOptions(kind="gvae", data=data, out=tmp_path / "warm2", config=config, resume=True, progress=False)
    assert train_from_options(opts) == 0
    resumed = load_checkpoint(tmp_path / "warm2" / "checkpoints" / "last.pt")
    assert resumed["step"] == 2 and resumed["extra"]["data"]["init_checkpoint"] == lineage

    config.write_text(text.replace("[train]\n", f'[train]\ninit_checkpoint = "{source}"\n').replace("hidden_size = 32", "hidden_size = 24"))
    with pytest.raises(UsageError, match="does not fit"):
        _train("gvae", data, config, tmp_path / "misfit")
    with pytest.raises(CheckpointError, match="expected 'cvae'"):
        _train("cvae", data, config, tmp_path / "wrong-kind")
    assert not (tmp_path / "wrong-kind").exists()  # refused before the run folder is made


def test_max_minutes_ends_the_run_and_a_larger_budget_resumes_to_the_uninterrupted_result(
        tmp_path, train_smiles, tiny_vae_run, tiny_vae_inputs, monkeypatch, caplog):
    """The VAE's wall-clock budget, as ORGAN's: the steps' seconds (a stand-in clock: 1 s a step)."""
    import dataclasses
    import logging

    from molgen.training import TrainOptions
    from molgen.vae import trainer

    class Clock:
        now = 0.0

        def perf_counter(self) -> float:
            self.now += 1.0
            return self.now

    monkeypatch.setattr(trainer, "time", Clock())
    smiles = train_smiles[:300]
    rc, whole = tiny_vae_run(tmp_path / "whole", "cvae", smiles, steps=8)
    data, config = tiny_vae_inputs(tmp_path / "cut", smiles, steps=8)
    config.write_text("max_minutes = 0.05\n" + config.read_text())  # 3 s: 3 steps
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    opts = TrainOptions(kind="cvae", data=data, out=tmp_path / "cut" / "run", config=config, progress=False)
    with caplog.at_level(logging.WARNING, logger="molgen"):
        assert trainer.train_from_options(opts) == 0
    assert "max_minutes = 0.05 spent (0.1 min of steps) at step 3" in caplog.text
    cut = load_checkpoint(tmp_path / "cut" / "run" / "checkpoints" / "last.pt")
    assert (cut["step"], cut["extra"]["train_seconds"]) == (3, 3.0)
    # a resume whose budget is still spent ends before it reads (and encodes) the data
    with monkeypatch.context() as m, caplog.at_level(logging.WARNING, logger="molgen"):
        m.setattr(trainer, "read_training_smiles", lambda *a, **k: pytest.fail("a spent resume read its data"))
        caplog.clear()
        assert trainer.train_from_options(dataclasses.replace(opts, resume=True)) == 0
    assert "max_minutes = 0.05 spent (0.1 min of steps) at step 3" in caplog.text
    assert load_checkpoint(tmp_path / "cut" / "run" / "checkpoints" / "last.pt")["step"] == 3
    config.write_text(config.read_text().replace("max_minutes = 0.05", "max_minutes = 1.0"))
    assert trainer.train_from_options(TrainOptions(kind="cvae", data=data, out=tmp_path / "cut" / "run", config=config,
                                                   resume=True, progress=False)) == 0
    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "run" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 8 and b["extra"]["train_seconds"] == 8.0
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
