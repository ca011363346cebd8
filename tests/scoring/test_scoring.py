"""molgen.scoring: the component registry, the per-SMILES cache, the process pool, transforms,
aggregation, the diversity memory."""

from __future__ import annotations

import numpy as np
import pytest

from molgen.errors import ConfigError
from molgen.scoring import (
    REGISTRY, DiversityMemory, MemoryConfig, MolBatch, ObjectiveContext, ObjectiveScorer, ObjectiveSpec,
    TransformSpec, check_objectives, objective,
)

SMILES = ["CCO", "c1ccccc1", "CCO", "not a smiles", "CC(=O)O", "c1ccccc1", "CCO"]


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


def test_dotted_path_objective_resolves():
    scorer = ObjectiveScorer([ObjectiveSpec("molgen.scoring.components:qed")], ObjectiveContext())
    assert scorer.names == ["qed"]
    assert scorer.score(["c1ccccc1"])["qed"][0] == pytest.approx(0.4426, abs=1e-3)


def test_user_objective_registered_by_decorator(monkeypatch):
    monkeypatch.setattr("molgen.scoring.components.REGISTRY", dict(REGISTRY))
    objective("heavy_atoms")(lambda batch, scale=10.0: [m.GetNumHeavyAtoms() / scale for m in batch.mols])
    out = ObjectiveScorer([ObjectiveSpec("heavy_atoms", params={"scale": 3})], ObjectiveContext()).score(["CCO"])
    assert out["heavy_atoms"][0] == pytest.approx(1.0)


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


# --------------------------------------------------------------------------- transforms and aggregation


def test_transforms_follow_reinvent_semantics():
    from molgen.scoring import transforms as T

    x = np.array([0.0, 2.0, 3.0, 4.0, 6.0])
    assert T.ramp(x, 2.0, 4.0).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert T.ramp(x, 4.0, 2.0).tolist() == [1.0, 1.0, 0.5, 0.0, 0.0]  # low > high: a falling ramp
    assert T.step(x, 2.0, 4.0).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    s = T.sigmoid(x, 2.0, 4.0, 0.25)
    assert s[2] == pytest.approx(0.5) and np.all(np.diff(s) > 0)
    # REINVENT: 1 / (1 + 10 ** (10 k (x - mid) / (low - high)))
    want = 1 / (1 + 10 ** (10 * 0.25 * (x - 3.0) / (2.0 - 4.0)))
    assert s == pytest.approx(want, rel=1e-12)
    assert T.reverse_sigmoid(x, 2.0, 4.0, 0.25) == pytest.approx(1 - want, rel=1e-12)
    assert np.isfinite(T.sigmoid(np.array([-1e6, 1e6]), 0.0, 1.0, 1.0)).all()  # no overflow


def test_a_transform_applies_to_any_component_and_invalid_molecules_still_score_zero():
    smiles = ["c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "CCO", "not a smiles"]
    plain = ObjectiveScorer([ObjectiveSpec("qed", params={"low": 0.4, "high": 0.6})], ObjectiveContext()).evaluate(smiles)
    spec = ObjectiveSpec("qed", transform=TransformSpec("ramp", low=0.4, high=0.6))
    generic = ObjectiveScorer([spec], ObjectiveContext()).evaluate(smiles)
    assert generic.total.tobytes() == plain.total.tobytes()  # the built-in ramp and the transform agree bit for bit
    assert np.isnan(generic.raw[3, 0]) and generic.values[3, 0] == 0.0
    rev = ObjectiveSpec("logp_range", params={"low": -10.0, "high": 10.0},
                        transform=TransformSpec("reverse_sigmoid", low=0.0, high=2.0, k=0.5))
    out = ObjectiveScorer([rev], ObjectiveContext()).evaluate(smiles)
    assert out.values[3, 0] == 0.0 and out.raw[0, 0] == 1.0  # reverse_sigmoid(0) ~ 1 would reward an invalid one


def test_geometric_mean_is_zero_when_any_term_is_zero():
    specs = [ObjectiveSpec("validity", weight=1.0), ObjectiveSpec("smarts", weight=3.0, params={"pattern": "c"})]
    smiles = ["CCO", "c1ccccc1", "xx"]
    geo = ObjectiveScorer(specs, ObjectiveContext(), aggregate="geometric").score(smiles)["objective"]
    ari = ObjectiveScorer(specs, ObjectiveContext()).score(smiles)["objective"]
    assert geo.tolist() == [0.0, 1.0, 0.0] and ari.tolist() == pytest.approx([0.25, 1.0, 0.0])
    values = np.array([[0.25, 1.0], [0.5, 0.5]])
    from molgen.scoring.aggregate import geometric_mean
    assert geometric_mean(values, np.array([0.5, 0.5])) == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize("transform, needle", [
    ({"kind": "sigmoid", "low": 1.0, "high": 2.0}, "needs low, high, k; missing k"),
    ({"kind": "sigmoid", "low": 2.0, "high": 1.0, "k": 0.5}, "low < high"),
    ({"kind": "sigmoid", "low": 1.0, "high": 2.0, "k": 0}, "k > 0"),
    ({"kind": "ramp", "low": 1.0, "high": 1.0}, "low != high"),
    ({"kind": "step", "low": 1.0, "high": 2.0, "k": 3.0}, "takes low, high, not k"),
    ({"kind": "identity", "low": 1.0}, "takes no parameters"),
    ({"kind": "sigmod", "low": 1.0}, "sigmod"),
    ({"kind": "ramp", "lo": 1.0}, "did you mean 'low'"),
])
def test_transform_config_errors(transform, needle):
    from molgen.config import from_dict
    from molgen.scoring import ScoringConfig

    with pytest.raises(ConfigError, match=needle):
        from_dict(ScoringConfig, {"objectives": [{"name": "qed", "transform": transform}]})


def test_scorer_pool_follows_molgen_mp_start(monkeypatch):
    monkeypatch.setenv("MOLGEN_MP_START", "spawn")
    specs = [ObjectiveSpec("qed"), ObjectiveSpec("validity")]
    local = ObjectiveScorer(specs, ObjectiveContext()).score(SMILES)
    scorer = ObjectiveScorer(specs, ObjectiveContext(), n_jobs=2, parallel_min=1)
    try:
        pooled = scorer.score(SMILES)
        assert scorer._pool.start_method == "spawn"
    finally:
        scorer.close()
    assert all(local[k].tobytes() == pooled[k].tobytes() for k in local)


def test_per_molecule_total_is_the_aggregate_of_the_per_molecule_terms_alone():
    """A molecule's own score leaves out the terms that need a batch (batch_diversity) and weighs
    the rest as the objective does, their weights normalised over them."""
    ctx = ObjectiveContext.from_training(["CCO", "c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC"], 4, seed=0)
    specs = [ObjectiveSpec("qed", 0.5, params={"low": 0.3, "high": 0.8}), ObjectiveSpec("diversity", 0.2),
             ObjectiveSpec("batch_diversity", 0.3)]
    smiles = ["c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "not a smiles", "CCOC(=O)c1ccccc1N"]
    scorer = ObjectiveScorer(specs, ctx)
    total = scorer.per_molecule_total(smiles)
    terms = scorer.score(smiles)
    assert total == pytest.approx((0.5 * terms["qed"] + 0.2 * terms["diversity"]) / 0.7)
    assert total[2] == 0.0 and (total[[0, 1, 3]] > 0).all()
    # the same molecules in another order score the same (per molecule, not per batch)
    assert scorer.per_molecule_total(smiles[::-1]) == pytest.approx(total[::-1])
    with pytest.raises(ValueError, match="no per-molecule objective"):
        ObjectiveScorer([ObjectiveSpec("batch_diversity")], ctx).per_molecule_total(smiles)
