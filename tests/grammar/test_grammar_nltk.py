"""The fast parser against nltk's ChartParser: same derivation or both reject; unambiguity; fuzz."""

from __future__ import annotations

import gzip
import random

import numpy as np
import pytest

from grammar import GRAMMAR_NAMES, Grammar, GrammarError, load_grammar
from grammar.testing import nltk_derivations, random_derivation
from molgen.paths import MOSES_DIR

# characters that make the mutations land on interesting near-misses
MUTATION_ALPHABET = "CNOSFIBclnos()[]=#-+@H123456789%0./\\:.>*"


def mutate(smiles: str, rng: random.Random) -> str:
    """One random character deletion, insertion, substitution or adjacent swap."""
    if not smiles:
        return rng.choice(MUTATION_ALPHABET)
    k = rng.randrange(len(smiles))
    op = rng.randrange(4)
    if op == 0:
        return smiles[:k] + smiles[k + 1 :]
    if op == 1:
        return smiles[:k] + rng.choice(MUTATION_ALPHABET) + smiles[k:]
    if op == 2:
        return smiles[:k] + rng.choice(MUTATION_ALPHABET) + smiles[k + 1 :]
    if k == len(smiles) - 1:
        k -= 1
    return smiles[:k] + smiles[k + 1] + smiles[k] + smiles[k + 2 :] if k >= 0 else smiles


def ours(g: Grammar, smiles: str) -> list[int] | None:
    try:
        return g.parse(smiles)
    except GrammarError:
        return None


def assert_same_as_nltk(g: Grammar, strings: list[str]) -> tuple[int, int]:
    """Every string: nltk finds at most one parse, and ours is identical (or both reject)."""
    accepted = rejected = 0
    for s in strings:
        ref = nltk_derivations(g, s)
        assert len(ref) <= 1, f"{g.name} is ambiguous on {s!r}"
        mine = ours(g, s)
        assert mine == (ref[0] if ref else None), f"{g.name}: parser and nltk disagree on {s!r}"
        accepted += mine is not None
        rejected += mine is None
    return accepted, rejected


def read_moses(name: str, n: int) -> list[str]:
    with gzip.open(MOSES_DIR / name, "rt") as fh:
        next(fh)
        return [line.strip().split(",")[0] for _, line in zip(range(n), fh)]


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_same_as_nltk_on_real_smiles(name: str, train_smiles: list[str], as_input) -> None:
    g = load_grammar(name)
    accepted, _ = assert_same_as_nltk(g, [as_input(name, s) for s in train_smiles[:120]])
    assert accepted == 120


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_same_as_nltk_on_mutated_smiles(name: str, train_smiles: list[str], as_input) -> None:
    g = load_grammar(name)
    rng = random.Random(1234)
    real = [as_input(name, s) for s in train_smiles[:500]]
    mutants = [mutate(rng.choice(real), rng) for _ in range(150)]
    mutants += [mutate(mutate(s, rng), rng) for s in mutants[:30]]
    accepted, rejected = assert_same_as_nltk(g, mutants)
    assert accepted > 20 and rejected > 20  # both outcomes exercised


@pytest.mark.slow
@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_same_as_nltk_on_thousands(name: str, as_input) -> None:
    g = load_grammar(name)
    real = [as_input(name, s) for s in read_moses("train.csv.gz", 1500) + read_moses("test.csv.gz", 500)]
    assert_same_as_nltk(g, real)
    rng = random.Random(99)
    assert_same_as_nltk(g, [mutate(rng.choice(real), rng) for _ in range(2000)])


def test_smiles_grammar_is_unambiguous_on_a_sample(train_smiles: list[str]) -> None:
    g = load_grammar("smiles")
    sample = train_smiles[500:550]
    for s in sample:
        assert len(nltk_derivations(g, s, limit=3)) == 1, s


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_fuzz_random_derivations_parse_back(name: str) -> None:
    g = load_grammar(name)
    rng = random.Random(7)
    for k in range(400):
        derivation = random_derivation(g, rng, max_rules=rng.choice([10, 40, 120]))
        s = g.to_smiles(derivation)
        assert g.parse(s) == derivation, s
        assert g.stack_after(derivation) == []
        if k < 60 and len(s) <= 40:  # nltk's chart grows cubically: keep its checks short
            assert nltk_derivations(g, s) == [derivation], s


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_masked_sampling_with_random_logits_gives_parseable_strings(name: str) -> None:
    """The decoder's stack machine, in NumPy: only rules allowed for the top of the stack."""
    g = load_grammar(name)
    rng = np.random.default_rng(0)
    max_len = 300
    complete = 0
    for _ in range(200):
        stack, rules = [g.start], []
        for _ in range(max_len):
            top = stack.pop() if stack else g.pad_nonterminal
            logits = np.where(g.mask[top], rng.normal(size=g.n_rules), -np.inf)
            r = int(np.argmax(logits))
            assert g.lhs[r] == top
            rules.append(r)
            stack.extend(reversed(g.rhs_nonterminals[r]))
        assert g.stack_after(rules) == stack
        if not stack:
            complete += 1
            assert g.parse(g.to_smiles(rules)) == [r for r in rules if r != g.pad_rule]
        else:
            with pytest.raises(GrammarError, match="incomplete"):
                g.to_smiles(rules)
    assert complete > 20
