"""Professor forcing in the ORGAN generator's MLE stage (``[professor]``): the behaviour discriminator
learns to tell free-running from teacher-forced runs, its gates work, its gradient reaches the
generator, its state is checkpointed and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from molgen.api import load_model
from molgen.checkpoint import load_checkpoint
from molgen.organ import trainer
from molgen.organ.config import GeneratorConfig, ProfessorConfig
from molgen.organ.generator import lengths
from molgen.masking.choice import choose, uniform
from molgen.organ.professor import ProfessorForcing, behaviours
from molgen.organ.symbols import symbols_from_data


@pytest.fixture(scope="module")
def tokens(train_smiles):
    """Token symbols and 64 encoded MOSES molecules."""
    cfg = GeneratorConfig(embedding_size=16, hidden_size=32, num_layers=1, max_len=60)
    symbols = symbols_from_data(cfg, train_smiles)
    seqs = torch.from_numpy(symbols.encode(train_smiles[:64])).long()
    return cfg, symbols, seqs[:, : int(lengths(seqs, symbols.eos).max())]


def fresh(tokens, seed: int = 0):
    cfg, symbols, _ = tokens
    torch.manual_seed(seed)
    return trainer.build_generator(cfg, symbols)


def test_d_accuracy_rises_on_a_fresh_generator(tokens):
    """A fresh generator free-runs on its own near-uniform draws, unlike the true prefixes it is
    teacher-forced on: D trained alone on a fixed batch learns to tell the two."""
    g = fresh(tokens)
    seqs = tokens[2]
    pf = ProfessorForcing(ProfessorConfig(enabled=True, hidden_size=32, mlp_size=32, lr=3e-3), g)
    with torch.no_grad():
        tf, fr, fr_lens = behaviours(g, seqs, rng=torch.Generator().manual_seed(0))
    lens = lengths(seqs, g.eos)
    accs = [pf.discriminator_step(tf, fr, lens, fr_lens)[1] for _ in range(40)]
    assert max(accs[:3]) < 0.75, accs
    assert min(accs[-5:]) > 0.95, accs


def test_a_free_run_is_read_up_to_the_end_it_drew(tokens):
    """The free run's length is where it drew the end symbol (the full width when it never did), and
    D's verdict on it does not change with what the generator would do after that end."""
    g = fresh(tokens, 2)
    seqs = tokens[2]
    with torch.no_grad():
        g.head.bias[g.eos] += 4.0  # ends come early
        tf, fr, fr_lens = behaviours(g, seqs, rng=torch.Generator().manual_seed(0))
    T = seqs.size(1)
    assert (fr_lens < T).any() and (fr_lens >= 1).all()
    # the recorded length is the first end the free run drew: rerun its draws step by step
    with torch.no_grad():
        tokens_in = torch.full((len(seqs), 1), g.bos, dtype=torch.long)
        state, ends = None, torch.full((len(seqs),), T)
        rng = torch.Generator().manual_seed(0)
        for t in range(T):
            out, state = g.rnn(g.embed(tokens_in), state)
            nxt = choose(g.head(out[:, 0]).clone(), torch.zeros(len(seqs), g.n_outputs), uniform(len(seqs), rng, "cpu"))
            ends = torch.where((nxt == g.eos) & (ends == T), t + 1, ends)
            tokens_in = nxt.unsqueeze(1)
    assert torch.equal(fr_lens, ends)
    pf = ProfessorForcing(ProfessorConfig(enabled=True, hidden_size=16, mlp_size=16), g)
    pf.discriminator.eval()
    changed = fr.clone()
    for b, n in enumerate(fr_lens.tolist()):
        changed[b, n:] += 100.0  # what follows a row's end
    with torch.no_grad():
        assert torch.allclose(pf.discriminator(fr, fr_lens), pf.discriminator(changed, fr_lens))
        assert not torch.allclose(pf.discriminator(fr, torch.full_like(fr_lens, T)),
                                  pf.discriminator(changed, torch.full_like(fr_lens, T)))


def test_gates_and_the_adversarial_gradient(tokens):
    g = fresh(tokens, 1)
    seqs = tokens[2]

    def grads(cfg: ProfessorConfig):
        g.zero_grad()
        pf = ProfessorForcing(cfg, g)
        before = [p.detach().clone() for p in pf.discriminator.parameters()]
        loss, row = pf.loss(g, seqs, rng=torch.Generator().manual_seed(3))
        loss.backward()
        moved = any(not torch.equal(a, b) for a, b in zip(before, pf.discriminator.parameters()))
        return [p.grad.clone() for p in g.parameters()], row, moved

    torch.manual_seed(0)
    nll_only, row, d_moved = grads(ProfessorConfig(enabled=True, g_threshold=1.0, d_threshold=0.0))
    assert row["pf_g_update"] == 0 and row["pf_d_update"] == 0 and not d_moved  # both gates shut
    assert math.isfinite(row["pf_g_loss"]) and math.isfinite(row["pf_d_loss"])
    g.zero_grad()
    g.nll(seqs).backward()
    assert all(torch.allclose(a, p.grad) for a, p in zip(nll_only, g.parameters()))  # the loss is the NLL alone
    for cfg in (ProfessorConfig(enabled=True, g_threshold=0.0, weight=5.0),
                ProfessorConfig(enabled=True, g_threshold=0.0, weight=5.0, use_outputs=True, reverse=True)):
        torch.manual_seed(0)
        both, row, d_moved = grads(cfg)
        assert row["pf_g_update"] == 1 and row["pf_d_update"] == 1 and d_moved
        diff = max(float((a - b).abs().max()) for a, b in zip(both, nll_only))
        assert diff > 1e-6  # the adversarial term reaches the generator (through the free-running states)
        assert all(torch.isfinite(b).all() for b in both)


def test_rule_generator_free_runs_under_the_machine(train_smiles):
    """Over rules the free-running draws are the machine's: its distributions give forbidden rules 0."""
    cfg = GeneratorConfig(embedding_size=8, hidden_size=16, num_layers=1, max_len=100, symbols="rules")
    symbols = symbols_from_data(cfg, [])
    seqs = torch.from_numpy(symbols.encode(train_smiles[:40])).long()[:8]
    seqs = seqs[:, : int(lengths(seqs, symbols.eos).max())]
    torch.manual_seed(0)
    g = trainer.build_generator(cfg, symbols)
    machine = symbols.machine(len(seqs), "cpu")
    tf, fr, fr_lens = behaviours(g, seqs, machine, torch.Generator().manual_seed(0), use_outputs=True,
                                 train_mask=symbols.train_mask(seqs))
    assert (1 <= fr_lens).all() and (fr_lens <= seqs.size(1)).all()
    assert tf.shape == fr.shape == (len(seqs), seqs.size(1), 16 + symbols.n_outputs)
    p_fr = fr[..., 16:]
    assert torch.allclose(p_fr.sum(-1), torch.ones(p_fr.shape[:2]))
    # the first step of every derivation allows one start rule only: all mass on it
    first_allowed = symbols.machine(1, "cpu").penalty()[0] == 0
    assert torch.equal(p_fr[:, 0] > 0, first_allowed.expand(len(seqs), -1))
    assert (p_fr == 0).float().mean() > 0.5  # most rules are forbidden at most steps
    pf = ProfessorForcing(ProfessorConfig(enabled=True, g_threshold=0.0, use_outputs=True), g)
    loss, row = pf.loss(g, seqs, symbols.train_mask(seqs), symbols.machine(len(seqs), "cpu"), torch.Generator().manual_seed(0))
    loss.backward()
    assert math.isfinite(loss.item()) and all(torch.isfinite(p.grad).all() for p in g.parameters() if p.grad is not None)


def test_professor_run_logs_checkpoints_and_samples(tmp_path, tiny_organ, read_log):
    out = tmp_path / "run"
    opts = tiny_organ("run", professor__enabled=True, professor__g_threshold=0.0, dpretrain__steps=0, adversarial__steps=0)
    assert trainer.train_from_options(opts) == 0
    rows = read_log(out / "log.csv")
    assert [r["stage"] for r in rows] == ["mle"] * 6
    for key in ("mle_loss", "pf_d_loss", "pf_g_loss", "pf_d_accuracy"):
        values = [float(r[key]) for r in rows]
        assert all(math.isfinite(v) for v in values), (key, values)
    assert {r["pf_g_update"] for r in rows} == {"1"}
    assert float(rows[-1]["mle_loss"]) < float(rows[0]["mle_loss"])
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt", kind="organ")
    assert set(ckpt["professor"]) == {"discriminator", "optimizer"}
    assert ckpt["professor"]["optimizer"]["state"]  # Adam's moments: D was trained
    model = load_model(out)
    a = model.sample(20, seed=5, batch_size=7)
    assert a == model.sample(20, seed=5, batch_size=7) and a != model.sample(20, seed=6, batch_size=7)
    from molgen.dashboard.runs import curve_groups
    from molgen.dashboard.runs import read_log as dashboard_log

    groups = curve_groups(dashboard_log(out))  # the dashboard draws the losses and D's accuracy with their kin
    assert {"pf_d_loss", "pf_g_loss", "mle_loss"} <= set(groups["Losses"])
    assert "pf_d_accuracy" in groups["Validity, uniqueness, diversity"]


def test_professor_resume_equals_uninterrupted(whole_and_resumed):
    settings = {"professor__enabled": True, "professor__g_threshold": 0.0, "dpretrain__steps": 1, "adversarial__steps": 0}
    r = whole_and_resumed(4, **settings)  # inside MLE
    a, b = r.whole, r.resumed
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for name, tensor in a["professor"]["discriminator"].items():
        assert torch.equal(tensor, b["professor"]["discriminator"][name]), name
    sa, sb = a["professor"]["optimizer"]["state"], b["professor"]["optimizer"]["state"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)
    assert r.whole_log == r.resumed_log


def test_the_recipe_is_organ_mle_with_professor_forcing(tmp_path):
    from molgen.config import load_config, to_dict, to_toml
    from molgen.organ.config import OrganConfig

    root = Path(__file__).resolve().parents[2] / "configs"
    pf, mle = load_config(OrganConfig, root / "organ-professor.toml"), load_config(OrganConfig, root / "organ-mle.toml")
    assert pf.professor.enabled and not mle.professor.enabled
    a, b = to_dict(pf), to_dict(mle)
    assert {k for k in a if a[k] != b[k]} == {"professor"}
    (tmp_path / "c.toml").write_text(to_toml(a))
    assert load_config(OrganConfig, tmp_path / "c.toml") == pf


def test_while_the_gate_is_shut_the_generator_trains_as_plain_mle(tmp_path, tiny_organ, read_log):
    """Professor forcing's D may train, but until its accuracy reaches g_threshold the generator's
    updates are the NLL's alone: same batches, same weights as a run without professor forcing."""
    plain = {"dpretrain__steps": 0, "adversarial__steps": 0}
    assert trainer.train_from_options(tiny_organ("plain", **plain)) == 0
    assert trainer.train_from_options(tiny_organ("pf", **plain, professor__enabled=True, professor__g_threshold=1.0)) == 0
    rows = read_log(tmp_path / "pf" / "log.csv")
    assert {r["pf_g_update"] for r in rows} == {"0"} and {r["pf_d_update"] for r in rows} == {"1"}
    assert [r["mle_loss"] for r in rows] == [r["mle_loss"] for r in read_log(tmp_path / "plain" / "log.csv")]
    a = load_checkpoint(tmp_path / "plain" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "pf" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("line, says", [("g_threshold = 1.5", "professor.g_threshold: 1.5 must be <= 1"),
                                        ("hidden_size = 0", "professor.hidden_size: 0 must be >= 1"),
                                        ("wieght = 2.0", "unknown key 'wieght' (did you mean 'weight'?)")])
def test_bad_professor_settings_are_one_line_config_errors(tmp_path, line, says):
    from molgen.config import load_config
    from molgen.errors import ConfigError
    from molgen.organ.config import OrganConfig

    path = tmp_path / "bad.toml"
    path.write_text(f"[professor]\nenabled = true\n{line}\n")
    with pytest.raises(ConfigError) as err:
        load_config(OrganConfig, path)
    assert says in str(err.value) and "bad.toml" in str(err.value) and "\n" not in str(err.value)
