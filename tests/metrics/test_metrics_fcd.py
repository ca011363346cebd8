"""Fréchet ChemNet Distance: our wrapper around fcd-torch 1.0.7's ChemNet against fcd-torch itself."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from rdkit import Chem

from molgen.metrics import evaluate, fcd, fcd_stats, frechet_distance
from molgen.metrics.fcd import activations, chemnet


@pytest.fixture(scope="module")
def net():
    """ChemNet loaded once for the module (``chemnet`` caches it per process)."""
    return chemnet("cpu")


def _canon(smiles):
    return [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in smiles]


def test_weights_load_with_weights_only(net):
    import torch

    assert isinstance(net, torch.nn.Module) and not net.training
    assert sum(p.numel() for p in net.parameters()) > 100_000


def test_one_hot_matches_fcd_torch_encoder(test_smiles):
    from fcd_torch.utils import get_one_hot

    from molgen.metrics.fcd import _one_hot

    edge = ["C.CC", "ClCCBr", "[Si](C)(C)C", "C" * 400, "C" * 348, "C" * 349, "CC(=O)[O-].[Na+]", "CI", "c1cc[nH]c1"]
    smiles = test_smiles[:300] + edge
    expected = np.stack([get_one_hot(s, 350) / 35 for s in smiles]).astype(np.float32)
    assert np.array_equal(_one_hot(smiles).numpy(), expected)


def test_activations_match_fcd_torch(net, test_smiles):
    from fcd_torch import FCD

    smiles = test_smiles[:12]
    ours = activations(_canon(smiles))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fcd-torch calls np.row_stack
        theirs = FCD(device="cpu", n_jobs=1).get_predictions(smiles)
    assert ours.shape == (12, 512)
    assert np.allclose(ours, theirs, atol=1e-5)


def test_frechet_distance_matches_fcd_torch_formula():
    from fcd_torch import calculate_frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 30)), rng.normal(0.3, 1.2, size=(150, 30))
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fcd-torch passes scipy's deprecated disp=
        expected = calculate_frechet_distance(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_duplicates_are_weighted_exactly(net, test_smiles):
    smiles = _canon(test_smiles[:5])
    with_dups = smiles + smiles[:2] + smiles[:1]
    stats = fcd_stats(with_dups)
    acts = activations(with_dups)
    assert stats.n == 8
    assert np.allclose(stats.mu, acts.mean(0), atol=1e-9)
    assert np.allclose(stats.sigma, np.cov(acts.T), atol=1e-9)


def test_fcd_self_is_zero_and_other_set_is_not(net, test_smiles):
    ref = test_smiles[:100]
    assert abs(fcd(ref, ref)) < 1e-3
    small = ["CCO", "CCCO", "CCN", "CC(C)O", "CCOC", "c1ccccc1", "CCCCCC", "CC(=O)O"]
    assert fcd(small + ["not smiles", ""], ref) > 5.0
    with pytest.warns(UserWarning, match="at least 2|FCD undefined"):
        assert math.isnan(fcd(["CCO", "bad"], ref))


def test_evaluate_reports_fcd_for_both_reference_sets(net, test_smiles):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = evaluate(test_smiles[:30] + ["xx"], test=test_smiles[100:160], test_scaffolds=test_smiles[200:240])
    assert np.isfinite(out["fcd/test"]) and np.isfinite(out["fcd/testsf"])
    assert out["fcd/test"] > 0
