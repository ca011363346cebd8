"""ORGAN reward: the objective registry, the per-SMILES cache, lambda mixing, ORGAN's duplicate rule, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from molgen.config import from_dict, load_config
from molgen.errors import ConfigError
from molgen.organ.config import MemoryConfig, ObjectiveSpec, OrganConfig
from molgen.organ.rewards import (
    REGISTRY, DiversityMemory, MolBatch, ObjectiveContext, ObjectiveScorer, OrganReward, check_objectives, objective,
)
from molgen.vocab import Vocabulary

SMILES = ["CCO", "c1ccccc1", "CCO", "not a smiles", "CC(=O)O", "c1ccccc1", "CCO"]


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a shared, busy machine OpenMP spinning makes tiny ops far slower."""
    torch.set_num_threads(1)


def test_validity_qed_and_invalid_scores_zero():
    scorer = ObjectiveScorer([ObjectiveSpec("validity"), ObjectiveSpec("qed")], ObjectiveContext())
    out = scorer.score(SMILES)
    assert out["validity"].tolist() == [1, 1, 1, 0, 1, 1, 1]
    assert out["qed"][3] == 0.0 and 0.3 < out["qed"][1] < 0.6  # benzene QED is 0.443
    assert np.allclose(out["objective"], (out["validity"] + out["qed"]) / 2)


def test_objective_called_once_per_distinct_smiles(monkeypatch):
    calls: list[str] = []

    def counting(batch: MolBatch) -> list[float]:
        calls.extend(batch.smiles)
        return [1.0] * len(batch.smiles)

    monkeypatch.setitem(REGISTRY, "counting", REGISTRY["qed"].__class__("counting", counting))
    scorer = ObjectiveScorer([ObjectiveSpec("counting")], ObjectiveContext())
    calls.clear()  # the start-up dry run used two probe molecules
    scorer.score(SMILES)
    scorer.score(SMILES + ["CCN"])
    assert sorted(calls) == sorted(["CCO", "c1ccccc1", "CC(=O)O", "CCN"])  # invalid never reaches a chemistry objective


def test_process_pool_gives_the_same_values():
    specs = [ObjectiveSpec("qed"), ObjectiveSpec("sa"), ObjectiveSpec("validity")]
    local = ObjectiveScorer(specs, ObjectiveContext()).score(SMILES)
    pooled_scorer = ObjectiveScorer(specs, ObjectiveContext(), n_jobs=2, parallel_min=1)
    try:
        pooled = pooled_scorer.score(SMILES)
        assert pooled_scorer._pool is not None
    finally:
        pooled_scorer.close()
    for k in local:
        assert np.allclose(local[k], pooled[k])


def test_uniqueness_objective_is_one_over_count_per_group():
    scorer = ObjectiveScorer([ObjectiveSpec("uniqueness")], ObjectiveContext())
    out = scorer.score(SMILES)
    assert out["uniqueness"].tolist() == pytest.approx([1 / 3, 1 / 2, 1 / 3, 0, 1, 1 / 2, 1 / 3])
    groups = np.array([0, 0, 1, 1, 1, 1, 1])
    out = scorer.score(SMILES, groups)
    assert out["uniqueness"].tolist() == pytest.approx([1, 1, 1 / 2, 0, 1, 1, 1 / 2])


def test_chemistry_objectives_reference_values():
    ctx = ObjectiveContext.from_training(["CCO", "CCN"], reference_size=2)
    specs = [
        ObjectiveSpec("novelty"), ObjectiveSpec("smarts", params={"pattern": "[OX2H]"}),
        ObjectiveSpec("smarts", params={"pattern": "c1ccccc1", "present": False}),
        ObjectiveSpec("similarity", params={"target": "CCO"}), ObjectiveSpec("logp_range", params={"low": -1.0, "high": 0.5}),
        ObjectiveSpec("diversity"), ObjectiveSpec("batch_diversity"),
    ]
    out = ObjectiveScorer(specs, ctx).score(["OCC", "c1ccccc1", "xx"])
    assert out["novelty"].tolist() == [0, 1, 0]  # OCC canonicalises to CCO, which is in training
    assert out["smarts"].tolist() == [1, 0, 0]
    assert out["smarts_2"].tolist() == [1, 0, 0]
    assert out["similarity"][0] == pytest.approx(1.0) and out["similarity"][1] < 0.2
    assert out["logp_range"][0] == 1.0 and out["logp_range"][1] < 1.0  # ethanol logP -0.0014, benzene 1.69
    assert 0 < out["diversity"][0] < out["diversity"][1] <= 1.0
    assert out["batch_diversity"][:2].tolist() == pytest.approx([1.0, 1.0])


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
    reward = OrganReward(vocab, _stub_discriminator(d, vocab), scorer, lam, divide_by_count=False)
    seqs = _encode(vocab, smiles)
    got = reward(seqs, torch.zeros(3, dtype=torch.long))
    qed = scorer.score(smiles)["qed"]
    want = [lam * d[s] + (1 - lam) * q for s, q in zip(smiles, qed)]
    assert got.tolist() == pytest.approx(want, abs=1e-6)


def test_organ_duplicate_rule_divides_by_count_within_group():
    smiles = ["CCO", "CCO", "CCN", "CCO"]
    vocab = Vocabulary.build(smiles)
    scorer = ObjectiveScorer([ObjectiveSpec("validity")], ObjectiveContext())
    reward = OrganReward(vocab, None, scorer, 0.0, divide_by_count=True)
    seqs = _encode(vocab, smiles)
    assert reward(seqs, torch.zeros(4, dtype=torch.long)).tolist() == pytest.approx([1 / 3, 1 / 3, 1, 1 / 3])
    assert reward(seqs, torch.tensor([0, 1, 1, 1])).tolist() == pytest.approx([1, 1 / 2, 1, 1 / 2])


def test_dotted_path_objective_resolves():
    scorer = ObjectiveScorer([ObjectiveSpec("molgen.organ.rewards:qed")], ObjectiveContext())
    assert scorer.names == ["qed"]
    assert scorer.score(["c1ccccc1"])["qed"][0] == pytest.approx(0.4426, abs=1e-3)


def test_user_objective_registered_by_decorator(monkeypatch):
    monkeypatch.setattr("molgen.organ.rewards.REGISTRY", dict(REGISTRY))
    objective("heavy_atoms")(lambda batch, scale=10.0: [m.GetNumHeavyAtoms() / scale for m in batch.mols])
    out = ObjectiveScorer([ObjectiveSpec("heavy_atoms", params={"scale": 3})], ObjectiveContext()).score(["CCO"])
    assert out["heavy_atoms"][0] == pytest.approx(1.0)


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


def test_an_objective_raising_on_one_molecule_scores_it_zero(monkeypatch):
    """RDKit can fail on a molecule that sanitised (QED re-kekulises): that molecule scores 0, the batch goes on."""
    def fragile(batch: MolBatch) -> list[float]:
        if "N" in "".join(batch.smiles):
            raise ValueError("Can't kekulize mol")
        return [1.0] * len(batch.smiles)

    monkeypatch.setitem(REGISTRY, "fragile", REGISTRY["qed"].__class__("fragile", fragile))
    out = ObjectiveScorer([ObjectiveSpec("fragile")], ObjectiveContext()).score(["CCO", "CCN", "CC"])
    assert out["fragile"].tolist() == [1.0, 0.0, 1.0]


def test_qed_ramp_maps_qed_linearly_between_low_and_high():
    from rdkit.Chem import QED

    from molgen.chem.mol import to_mol

    smiles = ["c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "CCO", "not a smiles"]
    plain = ObjectiveScorer([ObjectiveSpec("qed")], ObjectiveContext()).score(smiles)["qed"]
    ramp = ObjectiveScorer([ObjectiveSpec("qed", params={"low": 0.4, "high": 0.6})], ObjectiveContext()).score(smiles)["qed"]
    for smi, p, r in zip(smiles, plain, ramp):
        mol = to_mol(smi)
        if mol is None:
            assert p == r == 0.0
            continue
        q = QED.qed(mol)
        assert p == pytest.approx(q)
        assert r == pytest.approx(min(1.0, max(0.0, (q - 0.4) / 0.2)))
    assert 0.0 < ramp[0] < 1.0  # benzene's 0.443 lies inside the ramp


def test_qed_ramp_with_bad_bounds_is_a_config_error():
    with pytest.raises(ConfigError, match="low < high"):
        check_objectives([ObjectiveSpec("qed", params={"low": 0.9, "high": 0.5})])


def test_memory_fills_buckets_of_good_molecules_only_and_penalises_full_ones():
    memory = DiversityMemory(MemoryConfig(kind="molecule", bucket_size=2, min_score=0.5, penalty=0.1))
    # "OCC" is ethanol written another way: the same bucket as "CCO"
    assert memory.record(["CCO", "OCC", "CCN", "c1ccccc1", "nonsense"], [0.9, 0.6, 0.4, 0.5, 1.0]) == 3
    assert memory.counts == {"CCO": 2, "c1ccccc1": 1}
    assert memory.factors(["OCC", "CCN", "c1ccccc1", "nonsense"]).tolist() == [0.1, 1.0, 1.0, 1.0]
    memory.record(["c1ccccc1"], [0.7])
    assert memory.factors(["c1ccccc1"]).tolist() == [0.1] and memory.full_buckets == 2


def test_scaffold_memory_shares_a_bucket_between_decorations_of_one_ring_system():
    memory = DiversityMemory(MemoryConfig(kind="scaffold", bucket_size=2, min_score=0.0))
    memory.record(["Cc1ccccc1", "Oc1ccccc1", "CCO"], [1.0, 1.0, 1.0])
    assert memory.counts == {"c1ccccc1": 2, "": 1}  # acyclic molecules share the empty scaffold
    assert memory.factors(["Nc1ccccc1", "C1CCCCC1", "CCN"]).tolist() == [0.0, 1.0, 1.0]


def test_reward_applies_the_memory_to_the_objective_only():
    smiles = ["CCO", "c1ccccc1", "CC(=O)O"]
    vocab = Vocabulary.build(smiles)
    d = {"CCO": 0.9, "c1ccccc1": 0.2, "CC(=O)O": 0.5}
    scorer = ObjectiveScorer([ObjectiveSpec("validity")], ObjectiveContext())
    memory = DiversityMemory(MemoryConfig(kind="molecule", bucket_size=1, min_score=0.5, penalty=0.25),
                             counts={"c1ccccc1": 1})
    reward = OrganReward(vocab, _stub_discriminator(d, vocab), scorer, 0.4, divide_by_count=False, memory=memory)
    comps = reward.components(_encode(vocab, smiles))
    assert comps["memory"].tolist() == [1.0, 0.25, 1.0]
    assert comps["objective_raw"].tolist() == [1.0, 1.0, 1.0]
    want = [0.4 * d[s] + 0.6 * f for s, f in zip(smiles, [1.0, 0.25, 1.0])]
    assert comps["reward"].tolist() == pytest.approx(want, abs=1e-6)
