"""Reference and random-input helpers for tests and benchmarks (not used by the parser).

``nltk_derivations`` is the ground truth the fast parser must reproduce: nltk's
``ChartParser`` on the grammar's own terminals. ``random_derivation`` samples a
leftmost derivation straight from the grammar, for fuzzing the parser and decoders.
"""

from __future__ import annotations

import random
from functools import lru_cache

import nltk

from grammar.cfg import Grammar
from grammar.errors import GrammarError


@lru_cache(maxsize=8)
def _chart_parser(text: str) -> nltk.ChartParser:
    return nltk.ChartParser(nltk.CFG.fromstring(text))


def nltk_derivations(grammar: Grammar, smiles: str, limit: int = 2) -> list[list[int]]:
    """Up to ``limit`` leftmost derivations nltk's ``ChartParser`` finds for ``smiles`` ([] = rejected)."""
    try:
        tokens = grammar.lex(smiles)
    except GrammarError:
        return []
    if not tokens:
        return []
    parser = _chart_parser(grammar.text)
    try:
        trees = parser.parse(tokens)
        found = []
        for tree in trees:
            found.append([grammar.rule_id(str(p)) for p in tree.productions()])
            if len(found) >= limit:
                break
        return found
    except ValueError:  # a token the grammar does not cover
        return []


def _heights(grammar: Grammar) -> list[float]:
    """Height of the shallowest derivation tree of each nonterminal (inf if none)."""
    inf = float("inf")
    height = [inf] * grammar.n_nonterminals
    changed = True
    while changed:
        changed = False
        for r in range(grammar.n_rules):
            if not grammar.allowed[r] or r == grammar.pad_rule:
                continue
            h = 1 + max((height[s] for s in grammar.rhs_nonterminals[r]), default=0)
            a = int(grammar.lhs[r])
            if h < height[a]:
                height[a] = h
                changed = True
    return height


def random_derivation(grammar: Grammar, rng: random.Random, max_rules: int = 80) -> list[int]:
    """A leftmost derivation with uniformly random rule choices.

    After ``max_rules`` rules every nonterminal takes its shallowest rule, so the
    derivation always finishes.
    """
    height = _heights(grammar)
    choices: list[list[int]] = [[] for _ in range(grammar.n_nonterminals)]
    shallowest: list[int] = [-1] * grammar.n_nonterminals
    for r in range(grammar.n_rules):
        if grammar.allowed[r] and r != grammar.pad_rule:
            a = int(grammar.lhs[r])
            choices[a].append(r)
            h = 1 + max((height[s] for s in grammar.rhs_nonterminals[r]), default=0)
            if shallowest[a] < 0 or h < 1 + max((height[s] for s in grammar.rhs_nonterminals[shallowest[a]]), default=0):
                shallowest[a] = r
    out: list[int] = []
    stack = [grammar.start]
    while stack:
        a = stack.pop()
        r = rng.choice(choices[a]) if len(out) < max_rules else shallowest[a]
        out.append(r)
        stack.extend(reversed(grammar.rhs_nonterminals[r]))
    return out
