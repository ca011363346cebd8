"""Constrained decoding, vectorised over the batch (CPU or GPU).

The Grammar VAE decoder may only emit a rule whose left-hand side is the non-terminal
on top of the derivation stack. :class:`GrammarMachine` keeps all the stacks of a batch
in one ``(B, depth)`` tensor with a pointer per row: the allowed rules are a gather from
the grammar's ``(n_nonterminals, n_rules)`` mask table (kept as 0 / -inf to add to the
logits), and a chosen rule pops the top and pushes its right-hand-side non-terminals (a
padded ``(n_rules, max_rhs)`` table, stored reversed so the leftmost ends on top) with one
scatter. No Python loop over molecules.

A row is *complete* when its stack empties (a whole derivation). A row that reaches
``max_len`` first is *out of length*, and one whose stack would exceed ``depth`` is an
*overflow*: both are reported, and never passed to ``to_smiles`` as if complete.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


class GrammarMachine:
    """Batch of derivation stacks for masked decoding with a context-free grammar.

    Column 0 of ``stack`` permanently holds the padding non-terminal and ``ptr`` indexes the
    top, so an empty stack (``ptr == 0``) reads as "padding only" with a single gather.
    """

    def __init__(
        self, batch_size: int, mask_table: torch.Tensor, rhs_table: torch.Tensor, rhs_len: torch.Tensor,
        start: int, pad_nonterminal: int, depth: int, device: torch.device | str = "cpu",
    ) -> None:
        self.mask_table = mask_table.to(device)
        # additive form of the mask: 0 where allowed, -inf elsewhere (one gather + add per step)
        self.penalty_table = torch.zeros(mask_table.shape, device=device).masked_fill_(~self.mask_table, float("-inf"))
        self.rhs_table = rhs_table.to(device)
        self.rhs_len = rhs_len.to(device)
        self.depth = int(depth)
        max_rhs = rhs_table.shape[1]
        # 1 sentinel column + depth items + max_rhs spare columns, so pushes never need a bounds check
        self.stack = torch.full((batch_size, self.depth + max_rhs + 1), pad_nonterminal, dtype=torch.long, device=device)
        self.stack[:, 1] = start
        self.ptr = torch.ones(batch_size, dtype=torch.long, device=device)
        self.overflow = torch.zeros(batch_size, dtype=torch.bool, device=device)
        self._offsets = torch.arange(1, max_rhs + 1, device=device)

    def top(self) -> torch.Tensor:
        """Non-terminal on top of each stack (the padding non-terminal when empty)."""
        return self.stack.gather(1, self.ptr.unsqueeze(1)).squeeze(1)

    def allowed(self) -> torch.Tensor:
        """``(B, n_rules)`` bool: the rules whose left-hand side is on top of the stack."""
        return self.mask_table[self.top()]

    def penalty(self) -> torch.Tensor:
        """``(B, n_rules)`` float to add to the logits: 0 for allowed rules, -inf for the others."""
        return self.penalty_table[self.top()]

    def advance(self, rules: torch.Tensor) -> None:
        """Apply one chosen rule per row: pop the top, push the rule's RHS non-terminals."""
        ptr = (self.ptr - 1).clamp_(min=0)
        n = self.rhs_len[rules]
        # slots above the new top are dead, so all max_rhs slots are written unconditionally
        self.stack.scatter_(1, ptr.unsqueeze(1) + self._offsets, self.rhs_table[rules])
        ptr = ptr + n
        over = ptr > self.depth
        self.overflow |= over
        # an overflowing row is abandoned: empty stack, so it only emits padding from now on
        self.ptr = ptr.masked_fill_(over, 0)

    @property
    def finished(self) -> torch.Tensor:
        """Rows whose derivation is complete (stack emptied without overflow)."""
        return (self.ptr == 0) & ~self.overflow

    @property
    def stopped(self) -> torch.Tensor:
        """Rows that will only emit padding from now on (complete or abandoned)."""
        return self.ptr == 0


class TokenMachine:
    """Character decoding: any real token until ``<eos>``, then padding only."""

    def __init__(self, batch_size: int, banned: torch.Tensor, pad: int, eos: int, device: torch.device | str = "cpu") -> None:
        open_row = ~banned.to(device)
        pad_row = torch.zeros_like(open_row)
        pad_row[pad] = True
        self.rows = torch.stack([open_row, pad_row])  # row 0 while open, row 1 after <eos>
        self.penalty_rows = torch.zeros(self.rows.shape, device=device).masked_fill_(~self.rows, float("-inf"))
        self.eos = eos
        self.done = torch.zeros(batch_size, dtype=torch.bool, device=device)
        self.overflow = torch.zeros(batch_size, dtype=torch.bool, device=device)

    def allowed(self) -> torch.Tensor:
        return self.rows[self.done.long()]

    def penalty(self) -> torch.Tensor:
        return self.penalty_rows[self.done.long()]

    def advance(self, tokens: torch.Tensor) -> None:
        self.done |= tokens == self.eos

    @property
    def finished(self) -> torch.Tensor:
        return self.done

    @property
    def stopped(self) -> torch.Tensor:
        return self.done


@dataclass
class DecodeResult:
    """Decoded symbol ids (B, max_len) and, per row, whether it is complete, out of length or overflowed."""

    ids: torch.Tensor
    complete: torch.Tensor
    out_of_length: torch.Tensor
    overflow: torch.Tensor


def choose(logits: torch.Tensor, penalty: torch.Tensor, greedy: bool, temperature: float,
           generator: torch.Generator | None) -> torch.Tensor:
    """Pick one allowed symbol per row (``penalty`` is 0 / -inf): argmax, or a sample at ``temperature``.

    Sampling is the Gumbel-max trick written with exponentials: argmax(logits / T - log E),
    E ~ Exp(1), which draws from softmax(logits / T) restricted to the allowed symbols.
    """
    if greedy:
        return (logits + penalty).argmax(dim=-1)
    if temperature != 1.0:
        logits = logits / temperature
    # clamp: E = 0 would turn a masked (-inf) logit into -inf + inf = NaN, which argmax picks
    e = torch.empty_like(logits).exponential_(generator=generator).clamp_(min=1e-30)
    return (logits + penalty - e.log_()).argmax(dim=-1)


@torch.no_grad()
def decode(
    net, codec, z: torch.Tensor, greedy: bool = True, temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> DecodeResult:
    """Decode latent vectors ``z`` step by step under ``codec``'s constraints.

    ``net`` is a :class:`molgen.vae.model.SequenceVAE`; the loop runs over time steps only
    (at most ``codec.max_len``) and stops early once every row is finished.
    """
    if not greedy and temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    batch = z.shape[0]
    device = z.device
    machine = codec.machine(batch, device)
    out = torch.full((batch, codec.max_len), codec.pad, dtype=torch.long, device=device)
    state = net.decoder.init_state(z)
    prev = torch.full((batch,), net.decoder.start_id, dtype=torch.long, device=device)
    for t in range(codec.max_len):
        logits, state = net.decoder.step(prev, state)
        symbol = choose(logits, machine.penalty(), greedy, temperature, generator)
        machine.advance(symbol)
        out[:, t] = symbol
        prev = symbol
        if bool(machine.stopped.all()):
            break
    complete = machine.finished.clone()
    overflow = machine.overflow.clone()
    return DecodeResult(out, complete, ~complete & ~overflow, overflow)
