"""Metrics on a handful of SMILES (one invalid, one empty) against values computed by hand
or directly with RDKit/NumPy here (moses ``tests/test_metrics.py`` style)."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Descriptors, rdFingerprintGenerator
from scipy.stats import entropy, gaussian_kde

from molgen.metrics import (
    ReferenceStats,
    compute_features,
    compute_reference_stats,
    evaluate,
    filter_pass_rate,
    fraction_unique,
    fraction_valid,
    fragment_similarity,
    internal_diversity,
    kl_divergence,
    novelty,
    property_statistics,
    reference_stats,
    scaffold_similarity,
    snn,
)
from molgen.metrics import distribution as dist
from molgen.metrics import similarity

GEN = ["CCO", "c1ccccc1", "CCO", "C1CC(", "", "CC(=O)Nc1ccc(O)cc1"]
VALID = ["CCO", "c1ccccc1", "CCO", "CC(=O)Nc1ccc(O)cc1"]
TEST = ["CCOC", "Nc1ccccc1", "CC(=O)O", "c1ccc2ccccc2c1", "CCCCN", "OC(=O)c1ccccc1O"]


def _fps(smiles):
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    return [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]


def _packed(smiles):
    return np.stack([np.frombuffer(DataStructs.BitVectToBinaryText(f), np.uint8) for f in _fps(smiles)])


def test_validity_uniqueness_exact():
    assert fraction_valid(GEN) == 4 / 6
    assert fraction_unique(GEN) == 3 / 4
    assert fraction_unique(GEN, k=3) == 2 / 3  # CCO, c1ccccc1, CCO
    assert fraction_unique(["OCC", "CCO", "C(O)C"], k=3) == 1 / 3  # same molecule, three spellings
    with pytest.warns(UserWarning, match="unique@5: only 4 valid"):
        assert fraction_unique(GEN, k=5) == 3 / 4  # fewer than k valid: computed on all, as MOSES
    with pytest.warns(UserWarning, match="without valid molecules"):
        assert math.isnan(fraction_unique(["", "C1CC"], k=5))


def test_novelty_canonicalises_the_training_set():
    # "OCC" is ethanol written differently: only benzene and paracetamol are novel.
    assert novelty(GEN, ["OCC", "CCN", "not a smiles"]) == 2 / 3
    assert novelty(["CCO"], ["CCO"]) == 0.0


def test_internal_diversity_matches_rdkit_bulk_tanimoto():
    fps = _fps(VALID)
    sims = np.array([DataStructs.BulkTanimotoSimilarity(f, fps) for f in fps])
    assert internal_diversity(GEN) == pytest.approx(1 - sims.mean(), abs=1e-6)
    assert internal_diversity(GEN, p=2) == pytest.approx(1 - math.sqrt((sims**2).mean()), abs=1e-6)
    assert internal_diversity(["CCO", "OCC"]) == pytest.approx(0.0, abs=1e-7)


def test_snn_matches_rdkit_nearest_neighbour():
    ref = _fps(TEST)
    expected = np.mean([max(DataStructs.BulkTanimotoSimilarity(f, ref)) for f in _fps(VALID)])
    assert snn(GEN, TEST) == pytest.approx(expected, abs=1e-6)
    assert snn(TEST, TEST) == pytest.approx(1.0)


def test_fragment_and_scaffold_similarity_by_hand():
    # BRICS cuts none of these bonds, so each molecule is its own single fragment:
    # gen {CCO: 2, benzene: 1}, ref {CCO: 1, CCCN: 1} -> cos = 2 / (sqrt(5) * sqrt(2)).
    assert fragment_similarity(["CCO", "c1ccccc1", "CCO", "xx"], ["CCO", "CCCN"]) == pytest.approx(2 / math.sqrt(10))
    # Scaffolds with >= 2 rings: gen {naphthalene: 1, biphenyl: 1}; ref {naphthalene: 2}
    # (benzene has one ring and no scaffold) -> cos = 2 / (sqrt(2) * 2).
    gen = ["Cc1ccc2ccccc2c1", "c1ccc(-c2ccccc2)cc1", "CCO"]
    ref = ["Oc1ccc2ccccc2c1", "c1ccc2ccccc2c1", "c1ccccc1"]
    assert scaffold_similarity(gen, ref) == pytest.approx(1 / math.sqrt(2))
    with pytest.warns(UserWarning, match="empty"):
        assert math.isnan(scaffold_similarity(["CCO"], ref))


def test_property_statistics_are_means_over_valid_molecules():
    stats = property_statistics(GEN, TEST)
    mols = [Chem.MolFromSmiles(s) for s in VALID]
    assert stats["qed"] == pytest.approx(np.mean([QED.qed(m) for m in mols]))
    assert stats["mw"] == pytest.approx(np.mean([Descriptors.MolWt(m) for m in mols]))
    assert stats["mw/test"] == pytest.approx(np.mean([Descriptors.MolWt(Chem.MolFromSmiles(s)) for s in TEST]))
    assert 1.0 < stats["sa"] < 10.0
    assert stats["mw/w1"] > 0


def test_property_values_equal_molgen_chem_registry(test_smiles):
    from molgen.chem.properties import PROPERTIES
    from molgen.metrics.features import PROPERTY_NAMES, mol_properties

    for smi in test_smiles[:40]:
        mol = Chem.MolFromSmiles(smi)
        assert mol_properties(mol) == pytest.approx([PROPERTIES[p](mol) for p in PROPERTY_NAMES], rel=1e-12)


def test_filter_pass_rate_moses_rules():
    smiles = [
        "CCO",  # passes
        "S=C1SC(=Cc2ccccc2)C(=O)N1",  # PAINS (ene_rhod)
        "C[N+](C)(C)C",  # charged
        "C1CCCCCCC1",  # ring of 8
        "CCI",  # iodine is not a MOSES atom
        "bad",
    ]
    rates = filter_pass_rate(smiles)
    assert rates["filters"] == pytest.approx(1 / 5)
    assert rates["pains_free"] == pytest.approx(4 / 5)


def test_kl_of_a_set_with_itself_is_perfect_and_differs_otherwise(test_smiles):
    ref = test_smiles[:150]
    same = kl_divergence(ref, ref)
    assert same["kl_score"] == pytest.approx(1.0)
    other = kl_divergence(["CCO", "CCCO", "CCN", "CCCCO", "c1ccccc1"], ref)
    assert 0.0 < other["kl_score"] < 0.5
    assert set(other) >= {"kl/BertzCT", "kl/NumAromaticRings", "kl/internal_similarity"}


def test_kde_and_kl_match_guacamol_formulas():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 400), rng.normal(0.5, 1.5, 300)
    grid = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 1000)
    assert np.allclose(dist.gaussian_kde_1d(a, grid), gaussian_kde(a)(grid), rtol=1e-8)
    expected = entropy(gaussian_kde(a)(grid) + 1e-10, gaussian_kde(b)(grid) + 1e-10)
    assert dist.continuous_kl(a, b) == pytest.approx(expected, rel=1e-8)
    p, bins = np.histogram(np.floor(a * 2), bins=10, density=True)
    q, _ = np.histogram(np.floor(b * 2), bins=bins, density=True)
    assert dist.discrete_kl(np.floor(a * 2), np.floor(b * 2)) == pytest.approx(entropy(p + 1e-10, q + 1e-10))
    # A collapsed sample (one value) must not crash the KDE, and scores badly.
    assert dist.continuous_kl(a, np.zeros(50)) > 1.0


def test_bf16_tanimoto_blocks_are_exact(test_smiles):
    a, b = test_smiles[:70], test_smiles[100:300]
    fa, fb = _fps(a), _fps(b)
    expected = np.array([DataStructs.BulkTanimotoSimilarity(f, fb) for f in fa])
    got = np.vstack([s.numpy() for _, s in similarity.tanimoto_blocks(_packed(a), _packed(b), block=32)])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-6


def test_dense_fingerprints_fall_back_to_float32():
    rng = np.random.default_rng(1)
    bits = (rng.random((5, 2048)) < 0.3).astype(np.uint8)  # ~600 bits set: beyond bf16's exact range
    packed = np.packbits(bits, axis=1, bitorder="little")
    inter = bits.astype(float) @ bits.T.astype(float)
    pop = bits.sum(1)
    expected = inter / (pop[:, None] + pop[None, :] - inter)
    got = next(similarity.tanimoto_blocks(packed, packed))[1].numpy()
    assert np.allclose(got, expected, atol=1e-6)


def test_similarity_reductions_equal_the_full_matrix(test_smiles, monkeypatch):
    """Row maxima and means from the blocked, in-place computations equal those of the whole
    matrix exactly, empty fingerprints (similarity 1 to each other, 0 to the rest) and
    duplicates included; small blocks so that several slabs and a partial one are used."""
    monkeypatch.setattr(similarity, "_BLOCK", 64)
    fps = _packed(test_smiles[:150])
    none = np.zeros((1, fps.shape[1]), np.uint8)
    fps = np.vstack([fps[:70], none, fps[70:], none, fps[:5]])
    empty = [70, 151]
    full = np.vstack([s.numpy() for _, s in similarity.tanimoto_blocks(fps, fps, block=1000)])
    assert full[70, 151] == full[151, 70] == 1.0 and full[70, 0] == full[0, 70] == 0.0
    assert np.array_equal(full, full.T)
    assert np.array_equal(similarity.max_similarity(fps[:100], fps[100:]), full[:100, 100:].max(1))
    means = similarity.mean_similarity_powers(fps, (1, 2))
    full64 = torch.from_numpy(full).double()  # torch's row reduction, as the blocks use
    assert np.array_equal(means[1], full64.mean(1).numpy())
    assert np.array_equal(means[2], (full64**2).mean(1).numpy())
    np.fill_diagonal(full, 0.0)
    nn = similarity.nearest_neighbour_within(fps)
    assert np.array_equal(nn, full.max(1))
    assert nn[empty].tolist() == [1.0, 1.0] and nn[-1] == 1.0  # duplicates are each other's neighbour


@pytest.mark.parametrize("bad", [["C1CC(", "", "xyz"], []])
def test_evaluate_survives_all_invalid_and_empty_sets(bad):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = evaluate(bad, train=["CCO", "CCN"], test=TEST, fcd=False)
    assert caught, "undefined metrics must warn"
    assert out["n_valid"] == 0
    assert out["valid"] == 0.0 if bad else math.isnan(out["valid"])
    for key in ("novelty", "intdiv1", "snn/test", "frag/test", "kl_score", "filters", "qed"):
        assert math.isnan(out[key]), key
    assert out["qed/test"] > 0


def test_evaluate_agrees_with_the_individual_metrics():
    train = ["OCC", "CCN", "c1ccccc1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = evaluate(GEN, train=train, test=TEST, test_scaffolds=TEST[:4], fcd=False)
        assert out["valid"] == 4 / 6
        assert out["novelty"] == 1 / 3  # only paracetamol is new
        assert out["intdiv1"] == pytest.approx(internal_diversity(GEN))
        assert out["intdiv2"] == pytest.approx(internal_diversity(GEN, p=2))
        assert out["snn/test"] == pytest.approx(snn(GEN, TEST))
        assert out["snn/testsf"] == pytest.approx(snn(GEN, TEST[:4]))
        assert out["scaf/test"] == pytest.approx(scaffold_similarity(GEN, TEST), nan_ok=True)
        assert out["kl_score"] == pytest.approx(kl_divergence(GEN, compute_reference_stats(train, "train"))["kl_score"])
        assert "fcd/test" not in out
        assert out["unique@1k"] == pytest.approx(3 / 4)  # 4 valid < 1k: computed on those


def test_parallel_features_equal_serial(train_smiles, test_smiles):
    # 2,101 distinct strings (enough for the process pool) plus duplicates that are expanded.
    smiles = train_smiles + test_smiles[:100] + train_smiles[:50] + ["bad"]
    serial = compute_features(smiles, groups=("fp", "scaf"), n_jobs=1)
    parallel = compute_features(smiles, groups=("fp", "scaf"), n_jobs=2)
    assert serial.canonical == parallel.canonical
    assert np.array_equal(serial.fps, parallel.fps)
    assert serial.scaffolds == parallel.scaffolds
    assert serial.canonical[-1] is None
    assert len(serial.fps) == len(smiles) - 1
    assert np.array_equal(serial.fps[-50:], serial.fps[:50])


def test_duplicates_are_computed_once_and_counted_every_time():
    feats = compute_features(["c1ccc2ccccc2c1C", "CCO", "c1ccc2ccccc2c1C", "bad"], groups=("frag", "scaf", "props"))
    assert feats.canonical[0] == feats.canonical[2] and feats.canonical[3] is None
    assert feats.scaffolds == Counter({"c1ccc2ccccc2c1": 2})
    assert feats.fragments == Counter({"Cc1cccc2ccccc12": 2, "CCO": 1})
    assert len(feats.properties["qed"]) == 3 and feats.properties["qed"][0] == feats.properties["qed"][2]


def test_reference_stats_cache_round_trip(tmp_path, monkeypatch):
    train = ["CCO", "CCN", "c1ccccc1", "bad"]
    first = reference_stats(train, "train", cache=tmp_path)
    files = list(tmp_path.glob("train-*.npz"))
    assert len(files) == 1
    assert first.canonical == frozenset({"CCO", "CCN", "c1ccccc1"}) and first.n_valid == 3

    def boom(*a, **k):
        raise AssertionError("should have come from the cache")

    monkeypatch.setattr("molgen.metrics.reference.compute_reference_stats", boom)
    second = reference_stats(train, "train", cache=tmp_path)
    assert second.canonical == first.canonical
    assert np.array_equal(second.kl_values, first.kl_values)
    files[0].write_bytes(b"garbage")
    assert ReferenceStats.load(files[0]) is None


def test_reference_stats_cache_keeps_every_field(tmp_path):
    stats = compute_reference_stats(TEST + ["nope"], "test", fcd=False)
    stats.save(tmp_path / "s.npz")
    back = ReferenceStats.load(tmp_path / "s.npz")
    assert (back.role, back.n, back.n_valid, back.canonical) == (stats.role, stats.n, stats.n_valid, stats.canonical)
    assert back.fragments == stats.fragments and back.scaffolds == stats.scaffolds
    assert np.array_equal(back.fps, stats.fps) and np.array_equal(back.kl_values, stats.kl_values)
    assert set(back.properties) == set(stats.properties)
    assert all(np.array_equal(back.properties[k], stats.properties[k]) for k in stats.properties)
    assert back.fcd is None


def test_reference_stats_counts_match_direct_features():
    stats = compute_reference_stats(TEST + ["nope"], "test", fcd=False)
    assert stats.n == 7 and stats.n_valid == 6
    assert stats.fps.shape == (6, 256)
    assert stats.fragments == Counter(compute_features(TEST, ("frag",)).fragments)
    assert stats.fcd is None
