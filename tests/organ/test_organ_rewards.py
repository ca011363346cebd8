"""ORGAN reward: lambda mixing of D and O, ORGAN's duplicate rule, the memory on O only, config errors."""

from __future__ import annotations

import pytest
import torch

from molgen.config import from_dict, load_config
from molgen.errors import ConfigError
from molgen.organ.config import MemoryConfig, ObjectiveSpec, OrganConfig
from molgen.organ.rewards import OrganReward
from molgen.organ.symbols import TokenSymbols
from molgen.scoring import DiversityMemory, ObjectiveContext, ObjectiveScorer
from molgen.vocab import Vocabulary


def _stub_discriminator(values: dict[str, float], vocab: Vocabulary) -> torch.nn.Module:
    class Stub(torch.nn.Module):
        def reward(self, seqs):
            return torch.tensor([values[vocab.decode(s)] for s in seqs.tolist()])
    return Stub()


def _encode(vocab: Vocabulary, smiles: list[str]) -> torch.Tensor:
    ids, keep, _ = vocab.encode_batch(smiles, 20, add_bos=False)
    assert keep.all()
    return torch.from_numpy(ids)


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_reward_mixes_discriminator_and_objectives_with_lambda(lam):
    smiles = ["CCO", "c1ccccc1", "CC(=O)O"]
    vocab = Vocabulary.build(smiles)
    d = {"CCO": 0.9, "c1ccccc1": 0.2, "CC(=O)O": 0.5}
    scorer = ObjectiveScorer([ObjectiveSpec("qed")], ObjectiveContext())
    reward = OrganReward(TokenSymbols(vocab, 20), _stub_discriminator(d, vocab), scorer, lam, divide_by_count=False)
    seqs = _encode(vocab, smiles)
    got = reward(seqs, torch.zeros(3, dtype=torch.long))
    qed = scorer.score(smiles)["qed"]
    want = [lam * d[s] + (1 - lam) * q for s, q in zip(smiles, qed)]
    assert got.tolist() == pytest.approx(want, abs=1e-6)


def test_organ_duplicate_rule_divides_by_count_within_group():
    smiles = ["CCO", "CCO", "CCN", "CCO"]
    vocab = Vocabulary.build(smiles)
    scorer = ObjectiveScorer([ObjectiveSpec("validity")], ObjectiveContext())
    reward = OrganReward(TokenSymbols(vocab, 20), None, scorer, 0.0, divide_by_count=True)
    seqs = _encode(vocab, smiles)
    assert reward(seqs, torch.zeros(4, dtype=torch.long)).tolist() == pytest.approx([1 / 3, 1 / 3, 1, 1 / 3])
    assert reward(seqs, torch.tensor([0, 1, 1, 1])).tolist() == pytest.approx([1, 1 / 2, 1, 1 / 2])


def test_unknown_objective_lists_the_registry(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('objectives = [{name = "qedd", weight = 1.0}]\n')
    with pytest.raises(ConfigError) as err:
        load_config(OrganConfig, path)
    msg = str(err.value)
    assert "qedd" in msg and "qed" in msg and "validity" in msg and "uniqueness" in msg


@pytest.mark.parametrize("data, needle", [
    ({"reward": {"lam": 1.5}}, "lam"),
    ({"reward": {"lam": -0.1}}, "lam"),
    ({"reward": {"mode": "seqgan", "lam": 0.5}}, "seqgan"),
    ({"reward": {"mode": "maybe"}}, "mode"),
    ({"objectives": [{"name": "mypkg.nowhere:score"}]}, "cannot import"),
    ({"objectives": [{"name": "smarts", "params": {"pattern": "[[["}}]}, "smarts"),
    ({"objectives": [{"name": "qed", "params": {"power": 2}}]}, "power"),
    ({"objectives": [{"name": "logp_range", "params": {"low": "one"}}]}, "low"),
    ({"discriminator": {"preset": "custom", "filter_widths": [1, 2]}}, "filter"),
    ({"discriminator": {"filter_widths": [1, 2], "filter_counts": [3, 4]}}, "custom"),
    ({"generator": {"max_len": 12}}, "max_len"),
    ({"reward": {"mode": "seqgan", "memory": {"kind": "molecule"}}}, "memory"),
    ({"reward": {"lam": 0.5, "memory": {"kind": "ring"}}}, "kind"),
    ({"reward": {"lam": 0.5, "memory": {"kind": "scaffold", "bucket_size": 0}}}, "bucket_size"),
])
def test_config_errors(data, needle):
    with pytest.raises(ConfigError, match=needle):
        from_dict(OrganConfig, data)


def test_lambda_presets():
    assert from_dict(OrganConfig, {"reward": {"mode": "seqgan"}}).reward.weight_d == 1.0
    assert from_dict(OrganConfig, {"reward": {"mode": "naive_rl"}}).reward.weight_d == 0.0
    assert from_dict(OrganConfig, {"reward": {"lam": 0.25}}).reward.weight_d == 0.25


def test_reward_applies_the_memory_to_the_objective_only():
    smiles = ["CCO", "c1ccccc1", "CC(=O)O"]
    vocab = Vocabulary.build(smiles)
    d = {"CCO": 0.9, "c1ccccc1": 0.2, "CC(=O)O": 0.5}
    scorer = ObjectiveScorer([ObjectiveSpec("validity")], ObjectiveContext())
    memory = DiversityMemory(MemoryConfig(kind="molecule", bucket_size=1, min_score=0.5, penalty=0.25),
                             counts={"c1ccccc1": 1})
    reward = OrganReward(TokenSymbols(vocab, 20), _stub_discriminator(d, vocab), scorer, 0.4, divide_by_count=False, memory=memory)
    comps = reward.components(_encode(vocab, smiles))
    assert comps["memory"].tolist() == [1.0, 0.25, 1.0]
    assert comps["objective_raw"].tolist() == [1.0, 1.0, 1.0]
    want = [0.4 * d[s] + 0.6 * f for s, f in zip(smiles, [1.0, 0.25, 1.0])]
    assert comps["reward"].tolist() == pytest.approx(want, abs=1e-6)
