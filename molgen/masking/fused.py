"""The semantic machine's step as one compiled loop over the rows (numba), for CPU decoding.

:class:`~molgen.masking.semantic.SemanticMachine` computes its mask and its update as some 150
small tensor operations on ``(B, …)`` tensors. On a CPU at the batch sizes of sampling each of
those costs its dispatch, not its arithmetic: at batch 512 (one thread) the mask took 1.2-1.5 ms
and the update 0.4 ms a step against the GRU's 3 ms, so the machine cost about 2x the
context-free decode at two threads; written as below they take 0.14 and 0.03 ms. Here the
same step is written once per row and compiled by numba: the mask (or the additive penalty), the
finishing policy and the update, reading and writing the machine's own tensors in place through
their NumPy views (no copies, the state stays the tensors that ``select``, ``take`` and ``extend``
work on).

This is a second implementation of the machine. The tensor one stays the reference (and the one
that runs on a GPU); ``tests/semantic/test_fused_machine.py`` drives both with the same biased
random choices and holds every mask, penalty, policy choice and state tensor equal at every step
(through ``take``, ``extend`` and ``select``, in training's replay, in decoding the shipped model),
the golden-mask digests are checked under both, and the fuzz tests run the fused one (the default
on CPU). A change to the machine's rules is made in both, or those tests fail.

numba compiles the kernels on their first call in a process (a few seconds) and caches the
machine code on disk (``NUMBA_CACHE_DIR``, set under ``MOLGEN_CACHE_DIR`` when unset), so later
processes load it. Where numba is missing the machine uses its tensor operations (same results).
"""

from __future__ import annotations

import os

import numpy as np

from molgen.masking import tables as T
from molgen.paths import cache_dir

os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))  # numba reads it when it is imported
try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; the machine falls back to tensors
    njit = None

AVAILABLE = njit is not None

# slots of the scalar table ``sc``
(_N, _R, _RING_BASE, _SHARED, _MAX_LEN, _MAX_CAP, _ATOM_MAX, _NO_FLOOR, _DUMMY, _DEPTH, _R_TR, _R_TRM, _R_RB,
 _R_RBB, _R_BA_TAIL, _R_BA_ATOM, _R_DOT, _R_TBM, _R_TB, _WD_TR, _WD_TRM, _WD_RB, _WD_RBB, _HD_TR,
 _N_SLOTS) = range(25)
_ALLOWED, _PENALTY, _POLICY = 0, 1, 2  # what _masks writes
_NO_KEY = 1 << 62  # above every ring's (order, label) key


def _jit(fn):
    if not AVAILABLE:
        return fn
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # no writable cache folder ("no locator available"): compile in each process
        return njit(nogil=True)(fn)


@_jit
def _masks(mode, out_bool, out_float, out_policy, stack, ptr, rem, adj, cur_a, pending, ring_atom, ring_order, rpend,
           weight, hosts, t, needs_extra, is_cont, weight_delta, host_checked, ring_cost, new_ring_cost,
           label_rules, rbond_rules, bond_rules, atom_rules, atom_capacity, wd_label, hd_label, wd_rbond, atom_by_needs,
           policy_fixed, policy_case, nt_rule_start, nt_rules, sc):
    """Every row's mask into ``out_bool`` (``mode`` _ALLOWED), its 0 / -inf form into ``out_float``
    (_PENALTY) or its finishing-policy rule into ``out_policy`` (_POLICY). Per row, statement by
    statement :meth:`SemanticMachine.allowed` and ``_policy``."""
    L = ring_atom.shape[1]
    N = sc[_N]
    ring_base = sc[_RING_BASE]
    R = sc[_R]
    ok = np.empty(R, dtype=np.bool_)
    is_open = np.empty(L, dtype=np.bool_)
    close_plain = np.empty(L, dtype=np.bool_)
    agree = np.empty(L, dtype=np.bool_)
    cost = np.empty(L, dtype=np.int64)
    for b in range(stack.shape[0]):
        p = ptr[b]
        top = stack[b, p]
        s1 = stack[b, p - 1 if p >= 1 else 0]
        s2 = stack[b, p - 2 if p >= 2 else 0]
        cur = cur_a[b]
        rem_c = rem[b, cur]
        needs = pending[b] + needs_extra[s1 * N + s2]
        rp = rpend[b]
        specified = rp > 0
        h = hosts[b]

        # the rings: open, closable by the current atom, closable without a ring-bond symbol
        n_open = 0
        any_plain = False
        any_plain_after_reserve = False
        any_agree = False
        cur_opened = False
        close_order = 0  # bit o: some closable ring has bond order o
        for lab in range(L):
            ra = ring_atom[b, lab]
            o = ring_order[b, lab]
            op = ra >= 0
            is_open[lab] = op
            cost[lab] = ring_cost[o]
            opener = ra if ra > 0 else 0
            c = op and ra != cur and not adj[b, cur, opener]
            excess = o - rem_c
            cp = c and excess <= 1
            close_plain[lab] = cp
            ag = c and (o == rp or (cp and not specified))
            agree[lab] = ag
            if op:
                n_open += 1
                if ra == cur:
                    cur_opened = True
            if c:
                close_order |= 1 << o
                if excess <= 0:
                    any_plain_after_reserve = True
            any_plain = any_plain or cp
            any_agree = any_agree or ag

        # the steps finishing may need for the open rings (SemanticMachine._ring_cost)
        total = 0
        for lab in range(L):
            c = cost[lab]
            if is_open[lab]:
                for k in range(lab):  # a ring after the first of its opener needs a closer of its own
                    if is_open[k] and ring_atom[b, k] == ring_atom[b, lab]:
                        if c < sc[_SHARED]:
                            c = sc[_SHARED]
                        break
            total += c
        if n_open > 0:
            total += ring_base
        slack = (sc[_MAX_LEN] - 1) - t[b] - weight[b] - total
        none_open = n_open == 0
        first = ring_base if none_open else 0
        host_floor = sc[_NO_FLOOR] if none_open else 1 - h
        # only the rules of the non-terminal on top can be allowed (the context-free mask): the
        # others are never read below
        lo, hi = nt_rule_start[top], nt_rule_start[top + 1]
        for i in range(lo, hi):
            r = nt_rules[i]
            ok[r] = weight_delta[r] <= slack and host_checked[r] >= host_floor

        can_open_now = n_open < L and h >= 1
        nc = 1 if cur_opened else 0
        open1 = new_ring_cost[nc, 1] + first
        open1_unless_plain = 0 if any_plain else open1
        any_order_fits = False
        for k in range(3):
            if (close_order >> (k + 1)) & 1 == 1 and k <= rem_c:
                any_order_fits = True
        ring_possible = any_plain or any_order_fits or can_open_now
        last_host = h + sc[_HD_TR] < 1
        ring_alone = (any_plain and n_open == 1) or (not last_host and ring_possible)
        ok[sc[_R_TR]] = open1_unless_plain + sc[_WD_TR] <= slack and ring_alone
        more_cost = 0 if any_plain_after_reserve else open1
        ok[sc[_R_TRM]] = more_cost + sc[_WD_TRM] <= slack and rem_c >= 1 and ring_possible
        ok[sc[_R_RB]] = open1_unless_plain + sc[_WD_RB] <= slack and (any_plain or can_open_now)
        bond_cost = 0 if any_order_fits else open1
        ok[sc[_R_RBB]] = bond_cost + sc[_WD_RBB] <= slack and (any_order_fits or (can_open_now and rem_c >= 0))
        for k in range(3):
            co = (close_order >> (k + 1)) & 1 == 1
            rc = 0 if co else new_ring_cost[nc, k + 1] + first
            ok[rbond_rules[k]] = wd_rbond[k] + rc <= slack and k <= rem_c and (co or can_open_now)
        o_eff = rp if rp > 1 else 1
        one_open = n_open == 1
        opening_cost = new_ring_cost[nc, o_eff] + first
        for lab in range(L):
            if is_open[lab]:
                delta = -(cost[lab] + (ring_base if one_open else 0))
            else:
                delta = opening_cost
            fits = wd_label[lab] + delta <= slack
            hosts_ok = (is_open[lab] and one_open) or hd_label[lab] >= 1 - h
            ok[label_rules[lab]] = fits and hosts_ok and (agree[lab] or (not is_open[lab] and can_open_now))
        for i in range(atom_rules.shape[0]):
            a = atom_rules[i]
            ok[a] = ok[a] and atom_capacity[i] >= needs
        after = pending[b] + is_cont[s1]
        ok[sc[_R_BA_TAIL]] = ok[sc[_R_BA_TAIL]] and sc[_MAX_CAP] >= after + 1
        ok[sc[_R_BA_ATOM]] = ok[sc[_R_BA_ATOM]] and sc[_MAX_CAP] >= after
        ok[sc[_R_DOT]] = False
        ok[sc[_R_TBM]] = ok[sc[_R_TBM]] and rem_c >= 1
        for k in range(3):
            ok[bond_rules[k]] = ok[bond_rules[k]] and k <= rem_c

        # the finishing policy (SemanticMachine._policy)
        cheapest = 0
        best = _NO_KEY
        for lab in range(L):
            if close_plain[lab]:
                key = ring_order[b, lab] * L + lab
                if key < best:
                    best = key
                    cheapest = lab
        first_close = cheapest if any_plain else -1
        order_close = ring_order[b, cheapest]
        some_open = n_open > 0
        case = policy_case[top]
        if case == 0:
            rule = policy_fixed[top]
        elif case == 1:
            rule = sc[_R_BA_TAIL] if some_open else sc[_R_BA_ATOM]
        elif case == 2:
            if some_open:
                rule = sc[_ATOM_MAX]
            else:
                rule = atom_by_needs[min(needs, atom_by_needs.shape[0] - 1)]
        elif case == 3:
            more = n_open >= 2 and rem_c >= order_close
            if any_plain and (more or n_open == 1 or h >= 2):
                rule = sc[_R_TRM] if more else sc[_R_TR]
            else:
                rule = sc[_R_TB]
        elif case == 4:
            rule = rbond_rules[(order_close if any_plain else 1) - 1]
        else:
            has = any_agree if specified else any_plain
            lab = first_close
            if specified:
                lab = 0
                for k in range(L):
                    if agree[k]:
                        lab = k
                        break
            if not has:
                lab = 0
                for k in range(L):
                    if not is_open[k]:
                        lab = k
                        break
            rule = label_rules[lab]
        ok[rule] = True
        if mode == _POLICY:
            out_policy[b] = rule
        elif mode == _PENALTY:
            for r in range(R):
                out_float[b, r] = -np.inf
            for i in range(lo, hi):
                r = nt_rules[i]
                if ok[r]:
                    out_float[b, r] = 0.0
        else:
            for r in range(R):
                out_bool[b, r] = False
            for i in range(lo, hi):
                r = nt_rules[i]
                out_bool[b, r] = ok[r]


@_jit
def _advance_rows(rules, stack, ptr, rem, adj, cur_a, pending, ring_atom, ring_order, rpend, weight, hosts, t,
                  overflow, anchors, n_anchor, n_atoms, rhs_table, rhs_len, needs_extra, rule_info, sc):
    """Apply one rule per row to the stack and the semantic state: per row, statement by statement
    :meth:`SemanticMachine.advance` (and :meth:`GrammarMachine.advance` for the stack)."""
    N = sc[_N]
    dummy = sc[_DUMMY]
    for b in range(stack.shape[0]):
        p = ptr[b]
        s1 = stack[b, p - 1 if p >= 1 else 0]
        s2 = stack[b, p - 2 if p >= 2 else 0]
        needs = pending[b] + needs_extra[s1 * N + s2]  # read before the stack changes
        rule = rules[b]
        kind = rule_info[rule, 0]
        order = rule_info[rule, 1]
        label = rule_info[rule, 2]
        capacity = rule_info[rule, 3]
        extra0 = rule_info[rule, 6]
        cur = cur_a[b]
        # the stack (GrammarMachine.advance): pop the top, push the right-hand side
        q = p - 1 if p >= 1 else 0
        for k in range(rhs_table.shape[1]):
            stack[b, q + 1 + k] = rhs_table[rule, k]
        q += rhs_len[rule]
        if q > sc[_DEPTH]:
            overflow[b] = True
            q = 0
        ptr[b] = q
        weight[b] += rule_info[rule, 4]
        hosts[b] += rule_info[rule, 5]
        t[b] += 1

        # ring labels: close an open ring or open one here
        is_label = kind == T.LABEL
        lab = label if label > 0 else 0
        ra = ring_atom[b, lab]
        ro = ring_order[b, lab]
        was_open = ra >= 0
        closing = is_label and was_open
        opening = is_label and not was_open
        rp = rpend[b]
        extra = extra0 + (ro - 1 if closing and rp == 0 else 0)
        rem[b, cur] -= extra
        opener = ra if ra > 0 else 0
        if closing:
            ring_atom[b, lab] = -1
            ring_order[b, lab] = 0
        elif opening:
            ring_atom[b, lab] = cur
            ring_order[b, lab] = rp if rp > 1 else 1
        if kind == T.RBOND:
            rpend[b] = order
        elif is_label:
            rpend[b] = 0

        # the pending bond, the branch anchors, the current atom
        starts_branch = kind == T.BRANCH or kind == T.BRANCH_BOND
        closes_branch = kind == T.CLOSE
        if starts_branch or closes_branch:
            pending[b] = 1
        elif kind == T.BOND:
            pending[b] = order
        K = anchors.shape[1]
        na = n_anchor[b]
        if starts_branch:
            anchors[b, na if na < K - 1 else K - 1] = cur
        na += (1 if starts_branch else 0) - (1 if closes_branch else 0)
        n_anchor[b] = na
        if closes_branch:
            cur = anchors[b, min(max(na, 0), K - 1)]
        is_atom = kind == T.ATOM
        new = n_atoms[b] if n_atoms[b] < dummy else dummy
        if is_atom:
            rem[b, new] = capacity - needs
        adj[b, dummy, dummy] = True  # the tensor machine's unused entry, written by rows without a bond
        if closing:
            adj[b, cur, opener] = True
            adj[b, opener, cur] = True
        if is_atom and pending[b] > 0:
            adj[b, new, cur] = True
            adj[b, cur, new] = True
        if is_atom:
            cur_a[b] = new
            n_atoms[b] += 1
            pending[b] = 1
        else:
            cur_a[b] = cur


class FusedStep:
    """The kernels above bound to one grammar's tables (NumPy copies of :class:`DeviceTables` on CPU)."""

    def __init__(self, tb, mask_table, rhs_table, rhs_len, max_len: int, depth: int, dummy: int) -> None:
        def arr(x):
            return np.ascontiguousarray(np.asarray(x.cpu() if hasattr(x, "cpu") else x, dtype=np.int64))

        def cols(c):
            if isinstance(c, slice):
                return np.arange(c.start, c.stop, dtype=np.int64)
            return arr(c)

        r = tb.rule
        self.rhs_table, self.rhs_len = arr(rhs_table), arr(rhs_len)
        self.needs_extra, self.is_cont = arr(tb.needs_extra), arr(tb.is_cont)
        self.weight_delta = arr(tb.weight_delta)
        self.host_checked = arr(tb.host_delta_checked_row[0])
        self.ring_cost, self.new_ring_cost = arr(tb.ring_cost), arr(tb.new_ring_cost)
        self.label_rules, self.rbond_rules = arr(tb.label_rules), arr(tb.rbond_rules)
        self.bond_rules, self.atom_rules = cols(tb.bond_cols), cols(tb.atom_cols)
        self.atom_capacity = arr(tb.atom_capacity)
        self.wd_label, self.hd_label = arr(tb.wd_label_row[0]), arr(tb.hd_label_row[0])
        self.wd_rbond = arr(tb.wd_rbond_row[0])
        self.atom_by_needs = arr(tb.atom_by_needs)
        self.policy_fixed, self.policy_case = arr(tb.policy_fixed), arr(tb.policy_case)
        self.rule_info = arr(tb.rule_info)
        # each non-terminal's rules (the context-free mask's rows as lists): nt_rules[start[n]:start[n + 1]]
        rows = [np.flatnonzero(row) for row in mask_table.cpu().numpy()]
        self.nt_rule_start = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
        self.nt_rules = np.concatenate(rows).astype(np.int64)
        sc = np.zeros(_N_SLOTS, dtype=np.int64)
        sc[_N], sc[_R], sc[_RING_BASE], sc[_SHARED] = tb.n_nt, mask_table.shape[1], tb.ring_base, T.SHARED_OPENER_COST
        sc[_MAX_LEN], sc[_MAX_CAP], sc[_ATOM_MAX] = max_len, tb.max_capacity, tb.atom_max_capacity
        sc[_NO_FLOOR], sc[_DUMMY], sc[_DEPTH] = tb.no_floor, dummy, depth
        for slot, kind in ((_R_TR, T.TAIL_RING), (_R_TRM, T.TAIL_RING_MORE), (_R_RB, T.RINGBOND),
                           (_R_RBB, T.RINGBOND_BOND), (_R_BA_TAIL, T.BA_TAIL), (_R_BA_ATOM, T.BA_ATOM),
                           (_R_DOT, T.SMILES_DOT), (_R_TBM, T.TAIL_BRANCH_MORE), (_R_TB, T.TAIL_BRANCH)):
            sc[slot] = r[kind]
        for slot, kind in ((_WD_TR, T.TAIL_RING), (_WD_TRM, T.TAIL_RING_MORE), (_WD_RB, T.RINGBOND),
                           (_WD_RBB, T.RINGBOND_BOND)):
            sc[slot] = tb.wd_rule[r[kind]]
        sc[_HD_TR] = tb.hd_rule[r[T.TAIL_RING]]
        self.sc = sc

    def _read(self, m) -> tuple:
        """The state tensors both kernels read, as NumPy views, in their argument order (up to ``t``)."""
        return (m.stack.stack.numpy(), m.stack.ptr.numpy(), m.rem.numpy(), m.adj.numpy(), m.cur.numpy(),
                m.pending.numpy(), m.ring_atom.numpy(), m.ring_order.numpy(), m.rpend.numpy(), m.weight.numpy(),
                m.hosts.numpy(), m.t.numpy())

    def _tables(self) -> tuple:
        return (self.needs_extra, self.is_cont, self.weight_delta, self.host_checked,
                self.ring_cost, self.new_ring_cost, self.label_rules, self.rbond_rules, self.bond_rules,
                self.atom_rules, self.atom_capacity, self.wd_label, self.hd_label, self.wd_rbond, self.atom_by_needs,
                self.policy_fixed, self.policy_case, self.nt_rule_start, self.nt_rules, self.sc)

    def allowed(self, m, out: np.ndarray) -> None:
        """``out`` (B, n_rules) bool := the machine's mask."""
        _masks(_ALLOWED, out, _NO_FLOAT, _NO_INT, *self._read(m), *self._tables())

    def penalty(self, m, out: np.ndarray) -> None:
        """``out`` (B, n_rules) float32 := 0 where allowed, -inf elsewhere."""
        _masks(_PENALTY, _NO_BOOL, out, _NO_INT, *self._read(m), *self._tables())

    def policy(self, m, out: np.ndarray) -> None:
        """``out`` (B,) int64 := the finishing policy's rule."""
        _masks(_POLICY, _NO_BOOL, _NO_FLOAT, out, *self._read(m), *self._tables())

    def advance(self, m, rules: np.ndarray) -> None:
        """Apply one rule per row to the machine's tensors, in place."""
        _advance_rows(rules, *self._read(m), m.stack.overflow.numpy(), m.anchors.numpy(), m.n_anchor.numpy(),
                      m.n_atoms.numpy(), self.rhs_table, self.rhs_len, self.needs_extra, self.rule_info, self.sc)


_NO_FLOAT = np.zeros((0, 0), dtype=np.float32)
_NO_BOOL = np.zeros((0, 0), dtype=np.bool_)
_NO_INT = np.zeros(0, dtype=np.int64)
