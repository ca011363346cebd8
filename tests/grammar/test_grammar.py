"""Grammar object, tables, named edge cases, error messages, tokenizer, decoding."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

from grammar import GRAMMAR_NAMES, Grammar, GrammarError, grammar_text, load_grammar, tokenize
from grammar.parser import GenericParser, SmilesParser, ZincParser
from grammar.testing import nltk_derivations


@pytest.fixture(scope="module")
def smiles_grammar() -> Grammar:
    return load_grammar("smiles")


@pytest.fixture(scope="module")
def zinc_grammar() -> Grammar:
    return load_grammar("gvae-zinc")


# ------------------------------------------------------------------ grammar object and tables


def test_imports_neither_torch_nor_molgen() -> None:
    code = "import sys, grammar; grammar.load_grammar('smiles').parse('CCO'); print(sorted(m for m in ('torch', 'molgen') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_gvae_zinc_is_the_original_76_rule_grammar(zinc_grammar: Grammar) -> None:
    g = zinc_grammar
    assert g.n_rules == 76
    assert g.rules[0] == "smiles -> chain"
    assert g.rules[-1] == "Nothing -> None" and g.pad_rule == 75
    assert g.nonterminals == [
        "smiles", "atom", "aliphatic_organic", "aromatic_organic", "bracket_atom", "BAI", "BAC", "BAH",
        "BACH", "symbol", "isotope", "DIGIT", "chiral", "hcount", "charge", "bond", "ringbond",
        "branched_atom", "RB", "BB", "branch", "chain", "Nothing",
    ]  # fmt: skip
    assert g.start == 0 and g.pad_nonterminal == 22 and g.max_rhs == 3
    # the original zeroed mask columns 29 and 31 by hand: they mention the undefined `class`
    masked = [g.rules[r] for r in range(g.n_rules) if not g.mask[:, r].any()]
    assert masked == ["BACH -> charge class", "BACH -> class"]
    assert g.rules.index("BACH -> charge class") == 29 and g.rules.index("BACH -> class") == 31
    assert "bond -> '\\\\'" in g.rules  # the backslash bond is a single-character terminal
    assert "\\" in g.terminals


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_tables_are_consistent(name: str) -> None:
    g = load_grammar(name)
    assert g.lhs.shape == (g.n_rules,) and g.lhs.dtype == np.int64
    assert g.mask.shape == (len(g.nonterminals), g.n_rules) and g.mask.dtype == bool
    assert g.mask.sum(axis=0).max() == 1  # each rule has one left-hand side
    for r in np.flatnonzero(g.mask.any(axis=0)):
        assert g.mask[g.lhs[r], r]
    assert g.nonterminals[g.pad_nonterminal] == "Nothing"
    assert np.flatnonzero(g.mask[g.pad_nonterminal]).tolist() == [g.pad_rule]
    assert g.rules[g.pad_rule] == "Nothing -> None" and g.rhs_nonterminals[g.pad_rule] == ()
    assert g.max_rhs == max(len(r) for r in g.rhs_nonterminals)
    assert len(g.rhs_nonterminals) == g.n_rules
    assert all(0 <= s < len(g.nonterminals) for rhs in g.rhs_nonterminals for s in rhs)
    assert len(g.hash) == 64 and int(g.hash, 16) >= 0


def test_smiles_grammar_size_is_moderate(smiles_grammar: Grammar) -> None:
    assert 150 <= smiles_grammar.n_rules <= 210
    assert smiles_grammar.mask.any(axis=0).all()  # no dead rules


def test_hash_is_stable_and_tracks_rules() -> None:
    text = grammar_text("gvae-zinc")
    a, b = Grammar.from_text(text, name="a"), Grammar.from_text(text, name="b")
    assert a.hash == b.hash
    expected = hashlib.sha256(("\n".join(a.rules) + "\n").encode()).hexdigest()
    assert a.hash == expected
    changed = Grammar.from_text(text.replace("DIGIT -> '8'\n", "DIGIT -> '8'\nDIGIT -> '9'\n"))
    assert changed.hash != a.hash and changed.n_rules == 77


def test_pickles_as_text() -> None:
    g = load_grammar("smiles")
    copy = pickle.loads(pickle.dumps(g))
    assert copy.hash == g.hash and copy.rules == g.rules
    assert np.array_equal(copy.mask, g.mask)
    assert copy.parse("C[C@@H](N)O") == g.parse("C[C@@H](N)O")


def test_grammar_without_pad_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="padding rule"):
        Grammar.from_text("smiles -> 'C'\nsmiles -> 'C' smiles")


def test_unknown_grammar_name() -> None:
    with pytest.raises(ValueError, match="unknown grammar"):
        load_grammar("zinc")


def test_parser_choice() -> None:
    for name, cls in (("smiles", SmilesParser), ("gvae-zinc", ZincParser)):
        g = load_grammar(name)
        g.parse("C")
        assert type(g._parser) is cls
    # same productions in another order: still the fast parser, with the new rule ids
    lines = grammar_text("gvae-zinc").strip().splitlines()
    shuffled = Grammar.from_text("\n".join([lines[0]] + lines[1:-1][::-1] + [lines[-1]]), name="shuffled")
    ids = shuffled.parse("CC(=O)Nc1ccccc1")
    assert isinstance(shuffled._parser, ZincParser)
    assert [shuffled.rules[i] for i in ids] == [load_grammar("gvae-zinc").rules[i] for i in load_grammar("gvae-zinc").parse("CC(=O)Nc1ccccc1")]


def test_custom_grammar_uses_exact_generic_parser() -> None:
    text = "smiles -> chain\nchain -> chain atom\nchain -> atom\natom -> 'C'\natom -> 'O'\natom -> 'C' 'l'\nNothing -> None"
    g = Grammar.from_text(text, name="tiny")
    for s in ["C", "CO", "ClCCl", "OCCCO"]:
        assert g.parse(s) == nltk_derivations(g, s)[0]
        assert g.to_smiles(g.parse(s)) == s
    assert isinstance(g._parser, GenericParser)
    with pytest.raises(GrammarError):
        g.parse("CN")


# --------------------------------------------------------------------------- named edge cases

# (smiles, public tokens); the smiles grammar accepts each and round-trips it
SMILES_ACCEPTS = [
    ("C[C@@H](N)O", ["C", "[C@@H]", "(", "N", ")", "O"]),
    ("N[C@H](C)C(=O)O", ["N", "[C@H]", "(", "C", ")", "C", "(", "=", "O", ")", "O"]),
    ("F/C=C/F", ["F", "/", "C", "=", "C", "/", "F"]),
    ("F/C=C\\F", ["F", "/", "C", "=", "C", "\\", "F"]),
    ("[NH4+]", ["[NH4+]"]),
    ("C[O-]", ["C", "[O-]"]),
    ("[Fe+2]", ["[Fe+2]"]),
    ("[Fe++]", ["[Fe++]"]),
    ("[O--]", ["[O--]"]),
    ("C%10CCCCCCCCC%10", ["C", "%10", "C", "C", "C", "C", "C", "C", "C", "C", "C", "%10"]),
    ("C%12CC1CC1%12", ["C", "%12", "C", "C", "1", "C", "C", "1", "%12"]),
    ("c1cc[nH]c1", ["c", "1", "c", "c", "[nH]", "c", "1"]),
    ("ClCBr", ["Cl", "C", "Br"]),
    ("[Na+].[Cl-]", ["[Na+]", ".", "[Cl-]"]),
    ("[2H]C([2H])([2H])[2H]", ["[2H]", "C", "(", "[2H]", ")", "(", "[2H]", ")", "[2H]"]),
    ("[H][H]", ["[H]", "[H]"]),
    ("[13CH4]", ["[13CH4]"]),
    ("[CH3:1][OH:12]", ["[CH3:1]", "[OH:12]"]),
    ("C(C)1CC1", ["C", "(", "C", ")", "1", "C", "C", "1"]),
    ("C=1CCC=1", ["C", "=", "1", "C", "C", "C", "=", "1"]),
    ("c1ccc2[se]ccc2c1", ["c", "1", "c", "c", "c", "2", "[se]", "c", "c", "c", "2", "c", "1"]),
    ("[Si](C)(C)(C)C", ["[Si]", "(", "C", ")", "(", "C", ")", "(", "C", ")", "C"]),
    ("[NH3]->[Pt](<-[NH3])(Cl)Cl", ["[NH3]", "->", "[Pt]", "(", "<-", "[NH3]", ")", "(", "Cl", ")", "Cl"]),
    ("F[S@OH1](F)(F)(F)(F)F", ["F", "[S@OH1]", "(", "F", ")", "(", "F", ")", "(", "F", ")", "(", "F", ")", "F"]),
    ("*c1ccccc1", ["*", "c", "1", "c", "c", "c", "c", "c", "1"]),
    ("C#N", ["C", "#", "N"]),
    ("[C-]#[O+]", ["[C-]", "#", "[O+]"]),
    ("c1ccccc1:c1ccccc1", ["c", "1", "c", "c", "c", "c", "c", "1", ":", "c", "1", "c", "c", "c", "c", "c", "1"]),
]

# (smiles, position of the caret); the smiles grammar rejects each
SMILES_REJECTS = [
    ("", 0),
    ("C1CC(", 5),
    ("C((C))", 2),
    ("CC)", 2),
    ("C=", 2),
    ("C=(C)", 2),
    ("CC(=)C", 4),
    ("C%1C", 1),
    ("[C@@@H]", 0),
    ("C..C", 2),
    ("C.", 2),
    ("(C)", 0),
    ("lC", 0),
    ("cl", 1),
    ("C l", 1),
    ("C[Xx]", 1),
    ("C[Cl", 1),
    ("[CH3:]", 0),
    ("C[N+3+]", 1),
    ("C>C", 1),
]


@pytest.mark.parametrize(("smiles", "tokens"), SMILES_ACCEPTS)
def test_smiles_grammar_accepts(smiles_grammar: Grammar, smiles: str, tokens: list[str]) -> None:
    assert tokenize(smiles) == tokens
    ids = smiles_grammar.parse(smiles)
    assert smiles_grammar.to_smiles(ids) == smiles
    assert SmilesParser.TOKEN_RE.findall(smiles) == tokens  # parser and tokenizer agree


def test_cl_is_one_atom_not_c_and_l(smiles_grammar: Grammar, zinc_grammar: Grammar) -> None:
    ids = smiles_grammar.parse("ClC")
    rules = [smiles_grammar.rules[i] for i in ids]
    assert rules.count("atom -> organic") == 2
    assert "organic -> 'C' 'l'" in rules
    zrules = [zinc_grammar.rules[i] for i in zinc_grammar.parse("ClC")]
    assert "aliphatic_organic -> 'Cl'" in zrules and zrules.count("atom -> aliphatic_organic") == 2


def test_stereo_and_charge_rules(smiles_grammar: Grammar) -> None:
    rules = [smiles_grammar.rules[i] for i in smiles_grammar.parse("C[C@@H](N)O")]
    assert "chiral -> '@' '@'" in rules and "hcount -> 'H'" in rules
    rules = [smiles_grammar.rules[i] for i in smiles_grammar.parse("[Fe+2]")]
    assert "charge -> '+' DIGIT" in rules and "DIGIT -> '2'" in rules
    rules = [smiles_grammar.rules[i] for i in smiles_grammar.parse("C%10CC%10")]
    assert rules.count("ring_label -> '%' DIGIT DIGIT") == 2


@pytest.mark.parametrize(("smiles", "position"), SMILES_REJECTS)
def test_smiles_grammar_rejects(smiles_grammar: Grammar, smiles: str, position: int) -> None:
    with pytest.raises(GrammarError) as info:
        smiles_grammar.parse(smiles)
    assert info.value.position == position
    assert info.value.smiles == smiles


ZINC_ACCEPTS = ["C[C@@H](N)O", "F/C=C/F", "[NH4+]", "C[O-]", "c1cc[nH]c1", "ClCBr", "[13CH4]", "CC(C)(C)C1CC1"]
ZINC_REJECTS = [
    ("[Na+].[Cl-]", 0),  # no sodium, no dot
    ("C.C", 1),
    ("[2H]C", 0),  # H is not an element of this grammar
    ("[H]N=c1sccn1", 0),
    ("C%10CC%10", 1),
    ("C9CC9", 1),  # ring digits 1-8 only
    ("C(C)1CC1", 4),  # ring bonds must precede branches
    ("[Fe+2]", 0),
    ("[CH3:1]C", 0),  # `class` is undefined
    ("C1CC(", 5),
]


@pytest.mark.parametrize("smiles", ZINC_ACCEPTS)
def test_zinc_grammar_accepts(zinc_grammar: Grammar, smiles: str) -> None:
    assert zinc_grammar.to_smiles(zinc_grammar.parse(smiles)) == smiles


@pytest.mark.parametrize(("smiles", "position"), ZINC_REJECTS)
def test_zinc_grammar_rejects(zinc_grammar: Grammar, smiles: str, position: int) -> None:
    with pytest.raises(GrammarError) as info:
        zinc_grammar.parse(smiles)
    assert info.value.position == position


def test_zinc_lexing_keeps_original_long_tokens(zinc_grammar: Grammar) -> None:
    assert zinc_grammar.lex("[C@@H](Cl)Br") == ["[", "C", "@@", "H", "]", "(", "Cl", ")", "Br"]
    assert zinc_grammar.lex("[C@@@H]") == ["[", "C", "@@", "@", "H", "]"]
    with pytest.raises(GrammarError) as info:
        zinc_grammar.lex("CC%")
    assert info.value.position == 2


def test_error_message_has_caret_and_expectation(smiles_grammar: Grammar) -> None:
    with pytest.raises(GrammarError) as info:
        smiles_grammar.parse("CC(=)C")
    lines = str(info.value).splitlines()
    assert lines[0] == "cannot parse SMILES at position 4: expected an atom, got ')'"
    assert lines[1] == "  CC(=)C"
    assert lines[2] == "      ^"
    assert info.value.expected == "an atom" and info.value.got == "got ')'"
    with pytest.raises(GrammarError, match="got end of input"):
        smiles_grammar.parse("C1CC(")
    assert isinstance(info.value, ValueError)


# ------------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize(
    ("smiles", "tokens"),
    [
        ("CCl", ["C", "Cl"]),
        ("BrC", ["Br", "C"]),
        ("C%10C%10", ["C", "%10", "C", "%10"]),
        ("[C@@H]", ["[C@@H]"]),
        ("C->[Fe]", ["C", "->", "[Fe]"]),
        ("C-C", ["C", "-", "C"]),
    ],
)
def test_tokenize(smiles: str, tokens: list[str]) -> None:
    assert tokenize(smiles) == tokens
    assert "".join(tokenize(smiles)) == smiles


@pytest.mark.parametrize(("smiles", "position"), [("CXC", 1), ("C%1", 1), ("C[N", 1), ("C l", 1), ("C١", 1)])
def test_tokenize_rejects(smiles: str, position: int) -> None:
    with pytest.raises(GrammarError) as info:
        tokenize(smiles)
    assert info.value.position == position


def test_tokenizer_joins_back_on_data(train_smiles: list[str]) -> None:
    for s in train_smiles:
        assert "".join(tokenize(s)) == s
        assert tokenize(s) == SmilesParser.TOKEN_RE.findall(s)
        assert "l" not in tokenize(s) and "r" not in tokenize(s)


# -------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_to_smiles_ignores_trailing_padding(name: str, as_input) -> None:
    g = load_grammar(name)
    smiles = as_input(name, "CC(=O)Nc1ccc(O)cc1")
    ids = g.parse(smiles)
    assert g.to_smiles(ids + [g.pad_rule] * 10) == smiles
    assert g.to_smiles(np.array(ids + [g.pad_rule], dtype=np.int16)) == smiles
    assert g.is_complete(ids) and g.is_complete(ids + [g.pad_rule])
    assert not g.is_complete(ids[:-1])


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_to_smiles_rejects_invalid_derivations(name: str) -> None:
    g = load_grammar(name)
    ids = g.parse("CCO")
    with pytest.raises(GrammarError, match="incomplete"):
        g.to_smiles(ids[:-2])
    with pytest.raises(GrammarError, match="expanding 'smiles'"):
        g.to_smiles(ids[1:])
    with pytest.raises(GrammarError, match="out of range"):
        g.to_smiles([g.n_rules])
    with pytest.raises(GrammarError):
        g.to_smiles([g.pad_rule] + ids)  # padding before the molecule
    with pytest.raises(GrammarError, match="padding after"):
        g.to_smiles(ids + [ids[0]])
    with pytest.raises(GrammarError):
        g.to_smiles([])


def test_masked_rule_is_refused(zinc_grammar: Grammar) -> None:
    g = zinc_grammar
    ids = g.parse("[O-]")
    charge = g.rule_id("BACH -> charge")
    bad = [g.rule_id("BACH -> charge class") if r == charge else r for r in ids]
    with pytest.raises(GrammarError):
        g.to_smiles(bad)
    with pytest.raises(GrammarError):
        g.stack_after(bad)


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_stack_after_follows_the_derivation(name: str) -> None:
    g = load_grammar(name)
    ids = g.parse("CC(N)=O")
    assert g.stack_after([]) == [g.start]
    first = g.stack_after(ids[:1])
    assert first == list(reversed(g.rhs_nonterminals[ids[0]]))
    # at every step the next rule expands the nonterminal on top of the stack
    for k in range(len(ids)):
        stack = g.stack_after(ids[:k])
        assert stack and g.lhs[ids[k]] == stack[-1]
        assert g.mask[stack[-1], ids[k]]
    assert g.stack_after(ids) == []
    assert g.stack_after(ids + [g.pad_rule] * 3) == []


def test_stack_after_smiles_example(smiles_grammar: Grammar) -> None:
    g = smiles_grammar
    nt = g.nonterminals.index
    ids = g.parse("CO")
    # smiles -> chain; chain -> branched_atom chain; branched_atom -> atom; atom -> organic
    assert g.stack_after(ids[:1]) == [nt("chain")]
    assert g.stack_after(ids[:2]) == [nt("chain"), nt("branched_atom")]
    assert g.stack_after(ids[:4]) == [nt("chain"), nt("organic")]
    assert g.stack_after(ids[:5]) == [nt("chain")]


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_edge_cases_same_as_nltk_and_unambiguous(name: str) -> None:
    g = load_grammar(name)
    strings = [s for s, _ in SMILES_ACCEPTS] + [s for s, _ in SMILES_REJECTS] + ZINC_ACCEPTS + [s for s, _ in ZINC_REJECTS]
    for s in strings:
        ref = nltk_derivations(g, s, limit=3)
        assert len(ref) <= 1, s
        try:
            mine = g.parse(s)
        except GrammarError:
            mine = None
        assert mine == (ref[0] if ref else None), s
