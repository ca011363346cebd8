"""Bayesian optimisation in the latent space: runs end to end, is reproducible, writes its outputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import QED

from molgen.api import load_model
from molgen.chem.mol import to_mol
from molgen.chem.properties import penalized_logp
from molgen.cli import main
from molgen.errors import UsageError
from molgen.vae.optimize import OptimizeConfig, make_objective, optimize


def test_objectives_score_valid_molecules_and_nan_the_rest():
    smiles = ["CCO", "c1ccccc1O", "not a molecule", ""]
    _, qed = make_objective("qed")
    _, plogp = make_objective("plogp")
    q, p = qed(smiles), plogp(smiles)
    assert q[:2] == pytest.approx([QED.qed(to_mol(s)) for s in smiles[:2]])
    assert p[:2] == pytest.approx([penalized_logp(to_mol(s), normalized=True) for s in smiles[:2]])
    assert np.isnan(q[2:]).all() and np.isnan(p[2:]).all()
    with pytest.raises(UsageError, match="not qed, plogp or a scoring config"):
        make_objective("nonsense")


def test_optimisation_spends_its_budget_on_valid_proposals(semantic_run, test_smiles):
    model = load_model(semantic_run)
    _, qed = make_objective("qed")
    cfg = OptimizeConfig(budget=12, n_init=20, batch_size=4, seed=1, restarts=2, raw_samples=32)
    res = optimize(model, qed, test_smiles[:200], cfg, label="qed")
    traj = res.trajectory
    assert (traj.source == "seed").sum() == 20 and (traj.source == "proposal").sum() == 12
    assert res.n_invalid == 0 and traj.valid.all()  # the semantic model decodes only valid molecules
    props = traj[traj.source == "proposal"]
    assert props.score.to_numpy() == pytest.approx([QED.qed(Chem.MolFromSmiles(s)) for s in props.smiles])
    assert list(props["round"].unique()) == [1, 2, 3]
    assert res.best.score.is_monotonic_decreasing and res.best.smiles.is_unique
    again = optimize(model, qed, test_smiles[:200], cfg, label="qed")
    pd.testing.assert_frame_equal(again.trajectory, traj)
    assert math.isnan(res.top_mean(50)) and res.top_mean(1) == res.best.score.iloc[0]


def test_cli_writes_the_best_molecules_and_the_trajectory(semantic_run, data_dir, tmp_path):
    out, traj = tmp_path / "best.csv", tmp_path / "bo.csv"
    code = main(["optimize", "--model", str(semantic_run), "--objective", "plogp", "--budget", "6", "--n-init", "10",
                 "--batch-size", "3", "--seeds", str(data_dir / "moses" / "test.csv.gz"), "-o", str(out),
                 "--trajectory", str(traj), "--no-progress", "--top", "3"])
    assert code == 0
    best = pd.read_csv(out)
    assert list(best.columns) == ["smiles", "plogp", "round"] and 1 <= len(best) <= 3
    assert len(pd.read_csv(traj)) == 16


def test_context_free_models_count_invalid_proposals(tiny_models_dir, test_smiles):
    model = load_model(tiny_models_dir / "tiny-gvae")
    _, qed = make_objective("qed")
    res = optimize(model, qed, test_smiles[:200], OptimizeConfig(budget=8, n_init=10, batch_size=4, restarts=1,
                                                                   raw_samples=16), label="qed")
    props = res.trajectory[res.trajectory.source == "proposal"]
    assert res.n_invalid == int((~props.valid).sum()) and len(props) == 8
