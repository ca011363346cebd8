"""Masked decoding: the vectorised stack machine against a per-molecule reference, fuzzed with random logits."""

from __future__ import annotations

import pytest
import torch

from grammar import load_grammar
from molgen.vae.codec import GrammarCodec, TokenCodec
from molgen.vae.decoding import GrammarMachine, decode
from molgen.vocab import Vocabulary


class RandomDecoder:
    """Stands in for the GRU decoder: random logits at every step (seeded)."""

    def __init__(self, n_symbols: int, seed: int, scale: float = 3.0) -> None:
        self.start_id = n_symbols
        self.n = n_symbols
        self.gen = torch.Generator().manual_seed(seed)
        self.scale = scale

    def init_state(self, z):
        return z.shape[0]

    def step(self, prev, state):
        return self.scale * torch.randn((state, self.n), generator=self.gen), state


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
