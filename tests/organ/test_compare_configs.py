"""The seed-methods comparison's six configs (``configs/compare/``) differ only in their method: the
same generator, seed, precision, thread count, budget and starting generator (the shipped organ-mle),
and each row is the recipe it names."""

from __future__ import annotations

import pytest

from molgen.checkpoint import load_checkpoint
from molgen.config import from_dict, load_config, quiet_renames, to_dict
from molgen.organ.config import GeneratorConfig, OrganConfig
from molgen.paths import ROOT

ROWS = ("teacher", "professor", "seqgan", "organ", "gumbel", "leakgan")
#: beside the six: professor forcing with a lighter adversarial term, SeqGAN at its paper's learning rate
VARIANTS = ("professor-w0.1", "seqgan-lr1e-4")


@pytest.fixture(scope="module")
def rows() -> dict[str, OrganConfig]:
    found = sorted(p.stem for p in (ROOT / "configs" / "compare").glob("*.toml"))
    assert found == sorted(ROWS + VARIANTS)
    return {name: load_config(OrganConfig, ROOT / "configs" / "compare" / f"{name}.toml") for name in ROWS + VARIANTS}


def test_every_row_starts_from_organ_mle_with_the_same_budget_and_generator(rows):
    prior = load_checkpoint(ROOT / "data" / "models" / "organ-mle" / "model.pt", kind="organ")
    with quiet_renames():  # the checkpoint may use older key names
        prior_gen = to_dict(from_dict(GeneratorConfig, prior["config"]["generator"]))
    for name, cfg in rows.items():
        assert (cfg.seed, cfg.precision, cfg.torch_threads, cfg.max_minutes) == (0, "fp32", 1, 15.0), name
        assert cfg.mle.init_checkpoint == "data/models/organ-mle/model.pt", name
        gen = {k: v for k, v in to_dict(cfg.generator).items() if k != "architecture"}
        assert gen == {k: v for k, v in prior_gen.items() if k != "architecture"}, name
        # the budget ends every row, not its step counts
        assert cfg.mle.steps + cfg.dpretrain.steps + cfg.adversarial.steps > 2000, name


def test_each_row_is_the_method_it_names(rows):
    t, p, s, o, g, lk = (rows[n] for n in ROWS)
    # teacher and professor forcing: the same MLE continuation, professor's term the only difference
    a, b = to_dict(t), to_dict(p)
    assert {k for k in a if a[k] != b[k]} == {"professor", "checkpoint_every"} and p.professor.enabled
    assert t.adversarial.steps == p.adversarial.steps == 0 and not t.professor.enabled
    light = to_dict(rows["professor-w0.1"])
    assert {k for k in b if b[k] != light[k]} == {"professor"} and rows["professor-w0.1"].professor.weight == 0.1
    slow = to_dict(rows["seqgan-lr1e-4"])
    assert {k for k in slow["adversarial"] if slow["adversarial"][k] != to_dict(s)["adversarial"][k]} == {"g_lr"}
    assert {k for k in slow if slow[k] != to_dict(s)[k]} == {"adversarial"} and rows["seqgan-lr1e-4"].adversarial.g_lr == 1e-4
    # SeqGAN is lambda = 1 with ORGAN's adversarial settings; ORGAN is the organ-qed recipe
    qed = load_config(OrganConfig, ROOT / "configs" / "organ-qed.toml")
    assert s.reward.weight_d == 1.0 and o.reward.weight_d == qed.reward.weight_d == 0.2
    assert o.objectives == qed.objectives and o.reward == qed.reward
    for key in ("batch_size", "rollouts", "rollout_stride", "g_lr", "d_steps", "d_samples", "entropy_coef"):
        assert getattr(s.adversarial, key) == getattr(o.adversarial, key) == getattr(qed.adversarial, key), key
    assert to_dict(o.discriminator) == to_dict(s.discriminator) == to_dict(qed.discriminator)
    # Gumbel: ORGAN's reward with the other estimator (and its own g_lr, configs/organ-gumbel.toml)
    gum = load_config(OrganConfig, ROOT / "configs" / "organ-gumbel.toml")
    assert g.adversarial.estimator == "gumbel" and g.objectives == o.objectives and g.reward == o.reward
    assert g.gumbel == gum.gumbel and g.adversarial.g_lr == gum.adversarial.g_lr
    # LeakGAN: the lambda = 1 reward, a few MLE steps for its fresh head and manager inside the budget
    assert lk.generator.architecture == "leakgan" and lk.reward.weight_d == 1.0 and 0 < lk.mle.steps <= 300
    assert to_dict(lk.leakgan) == to_dict(load_config(OrganConfig, ROOT / "configs" / "organ-leakgan.toml").leakgan)
