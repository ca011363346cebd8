"""The :class:`Grammar` object: rule tables for the masked decoder, lexing, parsing, decoding.

Everything is derived from the nltk CFG text (``grammar/grammars/*.cfg``): rule ids are
production indices in file order, nonterminal ids follow the order in which left-hand
sides first appear (as in the original Grammar VAE code), and the rules the decoder may
pick are the productive ones (a rule whose right-hand side mentions an undefined
nonterminal, like ``BACH -> charge class`` in ``gvae-zinc``, can never finish a molecule
and is masked out instead of being zeroed by hand).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import nltk
import numpy as np

from grammar.errors import GrammarError
from grammar.files import GRAMMAR_NAMES, grammar_text

__all__ = ["GRAMMAR_NAMES", "PAD_LHS", "Grammar", "grammar_text", "load_grammar"]

PAD_LHS = "Nothing"


@lru_cache(maxsize=None)
def load_grammar(name: str = "smiles") -> "Grammar":
    """Load a shipped grammar by name (cached: grammars are immutable)."""
    return Grammar.from_text(grammar_text(name), name=name)


@dataclass(eq=False)
class Grammar:
    """A SMILES context-free grammar with the tables the Grammar VAE needs.

    Build it with :func:`load_grammar` or :meth:`Grammar.from_text`; all fields are derived
    from ``text`` and treated as read-only.
    """

    name: str
    text: str
    hash: str
    rules: list[str]
    nonterminals: list[str]
    start: int
    pad_rule: int
    pad_nonterminal: int
    lhs: np.ndarray
    mask: np.ndarray
    rhs_nonterminals: list[tuple[int, ...]]
    max_rhs: int
    terminals: frozenset[str]
    # per rule, the right-hand side: nonterminal ids (int; -1 if undefined) and terminals (str)
    rhs_symbols: list[tuple[int | str, ...]] = field(repr=False)
    allowed: np.ndarray = field(repr=False)  # (n_rules,) bool: productive rules (and the pad rule)
    _lex_re: re.Pattern = field(repr=False)
    _rule_index: dict[str, int] = field(repr=False)
    _parser: object | None = field(default=None, repr=False)

    @classmethod
    def from_text(cls, text: str, name: str = "custom") -> "Grammar":
        """Build a grammar from nltk CFG text; it must contain the padding rule ``Nothing -> None``."""
        cfg = nltk.CFG.fromstring(text)
        prods = cfg.productions()
        rules = [str(p) for p in prods]
        nonterminals: list[str] = []
        for p in prods:
            if p.lhs().symbol() not in nonterminals:
                nonterminals.append(p.lhs().symbol())
        nt_id = {s: i for i, s in enumerate(nonterminals)}
        pads = [i for i, p in enumerate(prods) if p.lhs().symbol() == PAD_LHS]
        if len(pads) != 1:
            raise ValueError(f"grammar {name!r} needs exactly one padding rule '{PAD_LHS} -> None'")
        pad_rule = pads[0]
        rhs_symbols: list[tuple[int | str, ...]] = []
        for p in prods:
            syms: list[int | str] = []
            for s in p.rhs():
                syms.append(s if isinstance(s, str) else nt_id.get(s.symbol(), -1))
            rhs_symbols.append(tuple(syms))
        if pad_rule != len(prods) - 1 or prods[pad_rule].rhs() != (nltk.Nonterminal("None"),):
            raise ValueError(f"grammar {name!r}: the padding rule '{PAD_LHS} -> None' must be the last rule")
        rhs_symbols[pad_rule] = ()
        lhs = np.array([nt_id[p.lhs().symbol()] for p in prods], dtype=np.int64)
        allowed = _productive_rules(lhs, rhs_symbols, len(nonterminals))
        allowed[pad_rule] = True
        mask = np.zeros((len(nonterminals), len(prods)), dtype=bool)
        mask[lhs, np.arange(len(prods))] = allowed
        rhs_nts = [tuple(s for s in syms if isinstance(s, int) and s >= 0) for syms in rhs_symbols]
        terminals = frozenset(s for syms in rhs_symbols for s in syms if isinstance(s, str))
        # longest terminal first: the original grammarVAE tokenizer kept 'Cl', 'Br', '@@' whole
        lex_re = re.compile("|".join(re.escape(t) for t in sorted(terminals, key=lambda t: (-len(t), t))))
        digest = hashlib.sha256(("\n".join(rules) + "\n").encode("utf-8")).hexdigest()
        return cls(
            name=name,
            text=text,
            hash=digest,
            rules=rules,
            nonterminals=nonterminals,
            start=nt_id[cfg.start().symbol()],
            pad_rule=pad_rule,
            pad_nonterminal=nt_id[PAD_LHS],
            lhs=lhs,
            mask=mask,
            rhs_nonterminals=rhs_nts,
            max_rhs=max(len(r) for r in rhs_nts),
            terminals=terminals,
            rhs_symbols=rhs_symbols,
            allowed=allowed,
            _lex_re=lex_re,
            _rule_index={r: i for i, r in enumerate(rules)},
        )

    @property
    def n_rules(self) -> int:
        """Number of production rules (the decoder's softmax width)."""
        return len(self.rules)

    @property
    def n_nonterminals(self) -> int:
        return len(self.nonterminals)

    def rule_id(self, rule: str) -> int:
        """Id of a production given as text (``"chain -> branched_atom"``); raises KeyError."""
        return self._rule_index[rule]

    # ---------------------------------------------------------------- lexing and parsing

    def lex(self, smiles: str) -> list[str]:
        """Split ``smiles`` into this grammar's terminals, longest terminal first.

        These are the tokens nltk's parser sees; ``GrammarError`` at a character no
        terminal covers.
        """
        tokens: list[str] = []
        pos = 0
        for m in self._lex_re.finditer(smiles):
            if m.start() != pos:
                break
            tokens.append(m.group())
            pos = m.end()
        if pos != len(smiles):
            raise GrammarError(smiles, pos, f"a terminal of grammar {self.name!r}", f"got {smiles[pos]!r}")
        return tokens

    def parse(self, smiles: str) -> list[int]:
        """Leftmost derivation (rule ids, parse-tree productions in preorder) of ``smiles``.

        Identical to nltk's ``ChartParser`` on ``self.lex(smiles)``, but hand-written and fast.
        Raises :class:`GrammarError` with the failing position for strings nltk rejects.
        """
        if self._parser is None:
            from grammar.parser import make_parser

            self._parser = make_parser(self)
        return self._parser.parse(smiles)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------- decoding

    def to_smiles(self, rule_ids: Sequence[int]) -> str:
        """The string a leftmost derivation derives; trailing pad rules are ignored.

        Raises :class:`GrammarError` when a rule does not expand the nonterminal on top of
        the stack, is masked, or the derivation is incomplete.
        """
        out: list[str] = []
        stack: list[int | str] = [self.start]
        lhs, allowed, rhs_symbols, pad = self.lhs, self.allowed, self.rhs_symbols, self.pad_rule
        n = len(self.rules)
        for k, r in enumerate(rule_ids):
            r = int(r)
            if not stack:
                if r != pad:
                    raise GrammarError("".join(out), len("".join(out)), "padding after a complete derivation", f"got rule {k} = {self._rule_name(r)}")
                continue
            top = stack.pop()
            if not 0 <= r < n or lhs[r] != top or not allowed[r] or r == pad:
                stack.append(top)
                text = "".join(out)
                raise GrammarError(text, len(text), f"a rule expanding {self.nonterminals[top]!r}", f"got rule {k} = {self._rule_name(r)}")
            stack.extend(reversed(rhs_symbols[r]))
            while stack and isinstance(stack[-1], str):
                out.append(stack.pop())  # type: ignore[arg-type]
        if stack:
            text = "".join(out)
            raise GrammarError(text, len(text), f"more rules: derivation incomplete, {self.nonterminals[stack[-1]]!r} still to expand")  # type: ignore[index]
        return "".join(out)

    def stack_after(self, rule_ids: Sequence[int]) -> list[int]:
        """Nonterminal stack (top = last) after applying a partial leftmost derivation.

        Starts from ``[start]``; each rule pops the top and pushes its right-hand-side
        nonterminals in reverse. Raises :class:`GrammarError` on a rule that does not fit.
        """
        stack = [self.start]
        lhs, allowed, rhs_nts, pad = self.lhs, self.allowed, self.rhs_nonterminals, self.pad_rule
        n = len(self.rules)
        for k, r in enumerate(rule_ids):
            r = int(r)
            if not stack:
                if r != pad:
                    raise GrammarError("", 0, "padding after a complete derivation", f"got rule {k} = {self._rule_name(r)}")
                continue
            top = stack.pop()
            if not 0 <= r < n or lhs[r] != top or not allowed[r] or r == pad:
                raise GrammarError("", 0, f"a rule expanding {self.nonterminals[top]!r}", f"got rule {k} = {self._rule_name(r)}")
            stack.extend(reversed(rhs_nts[r]))
        return stack

    def is_complete(self, rule_ids: Sequence[int]) -> bool:
        """True when ``rule_ids`` is a valid, finished derivation (trailing pads allowed)."""
        try:
            return not self.stack_after(rule_ids)
        except GrammarError:
            return False

    def _rule_name(self, r: int) -> str:
        return repr(self.rules[r]) if 0 <= r < len(self.rules) else f"{r} (out of range)"

    def __reduce__(self) -> tuple:
        """Pickle as the text: the tables and the parser are rebuilt on load."""
        return (Grammar.from_text, (self.text, self.name))

    def __repr__(self) -> str:
        return f"Grammar(name={self.name!r}, n_rules={self.n_rules}, n_nonterminals={self.n_nonterminals}, hash={self.hash[:12]})"


def _productive_rules(lhs: np.ndarray, rhs_symbols: list[tuple[int | str, ...]], n_nt: int) -> np.ndarray:
    """Rules whose every right-hand-side nonterminal derives some terminal string (fixpoint)."""
    productive_nt = [False] * n_nt
    ok = np.zeros(len(rhs_symbols), dtype=bool)
    changed = True
    while changed:
        changed = False
        for r, syms in enumerate(rhs_symbols):
            if ok[r]:
                continue
            if all(isinstance(s, str) or (s >= 0 and productive_nt[s]) for s in syms):
                ok[r] = True
                if not productive_nt[lhs[r]]:
                    productive_nt[lhs[r]] = True
                changed = True
    return ok
