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
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from molgen.masking import tables as T
from molgen.masking.stack import GrammarMachine


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
        device: torch.device | str = "cpu",
    ) -> None:
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

    # ------------------------------------------------------------------ reading the state
    def _below(self, k: int) -> torch.Tensor:
        """The non-terminal ``k`` places under the top of each stack (padding when there is none)."""
        ptr = (self.stack.ptr - k).clamp(min=0)
        return self.stack.stack.gather(1, ptr.unsqueeze(1)).squeeze(1)

    def _continues(self, nt: torch.Tensor) -> torch.Tensor:
        """True where ``nt`` is the chain continuation of the atom being placed (it owes one bond)."""
        return (nt == self.tb.nt_chain) | (nt == self.tb.nt_bond)

    def _atom_needs(self) -> torch.Tensor:
        """Bond orders an atom placed now must take: the pending bond, a tail, a continuation."""
        s1, s2 = self._below(1), self._below(2)
        tail = s1 == self.tb.nt_tail
        after = torch.where(tail, s2, s1)
        return self.pending + tail.long() + self._continues(after).long()

    def _rem_cur(self) -> torch.Tensor:
        return self.rem.gather(1, self.cur.unsqueeze(1)).squeeze(1)

    def _ring_cost(self, is_open: torch.Tensor, n_open: torch.Tensor) -> torch.Tensor:
        """Steps the finishing policy may need to close the open rings (see :data:`~molgen.masking.tables.RING_COST`)."""
        cost = self.tb.ring_cost[self.ring_order]
        # rings after the first (lowest label) of one opener need a closer each
        opener = self.ring_atom.clamp(min=0)
        labels = self.tb.label_index.expand_as(opener)
        first = torch.full_like(self.rem, self.tb.n_labels).scatter_reduce_(
            1, opener, torch.where(is_open, labels, self.tb.n_labels), "amin")
        shared = is_open & (first.gather(1, opener) != labels)
        cost = torch.where(shared, cost.clamp(min=T.SHARED_OPENER_COST), cost)
        return (cost * is_open.long()).sum(1) + self.tb.ring_base * (n_open > 0).long()

    def _rings(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per label: open, closable by the current atom (other, non-adjacent opener), and the open count."""
        is_open = self.ring_atom >= 0
        opener = self.ring_atom.clamp(min=0)
        adj_cur = self.adj[self.rows, self.cur]  # (B, A+1)
        adjacent = adj_cur.gather(1, opener)
        closable = is_open & (self.ring_atom != self.cur.unsqueeze(1)) & ~adjacent
        return is_open, closable, is_open.sum(1)

    # --------------------------------------------------------------------------- masks
    def allowed(self) -> torch.Tensor:
        """``(B, n_rules)`` bool: the rules that keep each derivation finishable as a valid molecule."""
        tb = self.tb
        cf = self.stack.allowed()
        top = self.stack.top()
        rem = self._rem_cur()
        is_open, closable, n_open = self._rings()
        free = ~is_open
        has_free = free.any(1)
        # closing without a ring-bond symbol: the opener's order, one unit already reserved
        close_plain = closable & (self.ring_order - 1 <= rem.unsqueeze(1))
        # a ring bond of order o (rbond) before the label: closing needs an open ring of that order
        close_order = (closable.unsqueeze(1) & (self.ring_order.unsqueeze(1) == tb.orders.view(1, 3, 1))).any(2)  # (B, 3)
        rbond_fits = torch.arange(1, 4, device=cf.device).unsqueeze(0) - 1 <= rem.unsqueeze(1)  # (B, 3)
        can_open_now = has_free & (self.hosts >= 1)
        steps_left = self.max_len - self.t  # (B,): rows of a rollout batch started at different steps

        # every rule: the estimate E after it (stack weights, ring costs, and the ring a pending
        # ring operation would have to open) must fit in the steps left, i.e. its change of E must
        # fit in this row's slack; most rules change only the stack weight (one broadcast compare)
        r = tb.rule
        rc = tb.ring_cost  # (4,) per open ring by order
        first = tb.ring_base * (n_open == 0).long()  # the fixed part, paid by the first open ring
        slack = steps_left - 1 - self.weight - self._ring_cost(is_open, n_open)  # (B,)
        ok = tb.weight_delta.unsqueeze(0) <= slack.unsqueeze(1)
        # while a ring is open some host must stay on the stack (ring ops and labels check it below)
        ok &= (n_open == 0).unsqueeze(1) | (tb.host_delta.unsqueeze(0) >= (1 - self.hosts).unsqueeze(1)) \
            | tb.own_host_check.unsqueeze(0)
        # a ring opened now costs its order's share, or a closer of its own if this atom opened another
        cur_opened = (is_open & (self.ring_atom == self.cur.unsqueeze(1))).any(1)
        new_cost = torch.where(cur_opened.unsqueeze(1), rc.clamp(min=T.SHARED_OPENER_COST).unsqueeze(0), rc.unsqueeze(0))
        open1 = new_cost[:, 1] + first
        no_plain = ~close_plain.any(1)
        plain_after_reserve = closable & (self.ring_order - 1 <= rem.unsqueeze(1) - 1)
        wd = tb.weight_delta

        def fits(rule: int, extra: torch.Tensor) -> torch.Tensor:
            return wd[rule] + extra <= slack

        ok[:, r[T.TAIL_RING]] = fits(r[T.TAIL_RING], torch.where(no_plain, open1, 0))
        ok[:, r[T.TAIL_RING_MORE]] = fits(r[T.TAIL_RING_MORE], torch.where(~plain_after_reserve.any(1), open1, 0))
        ok[:, r[T.RINGBOND]] = fits(r[T.RINGBOND], torch.where(no_plain, open1, 0))
        ok[:, r[T.RINGBOND_BOND]] = fits(r[T.RINGBOND_BOND], torch.where(~(close_order & rbond_fits).any(1), open1, 0))
        ok[:, tb.rbond_rules] = (wd[tb.rbond_rules].unsqueeze(0)
                                 + torch.where(~close_order, new_cost[:, 1:] + first.unsqueeze(1), 0)) <= slack.unsqueeze(1)
        # labels change the open rings: closing frees the ring's cost, opening adds one (and needs a host)
        lab = tb.label_rules
        o_eff = torch.where(self.rpend > 0, self.rpend, torch.ones_like(self.rpend))
        closing_gain = rc[self.ring_order] + tb.ring_base * (n_open == 1).long().unsqueeze(1)
        opening_cost = (new_cost.gather(1, o_eff.unsqueeze(1)).squeeze(1) + first).unsqueeze(1)
        label_fits = wd[lab].unsqueeze(0) + torch.where(is_open, -closing_gain, opening_cost) <= slack.unsqueeze(1)
        label_hosts = torch.where(is_open, (n_open == 1).unsqueeze(1), torch.zeros_like(is_open)) \
            | (self.hosts.unsqueeze(1) + tb.host_delta[lab].unsqueeze(0) >= 1)
        ok[:, lab] = label_fits & label_hosts

        # atoms: the capacity must cover what the stack commits the atom to
        needs = self._atom_needs()
        ok[:, tb.atom_rules] &= tb.atom_capacity.unsqueeze(0) >= needs.unsqueeze(1)
        # branched atom / chain: some atom must be able to take what follows
        cont = self._continues(self._below(1))
        ok[:, r[T.BA_TAIL]] &= tb.max_capacity >= self.pending + 1 + cont.long()
        ok[:, r[T.BA_ATOM]] &= tb.max_capacity >= self.pending + cont.long()
        ok[:, r[T.SMILES_DOT]] = False
        # tails: another tail item needs one more unit reserved; a ring op must be possible
        ring_possible = close_plain.any(1) | (close_order & rbond_fits).any(1) | can_open_now
        ok[:, r[T.TAIL_RING_MORE]] &= (rem >= 1) & ring_possible
        ok[:, r[T.TAIL_BRANCH_MORE]] &= rem >= 1
        # tail -> ringbond drops this host: then the ring op must close the last open ring
        last_host = self.hosts + tb.host_delta[r[T.TAIL_RING]] < 1
        ring_alone = close_plain.any(1) & (n_open == 1) | ~last_host & ring_possible
        ok[:, r[T.TAIL_RING]] &= ring_alone
        ok[:, r[T.RINGBOND]] &= close_plain.any(1) | can_open_now
        ok[:, r[T.RINGBOND_BOND]] &= ((close_order | can_open_now.unsqueeze(1)) & rbond_fits).any(1)
        # bonds within the current atom's remaining valence (one unit is reserved already)
        ok[:, tb.bond_rules] &= rbond_fits
        ok[:, tb.rbond_rules] &= rbond_fits & (close_order | can_open_now.unsqueeze(1))
        # labels: close an open ring from another, non-adjacent atom with an agreeing order, or open one
        specified = self.rpend > 0
        agree = torch.where(specified.unsqueeze(1), self.ring_order == self.rpend.unsqueeze(1), close_plain)
        ok[:, lab] &= torch.where(is_open, closable & agree, free & can_open_now.unsqueeze(1))

        allowed = cf & ok
        # the finishing policy's rule is always allowed (it needs no budget check: E bounds it)
        policy = self.policy(top, rem, closable, close_plain, n_open, needs)
        allowed[self.rows, policy] = True
        return allowed

    def penalty(self) -> torch.Tensor:
        """``(B, n_rules)`` float to add to logits: 0 where allowed, -inf elsewhere."""
        allowed = self.allowed()
        return torch.zeros(allowed.shape, device=allowed.device).masked_fill_(~allowed, float("-inf"))

    # ---------------------------------------------------------------- finishing policy
    def policy(self, top: torch.Tensor | None = None, rem: torch.Tensor | None = None,
               closable: torch.Tensor | None = None, close_plain: torch.Tensor | None = None,
               n_open: torch.Tensor | None = None, needs: torch.Tensor | None = None) -> torch.Tensor:
        """Π: the rule that finishes each row soonest while closing its open rings (see the module docstring)."""
        tb = self.tb
        if top is None:
            top = self.stack.top()
            rem = self._rem_cur()
            _, closable, n_open = self._rings()
            close_plain = closable & (self.ring_order - 1 <= rem.unsqueeze(1))
        r = tb.rule
        out = torch.full_like(top, self.pad_rule)
        first_close = _cheapest(close_plain, self.ring_order)  # the closable ring of lowest order (-1 none)
        can_close = first_close >= 0
        order_close = self.ring_order.gather(1, first_close.clamp(min=0).unsqueeze(1)).squeeze(1)
        nt = tb.nt

        out = torch.where(top == nt["smiles"], r[T.SMILES_END], out)
        out = torch.where(top == nt["chain"], r[T.CHAIN_END], out)
        out = torch.where(top == nt["branched_atom"], torch.where(n_open > 0, r[T.BA_TAIL], r[T.BA_ATOM]), out)
        if needs is None:
            needs = self._atom_needs()
        atom = tb.atom_by_preference[(tb.atom_pref_capacity.unsqueeze(0) >= needs.unsqueeze(1)).long().argmax(1)]
        # with rings to close, the atom of largest capacity: it can close a ring and keep a tail
        atom = torch.where(n_open > 0, tb.atom_max_capacity, atom)
        out = torch.where(top == nt["atom"], atom, out)
        # tail: close here when the current atom can (keeping a tail for more if rings remain and it
        # has the valence), else a branch whose atoms can close what this atom cannot
        more = (n_open >= 2) & (rem >= order_close)
        other_host = self.hosts - 1 >= 1
        close_here = can_close & (more | (n_open == 1) | other_host)
        tail_rule = torch.where(close_here, torch.where(more, r[T.TAIL_RING_MORE], r[T.TAIL_RING]), r[T.TAIL_BRANCH])
        out = torch.where(top == nt["tail"], tail_rule, out)
        out = torch.where(top == nt["ringbond"], r[T.RINGBOND], out)
        rbond = tb.rbond_rules[torch.where(can_close, order_close, torch.ones_like(order_close)) - 1]
        out = torch.where(top == nt["rbond"], rbond, out)
        # label: the lowest ring this atom may close with the pending order, else the lowest free label
        specified = self.rpend > 0
        agree = torch.where(specified.unsqueeze(1), closable & (self.ring_order == self.rpend.unsqueeze(1)), close_plain)
        lab = torch.where(specified, _first(agree), first_close)
        lab = torch.where(lab >= 0, lab, _first(self.ring_atom < 0))
        out = torch.where(top == nt["ring_label"], tb.label_rules[lab.clamp(min=0)], out)
        out = torch.where(top == nt["bond"], tb.bond_rules[0], out)
        out = torch.where(top == nt["branch"], r[T.BRANCH], out)
        out = torch.where(top == nt["close"], r[T.CLOSE], out)
        return out

    # --------------------------------------------------------------------------- advance
    def advance(self, rules: torch.Tensor) -> None:
        """Apply one rule per row to the stack and to the semantic state."""
        tb = self.tb
        kind = tb.kind_of[rules]
        rows = self.rows
        cur = self.cur
        # atoms: read what the stack commits the new atom to before the stack changes
        is_atom = kind == T.ATOM
        needs = self._atom_needs()
        is_open = self.ring_atom >= 0
        self.stack.advance(rules)
        self.weight += tb.weight_delta[rules]
        self.hosts += tb.host_delta[rules]
        self.t += 1

        # bond orders beyond the one reserved unit come off the current atom
        order = tb.order_of[rules]
        is_bond = kind == T.BOND
        is_rbond = kind == T.RBOND
        extra = torch.where(is_bond | is_rbond, order - 1, torch.zeros_like(order))
        # another tail item reserves one more unit
        extra += ((kind == T.TAIL_RING_MORE) | (kind == T.TAIL_BRANCH_MORE)).long()
        # ring labels
        is_label = kind == T.LABEL
        lab = tb.label_of[rules].clamp(min=0)
        closing = is_label & is_open.gather(1, lab.unsqueeze(1)).squeeze(1)
        opening = is_label & ~closing
        ring_order = self.ring_order.gather(1, lab.unsqueeze(1)).squeeze(1)
        extra += torch.where(closing & (self.rpend == 0), ring_order - 1, torch.zeros_like(ring_order))
        self.rem[rows, cur] -= extra

        opener = self.ring_atom.gather(1, lab.unsqueeze(1)).squeeze(1).clamp(min=0)
        if bool(closing.any()):
            c = closing.nonzero().squeeze(1)
            self.adj[c, cur[c], opener[c]] = True
            self.adj[c, opener[c], cur[c]] = True
            self.ring_atom[c, lab[c]] = -1
            self.ring_order[c, lab[c]] = 0
        if bool(opening.any()):
            o = opening.nonzero().squeeze(1)
            self.ring_atom[o, lab[o]] = cur[o]
            self.ring_order[o, lab[o]] = torch.where(self.rpend[o] > 0, self.rpend[o], torch.ones_like(self.rpend[o]))
        self.rpend = torch.where(is_rbond, order, torch.where(is_label, torch.zeros_like(self.rpend), self.rpend))

        # pending bond into the next atom: a chain bond's order; single after a branch opens or closes
        starts_branch = (kind == T.BRANCH) | (kind == T.BRANCH_BOND)
        closes_branch = kind == T.CLOSE
        self.pending = torch.where(is_bond, order, self.pending)
        self.pending = torch.where(starts_branch | closes_branch, torch.ones_like(self.pending), self.pending)
        # branch anchors
        if bool(starts_branch.any()):
            s = starts_branch.nonzero().squeeze(1)
            self.anchors[s, self.n_anchor[s]] = cur[s]
            self.n_anchor[s] += 1
        if bool(closes_branch.any()):
            c = closes_branch.nonzero().squeeze(1)
            self.n_anchor[c] -= 1
            self.cur[c] = self.anchors[c, self.n_anchor[c]]
        # a new atom: its free valence, its bond to the current atom, and it becomes current
        if bool(is_atom.any()):
            a = is_atom.nonzero().squeeze(1)
            new = self.n_atoms[a]
            self.rem[a, new] = tb.capacity_of[rules[a]] - needs[a]
            bonded = self.pending[a] > 0
            prev = self.cur[a]
            self.adj[a, new, prev] = bonded
            self.adj[a, prev, new] = bonded
            self.cur[a] = new
            self.n_atoms[a] += 1
            self.pending[a] = 1

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given rows (in that order)."""
        self.stack.select(rows)
        for name in self._ROW_STATE:
            setattr(self, name, getattr(self, name).index_select(0, rows))
        self.rows = torch.arange(len(rows), device=rows.device)

    def take(self, rows: torch.Tensor) -> "SemanticMachine":
        """A new machine holding a copy of the given rows' whole state (repeats allowed); this one is unchanged.
        Rollouts use it to continue many completions from the state after one prefix."""
        new = copy.copy(self)
        new.stack = self.stack.take(rows)
        for name in self._ROW_STATE:
            setattr(new, name, getattr(self, name).index_select(0, rows))
        new.rows = torch.arange(len(rows), device=rows.device)
        return new

    def extend(self, *others: "SemanticMachine") -> None:
        """Append the rows of ``others`` (same grammar and ``max_len``) after this machine's rows."""
        self.stack.extend(*(m.stack for m in others))
        for name in self._ROW_STATE:
            setattr(self, name, torch.cat([getattr(m, name) for m in (self, *others)]))
        self.rows = torch.arange(len(self.n_atoms), device=self.n_atoms.device)

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


def _cheapest(mask: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Per row, the True column of lowest ``order`` (lowest index on ties), -1 where none."""
    # the sentinel must exceed every key whatever the batch size (mask.numel() did not for under 4 rows)
    key = torch.where(mask, order * mask.shape[1] + torch.arange(mask.shape[1], device=mask.device),
                      torch.iinfo(torch.long).max)
    idx = key.argmin(1)
    return torch.where(mask.any(1), idx, torch.full_like(idx, -1))


def _first(mask: torch.Tensor) -> torch.Tensor:
    """Index of the first True per row, -1 where none."""
    idx = mask.long().argmax(1)
    return torch.where(mask.any(1), idx, torch.full_like(idx, -1))


class DeviceTables:
    """:class:`~molgen.masking.tables.SemanticTables` as tensors on one device, with the lookups the machine uses."""

    def __init__(self, t: T.SemanticTables, device: torch.device | str = "cpu") -> None:
        def tensor(x):
            return torch.as_tensor(x, dtype=torch.long, device=device)

        self.kind = tensor(t.kind)
        self.kind_of = self.kind
        self.order_of = tensor(t.order)
        self.label_of = tensor(t.label)
        self.capacity_of = tensor(t.capacity)
        self.weight_delta = tensor(t.weight_delta)
        self.host_delta = tensor(t.host_delta)
        self.nt_weight = t.nt_weight
        self.nt_host = t.nt_host
        self.nt = dict(t.nt)
        self.nt_chain, self.nt_bond, self.nt_tail = t.nt["chain"], t.nt["bond"], t.nt["tail"]
        self.n_labels = t.n_labels
        self.label_rules = tensor(t.label_rules)
        self.bond_rules = tensor(t.bond_rules[1:])
        self.rbond_rules = tensor(t.rbond_rules[1:])
        self.atom_rules = tensor(t.atom_rules)
        self.atom_capacity = tensor(t.capacity[t.atom_rules])
        self.max_capacity = int(t.capacity[t.atom_rules].max())
        self.rule = {k: int(v) for k, v in t.rule_of_kind.items()}
        self.ring_cost = tensor(T.RING_COST)
        self.label_index = torch.arange(t.n_labels, device=device).unsqueeze(0)
        self.orders = torch.arange(1, 4, device=device)
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
