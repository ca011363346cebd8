"""The ORGAN generator over production rules (``[generator] symbols = "rules"``): every sample and
every rollout completion is a finished derivation of a molecule RDKit sanitises, whatever the
logits; rollouts continue a prefix's machine state; the family's run plumbing (MLE, adversarial
steps, checkpoints, resume, sampling) works unchanged over rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rdkit import Chem

from molgen.api import load_model
from molgen.checkpoint import load_checkpoint
from molgen.organ import trainer
from molgen.organ.config import GeneratorConfig
from molgen.organ.generator import GeneratorNet, lengths
from molgen.organ.rollout import mc_rollout, prefix_machines
from molgen.organ.symbols import RuleSymbols, symbols_from_data
from molgen.training import TrainOptions

TRAIN_MOLECULES = 200  # the training file of the shared ``data_file`` fixture

MAX_LEN = 100  # generator.max_len: 99 rules and the padding rule that ends them


@pytest.fixture(scope="module")
def symbols() -> RuleSymbols:
    return symbols_from_data(GeneratorConfig(max_len=MAX_LEN, symbols="rules"), [])


def wild_generator(symbols: RuleSymbols, seed: int, scale: float) -> GeneratorNet:
    """An untrained rule generator whose logits are random and large (``scale`` x the usual spread):
    the random-logit fuzz of the masked sampler, where any mistake of the machine would show."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(embedding_size=8, hidden_size=16, num_layers=1, max_len=MAX_LEN, symbols="rules")
    g = trainer.build_generator(cfg, symbols)
    with torch.no_grad():
        g.head.weight.mul_(scale)
        g.head.bias.normal_(0.0, scale)
    return g.eval()


def sanitised(symbols: RuleSymbols, seqs: torch.Tensor) -> list[str | None]:
    """RDKit's canonical SMILES of each sequence's derivation (None where RDKit refuses it)."""
    out = []
    for row in seqs.tolist():
        mol = Chem.MolFromSmiles(symbols.codec.grammar.to_smiles(row))
        out.append(None if mol is None else Chem.MolToSmiles(mol))
    return out


def finished(symbols: RuleSymbols, seqs: torch.Tensor) -> torch.Tensor:
    """Rows whose rules, replayed through a fresh machine, make a complete derivation."""
    m = symbols.machine(seqs.size(0), "cpu")
    for t in range(seqs.size(1)):
        m.advance(seqs[:, t])
    return m.finished


@pytest.mark.parametrize("seed, scale, temperature", [(0, 1.0, 1.0), (1, 8.0, 1.0), (2, 8.0, 0.3), (3, 30.0, 3.0)])
def test_random_logit_fuzz_samples_are_all_molecules(symbols, seed, scale, temperature):
    g = wild_generator(symbols, seed, scale)
    seqs = g.sample(96, temperature=temperature, generator=torch.Generator().manual_seed(seed),
                    machine=symbols.machine(96, "cpu"))
    assert seqs.shape == (96, MAX_LEN)
    assert bool(finished(symbols, seqs).all())
    smiles = sanitised(symbols, seqs)
    assert None not in smiles, [symbols.codec.grammar.to_smiles(r) for r, s in zip(seqs.tolist(), smiles) if s is None]
    # each derivation ends with the padding rule (the end symbol), and only padding follows
    lens = lengths(seqs, symbols.eos)
    assert (lens <= MAX_LEN).all()
    after = torch.arange(MAX_LEN).unsqueeze(0) >= lens.unsqueeze(1) - 1
    assert (seqs[after] == symbols.pad).all()


def test_random_logit_fuzz_through_rollouts_completes_every_prefix_as_a_molecule(symbols):
    g = wild_generator(symbols, 4, 8.0)
    seqs = g.sample(6, generator=torch.Generator().manual_seed(4), machine=symbols.machine(6, "cpu"))
    seen: list[torch.Tensor] = []

    def reward(s: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        seen.append(s.clone())
        return torch.tensor([float(x is not None) for x in sanitised(symbols, s)])

    res = mc_rollout(g, seqs, reward, n_rollouts=3, generator=torch.Generator().manual_seed(5), chunk=50,
                     new_machine=lambda n: symbols.machine(n, "cpu"))
    completions = seen[-1]
    assert res.n_completions == completions.size(0) == 3 * int((lengths(seqs, symbols.eos) - 1).sum())
    assert bool(finished(symbols, completions).all())
    assert (res.q[res.mask] == 1.0).all()  # every completion (and every sample) sanitised
    # every completion keeps its prefix: rows come prefix by prefix, n_rollouts each
    lens = lengths(seqs, symbols.eos)
    prefixes = [(b, p) for b in range(6) for p in range(1, int(lens[b]))]
    for k, (b, p) in enumerate(prefixes):
        for r in range(3):
            assert torch.equal(completions[3 * k + r, :p], seqs[b, :p])


def test_a_rollout_from_a_mid_derivation_prefix_always_completes(symbols):
    """A real molecule cut inside an open ring, in the middle of a branch: every completion closes
    what the prefix opened and is a molecule, even under a generator that wants to open rings forever."""
    smiles = "CC(=O)Nc1ccc2c(c1)C(=O)N(C)C2"
    ids = symbols.encode([smiles])
    seq = torch.from_numpy(ids).long()
    n = int((seq != symbols.pad).sum())
    m = prefix_machines(lambda k: symbols.machine(k, "cpu"), seq, list(range(1, n)))
    open_ring = [p for p in range(1, n) if bool((m.ring_atom[p - 1] >= 0).any()) and int(m.n_anchor[p - 1]) > 0]
    assert open_ring, "the molecule has prefixes inside a ring and a branch"
    g = wild_generator(symbols, 6, 8.0)
    with torch.no_grad():  # the adversary: ring labels and ring-opening tails above everything else
        from molgen.masking import tables as T

        tb = symbols.codec.semantic_tables
        g.head.bias[torch.as_tensor(tb.label_rules)] += 40.0
        g.head.bias[tb.rule_of_kind[T.TAIL_RING_MORE]] += 40.0
    seen: list[torch.Tensor] = []

    def reward(s: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        seen.append(s.clone())
        return torch.zeros(s.size(0))

    mc_rollout(g, seq, reward, n_rollouts=16, generator=torch.Generator().manual_seed(7), chunk=64,
               new_machine=lambda k: symbols.machine(k, "cpu"))
    completions = seen[-1].view(n, 16, -1)  # prefixes 1 .. n (the last one is the whole derivation)
    for p in open_ring:
        rows = completions[p - 1]
        assert (rows[:, :p] == seq[0, :p]).all()
        assert bool(finished(symbols, rows).all())
        assert None not in sanitised(symbols, rows)


def test_rollout_completions_do_not_depend_on_the_pool_size(symbols):
    g = wild_generator(symbols, 8, 2.0)
    seqs = g.sample(3, generator=torch.Generator().manual_seed(8), machine=symbols.machine(3, "cpu"))
    runs = []
    for chunk in (2, 13, 100_000):  # 2: the machine on fewer than four rows too
        seen: list[torch.Tensor] = []

        def reward(s: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
            seen.append(s.clone())
            return (s % 7 == 0).float().sum(1)

        res = mc_rollout(g, seqs, reward, 2, torch.Generator().manual_seed(9), chunk=chunk, stride=5,
                         new_machine=lambda n: symbols.machine(n, "cpu"))
        runs.append((seen[-1], res.q))
    for completions, q in runs[1:]:
        assert torch.equal(completions, runs[0][0]) and torch.equal(q, runs[0][1])


def test_take_copies_rows_and_leaves_the_machine_unchanged(symbols):
    """``take`` gives the rollouts independent copies of a row's whole state (repeats allowed)."""
    g = wild_generator(symbols, 10, 2.0)
    seqs = g.sample(3, generator=torch.Generator().manual_seed(10), machine=symbols.machine(3, "cpu"))
    m = symbols.machine(3, "cpu")
    for t in range(6):
        m.advance(seqs[:, t])
    before = m.allowed().clone()
    copies = m.take(torch.tensor([1, 1, 0]))
    copies.advance(seqs[[1, 1, 0], 6])
    assert torch.equal(m.allowed(), before)
    m.advance(seqs[:, 6])
    assert torch.equal(copies.allowed(), m.allowed()[[1, 1, 0]])
    copies.extend(m.take(torch.tensor([2])))
    assert torch.equal(copies.allowed(), m.allowed()[[1, 1, 0, 2]])


def test_masked_loss_and_log_probs_are_those_of_the_masked_distribution(symbols, train_smiles):
    g = wild_generator(symbols, 11, 1.0)
    seqs = torch.from_numpy(symbols.encode(train_smiles[:8])).long()
    mask = symbols.train_mask(seqs)
    logp, entropy = g.token_log_probs(seqs, mask)
    assert torch.isfinite(logp).all() and torch.isfinite(entropy).all() and (entropy >= -1e-6).all()
    logits, _ = g(g.inputs_for(seqs))
    want = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), -1).gather(-1, seqs.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(logp, want)
    real = seqs != symbols.pad
    assert torch.allclose(g.nll(seqs, mask), -want[real].mean())
    assert g.nll(seqs, mask) < g.nll(seqs)  # the mask removes probability mass from impossible rules
    # where the machine leaves a single choice the step costs nothing
    forced = mask.sum(-1) == 1
    assert forced.any() and torch.allclose(logp[forced], torch.zeros(int(forced.sum())), atol=1e-6)


# ---------------------------------------------------------------- the family's run plumbing over rules
TINY = """
seed = 3
torch_threads = 1
checkpoint_every = 3
[generator]
embedding_size = 16
hidden_size = 32
num_layers = 1
max_len = 100
symbols = "rules"
[discriminator]
preset = "custom"
filter_widths = [1, 3, 5]
filter_counts = [8, 8, 8]
embedding_size = 8
loss = "{loss}"
input = "{d_input}"
[mle]
steps = 5
batch_size = 32
lr = 0.01
eval_every = 5
[dpretrain]
steps = 1
n_samples = 32
[adversarial]
steps = 2
batch_size = 8
rollouts = 2
rollout_stride = 6
d_samples = 16
[reward]
lam = 0.5
[[objectives]]
name = "qed"
"""


def run_opts(tmp_path: Path, data: Path, out: str, loss: str = "bce", resume: bool = False,
             d_input: str = "symbols") -> TrainOptions:
    cfg = tmp_path / f"{loss}-{d_input}.toml"
    cfg.write_text(TINY.format(loss=loss, d_input=d_input))
    return TrainOptions(kind="organ", data=data, out=tmp_path / out, config=cfg, resume=resume, command="test",
                        progress=False)


@pytest.mark.parametrize("loss, d_input", [("bce", "symbols"), ("wasserstein", "symbols"), ("bce", "smiles")])
def test_tiny_rule_model_trains_and_samples_only_molecules(tmp_path, data_file, loss, d_input, read_log):
    out = tmp_path / "run"
    assert trainer.train_from_options(run_opts(tmp_path, data_file, "run", loss, d_input=d_input)) == 0
    rows = read_log(out / "log.csv")
    assert [r["stage"] for r in rows] == ["mle"] * 5 + ["dpretrain"] + ["adversarial"] * 2
    mle = [float(r["mle_loss"]) for r in rows[:5]]
    assert mle[-1] < mle[0], mle
    assert all(float(r["validity"]) == 1.0 for r in rows if r["validity"])
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt", kind="organ")
    assert ckpt["grammar"]["name"] == "kekule" and ckpt["constraints"] == "semantic"
    assert ckpt["representation"] == "kekule" and "vocab" not in ckpt
    assert ("discriminator_vocab" in ckpt) == (d_input == "smiles")
    model = load_model(out)
    from molgen.dashboard.models import model_summary

    assert model_summary(model)["grammar"] == "kekule (semantic constraints)"  # what the dashboard shows
    a = model.sample(150, seed=5, batch_size=64)
    assert all(Chem.MolFromSmiles(s) is not None for s in a)
    assert a == model.sample(150, seed=5, batch_size=64)  # the same seed gives the same samples
    assert a != model.sample(150, seed=6, batch_size=64)


@pytest.mark.parametrize("d_input", ["symbols", "smiles"])
def test_rule_run_resumed_equals_uninterrupted(tmp_path, data_file, monkeypatch, d_input, interrupt_at, read_log):
    assert trainer.train_from_options(run_opts(tmp_path, data_file, "whole", d_input=d_input)) == 0
    with monkeypatch.context() as m:
        m.setattr(trainer, "GracefulInterrupt", lambda: interrupt_at(8))  # inside the adversarial stage
        assert trainer.train_from_options(run_opts(tmp_path, data_file, "parts", d_input=d_input)) == 130
    assert trainer.train_from_options(run_opts(tmp_path, data_file, "parts", resume=True, d_input=d_input)) == 0
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "parts" / "checkpoints" / "last.pt")
    for key in ("model", "discriminator", "rollout"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    timing = {"seconds", "t_policy", "t_reward"}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]  # noqa: E731
    assert strip(read_log(tmp_path / "whole" / "log.csv")) == strip(read_log(tmp_path / "parts" / "log.csv"))


def test_smiles_discriminator_input_is_refused_for_tokens(tmp_path):
    from molgen.config import load_config
    from molgen.errors import ConfigError
    from molgen.organ.config import OrganConfig

    path = tmp_path / "c.toml"
    path.write_text('[discriminator]\ninput = "smiles"\n[reward]\nmode = "seqgan"\n')
    with pytest.raises(ConfigError, match="symbols = 'rules'"):
        load_config(OrganConfig, path)
    path.write_text('[generator]\nsymbols = "rules"\nmax_len = 120\n[discriminator]\ninput = "smiles"\n'
                    '[reward]\nmode = "seqgan"\n')
    assert load_config(OrganConfig, path).discriminator.input == "smiles"


def test_how_many_mle_batches_are_replayed_at_once_changes_no_weight(tmp_path, data_file, monkeypatch):
    """The rule generator's MLE masks are replayed for several batches at once (16 on a CPU, 256 on
    a GPU), padded to the widest of them and cut back per batch: one batch at a time gives the
    same weights. Batches of 8 make several per epoch (25 of the 200 molecules fit in 99 rules)."""
    from molgen.masking import codec

    cfg = tmp_path / "small-batches.toml"
    cfg.write_text(TINY.format(loss="bce", d_input="symbols").replace("batch_size = 32\nlr", "batch_size = 8\nlr"))
    assert "batch_size = 8" in cfg.read_text()

    def run(out: str) -> int:
        return trainer.train_from_options(TrainOptions(kind="organ", data=data_file, out=tmp_path / out, config=cfg,
                                                       command="test", progress=False))

    assert run("ahead16") == 0
    monkeypatch.setitem(codec.REPLAY_AHEAD, "cpu", 1)
    assert run("ahead1") == 0
    a = load_checkpoint(tmp_path / "ahead16" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "ahead1" / "checkpoints" / "last.pt")
    for key in ("model", "discriminator"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
