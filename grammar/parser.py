"""Exact SMILES parsers: leftmost derivations identical to nltk's ``ChartParser``, much faster.

Two layers:

* :class:`GenericParser` parses any (unambiguous) grammar by memoised top-down search over
  token spans. It is exact by construction but slow, so it is only used on short pieces
  (one atom, one bond, one ring label: the *leaves*), whose derivations are then cached by
  token text, and as the fallback for grammars built with ``Grammar.from_text``.
* :class:`SmilesParser` and :class:`ZincParser` walk the chain / branch / ring-closure
  skeleton of the two shipped grammars in one left-to-right pass over SMILES tokens and
  splice in the cached leaf derivations. They look their rules up by text, so they serve
  any grammar with exactly the same productions (in any order).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

import nltk

from grammar.errors import GrammarError
from grammar.files import grammar_text

if TYPE_CHECKING:
    from grammar.cfg import Grammar

# token kinds of the skeleton parsers
END, OTHER, ATOM, BOND, RING, OPEN, CLOSE, DOT = range(8)
_MAX_LEAF_CACHE = 100_000


class GenericParser:
    """Exact parser for any grammar without cycles of unit rules: all parses by memoised span search.

    Worst case polynomial but slow in Python; meant for short strings.
    """

    def __init__(self, grammar: "Grammar") -> None:
        g = grammar
        self.grammar = g
        self.by_lhs: list[list[int]] = [[] for _ in g.nonterminals]
        for r in range(g.n_rules):
            if g.allowed[r] and r != g.pad_rule:
                self.by_lhs[int(g.lhs[r])].append(r)
        self.minlen = self._min_lengths()
        self.suffix_min: list[list[float]] = []
        for syms in g.rhs_symbols:
            suf = [0.0] * (len(syms) + 1)
            for k in range(len(syms) - 1, -1, -1):
                s = syms[k]
                suf[k] = suf[k + 1] + (1 if isinstance(s, str) else self.minlen[s] if s >= 0 else float("inf"))
            self.suffix_min.append(suf)

    def _min_lengths(self) -> list[float]:
        g = self.grammar
        inf = float("inf")
        best = [inf] * len(g.nonterminals)
        changed = True
        while changed:
            changed = False
            for a, rules in enumerate(self.by_lhs):
                for r in rules:
                    total = sum(1 if isinstance(s, str) else best[s] if s >= 0 else inf for s in g.rhs_symbols[r])
                    if total < best[a]:
                        best[a] = total
                        changed = True
        return best

    def derivations(self, nonterminal: int, tokens: Sequence[str], limit: int = 2) -> list[tuple[int, ...]]:
        """Up to ``limit`` leftmost derivations of ``tokens`` from ``nonterminal``."""
        rhs, by_lhs, minlen, suffix_min = self.grammar.rhs_symbols, self.by_lhs, self.minlen, self.suffix_min
        memo: dict[tuple[int, int, int], list[tuple[int, ...]]] = {}

        def parses(a: int, i: int, j: int) -> list[tuple[int, ...]]:
            key = (a, i, j)
            if key in memo:
                return memo[key]
            memo[key] = []  # guards against unit-rule / empty-rule cycles
            found: list[tuple[int, ...]] = []
            for r in by_lhs[a]:
                for d in match(r, 0, i, j):
                    found.append((r,) + d)
                    if len(found) >= limit:
                        break
                if len(found) >= limit:
                    break
            memo[key] = found
            return found

        def match(r: int, k: int, i: int, j: int) -> list[tuple[int, ...]]:
            syms = rhs[r]
            if k == len(syms):
                return [()] if i == j else []
            if j - i < suffix_min[r][k]:
                return []
            s = syms[k]
            if isinstance(s, str):
                return match(r, k + 1, i + 1, j) if tokens[i] == s else []
            if k == len(syms) - 1:
                return parses(s, i, j)
            found: list[tuple[int, ...]] = []
            for m in range(i + int(minlen[s]), j - int(suffix_min[r][k + 1]) + 1):
                rest = match(r, k + 1, m, j)
                if not rest:
                    continue
                for d1 in parses(s, i, m):
                    for d2 in rest:
                        found.append(d1 + d2)
                        if len(found) >= limit:
                            return found
            return found

        return parses(nonterminal, 0, len(tokens))

    def parse(self, smiles: str) -> list[int]:
        """Leftmost derivation of ``smiles`` from the start symbol (slow; any grammar)."""
        g = self.grammar
        tokens = g.lex(smiles)
        found = self.derivations(g.start, tokens)
        if not found:
            raise GrammarError(smiles, 0, f"a string of grammar {g.name!r}", "no parse")
        if len(found) > 1:
            raise GrammarError(smiles, 0, "exactly one parse", f"grammar {g.name!r} is ambiguous on this string")
        return list(found[0])


@lru_cache(maxsize=None)
def _shipped_rules(name: str) -> frozenset[str]:
    return frozenset(str(p) for p in nltk.CFG.fromstring(grammar_text(name)).productions())


class _SkeletonParser:
    """Shared machinery: token split, leaf classification and caching, error messages."""

    SHIPPED: str = ""
    TOKEN_RE: re.Pattern = re.compile(r"(?s).")
    LEAVES: tuple[tuple[int, str], ...] = ()  # (kind, nonterminal deriving that kind of token)
    LITERALS: dict[str, int] = {}

    def __init__(self, grammar: "Grammar") -> None:
        self.grammar = grammar
        self.generic = GenericParser(grammar)
        self.leaf_nts = [(kind, grammar.nonterminals.index(nt)) for kind, nt in self.LEAVES]
        self._leaf: dict[str, tuple[int, tuple[int, ...]]] = {}
        self._r = grammar.rule_id

    @classmethod
    def supports(cls, grammar: "Grammar") -> bool:
        """True if ``grammar`` has exactly the productions this parser was written for."""
        return set(grammar.rules) == _shipped_rules(cls.SHIPPED) and grammar.nonterminals[grammar.start] == "smiles"

    def _classify(self, tok: str) -> tuple[int, tuple[int, ...]]:
        """Kind and leaf derivation of one skeleton token (cached)."""
        g = self.grammar
        info: tuple[int, tuple[int, ...]] = (OTHER, ())
        if tok in self.LITERALS and tok in g.terminals:
            info = (self.LITERALS[tok], ())
        else:
            try:
                terms = g.lex(tok)
            except GrammarError:
                terms = None
            if terms is not None:
                for kind, nt in self.leaf_nts:
                    found = self.generic.derivations(nt, terms)
                    if len(found) > 1:
                        raise RuntimeError(f"grammar {g.name!r} is ambiguous on {tok!r}")
                    if found:
                        info = (kind, found[0])
                        break
        if len(self._leaf) >= _MAX_LEAF_CACHE:
            self._leaf.clear()
        self._leaf[tok] = info
        return info

    def _scan(self, smiles: str) -> tuple[list[str], list[int], list[tuple[int, ...]]]:
        toks = self.TOKEN_RE.findall(smiles)
        leaf = self._leaf
        kinds: list[int] = []
        derivs: list[tuple[int, ...]] = []
        for t in toks:
            info = leaf.get(t) or self._classify(t)
            kinds.append(info[0])
            derivs.append(info[1])
        kinds += (END, END)  # sentinels: lookahead never runs off the end
        return toks, kinds, derivs

    @staticmethod
    def _error(smiles: str, toks: list[str], i: int, expected: str) -> GrammarError:
        pos = sum(len(t) for t in toks[:i])
        got = f"got {toks[i]!r}" if i < len(toks) else "got end of input"
        return GrammarError(smiles, pos, expected, got)


class SmilesParser(_SkeletonParser):
    """The ``smiles`` grammar: right-recursive chains, ring closures and branches in any order."""

    SHIPPED = "smiles"
    TOKEN_RE = re.compile(r"(?s)\[[^\[\]]*\]|Cl|Br|%[0-9][0-9]|->|<-|.")
    LEAVES = ((ATOM, "atom"), (BOND, "bond"), (RING, "ring_label"))
    LITERALS = {"(": OPEN, ")": CLOSE, ".": DOT}
    BRANCH = "branch -> '(' chain ')'"
    BRANCH_BOND = "branch -> '(' bond chain ')'"
    RINGBOND_BOND = "ringbond -> bond ring_label"
    CLOSE: str | None = None  # the rule deriving ')' when the grammar has one
    RING_BOND_NT: str | None = None  # the non-terminal of ring bonds when it is not 'bond'

    def __init__(self, grammar: "Grammar") -> None:
        super().__init__(grammar)
        r = self._r
        self.smiles_end = r("smiles -> chain")
        self.smiles_dot = r("smiles -> chain '.' smiles")
        self.chain_end = r("chain -> branched_atom")
        self.chain_more = r("chain -> branched_atom chain")
        self.chain_bond = r("chain -> branched_atom bond chain")
        self.ba_atom = r("branched_atom -> atom")
        self.ba_tail = r("branched_atom -> atom tail")
        self.tail_ring = r("tail -> ringbond")
        self.tail_ring_more = r("tail -> ringbond tail")
        self.tail_branch = r("tail -> branch")
        self.tail_branch_more = r("tail -> branch tail")
        self.ringbond = r("ringbond -> ring_label")
        self.branch = r(self.BRANCH)
        self.branch_bond = r(self.BRANCH_BOND)
        self.ringbond_bond = r(self.RINGBOND_BOND)
        # grammars that give a branch's ')' and a ring bond their own non-terminal (kekule)
        self.close = r(self.CLOSE) if self.CLOSE else None
        self.ring_bond_of: dict[int, int] = {}
        if self.RING_BOND_NT:
            bond_nt = grammar.nonterminals.index("bond")
            ring_nt = grammar.nonterminals.index(self.RING_BOND_NT)
            by_rhs = {grammar.rhs_symbols[k]: k for k in range(grammar.n_rules) if int(grammar.lhs[k]) == ring_nt}
            self.ring_bond_of = {k: by_rhs[grammar.rhs_symbols[k]] for k in range(grammar.n_rules)
                                 if int(grammar.lhs[k]) == bond_nt}

    def parse(self, smiles: str) -> list[int]:
        toks, kinds, leaf = self._scan(smiles)
        out: list[int] = []
        i = 0
        while True:
            slot = len(out)
            out.append(self.smiles_end)
            i = self._chain(smiles, toks, kinds, leaf, out, i)
            if kinds[i] != DOT:
                break
            out[slot] = self.smiles_dot
            i += 1
        if i != len(toks):
            raise self._error(smiles, toks, i, "an atom, a bond, a ring label, '(', '.' or end of input")
        return out

    def _chain(self, smiles: str, toks: list[str], kinds: list[int], leaf: list[tuple[int, ...]], out: list[int], i: int) -> int:
        """chain -> branched_atom [bond] chain | branched_atom, emitted in preorder."""
        while True:
            if kinds[i] != ATOM:
                raise self._error(smiles, toks, i, "an atom")
            slot = len(out)
            out.append(self.chain_end)
            out.append(self.ba_atom)
            out.extend(leaf[i])
            i += 1
            k = kinds[i]
            if k == RING or k == OPEN or (k == BOND and kinds[i + 1] == RING):
                out[slot + 1] = self.ba_tail
                i = self._tail(smiles, toks, kinds, leaf, out, i)
                k = kinds[i]
            if k == ATOM:
                out[slot] = self.chain_more
            elif k == BOND:
                out[slot] = self.chain_bond
                out.extend(leaf[i])
                i += 1
            else:
                return i

    def _tail(self, smiles: str, toks: list[str], kinds: list[int], leaf: list[tuple[int, ...]], out: list[int], i: int) -> int:
        """tail -> (ringbond | branch) [tail]: ring closures and branches in any order."""
        while True:
            slot = len(out)
            out.append(0)
            k = kinds[i]
            is_ring = True
            if k == RING:
                out.append(self.ringbond)
                out.extend(leaf[i])
                i += 1
            elif k == BOND:  # the caller checked that a ring label follows
                out.append(self.ringbond_bond)
                if self.ring_bond_of:
                    out.extend(self.ring_bond_of.get(x, x) for x in leaf[i])
                else:
                    out.extend(leaf[i])
                out.extend(leaf[i + 1])
                i += 2
            else:
                is_ring = False
                i += 1
                if kinds[i] == BOND:
                    out.append(self.branch_bond)
                    out.extend(leaf[i])
                    i += 1
                else:
                    out.append(self.branch)
                i = self._chain(smiles, toks, kinds, leaf, out, i)
                if kinds[i] != CLOSE:
                    raise self._error(smiles, toks, i, "an atom, a bond, a ring label, '(' or ')'")
                if self.close is not None:
                    out.append(self.close)
                i += 1
            k = kinds[i]
            more = k == RING or k == OPEN or (k == BOND and kinds[i + 1] == RING)
            if is_ring:
                out[slot] = self.tail_ring_more if more else self.tail_ring
            else:
                out[slot] = self.tail_branch_more if more else self.tail_branch
            if not more:
                return i


class ZincParser(_SkeletonParser):
    """The original ``gvae-zinc`` grammar: left-recursive ``chain``, ``RB`` and ``BB`` lists.

    A left-recursive list of n items derives in preorder as n-1 copies of the recursive rule
    (last item first), the base rule, then the items left to right; the parser collects the
    items and emits that order.
    """

    SHIPPED = "gvae-zinc"
    TOKEN_RE = re.compile(r"(?s)\[[^\[\]]*\]|Cl|Br|.")
    LEAVES = ((ATOM, "atom"), (BOND, "bond"), (RING, "DIGIT"))
    LITERALS = {"(": OPEN, ")": CLOSE}

    def __init__(self, grammar: "Grammar") -> None:
        super().__init__(grammar)
        r = self._r
        self.smiles = r("smiles -> chain")
        self.chain_single = r("chain -> branched_atom")
        self.chain_more = r("chain -> chain branched_atom")
        self.chain_bond = r("chain -> chain bond branched_atom")
        self.ba = {
            (False, False): r("branched_atom -> atom"),
            (True, False): r("branched_atom -> atom RB"),
            (False, True): r("branched_atom -> atom BB"),
            (True, True): r("branched_atom -> atom RB BB"),
        }
        self.rb_more = r("RB -> RB ringbond")
        self.rb_single = r("RB -> ringbond")
        self.bb_more = r("BB -> BB branch")
        self.bb_single = r("BB -> branch")
        self.ringbond = r("ringbond -> DIGIT")
        self.ringbond_bond = r("ringbond -> bond DIGIT")
        self.branch = r("branch -> '(' chain ')'")
        self.branch_bond = r("branch -> '(' bond chain ')'")

    def parse(self, smiles: str) -> list[int]:
        toks, kinds, leaf = self._scan(smiles)
        rules, i = self._chain(smiles, toks, kinds, leaf, 0)
        if i != len(toks):
            raise self._error(smiles, toks, i, "an atom, a bond, a ring label, '(' or end of input")
        rules.insert(0, self.smiles)
        return rules

    def _chain(self, smiles: str, toks: list[str], kinds: list[int], leaf: list[tuple[int, ...]], i: int) -> tuple[list[int], int]:
        heads: list[int] = []
        body: list[int] = []
        i = self._branched_atom(smiles, toks, kinds, leaf, body, i)
        while True:
            k = kinds[i]
            if k == ATOM:
                heads.append(self.chain_more)
            elif k == BOND and kinds[i + 1] == ATOM:
                heads.append(self.chain_bond)
                body.extend(leaf[i])
                i += 1
            else:
                break
            i = self._branched_atom(smiles, toks, kinds, leaf, body, i)
        heads.reverse()
        heads.append(self.chain_single)
        heads.extend(body)
        return heads, i

    def _branched_atom(self, smiles: str, toks: list[str], kinds: list[int], leaf: list[tuple[int, ...]], out: list[int], i: int) -> int:
        if kinds[i] != ATOM:
            raise self._error(smiles, toks, i, "an atom")
        slot = len(out)
        out.append(0)
        out.extend(leaf[i])
        i += 1
        n_rb = 0
        rb_body: list[int] = []
        while True:  # RB: ring bonds come before branches in this grammar
            k = kinds[i]
            if k == RING:
                rb_body.append(self.ringbond)
                rb_body.extend(leaf[i])
                i += 1
            elif k == BOND and kinds[i + 1] == RING:
                rb_body.append(self.ringbond_bond)
                rb_body.extend(leaf[i])
                rb_body.extend(leaf[i + 1])
                i += 2
            else:
                break
            n_rb += 1
        n_bb = 0
        bb_body: list[int] = []
        while kinds[i] == OPEN:
            i += 1
            if kinds[i] == BOND:
                bb_body.append(self.branch_bond)
                bb_body.extend(leaf[i])
                i += 1
            else:
                bb_body.append(self.branch)
            sub, i = self._chain(smiles, toks, kinds, leaf, i)
            bb_body.extend(sub)
            if kinds[i] != CLOSE:
                raise self._error(smiles, toks, i, "an atom, a bond, a ring label, '(' or ')'")
            i += 1
            n_bb += 1
        out[slot] = self.ba[(n_rb > 0, n_bb > 0)]
        if n_rb:
            out.extend([self.rb_more] * (n_rb - 1))
            out.append(self.rb_single)
            out.extend(rb_body)
        if n_bb:
            out.extend([self.bb_more] * (n_bb - 1))
            out.append(self.bb_single)
            out.extend(bb_body)
        return i


class KekuleParser(SmilesParser):
    """The ``kekule`` grammar: ``smiles``' skeleton, with ring bonds under ``rbond`` and each branch
    ending in the non-terminal ``close`` (what the semantic machine reads)."""

    SHIPPED = "kekule"
    TOKEN_RE = re.compile(r"(?s)\[[^\[\]]*\]|Cl|Br|%[0-9][0-9]|.")
    BRANCH = "branch -> '(' chain close"
    BRANCH_BOND = "branch -> '(' bond chain close"
    RINGBOND_BOND = "ringbond -> rbond ring_label"
    CLOSE = "close -> ')'"
    RING_BOND_NT = "rbond"


def make_parser(grammar: "Grammar") -> SmilesParser | ZincParser | GenericParser:
    """The fast skeleton parser matching ``grammar``'s productions, else the generic one."""
    for cls in (SmilesParser, ZincParser, KekuleParser):
        if cls.supports(grammar):
            return cls(grammar)
    return GenericParser(grammar)
