"""The semantic machine: ring, valence and length state beside the derivation stack, so that
every derivation a decoder completes under its mask is a molecule RDKit sanitises.

A context-free mask only sees the non-terminal on top of the stack, so it cannot stop a decoder
from leaving a ring label open, overfilling a valence or running out of length. This machine
keeps, per row of the batch (tensors of shape ``(B, …)``, no Python loop over molecules):

- every atom's **remaining valence** (``rem``): capacity (:data:`~molgen.masking.tables.MAX_VALENCE`
  minus explicit H) minus the bonds made, minus the attachments the derivation has already
  committed the atom to (a pending tail, a chain continuation), so a commitment can always be met;
- the **current atom** that the next bond, branch or ring bond attaches to, a stack of branch
  **anchors**, the **pending bond order** into the next atom, and an **adjacency** matrix;
- the **open ring labels** with the atom that opened each and its bond order;
- the **steps left** before ``max_len``, against an upper bound ``E`` of what finishing needs:
  the non-terminals' weights on the stack plus a cost per open ring.

The mask allows a rule only if it keeps the molecule finishable: an atom only if its capacity
covers the pending bond and what the stack already commits it to; a bond order only within the
current atom's remaining valence; closing a ring only on an open label opened by another,
non-adjacent atom, with an agreeing order and the valence for it; opening a ring only while a
free label exists and the stack still holds a *host* (a non-terminal that can still create an
atom able to close it); ending the last host only when no ring stays open; and any rule only if
``E`` after it fits in the steps left. Multi-fragment output (``'.'``) is not generated.

Why no row ever gets stuck: a deterministic **finishing policy** Π (close rings as soon as the
current atom can, otherwise add a one- or two-atom branch that can; end every chain; carbon
atoms) is always allowed, whatever the budget; every other rule must leave ``E`` within the
steps left, and ``E`` bounds the steps Π needs from any state. So a row always has at least Π's
rule, and following Π finishes within ``max_len``. The fuzz tests (random and adversarial logits)
check all of it against RDKit.

The same machine replays a true rule sequence to give the training masks (SD-VAE's idea: the
model learns among the choices it will have when decoding).

Two implementations of one step: the tensor operations below (the reference, and the path on a
GPU, where ``torch.compile`` can fuse them) and, on CPU, the same step written per row and compiled
by numba (:mod:`molgen.masking.fused`; about 10x cheaper a step at batch 512, where the tensor
operations cost their dispatch, not their arithmetic). Both read and write the same state tensors;
``tests/semantic/test_fused_machine.py`` and the golden-mask digests hold them equal.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from molgen.masking import fused as fused_mod
from molgen.masking import tables as T
from molgen.masking.stack import GrammarMachine


class _View:
    """What the mask, the finishing policy and ``advance`` read of one state (a plain class, not a
    ``SimpleNamespace``, so that ``torch.compile`` can trace it)."""


class SemanticMachine:
    """A batch of derivations under context-free and semantic constraints (see the module docstring).

    Same interface as :class:`~molgen.masking.stack.GrammarMachine`: ``penalty()``, ``allowed()``,
    ``advance(rules)``, ``select(rows)``, ``take(rows)``, ``extend(other)``, ``finished``, ``stopped``, ``overflow``.
    """

    #: the per-row state beside the stack (batch is dim 0)
    _ROW_STATE = ("rem", "adj", "n_atoms", "cur", "pending", "anchors", "n_anchor", "ring_atom", "ring_order",
                  "rpend", "weight", "hosts", "t")

    def __init__(
        self, batch_size: int, tables: "DeviceTables", mask_table: torch.Tensor, rhs_table: torch.Tensor,
        rhs_len: torch.Tensor, start: int, pad_nonterminal: int, pad_rule: int, max_len: int,
        device: torch.device | str = "cpu", fused: bool | None = None,
    ) -> None:
        if fused is None:  # on CPU the step runs as one compiled loop over rows (molgen.masking.fused), same results
            fused = fused_mod.AVAILABLE and torch.device(device).type == "cpu"
        elif fused and (torch.device(device).type != "cpu" or not fused_mod.AVAILABLE):
            raise ValueError(f"the fused semantic machine runs on CPU with numba installed (asked for {device})")
        self.tb = tables
        self.stack = GrammarMachine(batch_size, mask_table, rhs_table, rhs_len, start, pad_nonterminal,
                                    depth=max_len + rhs_table.shape[1], device=device)
        self.pad_rule = int(pad_rule)
        self.max_len = int(max_len)
        self.t = torch.zeros(batch_size, dtype=torch.long, device=device)  # steps taken, per row
        B, dev = batch_size, device
        self.n_atoms_max = max_len // 3 + 2
        A = self.n_atoms_max
        self.dummy = A  # column of "no atom": the current atom before the first one
        self.rem = torch.zeros((B, A + 1), dtype=torch.long, device=dev)
        self.adj = torch.zeros((B, A + 1, A + 1), dtype=torch.bool, device=dev)
        self.n_atoms = torch.zeros(B, dtype=torch.long, device=dev)
        self.cur = torch.full((B,), A, dtype=torch.long, device=dev)
        self.pending = torch.zeros(B, dtype=torch.long, device=dev)
        self.anchors = torch.full((B, max_len // 4 + 2), A, dtype=torch.long, device=dev)
        self.n_anchor = torch.zeros(B, dtype=torch.long, device=dev)
        L = tables.n_labels
        self.ring_atom = torch.full((B, L), -1, dtype=torch.long, device=dev)
        self.ring_order = torch.zeros((B, L), dtype=torch.long, device=dev)
        self.rpend = torch.zeros(B, dtype=torch.long, device=dev)
        self.weight = torch.full((B,), int(tables.nt_weight[start]), dtype=torch.long, device=dev)
        self.hosts = torch.full((B,), int(tables.nt_host[start]), dtype=torch.long, device=dev)
        self.rows = torch.arange(B, device=dev)
        self._fresh: _View | None = None  # what allowed() read of the current state
        self._fused = tables.fused_step(mask_table, rhs_table, rhs_len, self.max_len, self.stack.depth, A) \
            if fused else None

    # ------------------------------------------------------------------ reading the state
    # Every operation below is one small tensor op on (B, …) tensors; at the batch sizes of
    # sampling the machine's cost is the number of ops, not arithmetic, so each quantity is
    # computed once per step (``_view``), table lookups use ``index_select`` on flat tables, the
    # mask's rule groups are column slices, and ``advance`` writes with scatters instead of
    # ``nonzero`` and per-row indexing.

    def _top3(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The non-terminal on top of each stack and the two under it (padding where there is none)."""
        idx = (self.stack.ptr.unsqueeze(1) - self.tb.depth3).clamp_(min=0)
        s = self.stack.stack.gather(1, idx)
        return s[:, 0], s[:, 1], s[:, 2]

    def _atom_needs(self, s1: torch.Tensor | None = None, s2: torch.Tensor | None = None) -> torch.Tensor:
        """Bond orders an atom placed now must take: the pending bond, a tail, a continuation."""
        if s1 is None:
            _, s1, s2 = self._top3()
        return self.pending + self.tb.needs_extra.index_select(0, s1 * self.tb.n_nt + s2)

    def _rem_cur(self) -> torch.Tensor:
        return self.rem.gather(1, self.cur.unsqueeze(1)).squeeze(1)

    def _cost_by_order(self) -> torch.Tensor:
        """``RING_COST`` of each label's bond order (0 for a label that is not open)."""
        return self.tb.ring_cost.index_select(0, self.ring_order.view(-1)).view(self.ring_order.shape)

    def _ring_cost(self, is_open: torch.Tensor, n_open: torch.Tensor, cost: torch.Tensor | None = None) -> torch.Tensor:
        """Steps the finishing policy may need to close the open rings (see :data:`~molgen.masking.tables.RING_COST`)."""
        if cost is None:
            cost = self._cost_by_order()  # a label that is not open has order 0, cost 0
        # rings after the first (lowest label) of one opener need a closer each
        opener = self.ring_atom.clamp(min=0)
        labels = self.tb.label_index.expand_as(opener)
        first = torch.full_like(self.rem, self.tb.n_labels).scatter_reduce_(
            1, opener, labels.masked_fill(~is_open, self.tb.n_labels), "amin")
        shared = is_open & (first.gather(1, opener) != labels)
        cost = torch.maximum(cost, shared * T.SHARED_OPENER_COST)  # costs are >= 0
        return cost.sum(1) + (n_open > 0) * self.tb.ring_base

    def _rings(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per label: open, closable by the current atom (other, non-adjacent opener), and the open count."""
        is_open = self.ring_atom >= 0
        opener = self.ring_atom.clamp(min=0)
        A1 = self.adj.shape[1]
        cur = self.cur.unsqueeze(1)
        adjacent = self.adj.view(len(cur), A1 * A1).gather(1, cur * A1 + opener)  # (B, L)
        closable = is_open & (self.ring_atom != cur) & ~adjacent
        return is_open, closable, is_open.sum(1)

    def _view(self) -> _View:
        """What the mask and the finishing policy read, computed once per state."""
        v = _View()
        v.top, s1, s2 = self._top3()
        v.s1 = s1
        v.rem = self._rem_cur()
        v.is_open, v.closable, v.n_open = self._rings()
        v.needs = self._atom_needs(s1, s2)
        # closing without a ring-bond symbol needs the opener's order within rem + 1 (one unit is
        # reserved already); after reserving one more unit, within rem
        v.rem1 = v.rem.unsqueeze(1)
        excess = self.ring_order - v.rem1
        v.close_plain = v.closable & (excess <= 1)
        v.any_plain = v.close_plain.any(1)
        v.plain_after_reserve = v.closable & (excess <= 0)
        v.specified = self.rpend > 0
        # the labels the current atom may close with the pending ring-bond order (or without one):
        # with none pending (rpend 0, never a label's order) the plain ones
        v.agree = v.closable & ((self.ring_order == self.rpend.unsqueeze(1)) | (v.close_plain & ~v.specified.unsqueeze(1)))
        return v

    # --------------------------------------------------------------------------- masks
    @property
    def fused(self) -> bool:
        """Whether the step runs as the compiled loop of :mod:`molgen.masking.fused` (CPU)."""
        return self._fused is not None

    def allowed(self) -> torch.Tensor:
        """``(B, n_rules)`` bool: the rules that keep each derivation finishable as a valid molecule."""
        if self._fused is not None:
            out = torch.empty((len(self.t), self.stack.mask_table.shape[1]), dtype=torch.bool)
            self._fused.allowed(self, out.numpy())
            return out
        tb = self.tb
        v = self._view()
        self._fresh = v  # advance() reuses what it reads of this same state
        cf = self.stack.mask_table.index_select(0, v.top)
        rem, is_open, closable, n_open = v.rem, v.is_open, v.closable, v.n_open
        free = ~is_open
        # a ring bond of order o (rbond) before the label: closing needs an open ring of that order
        close_order = torch.zeros((len(rem), 4), dtype=torch.bool, device=rem.device).scatter_(
            1, self.ring_order * closable, True)[:, 1:]  # (B, 3)
        rbond_fits = tb.orders_less_one_row <= v.rem1  # (B, 3)
        order_fits = close_order & rbond_fits
        any_order_fits = order_fits.any(1)
        can_open_now = (n_open < tb.n_labels) & (self.hosts >= 1)  # a free label, and a host
        # every rule: the estimate E after it (stack weights, ring costs, and the ring a pending
        # ring operation would have to open) must fit in the steps left, i.e. its change of E must
        # fit in this row's slack; most rules change only the stack weight (one broadcast compare)
        cost = self._cost_by_order()
        none_open = n_open == 0
        first = none_open * tb.ring_base  # the fixed part, paid by the first open ring
        # (B,): rows of a rollout batch started at different steps
        slack = (self.max_len - 1) - self.t - self.weight - self._ring_cost(is_open, n_open, cost)
        slack1 = slack.unsqueeze(1)
        ok = tb.weight_delta_row <= slack1
        # while a ring is open some host must stay on the stack (ring ops and labels check it below)
        host_floor = (1 - self.hosts).masked_fill_(none_open, tb.no_floor)
        ok &= tb.host_delta_checked_row >= host_floor.unsqueeze(1)
        # a ring opened now costs its order's share, or a closer of its own if this atom opened another
        cur_opened = (self.ring_atom == self.cur.unsqueeze(1)).any(1)
        new_cost = tb.new_ring_cost.index_select(0, cur_opened.long())  # (B, 4)
        open1 = new_cost[:, 1] + first
        open1_unless_plain = open1.masked_fill(v.any_plain, 0)
        r, wd = tb.rule, tb.wd_rule
        # ring operations: the budget (a ring they must open), and whether the ring op can happen
        ring_possible = v.any_plain | any_order_fits | can_open_now
        last_host = self.hosts + tb.hd_rule[r[T.TAIL_RING]] < 1  # tail -> ringbond drops this host ...
        ring_alone = v.any_plain & (n_open == 1) | ~last_host & ring_possible  # ... so it must close the last ring
        ok[:, r[T.TAIL_RING]] = (open1_unless_plain + wd[r[T.TAIL_RING]] <= slack) & ring_alone
        more_cost = open1.masked_fill(v.plain_after_reserve.any(1), 0)
        ok[:, r[T.TAIL_RING_MORE]] = (more_cost + wd[r[T.TAIL_RING_MORE]] <= slack) & (rem >= 1) & ring_possible
        ok[:, r[T.RINGBOND]] = (open1_unless_plain + wd[r[T.RINGBOND]] <= slack) & (v.any_plain | can_open_now)
        bond_cost = open1.masked_fill(any_order_fits, 0)
        ok[:, r[T.RINGBOND_BOND]] = (bond_cost + wd[r[T.RINGBOND_BOND]] <= slack) \
            & (any_order_fits | can_open_now & rbond_fits.any(1))
        rbond_cost = (new_cost[:, 1:] + first.unsqueeze(1)).masked_fill_(close_order, 0)
        ok[:, tb.rbond_cols] = (tb.wd_rbond_row + rbond_cost <= slack1) & rbond_fits \
            & (close_order | can_open_now.unsqueeze(1))
        # labels change the open rings: closing frees the ring's cost, opening adds one (and needs a
        # host); close an open ring from another, non-adjacent atom with an agreeing order, or open one
        o_eff = self.rpend.clamp(min=1).unsqueeze(1)
        one_open = (n_open == 1).unsqueeze(1)
        closing_gain = cost + one_open * tb.ring_base
        opening_cost = new_cost.gather(1, o_eff) + first.unsqueeze(1)
        label_fits = tb.wd_label_row + torch.where(is_open, closing_gain.neg_(), opening_cost) <= slack1
        label_hosts = is_open & one_open | (tb.hd_label_row >= (1 - self.hosts).unsqueeze(1))
        # an open label only if it agrees (closable, with the order), a free one if a ring can open
        ok[:, tb.label_cols] = label_fits & label_hosts & (v.agree | free & can_open_now.unsqueeze(1))
        # atoms: the capacity must cover what the stack commits the atom to
        ok[:, tb.atom_cols] &= tb.atom_capacity_row >= v.needs.unsqueeze(1)
        # branched atom / chain: some atom must be able to take what follows
        after = self.pending + tb.is_cont.index_select(0, v.s1)
        ok[:, r[T.BA_TAIL]] &= tb.max_capacity >= after + 1
        ok[:, r[T.BA_ATOM]] &= tb.max_capacity >= after
        ok[:, r[T.SMILES_DOT]] = False
        # another tail item needs one more unit reserved
        ok[:, r[T.TAIL_BRANCH_MORE]] &= rem >= 1
        # bonds within the current atom's remaining valence (one unit is reserved already)
        ok[:, tb.bond_cols] &= rbond_fits

        allowed = cf & ok
        # the finishing policy's rule is always allowed (it needs no budget check: E bounds it)
        return allowed.scatter_(1, self._policy(v).unsqueeze(1), True)

    def penalty(self) -> torch.Tensor:
        """``(B, n_rules)`` float to add to logits: 0 where allowed, -inf elsewhere."""
        if self._fused is not None:
            out = torch.empty((len(self.t), self.stack.mask_table.shape[1]))
            self._fused.penalty(self, out.numpy())
            return out
        allowed = self.allowed()
        return torch.zeros(allowed.shape, device=allowed.device).masked_fill_(allowed.logical_not_(), float("-inf"))

    # ---------------------------------------------------------------- finishing policy
    def policy(self) -> torch.Tensor:
        """Π: the rule that finishes each row soonest while closing its open rings (see the module docstring)."""
        if self._fused is not None:
            out = torch.empty(len(self.t), dtype=torch.long)
            self._fused.policy(self, out.numpy())
            return out
        return self._policy(self._view())

    def _policy(self, v: _View) -> torch.Tensor:
        tb = self.tb
        r = tb.rule
        # the closable ring of lowest order (lowest label on ties), -1 where none
        key = torch.where(v.close_plain, self.ring_order * tb.n_labels + tb.label_index, tb.no_label_key)
        cheapest = key.argmin(1)
        first_close = torch.where(v.any_plain, cheapest, -1)
        order_close = self.ring_order.gather(1, cheapest.unsqueeze(1)).squeeze(1)
        n_open = v.n_open
        some_open = n_open > 0
        # branched atom: a tail to close rings on, if any are open
        ba_rule = torch.where(some_open, r[T.BA_TAIL], r[T.BA_ATOM])
        # atom: the preferred one that takes what the stack commits it to; with rings to close, the
        # atom of largest capacity (it can close a ring and keep a tail)
        atom = tb.atom_by_needs.index_select(0, v.needs.clamp(max=tb.atom_by_needs.shape[0] - 1))
        atom = torch.where(some_open, tb.atom_max_capacity, atom)
        # tail: close here when the current atom can (keeping a tail for more if rings remain and it
        # has the valence), else a branch whose atoms can close what this atom cannot
        more = (n_open >= 2) & (v.rem >= order_close)
        close_here = v.any_plain & (more | (n_open == 1) | (self.hosts >= 2))
        tail_rule = torch.where(close_here, torch.where(more, r[T.TAIL_RING_MORE], r[T.TAIL_RING]), r[T.TAIL_BRANCH])
        rbond = tb.rbond_rules.index_select(0, torch.where(v.any_plain, order_close, 1) - 1)
        # label: the lowest ring this atom may close with the pending order, else the lowest free label
        has = torch.where(v.specified, v.agree.any(1), v.any_plain)
        lab = torch.where(v.specified, v.agree.long().argmax(1), first_close)
        lab = torch.where(has, lab, (~v.is_open).long().argmax(1))
        label = tb.label_rules.index_select(0, lab)
        # one candidate per case of the top non-terminal; the fixed ones come from a table
        fixed = tb.policy_fixed.index_select(0, v.top)
        cands = torch.stack([fixed, ba_rule, atom, tail_rule, rbond, label], 1)
        return cands.gather(1, tb.policy_case.index_select(0, v.top).unsqueeze(1)).squeeze(1)

    # --------------------------------------------------------------------------- advance
    def advance(self, rules: torch.Tensor) -> None:
        """Apply one rule per row to the stack and to the semantic state."""
        if self._fused is not None:
            self._fused.advance(self, rules.contiguous().numpy())
            return
        tb = self.tb
        v, self._fresh = self._fresh, None
        if v is None:  # not read by allowed() since the last change
            v = _View()
            v.needs, v.is_open = self._atom_needs(), self.ring_atom >= 0
        kind, order, label, capacity, wdelta, hdelta, extra0 = tb.rule_info.index_select(0, rules).unbind(1)
        cur = self.cur
        self.stack.advance(rules)
        self.weight += wdelta
        self.hosts += hdelta
        self.t += 1

        # ring labels: close an open ring (its opener and this atom become bonded) or open one here
        is_label = kind == T.LABEL
        lab = label.clamp(min=0).unsqueeze(1)
        was_open = v.is_open.gather(1, lab).squeeze(1)
        closing = is_label & was_open
        opening = is_label & ~was_open
        ring_atom = self.ring_atom.gather(1, lab).squeeze(1)
        ring_order = self.ring_order.gather(1, lab).squeeze(1)
        # bond orders beyond the one reserved unit come off the current atom (a closure without a
        # ring-bond symbol takes the opener's order); another tail item reserves one more unit
        extra = extra0 + torch.where(closing & (self.rpend == 0), ring_order - 1, 0)
        self.rem.scatter_add_(1, cur.unsqueeze(1), extra.neg().unsqueeze(1))
        opener = ring_atom.clamp(min=0)
        self.ring_atom.scatter_(1, lab, torch.where(closing, -1, torch.where(opening, cur, ring_atom)).unsqueeze(1))
        self.ring_order.scatter_(1, lab, torch.where(
            closing, 0, torch.where(opening, self.rpend.clamp(min=1), ring_order)).unsqueeze(1))
        is_rbond = kind == T.RBOND
        self.rpend = torch.where(is_rbond, order, torch.where(is_label, 0, self.rpend))

        # pending bond into the next atom: a chain bond's order; single after a branch opens or closes
        is_bond = kind == T.BOND
        starts_branch = (kind == T.BRANCH) | (kind == T.BRANCH_BOND)
        closes_branch = kind == T.CLOSE
        self.pending = torch.where(starts_branch | closes_branch, 1, torch.where(is_bond, order, self.pending))
        # branch anchors: a branch pushes the current atom, its end pops it back as the current atom
        top = self.n_anchor.clamp(max=self.anchors.shape[1] - 1).unsqueeze(1)
        self.anchors.scatter_(1, top, torch.where(starts_branch, cur, self.anchors.gather(1, top).squeeze(1)).unsqueeze(1))
        self.n_anchor += starts_branch.long() - closes_branch.long()
        popped = self.anchors.gather(1, self.n_anchor.clamp(0, self.anchors.shape[1] - 1).unsqueeze(1)).squeeze(1)
        cur = torch.where(closes_branch, popped, cur)
        # a new atom: its free valence, its bond to the current atom, and it becomes current
        is_atom = kind == T.ATOM
        new = self.n_atoms.clamp(max=self.dummy)
        self.rem.scatter_(1, new.unsqueeze(1), torch.where(
            is_atom, capacity - v.needs, self.rem.gather(1, new.unsqueeze(1)).squeeze(1)).unsqueeze(1))
        bonded = is_atom & (self.pending > 0)
        # adjacency: the ring closure's and the new bond's two entries; rows without one write to
        # their own unused (dummy, dummy) entry instead
        A1 = self.adj.shape[1]
        base = self.rows * (A1 * A1)
        spare = base + self.dummy * A1 + self.dummy
        entries = torch.cat([
            torch.where(closing, base + cur * A1 + opener, spare), torch.where(closing, base + opener * A1 + cur, spare),
            torch.where(bonded, base + new * A1 + cur, spare), torch.where(bonded, base + cur * A1 + new, spare)])
        self.adj.view(-1).index_fill_(0, entries, True)
        self.cur = torch.where(is_atom, new, cur)
        self.n_atoms += is_atom.long()
        self.pending = torch.where(is_atom, 1, self.pending)

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given rows (in that order)."""
        self.stack.select(rows)
        for name in self._ROW_STATE:
            setattr(self, name, getattr(self, name).index_select(0, rows))
        self.rows = torch.arange(len(rows), device=rows.device)
        self._fresh = None

    def take(self, rows: torch.Tensor) -> "SemanticMachine":
        """A new machine holding a copy of the given rows' whole state (repeats allowed); this one is unchanged.
        Rollouts use it to continue many completions from the state after one prefix."""
        new = copy.copy(self)
        new.stack = self.stack.take(rows)
        for name in self._ROW_STATE:
            setattr(new, name, getattr(self, name).index_select(0, rows))
        new.rows = torch.arange(len(rows), device=rows.device)
        new._fresh = None
        return new

    def extend(self, *others: "SemanticMachine") -> None:
        """Append the rows of ``others`` (same grammar and ``max_len``) after this machine's rows."""
        self.stack.extend(*(m.stack for m in others))
        for name in self._ROW_STATE:
            setattr(self, name, torch.cat([getattr(m, name) for m in (self, *others)]))
        self.rows = torch.arange(len(self.n_atoms), device=self.n_atoms.device)
        self._fresh = None

    @property
    def overflow(self) -> torch.Tensor:
        return self.stack.overflow

    @property
    def finished(self) -> torch.Tensor:
        return self.stack.finished

    @property
    def stopped(self) -> torch.Tensor:
        return self.stack.stopped

    def budget(self) -> torch.Tensor:
        """``E``: the upper bound of the steps the finishing policy needs from here (for tests and checks)."""
        tb = self.tb
        top = self.stack.top()
        rem = self._rem_cur()
        is_open, closable, n_open = self._rings()
        close_plain = closable & (self.ring_order - 1 <= rem.unsqueeze(1))
        close_order = torch.stack([(closable & (self.ring_order == o)).any(1) for o in (1, 2, 3)], 1)
        fits = torch.arange(1, 4, device=rem.device).unsqueeze(0) - 1 <= rem.unsqueeze(1)
        first = tb.ring_base * (n_open == 0).long()
        o_eff = torch.where(self.rpend > 0, self.rpend, torch.ones_like(self.rpend))
        label_opens = torch.where(self.rpend > 0, ~close_order.gather(1, (o_eff - 1).unsqueeze(1)).squeeze(1),
                                  ~close_plain.any(1))
        opens = (((top == tb.nt["ringbond"]) & ~close_plain.any(1))
                 | ((top == tb.nt["rbond"]) & ~(close_order & fits).any(1))
                 | ((top == tb.nt["ring_label"]) & label_opens))
        cur_opened = (is_open & (self.ring_atom == self.cur.unsqueeze(1))).any(1)
        cost = torch.where(cur_opened, tb.ring_cost[o_eff].clamp(min=T.SHARED_OPENER_COST), tb.ring_cost[o_eff])
        pending = torch.where(opens, cost + first, torch.zeros_like(first))
        return self.weight + self._ring_cost(is_open, n_open) + pending


class DeviceTables:
    """:class:`~molgen.masking.tables.SemanticTables` as tensors on one device, with the lookups the machine uses."""

    def __init__(self, t: T.SemanticTables, device: torch.device | str = "cpu") -> None:
        def tensor(x):
            return torch.as_tensor(x, dtype=torch.long, device=device)

        self.weight_delta = tensor(t.weight_delta)
        self.host_delta = tensor(t.host_delta)
        self.nt_weight = t.nt_weight
        self.nt_host = t.nt_host
        self.nt = dict(t.nt)
        self.n_labels = t.n_labels
        self.label_rules = tensor(t.label_rules)
        self.rbond_rules = tensor(t.rbond_rules[1:])
        self.atom_capacity = tensor(t.capacity[t.atom_rules])
        self.max_capacity = int(t.capacity[t.atom_rules].max())
        self.rule = {int(k): int(v) for k, v in t.rule_of_kind.items()}
        self.ring_cost = tensor(T.RING_COST)
        self.label_index = torch.arange(t.n_labels, device=device).unsqueeze(0)
        self.ring_base = T.RING_BASE_COST
        # rules whose host condition allowed() checks itself: the ring operations and the labels
        own = [self.rule[T.TAIL_RING], self.rule[T.RINGBOND], self.rule[T.RINGBOND_BOND], *t.rbond_rules[1:],
               *t.label_rules]
        self.own_host_check = torch.zeros(len(t.kind), dtype=torch.bool, device=device)
        self.own_host_check[own] = True
        # the finishing policy's atoms: carbon first, then the others by capacity, largest first
        caps = t.capacity[t.atom_rules]
        order = sorted(range(len(t.atom_rules)), key=lambda i: (caps[i] != 4, -caps[i], i))
        self.atom_by_preference = tensor(t.atom_rules[order])
        self.atom_pref_capacity = tensor(caps[order])
        self.atom_max_capacity = int(t.atom_rules[int(np.argmax(caps))])
        self._fast_paths(t, device)
        self._fused_steps: dict[tuple, fused_mod.FusedStep] = {}

    def fused_step(self, mask_table: torch.Tensor, rhs_table: torch.Tensor, rhs_len: torch.Tensor, max_len: int,
                   depth: int, dummy: int) -> "fused_mod.FusedStep":
        """The compiled step for these tables (CPU), built once per ``max_len``."""
        key = (max_len, depth, dummy)
        if key not in self._fused_steps:
            self._fused_steps[key] = fused_mod.FusedStep(self, mask_table, rhs_table, rhs_len, max_len, depth, dummy)
        return self._fused_steps[key]

    def _fast_paths(self, t: T.SemanticTables, device: torch.device | str) -> None:
        """Tables that let the machine do each step in few tensor operations (same results)."""
        def tensor(x):
            return torch.as_tensor(np.asarray(x), dtype=torch.long, device=device)

        N = len(t.nt_weight)
        self.n_nt = N
        self.depth3 = torch.arange(3, device=device)
        # per (non-terminal under the top, the one under that): what an atom placed now owes beyond
        # the pending bond: a tail (one unit) and the chain continuation after it or after the atom
        cont = np.zeros(N, dtype=np.int64)
        cont[[t.nt["chain"], t.nt["bond"]]] = 1
        tail = t.nt["tail"]
        extra = np.array([[(a == tail) + cont[b if a == tail else a] for b in range(N)] for a in range(N)])
        self.needs_extra = tensor(extra.reshape(-1))
        self.is_cont = tensor(cont)
        self.orders_less_one_row = torch.arange(3, device=device).unsqueeze(0)
        self.weight_delta_row = self.weight_delta.unsqueeze(0)
        self.atom_capacity_row = self.atom_capacity.unsqueeze(0)
        # a ring opened now: its order's cost, or a closer of its own if the atom opened another (row 1)
        self.new_ring_cost = torch.stack([self.ring_cost, self.ring_cost.clamp(min=T.SHARED_OPENER_COST)])
        self.no_label_key = torch.iinfo(torch.long).max
        # the host condition as one compare: rules that check hosts themselves never fail it
        self.no_floor = -(1 << 30)
        self.host_delta_checked_row = torch.where(self.own_host_check, 1 << 30, self.host_delta).unsqueeze(0)
        self.wd_rule = {r: int(t.weight_delta[r]) for r in self.rule.values()}
        self.hd_rule = {r: int(t.host_delta[r]) for r in self.rule.values()}
        self.wd_rbond_row = tensor(t.weight_delta[t.rbond_rules[1:]]).unsqueeze(0)
        self.wd_label_row = tensor(t.weight_delta[t.label_rules]).unsqueeze(0)
        self.hd_label_row = tensor(t.host_delta[t.label_rules]).unsqueeze(0)
        # the mask's rule groups: column slices when their ids are consecutive (views, not gathers)
        self.atom_cols = _columns(t.atom_rules, device)
        self.label_cols = _columns(t.label_rules, device)
        self.bond_cols = _columns(t.bond_rules[1:], device)
        self.rbond_cols = _columns(t.rbond_rules[1:], device)
        # the finishing policy's atom for each number of bonds owed (the first preferred atom that
        # takes them; beyond every capacity, the first preferred atom)
        caps = t.capacity[t.atom_rules]
        prefs = self.atom_by_preference.tolist()
        pref_caps = self.atom_pref_capacity.tolist()
        self.atom_by_needs = tensor([next((a for a, c in zip(prefs, pref_caps) if c >= k), prefs[0])
                                     for k in range(int(caps.max()) + 2)])
        # the policy's rule by the non-terminal on top: fixed ones from a table, the rest by case
        pad = int(np.flatnonzero(t.kind == T.PAD)[0])
        fixed = np.full(N, pad, dtype=np.int64)
        for name, rule in (("smiles", self.rule[T.SMILES_END]), ("chain", self.rule[T.CHAIN_END]),
                           ("ringbond", self.rule[T.RINGBOND]), ("bond", int(t.bond_rules[1])),
                           ("branch", self.rule[T.BRANCH]), ("close", self.rule[T.CLOSE])):
            fixed[t.nt[name]] = rule
        case = np.zeros(N, dtype=np.int64)
        for k, name in enumerate(("branched_atom", "atom", "tail", "rbond", "ring_label"), 1):
            case[t.nt[name]] = k
        self.policy_fixed, self.policy_case = tensor(fixed), tensor(case)
        # per rule: kind, bond order, label, capacity, weight and host deltas, and the valence units
        # beyond the reserved one it takes off the current atom (a bond's order - 1, a tail item's 1)
        extra0 = np.where(np.isin(t.kind, (T.BOND, T.RBOND)), t.order - 1, 0) \
            + np.isin(t.kind, (T.TAIL_RING_MORE, T.TAIL_BRANCH_MORE))
        self.rule_info = tensor(np.stack([t.kind, t.order, t.label, t.capacity, t.weight_delta, t.host_delta,
                                          extra0], 1))


def _columns(ids, device: torch.device | str) -> slice | torch.Tensor:
    """Rule ids as a column index: a slice when they are consecutive, else an index tensor."""
    ids = [int(i) for i in ids]
    if ids == list(range(ids[0], ids[0] + len(ids))):
        return slice(ids[0], ids[0] + len(ids))
    return torch.as_tensor(ids, dtype=torch.long, device=device)
