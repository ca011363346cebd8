"""ORGAN under bf16 autocast: token and rule sampling and rollouts stay finite and complete (every
rule derivation a molecule), a ``precision = "bf16"`` run records its precision and resumes exactly,
and a resumed run cannot silently change precision."""

from __future__ import annotations

import csv

import pytest
import torch
from rdkit import Chem

from molgen.api import load_model
from molgen.checkpoint import load_checkpoint
from molgen.errors import UsageError
from molgen.organ import trainer
from molgen.organ.config import GeneratorConfig
from molgen.organ.rollout import mc_rollout
from molgen.organ.symbols import symbols_from_data
from molgen.precision import autocast


def untrained(symbols, seed: int, scale: float = 4.0):
    """An untrained generator with large random logits (any slip of bf16 masking would show)."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(embedding_size=8, hidden_size=32, num_layers=2, max_len=100, symbols=symbols.kind)
    g = trainer.build_generator(cfg, symbols)
    with torch.no_grad():
        g.head.weight.mul_(scale)
    return g.eval()


def test_bf16_rule_sampling_and_rollouts_give_only_complete_molecules():
    symbols = symbols_from_data(GeneratorConfig(max_len=100, symbols="rules"), [])
    g = untrained(symbols, 0)
    with autocast("cpu", "bf16"):
        logits, _ = g(torch.full((4, 1), symbols.bos))
        seqs = g.sample(48, generator=torch.Generator().manual_seed(0), machine=symbols.machine(48, "cpu"))
        seen = []
        res = mc_rollout(g, seqs[:6], lambda s, _g: seen.append(s.clone()) or torch.zeros(len(s)), 2,
                         generator=torch.Generator().manual_seed(1), new_machine=lambda n: symbols.machine(n, "cpu"))
    assert logits.dtype == torch.bfloat16 and bool(torch.isfinite(logits).all())  # the products did run in bf16
    completions = torch.cat([seqs, *seen])
    machine = symbols.machine(len(completions), "cpu")
    for t in range(completions.size(1)):
        machine.advance(completions[:, t])
    assert bool(machine.finished.all())
    smiles = [symbols.to_smiles(row) for row in completions.tolist()]
    assert all(Chem.MolFromSmiles(s) is not None for s in smiles), [s for s in smiles if Chem.MolFromSmiles(s) is None]
    assert bool(torch.isfinite(res.q).all())


def test_bf16_token_sampling_and_log_probs_are_finite_and_end_with_eos(train_smiles):
    symbols = symbols_from_data(GeneratorConfig(max_len=100), train_smiles[:200])
    g = untrained(symbols, 1)
    with autocast("cpu", "bf16"):
        seqs = g.sample(64, generator=torch.Generator().manual_seed(2))
        logp, entropy = g.token_log_probs(seqs)
        loss = g.nll(seqs)
    assert logp.dtype == entropy.dtype == loss.dtype == torch.float32  # the softmax side stays fp32
    has_eos = (seqs == symbols.eos).any(1)
    assert bool(torch.isfinite(logp[seqs != symbols.pad]).all()) and bool(torch.isfinite(loss))
    # after the first EOS only padding follows
    first = torch.where(has_eos, (seqs == symbols.eos).float().argmax(1), torch.full((64,), seqs.size(1)))
    after = torch.arange(seqs.size(1)).unsqueeze(0) > first.unsqueeze(1)
    assert bool((seqs[after] == symbols.pad).all())


def logged(run) -> list[dict[str, str]]:
    """The run's log.csv rows without the timing columns."""
    with open(run / "log.csv", newline="") as fh:
        return [{k: v for k, v in r.items() if k not in ("seconds", "t_policy", "t_reward")} for r in csv.DictReader(fh)]


def test_bf16_run_records_its_precision_and_resumes_exactly(tmp_path, data_file, monkeypatch, interrupt_at,
                                                            tiny_organ_config, organ_opts):
    cfg = tiny_organ_config(tmp_path / "c.toml", precision="bf16")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert trainer.train_from_options(organ_opts(data_file, cfg, whole)) == 0
    with monkeypatch.context() as m:
        m.setattr(trainer, "GracefulInterrupt", lambda: interrupt_at(10))  # inside the adversarial stage
        assert trainer.train_from_options(organ_opts(data_file, cfg, parts)) == 130
    with pytest.raises(UsageError, match="--precision fp32 differs from the resumed run's precision bf16"):
        trainer.train_from_options(organ_opts(data_file, None, parts, resume=True, precision="fp32"))
    assert trainer.train_from_options(organ_opts(data_file, None, parts, resume=True)) == 0
    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(parts / "checkpoints" / "last.pt")
    assert a["precision"] == b["precision"] == "bf16" and a["config"]["precision"] == "bf16"
    for key in ("model", "discriminator", "rollout"):
        for name, tensor in a[key].items():
            assert tensor.dtype == torch.float32, (key, name)  # fp32 master weights
            assert torch.equal(tensor, b[key][name]), (key, name)
    assert logged(whole) == logged(parts)
    model = load_model(whole, precision="bf16")
    assert model.precision == "bf16" and model.sample(8, seed=0) == model.sample(8, seed=0)


def test_precision_flag_overrides_the_config_of_a_new_run(tmp_path, data_file, tiny_organ_config, organ_opts):
    cfg = tiny_organ_config(tmp_path / "c.toml", precision="fp32")
    assert trainer.train_from_options(organ_opts(data_file, cfg, tmp_path / "run", precision="bf16")) == 0
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["precision"] == "bf16" and ckpt["config"]["precision"] == "bf16"
