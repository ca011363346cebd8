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

:func:`decode` drops finished rows from the batch as it goes (the longest molecule sets the
number of steps, most finish long before), and draws its random numbers for the whole batch
at every step, so what a row gets does not depend on when the others finish.
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
        return self.mask_table.index_select(0, self.top())

    def penalty(self) -> torch.Tensor:
        """``(B, n_rules)`` float to add to the logits: 0 for allowed rules, -inf for the others."""
        return self.penalty_table.index_select(0, self.top())

    def advance(self, rules: torch.Tensor) -> None:
        """Apply one chosen rule per row: pop the top, push the rule's RHS non-terminals."""
        ptr = (self.ptr - 1).clamp_(min=0)
        # slots above the new top are dead, so all max_rhs slots are written unconditionally
        self.stack.scatter_(1, ptr.unsqueeze(1) + self._offsets, self.rhs_table.index_select(0, rules))
        ptr.add_(self.rhs_len.index_select(0, rules))
        over = ptr > self.depth
        self.overflow |= over
        # an overflowing row is abandoned: empty stack, so it only emits padding from now on
        self.ptr = ptr.masked_fill_(over, 0)

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given rows (in that order)."""
        self.stack = self.stack.index_select(0, rows)
        self.ptr = self.ptr.index_select(0, rows)
        self.overflow = self.overflow.index_select(0, rows)

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
        return self.rows.index_select(0, self.done.long())

    def penalty(self) -> torch.Tensor:
        return self.penalty_rows.index_select(0, self.done.long())

    def advance(self, tokens: torch.Tensor) -> None:
        self.done |= tokens == self.eos

    def select(self, rows: torch.Tensor) -> None:
        self.done = self.done.index_select(0, rows)
        self.overflow = self.overflow.index_select(0, rows)

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


MIN_ROWS = 32  # decode never compacts its batch below this many rows


def choose(logits: torch.Tensor, penalty: torch.Tensor, u: torch.Tensor | None = None,
           temperature: float = 1.0) -> torch.Tensor:
    """Pick one allowed symbol per row (``penalty`` is 0 / -inf): argmax, or a sample if ``u`` is given.

    Sampling inverts the cumulative distribution of softmax(logits / T) restricted to the
    allowed symbols with one uniform ``u`` in (0, 1] per row: the first symbol whose cumulative
    probability reaches ``u`` times the total. One random number per row instead of one per
    symbol (the Gumbel-max trick's) is what makes it cheap. Overwrites ``logits``.
    """
    if u is None:
        return logits.add_(penalty).argmax(dim=-1)
    if temperature != 1.0:
        logits = logits.div_(temperature)
    # masked symbols get probability exp(-inf) = 0 exactly, so the cumulative sum stays flat over
    # them and the first position reaching a target in (0, total] is always an allowed one
    cum = torch.softmax(logits.add_(penalty), dim=-1).cumsum_(dim=-1)
    target = (u * cum[:, -1]).clamp_(min=torch.finfo(cum.dtype).tiny)
    return torch.searchsorted(cum, target.unsqueeze(1)).squeeze(1)


def uniform(n: int, generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
    """``n`` uniforms in (0, 1] (1 - U[0, 1), so never 0)."""
    return torch.rand(n, generator=generator, device=device).neg_().add_(1.0)


@torch.no_grad()
def decode(
    net, codec, z: torch.Tensor, greedy: bool = True, temperature: float = 1.0,
    generator: torch.Generator | None = None, compact: bool = True, check_every: int = 4,
) -> DecodeResult:
    """Decode latent vectors ``z`` step by step under ``codec``'s constraints.

    ``net`` is a :class:`molgen.vae.model.SequenceVAE` (its decoder needs ``init_state``,
    ``step`` and the state's ``select``); the loop runs over time steps only (at most
    ``codec.max_len``) and stops once every row is finished (checked every ``check_every``
    steps). With ``compact``, rows that will only emit padding are then dropped from the batch,
    but never below ``MIN_ROWS`` rows: for fewer rows, CPU BLAS may switch to kernels that round
    differently, and a row's result must not depend on when the others finish. On CPU the result
    is the same with and without ``compact``; on a GPU, whose matrix-product kernels may change
    with the number of rows at any size, the two can differ by rounding.
    """
    if not greedy and temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    batch = z.shape[0]
    device = z.device
    machine = codec.machine(batch, device)
    out = torch.full((batch, codec.max_len), codec.pad, dtype=torch.long, device=device)
    complete = torch.zeros(batch, dtype=torch.bool, device=device)
    overflow = torch.zeros(batch, dtype=torch.bool, device=device)
    rows = torch.arange(batch, device=device)  # original index of each row still in the batch
    start, symbols = 0, []  # the symbols chosen since the batch last changed, one (len(rows),) tensor per step

    def flush() -> None:
        if symbols:
            out[rows, start : start + len(symbols)] = torch.stack(symbols, dim=1)
        complete[rows] = machine.finished
        overflow[rows] = machine.overflow

    state = net.decoder.init_state(z)
    prev = torch.full((batch,), net.decoder.start_id, dtype=torch.long, device=device)
    for t in range(codec.max_len):
        logits, state = net.decoder.step(prev, state)
        # uniforms for the whole batch, whichever rows are left, so a row's draws never change
        u = None if greedy else uniform(batch, generator, device)
        if u is not None and len(rows) < batch:
            u = u.index_select(0, rows)
        prev = choose(logits, machine.penalty(), u, temperature)
        machine.advance(prev)
        symbols.append(prev)
        if (t + 1) % check_every:
            continue
        stopped = machine.stopped
        idx = (~stopped).nonzero().squeeze(1)  # rows still decoding
        if len(idx) == 0:
            break
        keep = max(len(idx), min(len(rows), MIN_ROWS))
        if compact and len(rows) - keep >= max(1, len(rows) // 16):
            flush()
            if len(idx) < keep:  # made up to MIN_ROWS with rows that only emit padding
                idx = torch.cat([idx, stopped.nonzero().squeeze(1)[: keep - len(idx)]])
            rows, prev, state = rows[idx], prev[idx], state.select(idx)
            machine.select(idx)
            start, symbols = t + 1, []
    flush()
    return DecodeResult(out, complete, ~complete & ~overflow, overflow)
