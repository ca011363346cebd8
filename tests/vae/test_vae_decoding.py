"""Masked decoding: the vectorised stack machine against a per-molecule reference, fuzzed with random logits;
the decoder's step against nn.GRU; dropping finished rows changes nothing; sampling draws the masked softmax."""

from __future__ import annotations

import pytest
import torch

from grammar import load_grammar
from molgen.vae.codec import GrammarCodec, TokenCodec
from molgen.vae.config import ModelConfig
from molgen.vae.decoding import GrammarMachine, choose, decode, uniform
from molgen.vae.model import SequenceVAE
from molgen.vocab import Vocabulary


class RandomState:
    """Which rows of the original batch are left (decode drops finished ones)."""

    def __init__(self, batch: int, rows: torch.Tensor) -> None:
        self.batch, self.rows = batch, rows

    def select(self, idx: torch.Tensor) -> "RandomState":
        return RandomState(self.batch, self.rows[idx])


class RandomDecoder:
    """Stands in for the GRU decoder: random logits at every step (seeded), drawn for the whole batch."""

    def __init__(self, n_symbols: int, seed: int, scale: float = 3.0) -> None:
        self.start_id = n_symbols
        self.n = n_symbols
        self.gen = torch.Generator().manual_seed(seed)
        self.scale = scale

    def init_state(self, z):
        return RandomState(z.shape[0], torch.arange(z.shape[0]))

    def step(self, prev, state):
        logits = self.scale * torch.randn((state.batch, self.n), generator=self.gen)
        return logits[state.rows], state


class RandomNet:
    def __init__(self, n_symbols: int, seed: int, scale: float = 3.0) -> None:
        self.decoder = RandomDecoder(n_symbols, seed, scale)


def replay(grammar, ids: list[int]) -> bool:
    """Per-molecule Python stack: check each rule's LHS is on top; True if the derivation completed."""
    stack = [grammar.start]
    for r in ids:
        if not stack:
            assert r == grammar.pad_rule, "a rule other than padding after the derivation ended"
            continue
        top = stack.pop()
        assert grammar.lhs[r] == top, f"rule {grammar.rules[r]} emitted with {grammar.nonterminals[top]} on top"
        stack.extend(reversed(grammar.rhs_nonterminals[r]))
    return not stack


@pytest.mark.parametrize("name", ["smiles", "gvae-zinc"])
@pytest.mark.parametrize("greedy", [False, True])
def test_random_logits_give_complete_parseable_derivations(name, greedy):
    g = load_grammar(name)
    codec = GrammarCodec(g, max_len=120)
    for seed in range(3):
        res = decode(RandomNet(codec.n_symbols, seed), codec, torch.zeros(64, 1), greedy=greedy,
                     generator=torch.Generator().manual_seed(seed))
        assert res.ids.shape == (64, 120)
        assert not (res.complete & res.out_of_length).any()
        for row, complete, ool in zip(res.ids.tolist(), res.complete.tolist(), res.out_of_length.tolist()):
            assert replay(g, row) == complete
            if complete:
                smiles = g.to_smiles(row)
                body = [r for r in row if r != g.pad_rule]
                assert g.parse(smiles) == body
            else:
                assert ool


def test_out_of_length_is_counted_not_truncated():
    g = load_grammar("smiles")
    codec = GrammarCodec(g, max_len=6)  # far too short for most derivations
    res = decode(RandomNet(codec.n_symbols, 0, scale=0.0), codec, torch.zeros(32, 1), greedy=False,
                 generator=torch.Generator().manual_seed(0))
    assert res.out_of_length.sum() > 0
    for row, complete in zip(res.ids.tolist(), res.complete.tolist()):
        assert replay(g, row) == complete


def test_stack_overflow_is_flagged_and_row_abandoned():
    g = load_grammar("smiles")
    codec = GrammarCodec(g, max_len=60)
    machine = GrammarMachine(3, codec.mask_table, codec.rhs_table, codec.rhs_len, codec.start,
                             codec.pad_nonterminal, depth=4)
    pushes = codec.rhs_len.float()
    for _ in range(10):  # always take the allowed rule that pushes the most non-terminals
        scores = torch.where(machine.allowed(), pushes, torch.tensor(-1.0))
        machine.advance(scores.argmax(dim=1))
    assert machine.overflow.all()
    assert not machine.finished.any()
    only_pad = torch.zeros(codec.n_symbols, dtype=torch.bool)
    only_pad[g.pad_rule] = True
    assert (machine.allowed() == only_pad).all()


def test_token_machine_pads_after_eos():
    vocab = Vocabulary.build(["CCO", "c1ccccc1"])
    codec = TokenCodec(vocab, max_len=12)
    res = decode(RandomNet(codec.n_symbols, 1), codec, torch.zeros(50, 1), greedy=False,
                 generator=torch.Generator().manual_seed(1))
    for row, complete in zip(res.ids.tolist(), res.complete.tolist()):
        assert vocab.bos not in row and vocab.unk not in row
        if complete:
            end = row.index(vocab.eos)
            assert all(t == vocab.pad for t in row[end + 1 :])
            assert vocab.pad not in row[:end]
        else:
            assert vocab.eos not in row
    assert res.out_of_length.equal(~res.complete)


def test_sampling_is_reproducible_with_a_seeded_generator():
    codec = GrammarCodec(load_grammar("smiles"), max_len=80)
    a = decode(RandomNet(codec.n_symbols, 5), codec, torch.zeros(16, 1), greedy=False, generator=torch.Generator().manual_seed(9))
    b = decode(RandomNet(codec.n_symbols, 5), codec, torch.zeros(16, 1), greedy=False, generator=torch.Generator().manual_seed(9))
    c = decode(RandomNet(codec.n_symbols, 5), codec, torch.zeros(16, 1), greedy=False, generator=torch.Generator().manual_seed(10))
    assert torch.equal(a.ids, b.ids)
    assert not torch.equal(a.ids, c.ids)


def test_training_mask_allows_exactly_the_true_rules_lhs():
    g = load_grammar("smiles")
    codec = GrammarCodec(g, max_len=100)
    ids = g.parse("CC(=O)Nc1ccccc1")
    x = torch.tensor([ids + [g.pad_rule] * (100 - len(ids))])
    allowed = codec.train_mask(x)[0]
    for t, r in enumerate(x[0].tolist()):
        assert allowed[t, r]
        expected = torch.as_tensor(g.lhs) == int(g.lhs[r])
        assert torch.equal(allowed[t], expected)


def tiny_net(n_symbols: int, max_len: int, layers: int = 1, autoregressive: bool = True, seed: int = 0) -> SequenceVAE:
    torch.manual_seed(seed)
    cfg = ModelConfig(latent_size=8, conv_channels=(4,), conv_kernels=(3,), dense_size=16, decoder_input_size=8,
                      hidden_size=64, num_layers=layers, autoregressive=autoregressive, embedding_size=6)
    return SequenceVAE(cfg, n_symbols, max_len).eval()


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("autoregressive", [True, False])
@pytest.mark.parametrize("rows", [3, 40])  # below and above the batch size where the step packs its weights
def test_decoder_step_matches_teacher_forced_nn_gru(layers, autoregressive, rows):
    net = tiny_net(30, 20, layers, autoregressive)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn((rows, 8), generator=gen)
    targets = torch.randint(0, 30, (rows, 15), generator=gen)
    with torch.no_grad():
        expected = net.decoder(z, targets)  # nn.GRU over the whole sequence
        state = net.decoder.init_state(z)
        prev = torch.full((rows,), net.decoder.start_id)
        steps = []
        for t in range(targets.shape[1]):
            logits, state = net.decoder.step(prev, state)
            steps.append(logits)
            prev = targets[:, t]
    torch.testing.assert_close(torch.stack(steps, dim=1), expected, rtol=1e-5, atol=1e-6)


def _codec(kind: str):
    if kind == "gvae":
        return GrammarCodec(load_grammar("smiles"), max_len=50)
    return TokenCodec(Vocabulary.build(["CCO", "c1ccccc1", "CC(=O)Nc1ccc(Cl)cc1", "C#N", "OCC[NH3+]"]), max_len=30)


@pytest.mark.parametrize("kind, seed", [("gvae", 3), ("cvae", 1)])  # seeds whose untrained nets finish rows early
@pytest.mark.parametrize("greedy", [False, True])
def test_dropping_finished_rows_changes_no_result(kind, seed, greedy, monkeypatch):
    codec = _codec(kind)
    net = tiny_net(codec.n_symbols, codec.max_len, seed=seed)
    z = torch.randn((300, 8), generator=torch.Generator().manual_seed(2))
    machine_type = type(codec.machine(1, "cpu"))
    selects = []
    original = machine_type.select
    monkeypatch.setattr(machine_type, "select", lambda self, rows: (selects.append(len(rows)), original(self, rows))[1])
    results = [decode(net, codec, z, greedy=greedy, temperature=1.5, generator=torch.Generator().manual_seed(4),
                      compact=compact) for compact in (True, False)]
    assert selects and min(selects) < len(z)  # rows were dropped along the way
    a, b = results
    for field in ("ids", "complete", "out_of_length", "overflow"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert a.complete.any() and not a.complete.all()  # rows finished at different steps, some never


def test_dropping_finished_rows_with_random_logits():
    codec = GrammarCodec(load_grammar("gvae-zinc"), max_len=120)
    a, b = (decode(RandomNet(codec.n_symbols, 7), codec, torch.zeros(100, 1), greedy=False,
                   generator=torch.Generator().manual_seed(7), compact=compact) for compact in (True, False))
    assert torch.equal(a.ids, b.ids) and torch.equal(a.complete, b.complete) and torch.equal(a.overflow, b.overflow)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_choose_samples_the_softmax_of_the_allowed_symbols(temperature):
    n = 40_000
    row = torch.tensor([2.0, 0.5, -1.0, 3.0, 0.0, 1.0])
    allowed = torch.tensor([True, True, False, True, False, True])
    penalty = torch.zeros(6).masked_fill_(~allowed, float("-inf"))
    u = uniform(n, torch.Generator().manual_seed(0), "cpu")
    picks = choose(row.expand(n, 6).clone(), penalty.expand(n, 6), u, temperature)
    freq = torch.bincount(picks, minlength=6).double() / n
    expected = torch.softmax(row / temperature + penalty, dim=0).double()
    assert freq[~allowed].sum() == 0
    assert (freq - expected).abs().max() < 0.01  # about 4 standard errors


def test_choose_never_picks_a_masked_symbol():
    # masked logits far above the allowed ones, and the extreme uniforms (tiny and exactly 1)
    logits = torch.tensor([[1e4, -1e4, 1e4, -1e4 - 30.0, 1e4]] * 4)
    penalty = torch.tensor([[float("-inf"), 0.0, float("-inf"), 0.0, float("-inf")]] * 4)
    u = torch.tensor([1e-30, 2.0**-24, 0.5, 1.0])
    assert choose(logits.clone(), penalty, u).tolist() == [1, 1, 1, 1]
    assert choose(logits.clone(), penalty).tolist() == [1, 1, 1, 1]  # greedy
    u = torch.tensor([1e-30, 0.2, 0.7, 1.0])
    flat = torch.zeros(4, 5)
    assert choose(flat.clone(), penalty, u).tolist() == [1, 1, 3, 3]
    assert uniform(10_000, torch.Generator().manual_seed(0), "cpu").min() > 0
