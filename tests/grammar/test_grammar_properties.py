"""Property-based tests of the grammar (hypothesis): any derivation the grammar allows, chosen by
hypothesis's choice sequences and shrunk to a minimal counterexample on failure, round-trips
through the string and the exact parser."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grammar import GRAMMAR_NAMES, load_grammar
from grammar.testing import random_derivation


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
@settings(max_examples=150, deadline=None, derandomize=True)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), max_rules=st.integers(min_value=1, max_value=200))
def test_every_derivation_parses_back_to_itself(name: str, seed: int, max_rules: int) -> None:
    g = load_grammar(name)
    derivation = random_derivation(g, random.Random(seed), max_rules=max_rules)
    s = g.to_smiles(derivation)
    assert g.parse(s) == derivation, s
    assert g.stack_after(derivation) == []


@settings(max_examples=200, deadline=None, derandomize=True)
@given(text=st.text(alphabet="CNOSclnos()[]=#+-123456789%@H/\\.", max_size=40))
def test_the_parser_accepts_or_raises_a_grammar_error_never_anything_else(text: str) -> None:
    """Arbitrary strings over SMILES characters: a derivation that decodes back to the string, or a GrammarError."""
    from grammar import GrammarError

    g = load_grammar("smiles")
    try:
        rules = g.parse(text)
    except GrammarError:
        return
    assert g.to_smiles(rules) == text
