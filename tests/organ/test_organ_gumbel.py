"""The Gumbel-softmax estimator of the adversarial stage (``[adversarial] estimator = "gumbel"``):
the relaxation and its limits, the temperature schedules, D's soft input path, the gradient that
reaches the generator without REINFORCE, the grammar mask, and the run plumbing (log, resume, sampling)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from rdkit import Chem

from molgen.api import load_model
from molgen.config import load_config
from molgen.errors import ConfigError
from molgen.organ import trainer
from molgen.organ.config import DiscriminatorConfig, GeneratorConfig, GumbelConfig, OrganConfig
from molgen.organ.discriminator import Discriminator
from molgen.organ.gumbel import generator_loss, gumbel_noise, gumbel_softmax, relaxed_sample, tau_at
from molgen.organ.symbols import symbols_from_data


def test_tau_schedules():
    relgan = GumbelConfig(schedule="exponential", tau_start=1.0, tau_end=0.01, anneal_steps=5000)
    assert tau_at(relgan, 0) == pytest.approx(1.0)
    assert tau_at(relgan, 2500) == pytest.approx(0.1)  # beta = 1/tau = 100^(n/N)
    assert tau_at(relgan, 5000) == pytest.approx(0.01) and tau_at(relgan, 9000) == pytest.approx(0.01)
    linear = GumbelConfig(schedule="linear", tau_start=2.0, tau_end=0.5, anneal_steps=10)
    assert [tau_at(linear, s) for s in (0, 5, 10, 11)] == pytest.approx([2.0, 1.25, 0.5, 0.5])
    assert {tau_at(GumbelConfig(schedule="constant", tau_start=0.7), s) for s in range(5)} == {0.7}


def test_low_tau_sample_is_the_argmax_and_draws_follow_the_softmax():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 7, generator=gen) * 2
    noise = gumbel_noise((4, 7), gen, "cpu")
    y, index = gumbel_softmax(logits, noise, tau=1e-4, hard=False)
    assert torch.equal(index, (logits + noise).argmax(-1))
    assert torch.allclose(y, torch.nn.functional.one_hot(index, 7).float(), atol=1e-6)
    # the argmax of the perturbed logits is an exact draw from softmax(logits) (Gumbel-max)
    many = logits[0].expand(40000, -1)
    _, draws = gumbel_softmax(many, gumbel_noise(tuple(many.shape), gen, "cpu"), tau=1.0, hard=False)
    freq = torch.bincount(draws, minlength=7).float() / len(draws)
    assert torch.allclose(freq, torch.softmax(logits[0], -1), atol=0.01)


def test_straight_through_is_one_hot_forward_with_a_soft_gradient():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 6, generator=gen).requires_grad_(True)
    y, index = gumbel_softmax(logits, gumbel_noise((5, 6), gen, "cpu"), tau=0.5, hard=True)
    assert torch.equal(y.detach(), torch.nn.functional.one_hot(index, 6).float())
    (y * torch.randn(5, 6, generator=gen)).sum().backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 1e-4
    masked = torch.tensor([0.0, -math.inf, 0.0, -math.inf, 0.0, 0.0])
    y, index = gumbel_softmax(torch.randn(200, 6, generator=gen) + masked, gumbel_noise((200, 6), gen, "cpu"), 5.0, False)
    assert (y[:, [1, 3]] == 0).all() and not torch.isin(index, torch.tensor([1, 3])).any()


@pytest.fixture(scope="module")
def tokens(train_smiles):
    cfg = GeneratorConfig(embedding_size=16, hidden_size=32, num_layers=1, max_len=60)
    return cfg, symbols_from_data(cfg, train_smiles)


def discriminator_for(symbols, max_len: int, loss: str = "bce") -> Discriminator:
    cfg = DiscriminatorConfig(preset="custom", filter_widths=[1, 3, 5], filter_counts=[8, 8, 8], embedding_size=8, loss=loss)
    return Discriminator(cfg, symbols.n_inputs, symbols.pad, max_len).eval()


def test_soft_path_scores_one_hots_as_their_ids(tokens, train_smiles):
    cfg, symbols = tokens
    torch.manual_seed(0)
    d = discriminator_for(symbols, cfg.max_len)
    ids = torch.from_numpy(symbols.encode(train_smiles[:16])).long()[:, :45]  # shorter than max_len: padded
    onehots = torch.nn.functional.one_hot(ids, symbols.n_inputs).float()
    assert torch.allclose(d.forward_soft(onehots), d(ids), atol=1e-5)


@pytest.mark.parametrize("straight_through, d_loss, critic", [(True, "log", "bce"), (False, "prob", "bce"),
                                                             (True, "log", "wasserstein")])
def test_the_discriminator_gradient_reaches_the_generator_without_reinforce(tokens, straight_through, d_loss, critic):
    cfg, symbols = tokens
    torch.manual_seed(0)
    g = trainer.build_generator(cfg, symbols)
    d = discriminator_for(symbols, cfg.max_len, critic).train()
    s = relaxed_sample(g, 12, tau=0.5, rng=torch.Generator().manual_seed(0), straight_through=straight_through)
    ended = s.seqs == symbols.eos
    assert s.onehots.shape == (*s.seqs.shape, symbols.n_outputs) and torch.equal(s.onehots.argmax(-1), s.seqs)
    assert torch.equal(s.mask.sum(1), torch.where(ended.any(1), ended.float().argmax(1) + 1, s.seqs.size(1)))
    loss = generator_loss(d, s, GumbelConfig(d_loss=d_loss))
    with torch.no_grad():
        score = d.eval().forward_soft(s.onehots)
        d.train()
    want = {"log": torch.nn.functional.softplus(-score).mean(), "prob": -torch.sigmoid(score).mean()}[d_loss]
    assert torch.allclose(loss, -score.mean() if critic == "wasserstein" else want)  # D scored in eval mode
    loss.backward()
    assert math.isfinite(loss.item()) and d.training  # D's mode is restored after scoring
    assert float(g.head.weight.grad.abs().sum()) > 0 and float(g.rnn.weight_hh_l0.grad.abs().sum()) > 0
    assert all(p.grad is None for p in d.parameters())  # D's weights are left for D's own step


def test_rule_generator_under_gumbel_draws_only_allowed_rules_and_molecules():
    cfg = GeneratorConfig(embedding_size=8, hidden_size=16, num_layers=1, max_len=100, symbols="rules")
    symbols = symbols_from_data(cfg, [])
    torch.manual_seed(2)
    g = trainer.build_generator(cfg, symbols)
    with torch.no_grad():  # wild logits: large, random preferences the mask must overrule
        g.head.weight.mul_(8.0)
        g.head.bias.normal_(0.0, 8.0)
    n = 64
    s = relaxed_sample(g, n, tau=2.0, rng=torch.Generator().manual_seed(2), machine=symbols.machine(n, "cpu"),
                       straight_through=False)
    allowed = symbols.train_mask(s.seqs)  # the machine's masks replayed along the drawn rules
    assert (s.onehots[~allowed] == 0).all()  # masked rules keep probability exactly zero, at any tau
    assert (s.onehots[allowed[..., :].any(-1)].sum(-1) - 1).abs().max() < 1e-5
    smiles = [symbols.codec.grammar.to_smiles(r) for r in s.seqs.tolist()]
    assert all(Chem.MolFromSmiles(x) is not None for x in smiles), smiles  # 100 % valid
    (s.onehots.sum() + s.logp.sum()).backward()
    assert torch.isfinite(g.head.weight.grad).all()


def test_smiles_discriminator_input_is_refused_with_gumbel(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[generator]\nsymbols = "rules"\n[discriminator]\ninput = "smiles"\n'
                    '[adversarial]\nestimator = "gumbel"\n[reward]\nmode = "seqgan"\n')
    with pytest.raises(ConfigError, match="estimator = 'gumbel' needs discriminator.input = 'symbols'") as err:
        load_config(OrganConfig, path)
    assert "\n" not in str(err.value) and "c.toml" in str(err.value)


GUMBEL = {"adversarial__estimator": "gumbel", "gumbel__anneal_steps": 3, "adversarial__steps": 4,
          "objectives": [{"name": "qed"}, {"name": "validity"}]}


def test_gumbel_run_logs_and_samples(tmp_path, tiny_organ, read_log):
    out = tmp_path / "run"
    assert trainer.train_from_options(tiny_organ("run", **GUMBEL)) == 0
    rows = [r for r in read_log(out / "log.csv") if r["stage"] == "adversarial"]
    assert len(rows) == 4
    assert [float(r["tau"]) for r in rows] == pytest.approx([1.0, 0.215443, 0.046416, 0.01], rel=1e-4)
    for key in ("gumbel_d_loss", "pg_loss", "reward", "d_reward", "obj_qed", "obj_validity", "d_loss", "entropy"):
        assert all(math.isfinite(float(r[key])) for r in rows), key
    assert {r["n_rollouts"] for r in rows} == {"0"}
    from molgen.dashboard.runs import curve_groups
    from molgen.dashboard.runs import read_log as dashboard_log

    groups = curve_groups(dashboard_log(out))  # the dashboard draws tau with the schedules, the loss with the losses
    assert "tau" in groups["Schedule"] and "gumbel_d_loss" in groups["Losses"]
    model = load_model(out)
    a = model.sample(20, seed=5, batch_size=7)
    assert a == model.sample(20, seed=5, batch_size=7) and a != model.sample(20, seed=6, batch_size=7)


def test_gumbel_resume_equals_uninterrupted(whole_and_resumed):
    settings = {**GUMBEL, "reward__memory": {"kind": "molecule", "bucket_size": 1, "min_score": 0.0}}
    r = whole_and_resumed(11, **settings)  # inside the adversarial stage
    assert r.stopped["stage"] == "adversarial"
    a, b = r.whole, r.resumed
    for key in ("model", "discriminator"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    assert a["extra"]["baseline"] == b["extra"]["baseline"] and a["extra"]["memory"] == b["extra"]["memory"]
    assert r.whole_log == r.resumed_log


def test_both_methods_over_rules_train_and_sample_only_molecules(tmp_path, tiny_organ, read_log):
    """Professor forcing in MLE and the Gumbel estimator in the adversarial stage, over rules."""
    out = tmp_path / "rules"
    opts = tiny_organ("rules", **{**GUMBEL, "generator__symbols": "rules", "generator__max_len": 100, "mle__steps": 3,
                                  "dpretrain__steps": 1, "adversarial__steps": 2, "adversarial__batch_size": 8,
                                  "professor__enabled": True, "professor__g_threshold": 0.0})
    assert trainer.train_from_options(opts) == 0
    mle = [r for r in read_log(out / "log.csv") if r["stage"] == "mle"]
    assert all(math.isfinite(float(r[k])) for r in mle for k in ("pf_d_loss", "pf_g_loss", "pf_d_accuracy"))
    rows = [r for r in read_log(out / "log.csv") if r["stage"] == "adversarial"]
    assert [float(r["validity"]) for r in rows] == [1.0, 1.0]
    assert all(math.isfinite(float(r["gumbel_d_loss"])) for r in rows)
    assert all(Chem.MolFromSmiles(s) is not None for s in load_model(out).sample(64, seed=1))


def test_the_recipe_is_organ_qed_with_the_gumbel_estimator(tmp_path):
    from molgen.config import to_dict, to_toml

    root = Path(__file__).resolve().parents[2] / "configs"
    gum, qed = load_config(OrganConfig, root / "organ-gumbel.toml"), load_config(OrganConfig, root / "organ-qed.toml")
    a, b = to_dict(gum), to_dict(qed)
    assert {k for k in a if a[k] != b[k]} == {"adversarial", "gumbel"}
    assert {k for k in a["adversarial"] if a["adversarial"][k] != b["adversarial"][k]} == {"estimator", "steps", "g_lr"}
    assert gum.adversarial.estimator == "gumbel" and gum.gumbel.anneal_steps == gum.adversarial.steps
    assert gum.adversarial.g_lr == qed.adversarial.g_lr / 10
    (tmp_path / "c.toml").write_text(to_toml(a))
    assert load_config(OrganConfig, tmp_path / "c.toml") == gum
