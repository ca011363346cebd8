"""Per-rule tables of the semantic machine, derived from a Kekulé grammar's rule text.

The machine (:mod:`molgen.masking.semantic`) needs to know, for every production rule, which
semantic event it is (an atom with a valence capacity, a chain or ring bond of some order, a ring
label, the start or end of a branch, …). All of it is read from the grammar: the structural rules
by their text, atoms and labels by their terminals. A grammar that lacks the structure the
machine relies on (``grammar/grammars/kekule.cfg``'s non-terminals) is refused with the reason.

Valence capacities come from :data:`MAX_VALENCE`, a chemist's table of the most bonds an element
takes at a charge (the largest valence RDKit accepts, capped where RDKit's allowance is not
chemistry: hypervalent halogens are left out), minus the bracket atom's explicit hydrogens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from grammar import Grammar

#: (element, formal charge) -> the most bond orders the atom may carry (hydrogens included).
MAX_VALENCE: dict[tuple[str, int], int] = {
    ("H", 0): 1,
    ("B", 0): 3, ("B", -1): 4,
    ("C", 0): 4, ("C", -1): 3, ("C", 1): 3,
    ("N", 0): 3, ("N", 1): 4, ("N", -1): 2,
    ("O", 0): 2, ("O", 1): 3, ("O", -1): 1,
    ("P", 0): 5, ("P", 1): 4,
    ("S", 0): 6, ("S", 1): 3, ("S", -1): 1,
    ("F", 0): 1, ("Cl", 0): 1, ("Br", 0): 1, ("I", 0): 1,
    ("Si", 0): 4, ("Se", 0): 2,
}

# event kinds of rules (column "kind" of the tables)
(OTHER, SMILES_END, SMILES_DOT, CHAIN_END, CHAIN_MORE, CHAIN_BOND, BA_ATOM, BA_TAIL, TAIL_RING, TAIL_RING_MORE,
 TAIL_BRANCH, TAIL_BRANCH_MORE, RINGBOND, RINGBOND_BOND, BRANCH, BRANCH_BOND, CLOSE, BOND, RBOND, LABEL, ATOM,
 PAD) = range(22)

STRUCTURE = {
    "smiles -> chain": SMILES_END,
    "smiles -> chain '.' smiles": SMILES_DOT,
    "chain -> branched_atom": CHAIN_END,
    "chain -> branched_atom chain": CHAIN_MORE,
    "chain -> branched_atom bond chain": CHAIN_BOND,
    "branched_atom -> atom": BA_ATOM,
    "branched_atom -> atom tail": BA_TAIL,
    "tail -> ringbond": TAIL_RING,
    "tail -> ringbond tail": TAIL_RING_MORE,
    "tail -> branch": TAIL_BRANCH,
    "tail -> branch tail": TAIL_BRANCH_MORE,
    "ringbond -> ring_label": RINGBOND,
    "ringbond -> rbond ring_label": RINGBOND_BOND,
    "branch -> '(' chain close": BRANCH,
    "branch -> '(' bond chain close": BRANCH_BOND,
    "close -> ')'": CLOSE,
}
BOND_ORDER = {"-": 1, "=": 2, "#": 3}
#: the non-terminals the machine reads (their ids index ``Grammar.nonterminals``)
NONTERMINALS = ("smiles", "chain", "branched_atom", "tail", "ringbond", "branch", "close", "bond", "rbond",
                "ring_label", "atom")
#: non-terminals that can still create an atom able to close an open ring (a host for closures)
HOSTS = ("chain", "branched_atom", "tail", "branch")
#: steps the finishing policy may need to close rings: while any ring is open, a two-atom branch
#: that can reach rings opened at the current atom (RING_BASE_COST), and per open ring of bond
#: order 1, 2, 3 its closure (3 steps) plus its share of the extra host atoms that valence may
#: call for (RING_COST; index 0 unused). Two rings opened on one atom cannot close on one atom
#: (that would be a double bond twice), so every ring after the first of an opener gets a host of
#: its own (SHARED_OPENER_COST). The fuzz tests check that these bound what finishing takes.
RING_BASE_COST = 12
RING_COST = (0, 5, 8, 9)
SHARED_OPENER_COST = 9
#: static weight of each non-terminal in the length estimate: the steps the finishing policy
#: spends on it (a tail may have to become a one-atom branch: 6). A pending ring operation that
#: would have to open a ring adds that ring's cost on top (SemanticMachine._estimate).
WEIGHT = {"smiles": 4, "chain": 3, "branched_atom": 2, "atom": 1, "bond": 1, "rbond": 1, "close": 1,
          "ring_label": 1, "ringbond": 2, "branch": 5, "tail": 6, "Nothing": 0}

_ATOM = re.compile(r"^\[?(?P<el>[A-Z][a-z]?)(?P<h>H\d?)?(?P<q>[+-])?\]?$")


class UnsupportedGrammar(ValueError):
    """The grammar lacks the structure the semantic machine needs."""


def atom_capacity(text: str) -> int:
    """Bonds an atom written ``text`` (``C``, ``Cl``, ``[NH3+]``) can still take: MAX_VALENCE - explicit H."""
    m = _ATOM.match(text)
    if m is None:
        raise UnsupportedGrammar(f"atom {text!r} is not an organic-subset or [element H charge] atom")
    el, h, q = m.group("el"), m.group("h"), m.group("q")
    charge = {"+": 1, "-": -1, None: 0}[q]
    if (el, charge) not in MAX_VALENCE:
        raise UnsupportedGrammar(f"atom {text!r}: no valence for {el} with charge {charge:+d} in MAX_VALENCE")
    hydrogens = 0 if not h else (1 if h == "H" else int(h[1:]))
    if not text.startswith("["):
        hydrogens = 0  # organic subset: implicit hydrogens fill what the bonds leave
    return MAX_VALENCE[(el, charge)] - hydrogens


@dataclass(frozen=True)
class SemanticTables:
    """Everything the machine needs per rule and per non-terminal, as NumPy arrays."""

    kind: np.ndarray        # (R,) event kind (constants above)
    order: np.ndarray       # (R,) bond order of BOND/RBOND rules, else 0
    label: np.ndarray       # (R,) ring label index of LABEL rules, else -1
    capacity: np.ndarray    # (R,) valence capacity of ATOM rules, else 0
    weight_delta: np.ndarray  # (R,) change of the stack weight when the rule is applied
    host_delta: np.ndarray  # (R,) change of the number of host non-terminals on the stack
    nt_weight: np.ndarray   # (N,) weight of each non-terminal
    nt_host: np.ndarray     # (N,) 1 for host non-terminals
    nt: dict[str, int]      # non-terminal name -> id
    n_labels: int
    label_rules: np.ndarray  # (L,) rule id of each label
    bond_rules: np.ndarray   # (4,) rule id of the chain bond of order 1..3 (index 0 unused, -1)
    rbond_rules: np.ndarray  # (4,) rule id of the ring bond of order 1..3
    atom_rules: np.ndarray   # (n_atoms,) rule ids of the atoms
    rule_of_kind: dict[int, int]  # structural kind -> its rule id

    @classmethod
    def from_grammar(cls, g: Grammar) -> "SemanticTables":
        """Read the tables from ``g``; :class:`UnsupportedGrammar` if it is not Kekulé-shaped."""
        missing = [n for n in NONTERMINALS if n not in g.nonterminals]
        if missing:
            raise UnsupportedGrammar(f"grammar {g.name!r} has no non-terminal(s) {', '.join(missing)}: semantic "
                                     "constraints need a Kekulé grammar such as 'kekule'")
        nt = {name: g.nonterminals.index(name) for name in NONTERMINALS}
        R = g.n_rules
        kind = np.zeros(R, dtype=np.int64)
        order = np.zeros(R, dtype=np.int64)
        label = np.full(R, -1, dtype=np.int64)
        capacity = np.zeros(R, dtype=np.int64)
        rule_of_kind: dict[int, int] = {}
        labels: list[int] = []
        bond_rules = np.full(4, -1, dtype=np.int64)
        rbond_rules = np.full(4, -1, dtype=np.int64)
        atoms: list[int] = []
        for r, text in enumerate(g.rules):
            if r == g.pad_rule:
                kind[r] = PAD
                continue
            lhs = g.nonterminals[int(g.lhs[r])]
            terms = "".join(s for s in g.rhs_symbols[r] if isinstance(s, str))
            if text in STRUCTURE:
                kind[r] = STRUCTURE[text]
                rule_of_kind[kind[r]] = r
            elif lhs in ("bond", "rbond"):
                if terms not in BOND_ORDER:
                    raise UnsupportedGrammar(f"rule {text!r}: the machine knows the bonds {', '.join(BOND_ORDER)}")
                kind[r] = BOND if lhs == "bond" else RBOND
                order[r] = BOND_ORDER[terms]
                (bond_rules if lhs == "bond" else rbond_rules)[order[r]] = r
            elif lhs == "ring_label":
                kind[r] = LABEL
                label[r] = len(labels)
                labels.append(r)
            elif lhs == "atom":
                kind[r] = ATOM
                capacity[r] = atom_capacity(terms)
                atoms.append(r)
            elif lhs in NONTERMINALS:
                raise UnsupportedGrammar(f"rule {text!r} is not one the semantic machine knows")
        absent = [t for t, k in STRUCTURE.items() if k not in rule_of_kind]
        if absent:
            raise UnsupportedGrammar(f"grammar {g.name!r} lacks the rule(s) {'; '.join(absent)}")
        if not labels or not atoms or (bond_rules[1:] < 0).any() or (rbond_rules[1:] < 0).any():
            raise UnsupportedGrammar(f"grammar {g.name!r} needs ring labels, atoms and the bonds - = #")
        nt_weight = np.array([WEIGHT.get(name, 0) for name in g.nonterminals], dtype=np.int64)
        nt_host = np.array([name in HOSTS for name in g.nonterminals], dtype=np.int64)
        lhs = g.lhs
        weight_delta = np.array([nt_weight[list(g.rhs_nonterminals[r])].sum() - nt_weight[lhs[r]]
                                 for r in range(R)], dtype=np.int64)
        host_delta = np.array([nt_host[list(g.rhs_nonterminals[r])].sum() - nt_host[lhs[r]] for r in range(R)],
                              dtype=np.int64)
        weight_delta[g.pad_rule] = host_delta[g.pad_rule] = 0
        return cls(kind, order, label, capacity, weight_delta, host_delta, nt_weight, nt_host, nt, len(labels),
                   np.array(labels, dtype=np.int64), bond_rules, rbond_rules, np.array(atoms, dtype=np.int64),
                   rule_of_kind)


def is_kekule_grammar(name: str) -> bool:
    """Whether the shipped grammar ``name`` has the structure the semantic machine needs."""
    from grammar import load_grammar

    try:
        SemanticTables.from_grammar(load_grammar(name))
    except UnsupportedGrammar:
        return False
    return True
