"""Stack machines that mask a decoder's choices, vectorised over the batch (CPU or GPU).

:class:`GrammarMachine` (context-free) and :class:`TokenMachine` (characters) are the machines
of the Grammar VAE and the character VAE; :class:`molgen.masking.semantic.SemanticMachine` adds
ring, valence and length state beside the stack. They share one interface: ``penalty()`` /
``allowed()`` for the current step, ``advance(symbols)``, ``select(rows)`` to compact the batch,
``take(rows)`` / ``extend(other)`` to copy and join rows (rollouts), and the ``finished`` /
``stopped`` / ``overflow`` flags.

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

import copy

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

    def take(self, rows: torch.Tensor) -> "GrammarMachine":
        """A new machine holding a copy of the given rows (repeats allowed); this one is unchanged."""
        new = copy.copy(self)
        new.select(rows)  # select rebinds the row tensors, so the two machines share none
        return new

    def extend(self, *others: "GrammarMachine") -> None:
        """Append the rows of ``others`` (same tables and depth) after this machine's rows."""
        for name in ("stack", "ptr", "overflow"):
            setattr(self, name, torch.cat([getattr(m, name) for m in (self, *others)]))

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
