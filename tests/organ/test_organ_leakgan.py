"""LeakGAN in the ORGAN family: the leak of D's features, the hierarchical generator's paths, the
paper's losses, and whole tiny runs on real SMILES (losses logged, resume, sampling after reload)."""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path

import pytest
import torch

from molgen.api import load_model
from molgen.checkpoint import load_checkpoint
from molgen.config import from_dict, to_dict, to_toml
from molgen.errors import UsageError
from molgen.organ import leakgan, trainer
from molgen.organ.config import (AdversarialConfig, DiscriminatorConfig, DPretrainConfig, GeneratorConfig, LeakGANConfig,
                                 MLEConfig, OrganConfig, RewardConfig)
from molgen.organ.discriminator import Discriminator
from molgen.organ.rollout import mc_rollout
from molgen.organ.symbols import TokenSymbols
from molgen.vocab import Vocabulary

TRAIN_MOLECULES = 200  # the training file of the shared ``data_file`` fixture

D_CFG = DiscriminatorConfig(preset="custom", filter_widths=[1, 3, 5], filter_counts=[8, 8, 8], embedding_size=8)


def tiny_config(adv_steps: int = 4, mle_every: int = 2) -> OrganConfig:
    """A LeakGAN run that takes seconds: 4 MLE steps, 1 D-pretraining step, ``adv_steps`` SeqGAN steps."""
    return OrganConfig(
        seed=3, torch_threads=1, checkpoint_every=2,
        generator=GeneratorConfig(architecture="leakgan", embedding_size=16, hidden_size=32, num_layers=1, max_len=60),
        discriminator=D_CFG,
        mle=MLEConfig(steps=4, batch_size=32, lr=0.01, eval_every=100),
        dpretrain=DPretrainConfig(steps=1, n_samples=32),
        adversarial=AdversarialConfig(steps=adv_steps, batch_size=8, rollouts=2, rollout_stride=2, d_samples=16, g_lr=0.01),
        reward=RewardConfig(mode="seqgan"),
        leakgan=LeakGANConfig(goal_size=4, manager_hidden_size=16, horizon=3, mle_every=mle_every),
    )


def write(tmp_path: Path, cfg: OrganConfig) -> Path:
    path = tmp_path / "leakgan.toml"
    path.write_text(to_toml(to_dict(cfg)))
    return path


@pytest.fixture
def tiny_net(train_smiles):
    """An untrained tiny LeakGAN over the tokens of 50 MOSES molecules, its D and its symbols."""
    symbols = TokenSymbols(Vocabulary.build(train_smiles[:50]), 40)
    torch.manual_seed(0)
    disc = Discriminator(D_CFG, symbols.n_inputs, symbols.pad, 40)
    gen = leakgan.build_leakgan(GeneratorConfig(architecture="leakgan", embedding_size=8, hidden_size=16, num_layers=1,
                                                max_len=40), LeakGANConfig(goal_size=4, manager_hidden_size=8, horizon=3),
                                symbols, disc)
    return gen, disc, symbols


def test_features_are_the_layer_before_the_output_and_the_leak_reads_them(tiny_net, train_smiles):
    gen, disc, symbols = tiny_net
    seqs = torch.from_numpy(symbols.encode(train_smiles[:8]).astype("int64"))
    disc.eval()
    feats = disc.features(seqs)
    n = seqs.size(0)
    assert n >= 4 and feats.shape == (n, 24)
    assert torch.allclose(disc.out(feats).squeeze(1), disc(seqs), atol=1e-6)  # score = out(features) in eval mode
    assert torch.allclose(gen.leak(seqs), feats, atol=1e-5)  # the lookup-table path gives the same vector
    # every prefix (l = 0..T, written from position 0, padding after) at once, then one symbol at a time
    T = 38  # near D's length (40): windows that would run past the end must be left out
    every, done = gen.leak.prefixes(seqs[:, :T])
    state_done = torch.full((n, 24), float("-inf"))
    for ell in range(T + 1):
        prefix = torch.full((n, 40), symbols.pad)
        prefix[:, :ell] = seqs[:, :ell]
        want = disc.features(prefix)
        assert torch.allclose(every[:, ell], want, atol=1e-5), ell
        assert torch.equal(gen.leak.complete_max(prefix[:, :ell]), done[:, ell]), ell
        if ell:
            step, state_done = gen.leak.step(state_done, prefix, torch.full((n,), ell))
            assert torch.allclose(step, want, atol=1e-5), ell
            assert torch.equal(state_done, done[:, ell]), ell


def test_one_pass_step_by_step_and_rollout_states_give_the_same_logits(tiny_net):
    gen, _, _ = tiny_net
    seqs = gen.sample(6, generator=torch.Generator().manual_seed(1))
    inputs = gen.inputs_for(seqs)
    whole, _ = gen(inputs)  # one pass: all prefix features in one call
    first, state = gen(inputs[:, :1])
    rest, _ = gen(inputs[:, 1:], state)  # step by step: each symbol appended to the state's prefix
    _, cached = gen.prefix_states(seqs)  # what rollouts continue from
    assert torch.allclose(whole, torch.cat([first, rest], dim=1), atol=1e-5)
    assert torch.allclose(whole, cached, atol=1e-5)


def test_the_manager_reads_the_discriminators_features(tiny_net):
    """Cut the leak and this fails: the goals follow D, and the manager's loss has a gradient in the features."""
    gen, disc, _ = tiny_net
    seqs = gen.sample(6, generator=torch.Generator().manual_seed(2))
    _, goals, feats, _ = gen.teacher(gen.inputs_for(seqs))
    with torch.no_grad():
        disc.convs[1].weight.mul_(-1.5)  # a different D: different features of the same prefixes
    _, goals2, feats2, _ = gen.teacher(gen.inputs_for(seqs))
    assert not torch.allclose(feats, feats2) and (goals - goals2).abs().max() > 1e-3
    seqs2 = gen.sample(6, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(seqs, seqs2)  # sampling reads the live D too
    x = feats2.detach().requires_grad_(True)
    T = seqs.size(1)
    _, g, _, _ = gen.teacher(gen.inputs_for(seqs), x)  # x: features of prefixes 0..T-1, as the manager reads them
    full = torch.cat([x, gen.leak.prefixes(seqs)[0][:, T:]], dim=1)
    lens = torch.full((6,), T)
    valid = torch.ones(6, T, dtype=torch.bool)
    loss = leakgan.manager_loss(g, full, torch.ones(6, T), valid, lens, 3)
    grad, = torch.autograd.grad(loss, x)
    assert grad.abs().sum() > 0 and torch.isfinite(grad).all()


def test_rescaled_activation_ranks_each_step_within_the_batch():
    q = torch.tensor([[0.1, 5.0], [0.3, 5.0], [0.2, 1.0], [9.0, 0.0]])
    valid = torch.tensor([[True, True], [True, True], [True, True], [False, True]])
    r = leakgan.rescaled_activation(q, valid, 16.0)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    # step 0: three valid rows ranked 1, 3, 2 of 3; the invalid one gets 0 however large its Q
    assert r[:, 0].tolist() == pytest.approx([sig(16 * (1 / 3 - 0.5)), sig(16 * (1 - 0.5)), sig(16 * (2 / 3 - 0.5)), 0.0])
    # step 1: a tie shares the lower rank (3 of 4); order matters, scale does not
    assert r[:, 1].tolist() == pytest.approx([sig(16 * (3 / 4 - 0.5))] * 2 + [sig(16 * (2 / 4 - 0.5)), sig(16 * (1 / 4 - 0.5))])
    assert torch.equal(leakgan.rescaled_activation(q * 100 + 3, valid, 16.0), r)


def test_feature_moves_and_intrinsic_reward_on_known_vectors():
    e = torch.eye(3)
    feats = torch.stack([torch.zeros(3), e[0], e[0] + e[1], e[0] + e[1] + e[2]]).unsqueeze(0)  # f_0..f_3
    lens = torch.tensor([3])
    moves = leakgan.feature_moves(feats, lens, 2)  # f_{min(t+2, 3)} - f_t
    assert torch.equal(moves[0], torch.stack([e[0] + e[1], e[1] + e[2], e[2]]))
    goals = torch.stack([e[0], e[1], e[2]]).unsqueeze(0)  # each goal points at the next move
    r = leakgan.intrinsic_reward(goals, feats, torch.ones(1, 3, dtype=torch.bool), 2)
    # action t: mean over i=1..2 of cos(f_{t+1} - f_{t+1-i}, g_{t+1-i}) (terms that exist)
    assert r[0].tolist() == pytest.approx([1.0, (1.0 + 1 / math.sqrt(2)) / 2, (1.0 + 1 / math.sqrt(2)) / 2])


def test_rollouts_continue_cached_leakgan_states(tiny_net):
    """Rollouts over the LeakGAN policy: Q does not depend on how many completions run together,
    and the prefixes are featurised once (prefix_states) rather than once per completion."""
    gen, disc, _ = tiny_net
    policy = copy.deepcopy(gen)
    assert policy.leak is gen.leak  # the rollout copy reads the same D
    seqs = gen.sample(4, generator=torch.Generator().manual_seed(3))
    reward = lambda s, groups: disc.reward(s)  # noqa: E731
    before = gen.leak.rows
    a = mc_rollout(policy, seqs, reward, 3, generator=torch.Generator().manual_seed(4), chunk=1024)
    rows = gen.leak.rows - before
    b = mc_rollout(policy, seqs, reward, 3, generator=torch.Generator().manual_seed(4), chunk=5)
    assert torch.allclose(a.q, b.q, atol=1e-6)
    # re-running every prefix from BOS for each completion would featurise sum_p (N * p) prefix rows more
    lens = (a.mask.sum(1)).tolist()
    rerun = sum(3 * p for n in lens for p in range(1, n))
    assert rows < rerun + a.n_completions * seqs.size(1)


def test_leakgan_config_needs_an_lstm_worker_reading_its_own_symbols():
    from molgen.errors import ConfigError

    bad = to_dict(tiny_config())
    bad["generator"]["cell"] = "gru"
    with pytest.raises((ConfigError, ValueError), match="leakgan"):
        from_dict(OrganConfig, bad)


def test_tiny_run_logs_finite_losses_and_samples_the_same_after_reload(tmp_path, data_file, organ_opts, read_log):
    out = tmp_path / "run"
    assert trainer.train_from_options(organ_opts(data_file, write(tmp_path, tiny_config()), out)) == 0
    rows = read_log(out / "log.csv")
    assert [r["stage"] for r in rows] == ["mle"] * 4 + ["dpretrain"] + ["adversarial"] * 4
    for r in rows[:4]:
        assert math.isfinite(float(r["mle_loss"])) and math.isfinite(float(r["manager_loss"]))
    adv = rows[5:]
    for r in adv:
        for key in ("pg_loss", "manager_loss", "worker_loss", "intrinsic_reward", "reward", "d_loss"):
            assert math.isfinite(float(r[key])), (key, r[key])
        assert int(r["feature_rows"]) > 0
    assert [r["mle_loss"] != "" for r in adv] == [False, True, False, True]  # interleaved MLE every 2nd step
    from molgen.dashboard import runs  # the dashboard's curves: the new columns land in their groups

    groups = runs.curve_groups(runs.read_log(out))
    assert {"manager_loss", "worker_loss", "mle_loss"} <= set(groups["Losses"])
    assert "intrinsic_reward" in groups["Reward and objectives"]
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt", kind="organ")
    assert ckpt["config"]["generator"]["architecture"] == "leakgan" and ckpt["stage"] == "done"
    assert any(k.startswith("manager.") for k in ckpt["model"])
    a = load_model(out).sample(12, seed=5, batch_size=5)
    b = load_model(out).sample(12, seed=5, batch_size=5)  # a fresh load of the checkpoint
    assert len(a) == 12 and a == b and a != load_model(out).sample(12, seed=6, batch_size=5)
    other = tiny_config()
    other.mle.init_checkpoint = str(out / "checkpoints" / "last.pt")
    other.leakgan.goal_size = 5  # a generator of another shape cannot start from it
    with pytest.raises(UsageError, match="do not fit"):
        trainer.train_from_options(organ_opts(data_file, write(tmp_path, other), tmp_path / "init"))
    from molgen.cli import main  # `molgen sample` on the run folder, as for any ORGAN

    table = tmp_path / "sampled.csv"
    assert main(["sample", "--model", str(out), "-n", "10", "--seed", "1", "--out", str(table)]) == 0
    with open(table, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 10


@pytest.mark.parametrize("stop_at, stage", [(3, "mle"), (8, "adversarial")])
def test_resume_equals_uninterrupted(tmp_path, data_file, monkeypatch, interrupt_at, stop_at, stage, organ_opts, read_log):
    cfg = write(tmp_path, tiny_config(adv_steps=3))
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert trainer.train_from_options(organ_opts(data_file, cfg, whole)) == 0
    with monkeypatch.context() as m:
        m.setattr(trainer, "GracefulInterrupt", lambda: interrupt_at(stop_at))
        assert trainer.train_from_options(organ_opts(data_file, cfg, parts)) == 130
    assert load_checkpoint(parts / "checkpoints" / "last.pt")["stage"] == stage
    assert trainer.train_from_options(organ_opts(data_file, cfg, parts, resume=True)) == 0
    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(parts / "checkpoints" / "last.pt")
    for key in ("model", "discriminator", "rollout"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    timing = {"seconds", "t_policy", "t_reward"}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]  # noqa: E731
    assert strip(read_log(whole / "log.csv")) == strip(read_log(parts / "log.csv"))


def test_training_with_the_leak_cut_ends_elsewhere(tmp_path, data_file, monkeypatch, organ_opts):
    """The same run with D's features replaced by zeros trains different weights: the leak is used."""
    cfg = write(tmp_path, tiny_config(adv_steps=2, mle_every=0))
    assert trainer.train_from_options(organ_opts(data_file, cfg, tmp_path / "leak")) == 0
    with monkeypatch.context() as m:
        real = leakgan.FeatureLeak._finish  # every feature the generator reads goes through it
        m.setattr(leakgan.FeatureLeak, "_finish", lambda self, best: torch.zeros_like(real(self, best)))
        assert trainer.train_from_options(organ_opts(data_file, cfg, tmp_path / "cut")) == 0
    a = load_checkpoint(tmp_path / "leak" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["model"]
    assert not torch.equal(a["manager.weight_ih_l0"], b["manager.weight_ih_l0"])
    assert not torch.equal(a["head.weight"], b["head.weight"])


def test_shipped_config_is_a_leakgan_with_the_organ_qed_generator_budget():
    from molgen.config import load_config
    from molgen.paths import ROOT

    cfg = load_config(OrganConfig, ROOT / "configs" / "organ-leakgan.toml")
    qed = load_config(OrganConfig, ROOT / "configs" / "organ-qed.toml")
    assert cfg.generator.architecture == "leakgan" and cfg.reward.weight_d == 1.0
    for key in ("embedding_size", "hidden_size", "num_layers", "max_len"):
        assert getattr(cfg.generator, key) == getattr(qed.generator, key), key
    for key in ("rollouts", "rollout_stride", "batch_size"):
        assert getattr(cfg.adversarial, key) == getattr(qed.adversarial, key), key


def test_over_rules_every_sample_and_completion_is_a_molecule():
    """LeakGAN over production rules: sampling and rollouts draw under the semantic machine, and the
    policy's losses use the replayed masks."""
    from rdkit import Chem

    from molgen.organ.symbols import symbols_from_data

    cfg = GeneratorConfig(architecture="leakgan", embedding_size=8, hidden_size=16, num_layers=1, max_len=100,
                          symbols="rules")
    symbols = symbols_from_data(cfg, [])
    torch.manual_seed(0)
    disc = Discriminator(D_CFG, symbols.n_inputs, symbols.pad, cfg.max_len)
    leak_cfg = LeakGANConfig(goal_size=4, manager_hidden_size=8, horizon=3)
    gen = leakgan.build_leakgan(cfg, leak_cfg, symbols, disc)
    seqs = gen.sample(12, generator=torch.Generator().manual_seed(0), machine=symbols.machine(12, "cpu"))
    smiles = [Chem.MolFromSmiles(symbols.codec.grammar.to_smiles(r)) for r in seqs.tolist()]
    assert all(m is not None and m.GetNumAtoms() > 0 for m in smiles)
    res = mc_rollout(copy.deepcopy(gen), seqs[:3], lambda s, g: disc.reward(s), 1, generator=torch.Generator().manual_seed(1),
                     stride=8, new_machine=lambda n: symbols.machine(n, "cpu"))
    assert res.n_completions > 0 and torch.isfinite(res.q).all()
    mask = symbols.train_mask(seqs)
    loss, entropy, parts = leakgan.LeakGANObjective(gen, leak_cfg).adversarial_loss(seqs, mask, torch.rand(seqs.shape), 0.5)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in gen.parameters() if p.grad is not None)
    mle, _ = leakgan.LeakGANObjective(gen, leak_cfg).mle_loss(seqs, mask)
    assert torch.isfinite(mle)


@pytest.mark.parametrize("rescale", [True, False])
def test_adversarial_loss_weights_the_manager_by_rescaled_q_or_q_minus_baseline(tiny_net, rescale):
    gen, _, _ = tiny_net
    seqs = gen.sample(6, generator=torch.Generator().manual_seed(5))
    q = torch.rand(seqs.shape, generator=torch.Generator().manual_seed(6))
    cfg = LeakGANConfig(goal_size=4, manager_hidden_size=8, horizon=3, rescale=rescale, rescale_delta=8.0)
    _, _, parts = leakgan.LeakGANObjective(gen, cfg).adversarial_loss(seqs, None, q, 0.4)
    feats, _ = gen.leak.prefixes(seqs)
    _, goals, _, _ = gen.teacher(gen.inputs_for(seqs), feats[:, : seqs.size(1)])
    lens = (seqs != gen.eos).cumprod(1).sum(1) + 1
    valid = torch.arange(seqs.size(1)).unsqueeze(0) < lens.clamp_max(seqs.size(1)).unsqueeze(1)
    weight = leakgan.rescaled_activation(q, valid, 8.0) if rescale else q - 0.4
    want = leakgan.manager_loss(goals, feats, weight, valid, lens.clamp_max(seqs.size(1)), 3)
    assert parts["manager_loss"] == pytest.approx(want.item(), rel=1e-5)
