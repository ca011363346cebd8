"""The fused semantic machine (``molgen.masking.fused``, one compiled loop over rows, CPU) is the
tensor machine (``SemanticMachine``'s tensor operations, the reference and the GPU path): driven
with the same choices, every mask, penalty, finishing-policy rule and state tensor is the same at
every step, through rollouts' copies and joins, in training's replay, and in decoding a real model."""

from __future__ import annotations

import gzip

import pytest
import torch

from golden_masks import MODES, bias_towards
from grammar import load_grammar
from molgen.api import load_model
from molgen.masking import fused as fused_mod
from molgen.masking.semantic import SemanticMachine
from molgen.paths import MOSES_DIR
from molgen.vae.codec import GrammarCodec

GRAMMAR = load_grammar("kekule")

pytestmark = pytest.mark.skipif(not fused_mod.AVAILABLE, reason="numba is not installed")


def pair(c: GrammarCodec, rows: int):
    """The same fresh batch as a fused and a tensor machine."""
    a, b = c.machine(rows, "cpu", fused=True), c.machine(rows, "cpu", fused=False)
    assert a.fused and not b.fused
    return a, b


def assert_same_state(a, b, where: str) -> None:
    for name in SemanticMachine._ROW_STATE:
        assert torch.equal(getattr(a, name), getattr(b, name)), f"{name} differs {where}"
    for name in ("stack", "ptr", "overflow"):
        assert torch.equal(getattr(a.stack, name), getattr(b.stack, name)), f"stack.{name} differs {where}"


def lockstep(a, b, c: GrammarCodec, steps: int, gen: torch.Generator, bias: torch.Tensor) -> None:
    """Advance both machines ``steps`` times with one draw per row among the (equal) allowed rules."""
    for step in range(steps):
        allowed = a.allowed()
        assert torch.equal(allowed, b.allowed()), f"mask differs at step {step}"
        assert torch.equal(a.penalty(), b.penalty()), f"penalty differs at step {step}"
        assert torch.equal(a.policy(), b.policy()), f"policy differs at step {step}"
        rows = len(a.t)
        logits = (torch.randn(rows, c.n_symbols, generator=gen) * 3 + bias).masked_fill(~allowed, float("-inf"))
        rules = torch.multinomial(torch.softmax(logits, 1), 1, generator=gen).squeeze(1)
        a.advance(rules)
        b.advance(rules)
        assert_same_state(a, b, f"after step {step}")


@pytest.mark.parametrize("max_len", [30, 80, 169])
@pytest.mark.parametrize("mode", list(MODES))
def test_every_step_is_the_tensor_machines_step(mode, max_len):
    c = GrammarCodec(GRAMMAR, max_len=max_len, constraints="semantic")
    a, b = pair(c, 160)
    lockstep(a, b, c, max_len, torch.Generator().manual_seed(max_len), bias_towards(c, mode))
    assert bool(a.finished.all())


def test_rows_copied_compacted_and_joined_stay_the_same():
    """Rollouts copy rows (``take``, repeats included) and join machines (``extend``); decoding compacts
    (``select``): the fused step then works on the new tensors exactly as the tensor step does."""
    c = GrammarCodec(GRAMMAR, max_len=120, constraints="semantic")
    gen = torch.Generator().manual_seed(7)
    bias = bias_towards(c, "rings")
    a, b = pair(c, 48)
    lockstep(a, b, c, 20, gen, bias)
    rows = torch.tensor([0, 0, 5, 7, 7, 7, 12, 47, 30, 3])
    a2, b2 = a.take(rows), b.take(rows)
    assert a2.fused and not b2.fused
    lockstep(a2, b2, c, 15, gen, bias)
    assert_same_state(a, b, "in the machines copied from")  # take left the originals alone
    a.extend(a2)
    b.extend(b2)
    lockstep(a, b, c, 10, gen, bias)
    keep = torch.arange(len(a.t) - 1, -1, -3)
    a.select(keep)
    b.select(keep)
    lockstep(a, b, c, 90, gen, bias)  # the originals' 120th step; the copies only emit padding from theirs
    assert bool(a.finished.all())


def test_training_masks_are_the_same(monkeypatch):
    """Training replays the true rule sequences through the machine: same masks either way."""
    with gzip.open(MOSES_DIR / "test.csv.gz", "rt") as f:
        smiles = [line.split(",")[0] for line in f.read().splitlines()[1:97]]
    c = GrammarCodec(GRAMMAR, max_len=150, constraints="semantic")
    enc = c.encode(smiles, n_jobs=1)
    x = torch.from_numpy(enc.ids[enc.keep])
    fused = c.semantic_masks(x)
    monkeypatch.setattr(fused_mod, "AVAILABLE", False)  # as where numba is missing: the tensor machine
    assert not c.machine(2, "cpu").fused
    assert torch.equal(fused, c.semantic_masks(x))
    assert bool(fused.gather(2, x.unsqueeze(2)).all())  # and the true rule is allowed at every step


def test_the_shipped_model_decodes_the_same_molecules(monkeypatch):
    model = load_model("gvae")
    z = torch.randn(200, model.latent_size, generator=torch.Generator().manual_seed(3))
    from molgen.vae.decoding import decode

    def run():
        return decode(model.net, model.codec, z, greedy=False, generator=torch.Generator().manual_seed(4))

    assert model.codec.machine(1, "cpu").fused
    fused = run()
    monkeypatch.setattr(fused_mod, "AVAILABLE", False)
    tensor = run()
    assert torch.equal(fused.ids, tensor.ids)
    assert bool(fused.complete.all())


def test_the_fused_machine_is_refused_where_it_cannot_run(monkeypatch):
    c = GrammarCodec(GRAMMAR, max_len=40, constraints="semantic")
    tables = c.machine(1, "cpu").tb
    with pytest.raises(ValueError, match="runs on CPU"):
        SemanticMachine(4, tables, c.mask_table, c.rhs_table, c.rhs_len, c.start, c.pad_nonterminal, c.pad,
                        c.max_len, device="meta", fused=True)
    monkeypatch.setattr(fused_mod, "AVAILABLE", False)
    with pytest.raises(ValueError, match="numba installed"):
        c.machine(4, "cpu", fused=True)
