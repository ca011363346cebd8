"""A Grammar VAE trained with semantic constraints: every sample is a valid molecule, from the
first steps of training on; the checkpoint says how it decodes."""

from __future__ import annotations

import torch
from rdkit import Chem

from molgen.api import load_model
from molgen.checkpoint import load_checkpoint

def test_a_tiny_semantic_model_samples_only_valid_molecules(semantic_run):
    model = load_model(semantic_run)
    details = model.sample_details(300, seed=0, batch_size=100)
    assert details.complete.all() and not details.out_of_length.any()
    assert all(Chem.MolFromSmiles(s) is not None for s in details.smiles)
    # shown as canonical aromatic SMILES, not the Kekulé strings the grammar derives (RDKit's
    # canonical form is not a fixed point for explicit [H] atoms, which the untrained model loves)
    plain = [s for s in details.smiles if "[H]" not in s]
    assert len(plain) > 100 and all(s == Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in plain)
    assert model.sample(20, seed=3) == model.sample(20, seed=3)
    rows = (semantic_run / "log.csv").read_text().splitlines()
    header = rows[0].split(",")
    valid = [float(r.split(",")[header.index("val_valid")]) for r in rows[1:] if r.split(",")[header.index("val_valid")]]
    assert valid and min(valid) == 1.0


def test_the_checkpoint_records_how_it_decodes(semantic_run):
    ckpt = load_checkpoint(semantic_run / "checkpoints" / "last.pt")
    assert ckpt["constraints"] == "semantic" and ckpt["representation"] == "kekule"
    assert ckpt["grammar"]["name"] == "kekule" and ckpt["config"]["constraints"] == "semantic"


def test_encode_and_decode_go_through_kekule_form(semantic_run):
    model = load_model(semantic_run)
    z = model.encode(["c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"])
    out = model.decode(z)
    assert len(out) == 2 and all(Chem.MolFromSmiles(s) is not None for s in out)


def test_shipped_context_free_models_keep_decoding_as_before():
    ckpt = load_checkpoint(load_model("gvae-cf").source)
    assert "constraints" not in ckpt  # written before semantic constraints: the context-free machine
    assert load_model("gvae-cf").codec.constraints == "grammar"


def test_the_shipped_gvae_decodes_under_semantic_constraints():
    model = load_model("gvae")
    assert model.codec.constraints == "semantic" and model.codec.grammar.name == "kekule"
    details = model.sample_details(200, seed=11)
    assert details.complete.all() and all(Chem.MolFromSmiles(s) is not None for s in details.smiles)


def test_semantic_training_resumes_to_the_same_weights(tmp_path, data_dir, tiny_semantic_toml):
    """The masks replayed ahead for several batches depend on the data order alone: a run stopped
    between two replays and resumed ends where an uninterrupted one does."""
    from molgen.training import TrainOptions
    from molgen.vae import trainer

    config = tmp_path / "c.toml"
    config.write_text(tiny_semantic_toml.replace("max_steps = 6", "max_steps = 8").replace("val_every = 3", "val_every = 4"))
    data = data_dir / "moses" / "test.csv.gz"

    def opts(out, resume=False):
        return TrainOptions(kind="gvae", data=data, out=out, config=None if resume else config, resume=resume,
                            progress=False)

    assert trainer.train_from_options(opts(tmp_path / "whole")) == 0

    def stop_at_3(t):
        if t.step == 3:
            t.request_stop()

    assert trainer.train_from_options(opts(tmp_path / "parts"), callbacks=[stop_at_3]) == 130
    assert trainer.train_from_options(opts(tmp_path / "parts", resume=True)) == 0
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "parts" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 8
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_training_goes_on_when_some_molecules_cannot_be_encoded(tmp_path, tiny_semantic_toml, test_smiles, caplog):
    """Molecules outside the grammar or the machine are counted and reported, and training runs on
    the rest (the trainer used to index the encoded rows wrongly and crash with an IndexError)."""
    import logging

    from molgen.training import TrainOptions
    from molgen.vae import trainer

    data = tmp_path / "mixed.smi"
    data.write_text("\n".join(test_smiles[:100] + ["C[Sn](C)(C)C", "CC.O", "[Na+].[Cl-]"]) + "\n")
    config = tmp_path / "c.toml"
    config.write_text(tiny_semantic_toml.replace("max_steps = 6", "max_steps = 2"))
    with caplog.at_level(logging.INFO, logger="molgen.vae.train"):
        code = trainer.train_from_options(TrainOptions(kind="gvae", data=data, out=tmp_path / "run", config=config,
                                                       progress=False))
    assert code == 0
    assert any("encoded 100 of 103 molecules" in r.getMessage() and "3 not encodable" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_how_many_batches_are_replayed_at_once_changes_no_weight(tmp_path, data_dir, tiny_semantic_toml, monkeypatch):
    """A GPU replays the training masks for 256 batches at once, a CPU for 16: the masks depend on
    the sequences alone, so a run that replays one batch at a time ends with the same weights."""
    from molgen.masking import codec
    from molgen.training import TrainOptions
    from molgen.vae import trainer

    assert codec.replay_ahead("cpu") == 16 and codec.replay_ahead("cuda:0") == 256
    config = tmp_path / "c.toml"
    config.write_text(tiny_semantic_toml.replace("max_steps = 6", "max_steps = 5"))
    data = data_dir / "moses" / "test.csv.gz"

    def run(out):
        return trainer.train_from_options(TrainOptions(kind="gvae", data=data, out=out, config=config, progress=False))

    assert run(tmp_path / "ahead16") == 0
    monkeypatch.setitem(codec.REPLAY_AHEAD, "cpu", 1)
    assert codec.replay_ahead("cpu") == 1
    assert run(tmp_path / "ahead1") == 0
    a = load_checkpoint(tmp_path / "ahead16" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "ahead1" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 5
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
