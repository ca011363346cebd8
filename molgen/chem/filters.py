"""Filters for molecule libraries: rule presets, property ranges, expressions, SMARTS, similarity.

A :class:`FilterSpec` compiles into a list of independent tests ("predicates"), each knowing
which property columns it needs and what they cost. :func:`filter_file` streams the input
in chunks over worker processes and, inside a chunk, runs the cheap tests first and computes
an expensive column (QED, structural alerts) only for the molecules still in the running;
kept molecules then get every output column. The result is identical to computing
everything and filtering afterwards (:func:`apply_filters` does exactly that on a table).

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
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from rdkit import Chem

from molgen.chem import expr
from molgen.chem.mol import Mol, quiet_rdkit, to_mol
from molgen.chem.properties import (
    ALERT_COLUMNS,
    BOOL_COLUMNS,
    COST,
    SCALAR_COLUMNS,
    MolProperties,
    frame_from_rows,
    mp_context,
    resolve_jobs,
    warm_up,
)
from molgen.data.readers import ReadReport
from molgen.errors import UsageError

log = logging.getLogger("molgen.filter")


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
    them is ≥ ``min_similarity`` (adds a ``similarity`` column).
    """

    presets: list[str] = field(default_factory=list)
    ranges: list[str | tuple[str, float | None, float | None]] = field(default_factory=list)
    expression: str | None = None
    smarts_include: list[str] = field(default_factory=list)
    smarts_exclude: list[str] = field(default_factory=list)
    similar_to: list[str] = field(default_factory=list)
    min_similarity: float = 0.4

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
    names = dict(COLUMN_TYPES)
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


# --------------------------------------------------------------------------- streaming


@dataclass
class ChunkResult:
    """What one chunk produced: kept rows and the counts/rejects behind them."""

    kept: pd.DataFrame
    n_records: int
    n_invalid: int
    examples: list[tuple[int, str]]


def _output_columns(alerts: bool) -> list[str]:
    return list(SCALAR_COLUMNS) + (list(ALERT_COLUMNS) if alerts else [])


def run_chunk(records: Sequence, compiled: CompiledFilter, with_names: bool, standardize: bool = False,
              alerts: bool = True) -> ChunkResult:
    """Parse, test and describe one chunk of :class:`~molgen.data.Record` s (runs in a worker).

    Tests run cheapest first on the molecules still alive; a column is computed only when a
    test needs it, and every output column only for the kept molecules.
    """
    preds, sim = compiled.predicates, compiled.similarity
    from molgen.data.readers import parse_record

    mols: list[Mol] = []
    lines: list[int] = []
    names: list[str | None] = []
    examples: list[tuple[int, str]] = []
    n_invalid = 0
    with quiet_rdkit():
        for rec in records:
            mol, reason = parse_record(rec, standardize)
            if mol is None:
                n_invalid += 1
                if len(examples) < 10:
                    examples.append((rec.line, reason or "invalid"))
                continue
            mols.append(mol)
            lines.append(rec.line)
            names.append(rec.name)
        props = [MolProperties(m) for m in mols]
        alive = np.arange(len(mols))
        similarity = np.full(len(mols), np.nan)
        for p in preds:
            if len(alive) == 0:
                break
            cols = {c: [props[i].get(c) for i in alive] for c in sorted(p.columns) if c != "similarity"}
            frame = frame_from_rows(cols) if cols else pd.DataFrame(index=range(len(alive)))
            if "similarity" in p.columns and sim is not None:
                todo = alive[np.isnan(similarity[alive])]
                similarity[todo] = sim.similarities([mols[i] for i in todo])
                frame["similarity"] = similarity[alive]
            keep = p.test(frame, [mols[i] for i in alive])
            alive = alive[np.asarray(keep, dtype=bool)]
        out_cols = _output_columns(alerts)
        data: dict[str, list] = {"smiles": [Chem.MolToSmiles(mols[i]) for i in alive]}
        if with_names:
            data["name"] = [names[i] for i in alive]
        for c in out_cols:
            data[c] = [props[i].get(c) for i in alive]
    kept = frame_from_rows(data)
    if sim is not None:
        kept["similarity"] = similarity[alive]
    return ChunkResult(kept, len(records), n_invalid, examples)


_WORKER: dict = {}


def _init_worker(spec: FilterSpec, standardize: bool, alerts: bool) -> None:
    # Each worker compiles the spec itself: RDKit query molecules do not cross processes.
    _WORKER.update(compiled=compile_spec(spec), standardize=standardize, alerts=alerts)


def _work(args: tuple[list, bool]) -> ChunkResult:
    records, with_names = args
    return run_chunk(records, _WORKER["compiled"], with_names, _WORKER["standardize"], _WORKER["alerts"])


def _chunks(records: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class FilterResult:
    """Counts of a :func:`filter_file` run."""

    n_records: int
    n_invalid: int
    n_kept: int
    seconds: float
    report: ReadReport

    @property
    def n_rejected(self) -> int:
        """Valid molecules that failed a test."""
        return self.n_records - self.n_invalid - self.n_kept

    def summary(self) -> str:
        return (
            f"{self.n_records:,} records: kept {self.n_kept:,}, rejected {self.n_rejected:,}, "
            f"invalid {self.n_invalid:,} ({self.seconds:.1f} s, {self.n_records / max(self.seconds, 1e-9):,.0f} mol/s)"
        )


def filter_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    spec: FilterSpec,
    column: str | None = None,
    n_jobs: int | None = None,
    chunk_size: int = 2000,
    standardize: bool = False,
    alerts: bool = True,
    progress: bool = False,
    desc: str = "filter",
) -> FilterResult:
    """Stream ``input_path`` through ``spec`` and write kept molecules with their properties.

    Chunks of ``chunk_size`` records go to ``n_jobs`` worker processes (``None`` = all cores;
    1 = in-process). At most two chunks per worker are in flight, so memory stays flat
    however large the input. Output (canonical SMILES, name when the input has names, every
    property column; alerts unless ``alerts=False``) is written atomically in input order.
    """
    from tqdm.auto import tqdm

    from molgen.data.readers import RecordReader
    from molgen.data.writers import TableWriter
    from molgen.errors import InputError

    if chunk_size < 1:
        raise UsageError(f"--chunk-size must be at least 1, got {chunk_size}")
    compiled = compile_spec(spec)  # validate in the parent so a typo fails before any work
    reader = RecordReader(input_path, column)
    jobs = resolve_jobs(n_jobs)
    report = ReadReport(str(input_path))
    n_kept = 0
    start = time.perf_counter()
    bar = tqdm(unit="mol", disable=not progress, desc=desc, mininterval=0.5)
    pool = None
    try:
        with TableWriter(output_path) as writer:
            tasks = ((chunk, reader.has_names) for chunk in _chunks(reader, chunk_size))
            if jobs == 1:
                results: Iterator[ChunkResult] = (
                    run_chunk(c, compiled, names, standardize, alerts) for c, names in tasks
                )
            else:
                warm_up(alerts or any(c in ALERT_COLUMNS for p in compiled.predicates for c in p.columns))
                pool = mp_context().Pool(jobs, initializer=_init_worker, initargs=(spec, standardize, alerts))
                results = _bounded_imap(pool, tasks, max_in_flight=2 * jobs)
            for res in results:
                report.n_records += res.n_records
                report.n_invalid += res.n_invalid
                report.n_valid += res.n_records - res.n_invalid
                for line, reason in res.examples:
                    if len(report.examples) < 10:
                        report.examples.append((str(input_path), line, reason))
                if len(res.kept) or writer.rows == 0:
                    writer.write(res.kept)
                n_kept += len(res.kept)
                bar.update(res.n_records)
            if report.n_records == 0:
                raise InputError(f"{input_path}: no molecules found (only a header, blank lines or comments)")
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    if report.n_invalid:
        # the caller gets the report in the result; the CLI prints it
        log.debug("skipped invalid records: %s", report.summary())
    return FilterResult(report.n_records, report.n_invalid, n_kept, time.perf_counter() - start, report)


def _bounded_imap(pool, tasks: Iterable, max_in_flight: int) -> Iterator[ChunkResult]:
    """Ordered ``imap`` that reads ahead at most ``max_in_flight`` chunks.

    ``Pool.imap`` consumes its input iterator as fast as it can, so a fast reader and slow
    workers would queue the whole file in memory; this keeps memory flat in input size.
    """
    pending: deque = deque()
    for task in tasks:
        pending.append(pool.apply_async(_work, (task,)))
        if len(pending) >= max_in_flight:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()
