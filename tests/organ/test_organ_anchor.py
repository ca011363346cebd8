"""The data anchor of the adversarial stage (``[adversarial] mle_mix``, ``mle_mix_top``,
``mle_mix_pool``): every generator step adds the teacher-forced NLL of real molecules; with
``mle_mix_top`` < 1 they come from the best training molecules by the run's per-molecule
objectives, chosen the same way again when a run resumes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import QED

from molgen.organ import trainer

#: a quarter of the training molecules, the best by QED (TINY_ORGAN's one objective), weighted 0.5
ANCHOR = {"adversarial__mle_mix": 0.5, "adversarial__mle_mix_top": 0.25, "adversarial__mle_mix_pool": 0}


@pytest.fixture
def spy(monkeypatch):
    """Records the run, its anchor rows and every batch the anchor term draws."""
    seen: dict = {"draws": [], "all_draws": 0}
    rows, random = trainer.Run._anchor_rows, trainer.TrainData.random

    def anchor_rows(self):
        seen["rows"], seen["run"] = rows(self), self
        return seen["rows"]

    def draw(self, n, generator, among=None):
        batch = random(self, n, generator, among)
        if among is not None:
            seen["draws"].append(batch)
        return batch

    monkeypatch.setattr(trainer.Run, "_anchor_rows", anchor_rows)
    monkeypatch.setattr(trainer.TrainData, "random", draw)
    return seen


def smiles_of(run, rows: torch.Tensor) -> list[str]:
    return [run.state.symbols.to_smiles(r.long().tolist()) for r in rows]


def test_the_anchor_is_the_best_quarter_by_the_objective_and_every_draw_comes_from_it(tiny_organ, spy):
    assert trainer.train_from_options(tiny_organ("run", **ANCHOR)) == 0
    run = spy["run"]
    train = run.data.train
    qed = np.array([QED.qed(Chem.MolFromSmiles(s)) for s in smiles_of(run, train)])
    k = round(len(train) * 0.25)
    assert spy["rows"].tolist() == sorted(np.argsort(-qed, kind="stable")[:k].tolist())
    assert qed[spy["rows"].numpy()].min() > np.median(qed)
    best = set(smiles_of(run, train[spy["rows"]]))
    assert len(spy["draws"]) == 3  # one batch per adversarial step (one g-step each)
    drawn = [s for batch in spy["draws"] for s in smiles_of(run, batch)]
    assert len(drawn) == 3 * 16 and set(drawn) <= best


def test_the_anchor_pool_is_a_seeded_subset_and_the_default_draws_from_all(tiny_organ, spy):
    assert trainer.train_from_options(tiny_organ("pool", **{**ANCHOR, "adversarial__mle_mix_pool": 100})) == 0
    run = spy["run"]
    pool = np.random.default_rng(run.state.cfg.seed).permutation(len(run.data.train))[:100]
    assert len(spy["rows"]) == 25 and set(spy["rows"].tolist()) <= set(pool.tolist())
    spy.clear()
    spy["draws"] = []
    assert trainer.train_from_options(tiny_organ("all", adversarial__mle_mix=0.5)) == 0
    assert "rows" not in spy and spy["draws"] == []  # mle_mix_top = 1: any training molecule


def test_an_anchored_run_resumed_equals_uninterrupted(whole_and_resumed):
    r = whole_and_resumed(9, **{**ANCHOR, "adversarial__mle_mix_pool": 150})  # after the first adversarial step
    assert r.stopped["stage"] == "adversarial"
    for name, tensor in r.whole["model"].items():
        assert torch.equal(tensor, r.resumed["model"][name]), name
    assert r.whole_log == r.resumed_log


def test_an_anchor_by_the_objectives_needs_the_mix_and_objectives(tmp_path, organ_toml):
    from molgen.config import load_config
    from molgen.errors import ConfigError
    from molgen.organ.config import OrganConfig

    for settings in ({"adversarial__mle_mix_top": 0.5}, {**ANCHOR, "reward": {"mode": "seqgan"}, "objectives": None}):
        with pytest.raises(ConfigError, match="mle_mix_top"):
            load_config(OrganConfig, organ_toml(tmp_path / "c.toml", **settings))
    with pytest.raises(ConfigError, match="mle_mix_top"):
        load_config(OrganConfig, organ_toml(tmp_path / "c.toml", adversarial__mle_mix_top=0.0))
