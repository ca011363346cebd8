"""Filters for molecule libraries: rule presets, property ranges, expressions, SMARTS, similarity.

A :class:`FilterSpec` compiles into a list of independent tests ("predicates"), each knowing
which property columns it needs and what they cost, cheapest first. :func:`apply_filters`
runs them on a properties table; :func:`molgen.screening.filter_file` streams a file through
them, computing an expensive column only for the molecules still in the running, with the
same result.

Presets (all bounds inclusive):

* ``lipinski`` – rule of five (Lipinski et al., Adv. Drug Deliv. Rev. 1997): MW ≤ 500,
  cLogP ≤ 5, HBD ≤ 5, HBA ≤ 10; one violation allowed, as conventionally applied.
* ``veber`` – Veber et al., J. Med. Chem. 2002: rotatable bonds ≤ 10 and TPSA ≤ 140.
* ``ghose`` – Ghose et al., J. Comb. Chem. 1999: cLogP −0.4…5.6, MR 40…130, MW 160…480,
  20…70 atoms (hydrogens included).
* ``lead-like`` – ZINC lead-like (Irwin & Shoichet, J. Chem. Inf. Model. 2005, after Teague
  et al. 1999): MW 250…350, cLogP ≤ 3.5, rotatable bonds ≤ 7 (ZINC used XlogP; we use Crippen).
  MOSES's source set (ZINC Clean Leads) was selected with this rule.
* ``pains-free`` / ``brenk-free`` / ``nih-free`` – no PAINS A/B/C (Baell & Holloway 2010),
  Brenk (Brenk et al. 2008) or NIH MLSMR (Jadhav et al. 2010) alert in RDKit's FilterCatalog.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from rdkit import Chem

from molgen.chem import expr
from molgen.chem.mol import Mol, quiet_rdkit, to_mol
from molgen.chem.properties import BOOL_COLUMNS, COST, SCALAR_COLUMNS
from molgen.errors import UsageError


@dataclass(frozen=True)
class PresetRule:
    """A named rule set written in the expression language, with its source."""

    expression: str
    description: str


PRESETS: dict[str, PresetRule] = {
    "lipinski": PresetRule("lipinski_violations <= 1", "Lipinski rule of five, at most 1 violation (Lipinski 1997)"),
    "veber": PresetRule("rotatable_bonds <= 10 and tpsa <= 140", "rotatable bonds <= 10, TPSA <= 140 (Veber 2002)"),
    "ghose": PresetRule(
        "logp between -0.4 and 5.6 and mr between 40 and 130 and mw between 160 and 480 and atoms between 20 and 70",
        "cLogP -0.4..5.6, MR 40..130, MW 160..480, 20..70 atoms (Ghose 1999)",
    ),
    "lead-like": PresetRule(
        "mw between 250 and 350 and logp <= 3.5 and rotatable_bonds <= 7",
        "MW 250..350, cLogP <= 3.5, rotatable bonds <= 7 (ZINC lead-like, Irwin & Shoichet 2005)",
    ),
    "pains-free": PresetRule("not pains", "no PAINS A/B/C alert (Baell & Holloway 2010)"),
    "brenk-free": PresetRule("not brenk", "no Brenk alert (Brenk 2008)"),
    "nih-free": PresetRule("not nih", "no NIH MLSMR alert (Jadhav 2010)"),
}

#: Column name -> expression type, for everything the language can refer to.
COLUMN_TYPES: dict[str, str] = {
    **{c: expr.NUM for c in SCALAR_COLUMNS},
    **{c: expr.BOOL for c in BOOL_COLUMNS},
}


def preset_nodes() -> dict[str, expr.Node]:
    """Presets parsed into expression nodes, keyed by their expression name (``lead_like``)."""
    return {
        name.replace("-", "_"): expr.parse_expression(rule.expression, COLUMN_TYPES)
        for name, rule in PRESETS.items()
    }


def parse_range(text: str) -> tuple[str, float | None, float | None]:
    """``"mw=200:500"`` / ``"qed=0.6:"`` / ``"logp=:3"`` -> ``(column, low, high)``, inclusive."""
    name, sep, bounds = text.partition("=")
    name = name.strip().lower()
    if not sep or ":" not in bounds:
        raise UsageError(f"bad range {text!r}; write PROPERTY=LOW:HIGH, e.g. mw=200:500, qed=0.6: or logp=:5")
    if COLUMN_TYPES.get(name) != expr.NUM:
        numeric = sorted(c for c, t in COLUMN_TYPES.items() if t == expr.NUM)
        close = difflib.get_close_matches(name, numeric, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; choose from {', '.join(numeric)}"
        raise UsageError(f"bad range {text!r}: unknown numeric property {name!r}{hint}")
    lo_txt, hi_txt = (b.strip() for b in bounds.split(":", 1))
    try:
        lo = float(lo_txt) if lo_txt else None
        hi = float(hi_txt) if hi_txt else None
    except ValueError:
        raise UsageError(f"bad range {text!r}: bounds must be numbers") from None
    if any(b is not None and not math.isfinite(b) for b in (lo, hi)):
        raise UsageError(f"bad range {text!r}: bounds must be finite numbers (leave a side empty for no bound)")
    if lo is None and hi is None:
        raise UsageError(f"bad range {text!r}: give a lower bound, an upper bound or both")
    if lo is not None and hi is not None and lo > hi:
        raise UsageError(f"bad range {text!r}: low bound {lo:g} is above high bound {hi:g}")
    return name, lo, hi


@dataclass
class FilterSpec:
    """What to keep. Every part must hold (they are and-ed); an empty spec keeps every valid molecule.

    ``ranges`` are ``PROPERTY=LOW:HIGH`` strings or ``(column, low, high)`` tuples;
    ``smarts_include``: every pattern must match; ``smarts_exclude``: none may match;
    ``similar_to``: reference SMILES, kept if the max Tanimoto (Morgan r=2, 2048 bits) to
    them is ≥ ``min_similarity`` (adds a ``similarity`` column); ``extra_numeric``: further
    numeric columns of the table the expression may name (the dashboard's ``nn_similarity``…).
    """

    presets: list[str] = field(default_factory=list)
    ranges: list[str | tuple[str, float | None, float | None]] = field(default_factory=list)
    expression: str | None = None
    smarts_include: list[str] = field(default_factory=list)
    smarts_exclude: list[str] = field(default_factory=list)
    similar_to: list[str] = field(default_factory=list)
    min_similarity: float = 0.4
    extra_numeric: list[str] = field(default_factory=list)

    def compile(self) -> "CompiledFilter":
        """Validate the spec and turn it into predicates, cheapest first (UsageError if invalid)."""
        return compile_spec(self)


@dataclass
class Predicate:
    """One test over a chunk: the columns it needs, their cost, and the test itself.

    ``test(frame, mols)`` gets a frame holding ``columns`` for the candidate rows and their
    molecules, and returns a boolean array.
    """

    label: str
    columns: frozenset[str]
    test: Callable[[pd.DataFrame, Sequence[Mol]], np.ndarray]
    extra_cost: float = 0.0

    @property
    def cost(self) -> float:
        return self.extra_cost + sum(COST.get(c, 10) for c in self.columns)


def _expr_predicate(node: expr.Node, label: str) -> Predicate:
    return Predicate(label, frozenset(node.columns()), lambda df, mols: node.evaluate(df).to_numpy(dtype=bool))


def _smarts_predicate(pattern: str, include: bool) -> Predicate:
    with quiet_rdkit():
        query = Chem.MolFromSmarts(pattern)
    if query is None:
        flag = "--smarts-include" if include else "--smarts-exclude"
        raise UsageError(f"{flag}: invalid SMARTS {pattern!r}")

    def test(df: pd.DataFrame, mols: Sequence[Mol]) -> np.ndarray:
        hits = np.fromiter((m.HasSubstructMatch(query) for m in mols), dtype=bool, count=len(mols))
        return hits if include else ~hits

    return Predicate(f"{'has' if include else 'lacks'} {pattern}", frozenset(), test, extra_cost=30)


class SimilarityTest:
    """Max Tanimoto to reference molecules; keeps the values for the ``similarity`` column."""

    def __init__(self, references: Sequence[str], threshold: float):
        from molgen.chem.fingerprints import fingerprints

        fps = fingerprints(references)
        bad = [s for s, f in zip(references, fps) if f is None]
        if bad:
            raise UsageError(f"--similar-to: invalid SMILES {bad[0]!r}")
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"--min-sim must be between 0 and 1, got {threshold}")
        self.reference = fps
        self.threshold = threshold

    def similarities(self, mols: Sequence[Mol]) -> np.ndarray:
        from molgen.chem.fingerprints import fingerprints, tanimoto_max_to_reference

        return tanimoto_max_to_reference(fingerprints(mols), self.reference)


@dataclass
class CompiledFilter:
    """A validated spec: predicates sorted cheapest first, and the similarity test if any."""

    predicates: list[Predicate]
    similarity: SimilarityTest | None = None


def compile_spec(spec: FilterSpec) -> CompiledFilter:
    """Compile ``spec``. Raises :class:`UsageError` saying what is wrong and what to do."""
    presets = preset_nodes()
    preds: list[Predicate] = []
    for name in spec.presets:
        key = name.strip().lower().replace("_", "-")
        if key not in PRESETS:
            close = difflib.get_close_matches(key, PRESETS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(f"unknown preset {name!r}; {hint}available: {', '.join(PRESETS)}")
        for part in expr.conjuncts(presets[key.replace("-", "_")]):
            preds.append(_expr_predicate(part, f"{key}: {part}"))
    for r in spec.ranges:
        col, lo, hi = parse_range(r) if isinstance(r, str) else r
        node_parts: list[expr.Node] = []
        column = expr.Column(col, expr.NUM)
        if lo is not None:
            node_parts.append(expr.Compare(">=", column, expr.Number(lo)))
        if hi is not None:
            node_parts.append(expr.Compare("<=", column, expr.Number(hi)))
        for part in node_parts:
            preds.append(_expr_predicate(part, f"range {part}"))
    names = {**{c: expr.NUM for c in spec.extra_numeric}, **COLUMN_TYPES}
    sim = SimilarityTest(spec.similar_to, spec.min_similarity) if spec.similar_to else None
    if sim is not None:
        names["similarity"] = expr.NUM
        node = expr.Compare(">=", expr.Column("similarity", expr.NUM), expr.Number(sim.threshold))
        preds.append(_expr_predicate(node, f"similarity >= {sim.threshold:g}"))
    if spec.expression is not None and spec.expression.strip():
        tree = expr.parse_expression(spec.expression, names, presets)
        for part in expr.conjuncts(tree):
            preds.append(_expr_predicate(part, str(part)))
    for pattern in spec.smarts_include:
        preds.append(_smarts_predicate(pattern, True))
    for pattern in spec.smarts_exclude:
        preds.append(_smarts_predicate(pattern, False))
    preds.sort(key=lambda p: p.cost)  # stable: ties keep the user's order
    return CompiledFilter(preds, sim)


def apply_filters(df: pd.DataFrame, spec: FilterSpec | CompiledFilter, smiles_col: str = "smiles") -> pd.Series:
    """Boolean mask of the rows of a properties table (from ``compute_properties``) that
    pass ``spec``; invalid rows never pass. The table needs the columns the spec refers to."""
    compiled = compile_spec(spec) if isinstance(spec, FilterSpec) else spec
    preds, sim = compiled.predicates, compiled.similarity
    needed = set().union(*(p.columns for p in preds)) if preds else set()
    if sim is not None:
        needed.discard("similarity")
    missing = sorted(needed - set(df.columns))
    if missing:
        raise ValueError(f"the table lacks columns {', '.join(missing)}; compute them with compute_properties")
    valid = df["valid"].to_numpy(dtype=bool, copy=True) if "valid" in df.columns else np.ones(len(df), dtype=bool)
    frame = df
    mols: list[Mol] = []
    if sim is not None or any(not p.columns for p in preds):
        with quiet_rdkit():
            mols_all = [to_mol(str(s)) if ok else None for s, ok in zip(df[smiles_col], valid)]
        valid &= np.array([m is not None for m in mols_all], dtype=bool)
        mols = [m if m is not None else Chem.Mol() for m in mols_all]
        if sim is not None:
            frame = df.assign(similarity=sim.similarities(mols))
    mask = valid.copy()
    for p in preds:
        mask &= p.test(frame, mols)
    return pd.Series(mask, index=df.index, name="keep")
