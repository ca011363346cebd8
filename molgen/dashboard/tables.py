"""Molecule tables of the dashboard: properties, display columns, property sheet, sort, pages,
filters and CSV/SDF downloads.

A table is a property DataFrame (:func:`molgen.chem.properties.compute_properties`) indexed by
molecule number, optionally with a ``name`` column first. A bad filter expression or a filter
needing a column the table lacks is raised as a :class:`~molgen.errors.MolgenError` fit to show.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from molgen.errors import InputError, UsageError

#: Columns of the molecule table, in display order (those present are shown).
TABLE_COLUMNS = (
    "name", "smiles", "canonical_smiles", "valid", "qed", "sa", "mw", "logp", "tpsa", "hbd", "hba",
    "rotatable_bonds", "lipinski_violations", "alerts",
)
#: Property sliders: column -> (label, lower bound, upper bound, step).
SLIDERS: dict[str, tuple[str, float, float, float]] = {
    "qed": ("QED", 0.0, 1.0, 0.01),
    "sa": ("SA score", 1.0, 10.0, 0.1),
    "mw": ("MW (Da)", 0.0, 1000.0, 5.0),
    "logp": ("cLogP", -10.0, 15.0, 0.1),
    "tpsa": ("TPSA (Å²)", 0.0, 300.0, 1.0),
}
#: Above this many molecules the Inspect page computes structural alerts only on request (~4 ms each).
ALERTS_DEFAULT_MAX = 5000


def chunk_properties(smiles: Sequence[str], alerts: bool = True, n_jobs: int | None = 1) -> pd.DataFrame:
    """Properties of one chunk of SMILES (pages call this per chunk to show progress and cache)."""
    from molgen.chem.properties import compute_properties

    return compute_properties(list(smiles), n_jobs=n_jobs, alerts=alerts)


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """``items`` cut into consecutive slices of ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def numbered(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` indexed 1, 2, … (index name ``id``): the molecule number the grid, table, detail view
    and downloads all show, so "#1" is the first molecule everywhere."""
    out = df.reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="id")
    return out


def molecule_table(props: pd.DataFrame, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Properties with an optional ``name`` column first, numbered from 1 (:func:`numbered`)."""
    table = numbered(props).copy()
    if names is not None and len(names) == len(table):
        table.insert(0, "name", list(names))
    return table


def display_columns(table: pd.DataFrame, own: Sequence[str] = ()) -> list[str]:
    """Columns of :data:`TABLE_COLUMNS` present in ``table``, after the computed ones it has
    (similarities, novelty, step…) and the user's ``own`` columns (an uploaded file's activity),
    and before the input flags."""
    extra = [c for c in ("step", "t", "similarity", "similarity_a", "similarity_b", "reference_similarity",
                         "distance", "count", "in_training", "nn_similarity") if c in table.columns]
    mine = [c for c in own if c in table.columns and c not in extra]
    tail = [c for c in ("flags", "input_smiles") if c in table.columns]
    return extra + mine + [c for c in TABLE_COLUMNS if c in table.columns and c not in mine] + tail


def file_columns(columns: dict[str, list], taken: Sequence[str]) -> pd.DataFrame:
    """An upload's other columns numbered like its molecules: numbers as numbers (so they sort and
    filter), text as text; a name the table already has (a file's own ``qed``) gets `` (file)``."""
    out = {}
    for name, values in columns.items():
        raw = pd.Series([None if v is None or (isinstance(v, str) and not v.strip()) else v for v in values],
                        dtype=object)
        numbers = pd.to_numeric(raw, errors="coerce")
        present = int(raw.notna().sum())
        column = numbers.astype(float) if present and int(numbers.notna().sum()) == present else raw.astype("string")
        out[f"{name} (file)" if name in taken or name in out else name] = column
    return numbered(pd.DataFrame(out, index=range(len(next(iter(columns.values()), [])))))


def similarity_column(table: pd.DataFrame, reference: str) -> pd.Series:
    """Tanimoto similarity (Morgan r=2, 2048 bits: the CLI's ``--similar-to``) of every row to the
    ``reference`` SMILES, NaN for invalid rows; :class:`InputError` saying what and where when the
    reference does not parse."""
    from molgen.chem.fingerprints import fingerprints, tanimoto_max_to_reference
    from molgen.chem.mol import explain_smiles

    reason = explain_smiles(reference)
    if reason is not None:
        raise InputError(f"reference molecule: {reason}")
    values = tanimoto_max_to_reference(fingerprints(table["smiles"].astype(str).tolist()), fingerprints([reference]))
    return pd.Series(values, index=table.index, name="reference_similarity")


#: Readable names of the property columns for the molecule detail view.
PROPERTY_LABELS = {
    "name": "Name", "smiles": "SMILES", "canonical_smiles": "Canonical SMILES", "valid": "Valid",
    "mw": "Molecular weight (Da)", "logp": "cLogP (Crippen)", "qed": "QED", "sa": "SA score (1 easy – 10 hard)",
    "tpsa": "TPSA (Å²)", "hbd": "H-bond donors", "hba": "H-bond acceptors", "rotatable_bonds": "Rotatable bonds",
    "rings": "Rings", "aromatic_rings": "Aromatic rings", "heavy_atoms": "Heavy atoms",
    "formal_charge": "Formal charge", "fsp3": "Fraction sp3 C", "lipinski_violations": "Lipinski violations",
    "penalized_logp": "Penalised logP", "mr": "Molar refractivity", "atoms": "Atoms (with H)",
    "pains": "PAINS alert", "brenk": "Brenk alert", "nih": "NIH alert", "alerts": "Alerts matched",
    "similarity": "Tanimoto similarity", "distance": "Latent distance",
    "reference_similarity": "Similarity to the reference", "nn_similarity": "Similarity to nearest training molecule",
    "in_training": "In training set", "flags": "Input flags", "input_smiles": "SMILES as given",
    "fragments": "Fragments (as given)", "inorganic": "Inorganic (no carbon)",
}


def column_label(column: str) -> str:
    """A column's readable name for a control ("QED", "SA score (1 easy – 10 hard)"); unknown ones as they are."""
    return PROPERTY_LABELS.get(column, column)


def property_sheet(row: pd.Series) -> pd.DataFrame:
    """One molecule's columns as ``(property, value)`` text rows with readable names, numbers rounded."""
    from molgen.dashboard.depict import format_value

    values = []
    for column, v in row.items():
        if column == "alerts" and isinstance(v, str) and v:
            from molgen.dashboard.depict import alert_text

            values.append(alert_text(v)[0])  # "Brenk: hydroquinone", not RDKit's key
        elif isinstance(v, (bool, np.bool_)):
            values.append("yes" if v else "no")
        elif isinstance(v, (float, np.floating)):
            values.append(format_value(v, 3))
        else:
            values.append("–" if v is None or v is pd.NA or v == "" else str(v))
    labels = [column_label(c) for c in row.index]
    return pd.DataFrame({"property": labels, "value": values})


#: Columns where a higher value is better: sorted best (highest) first by default.
HIGHER_IS_BETTER = frozenset({"qed", "similarity", "similarity_a", "similarity_b", "reference_similarity",
                              "score", "count"})
#: Columns where a lower value is better: sorted best (lowest) first by default.
LOWER_IS_BETTER = frozenset({"sa", "lipinski_violations", "distance", "nn_similarity"})


def default_descending(column: str | None) -> bool:
    """Whether ``column`` sorts descending by default: best first for "higher is better" columns."""
    return bool(column) and (column in HIGHER_IS_BETTER or column.startswith("QED"))


def header_sort(current: str | None, descending: bool, clicked: str) -> tuple[str, bool]:
    """The sort after a click on the table header ``clicked``: that column, best first
    (:func:`default_descending`); a second click on the sort column reverses it. The page feeds
    this to its "Sort by" control, so the header and the control never disagree."""
    if clicked == current:
        return clicked, not descending
    return clicked, default_descending(clicked)


def sortable_columns(table: pd.DataFrame) -> list[str]:
    """Numeric columns ``table`` can be sorted by: better-known ones first, then every other property."""
    first = [c for c in ("qed", "sa", "mw", "logp", "tpsa", "similarity", "reference_similarity", "nn_similarity",
                         "step") if c in table.columns]
    rest = [c for c in numeric_columns(table) if c not in first]
    return first + rest


def numeric_columns(table: pd.DataFrame) -> list[str]:
    """Every numeric (not boolean) column of ``table``: what range filters and sorting can use."""
    return [c for c in table.columns
            if pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]


def sort_table(table: pd.DataFrame, column: str | None, ascending: bool) -> pd.DataFrame:
    """``table`` sorted by ``column`` (missing values last); unchanged for ``None``/unknown columns."""
    if not column or column not in table.columns:
        return table
    return table.sort_values(column, ascending=ascending, na_position="last", kind="stable")


def page_slice(table: pd.DataFrame, page: int, per_page: int) -> pd.DataFrame:
    """Rows of 1-based ``page`` (clamped to the last page)."""
    pages = n_pages(len(table), per_page)
    page = min(max(1, page), pages)
    return table.iloc[(page - 1) * per_page : page * per_page]


def n_pages(n_rows: int, per_page: int) -> int:
    """Number of pages for ``n_rows`` (at least 1)."""
    return max(1, math.ceil(n_rows / max(1, per_page)))


# ----------------------------------------------------------------------------- filters


@dataclass
class FilterChoice:
    """What the filter widgets say: property ranges, rule presets, an expression, substructures,
    valid-only, novel-only and unique-only."""

    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    presets: list[str] = field(default_factory=list)
    expression: str = ""
    valid_only: bool = False
    smarts_include: list[str] = field(default_factory=list)
    smarts_exclude: list[str] = field(default_factory=list)
    novel_only: bool = False
    unique_only: bool = False

    def is_active(self) -> bool:
        return bool(self.ranges or self.presets or self.expression.strip() or self.valid_only
                    or self.smarts_include or self.smarts_exclude or self.novel_only or self.unique_only)


def filter_presets() -> list[str]:
    """Names of the rule presets offered as checkboxes (from :mod:`molgen.chem.filters`)."""
    from molgen.chem import filters

    return list(filters.PRESETS)


PRESET_LABELS = {"lipinski": "Lipinski", "veber": "Veber", "ghose": "Ghose", "lead-like": "Lead-like",
                 "pains-free": "PAINS-free", "brenk-free": "Brenk-free", "nih-free": "NIH-free"}


def preset_label(name: str) -> str:
    """Display label of a filter preset (``pains-free`` -> ``PAINS-free``)."""
    return PRESET_LABELS.get(name, name.replace("_", " ").replace("-", " ").capitalize())


def filter_mask(table: pd.DataFrame, choice: FilterChoice) -> pd.Series:
    """Boolean mask of rows passing ``choice`` (invalid molecules never pass a rule, range, expression
    or substructure; rule presets never pass an inorganic input, which has no place in a drug rule).

    The expression may name any numeric column of the table (``similarity``, ``nn_similarity``…).
    A bad expression or SMARTS raises the filter module's ``UsageError`` (an expression's message
    carries a caret); a filter needing a column the table lacks raises :class:`InputError`.
    """
    from molgen.chem.filters import COLUMN_TYPES, FilterSpec, apply_filters

    mask = pd.Series(True, index=table.index)
    if choice.valid_only and "valid" in table.columns:
        mask &= table["valid"].astype(bool)
    if choice.novel_only:
        if "in_training" not in table.columns:
            raise InputError("cannot keep novel molecules only: the training-set comparison is not computed")
        mask &= ~table["in_training"].fillna(False).astype(bool) & table["valid"].astype(bool)
    if choice.unique_only:
        mask &= ~duplicated_molecules(table)
    if choice.presets and "inorganic" in table.columns:
        mask &= ~table["inorganic"].fillna(False).astype(bool)
    ranges = [(col, lo, hi) for col, (lo, hi) in choice.ranges.items() if col in table.columns]
    expression = choice.expression.strip() or None
    if ranges or choice.presets or expression or choice.smarts_include or choice.smarts_exclude:
        extra = [c for c in numeric_columns(table) if c not in COLUMN_TYPES]
        spec = FilterSpec(presets=list(choice.presets), ranges=ranges, expression=expression,
                          smarts_include=list(choice.smarts_include), smarts_exclude=list(choice.smarts_exclude),
                          extra_numeric=extra)
        try:
            keep = apply_filters(table, spec)
        except ValueError as exc:  # a column the table lacks (alerts not computed)
            raise InputError(f"cannot apply this filter: {exc}") from None
        mask &= keep.to_numpy(dtype=bool)
    return mask


def duplicated_molecules(table: pd.DataFrame) -> pd.Series:
    """True for every row repeating an earlier row's molecule (canonical SMILES; the raw string when invalid)."""
    key = table["smiles"].astype(str)
    if "canonical_smiles" in table.columns:
        canon = table["canonical_smiles"].fillna("").astype(str)
        key = canon.where(canon != "", key)
    return key.duplicated(keep="first")


@dataclass
class FilterOutcome:
    """What :func:`filter_table` did: the rows kept and, for each part not applied, why (one message each)."""

    mask: pd.Series
    not_applied: list[str] = field(default_factory=list)


def filter_table(table: pd.DataFrame, choice: FilterChoice) -> FilterOutcome:
    """:func:`filter_mask` where a bad expression or substructure never switches the other filters off.

    The expression and each substructure query are checked on their own first; one that does
    not parse is left out, every other filter (valid-only, ranges, presets…) still applies, and
    its error (the expression's with a caret) is returned for the page to show as "not applied".
    """
    from molgen.chem.filters import COLUMN_TYPES, FilterSpec, compile_spec
    from molgen.chem.mol import quiet_rdkit
    from rdkit import Chem

    kept = FilterChoice(**{**choice.__dict__, "smarts_include": [], "smarts_exclude": []})
    errors: list[str] = []
    expression = choice.expression.strip()
    if expression:
        extra = [c for c in numeric_columns(table) if c not in COLUMN_TYPES]
        try:
            compile_spec(FilterSpec(expression=expression, extra_numeric=extra))
        except UsageError as exc:
            kept.expression = ""
            errors.append(f"filter expression not applied: {exc}")
    for label, patterns, target in (("must contain", choice.smarts_include, kept.smarts_include),
                                    ("must not contain", choice.smarts_exclude, kept.smarts_exclude)):
        for pattern in (p.strip() for p in patterns):
            if not pattern:
                continue
            with quiet_rdkit():
                query = Chem.MolFromSmarts(pattern)
            if query is None:
                errors.append(f"substructure ({label}) not applied: {pattern!r} is neither SMARTS nor SMILES")
            else:
                target.append(pattern)
    return FilterOutcome(filter_mask(table, kept), errors)


def slider_step(table: pd.DataFrame, column: str) -> float:
    """A slider step for ``column``: the fixed one of :data:`SLIDERS`, 1 for whole numbers, else ~1/100 of the range."""
    if column in SLIDERS:
        return SLIDERS[column][3]
    values = pd.to_numeric(table[column], errors="coerce").dropna() if column in table.columns else pd.Series([])
    if values.empty or (values == values.round()).all():
        return 1.0
    span = float(values.max() - values.min()) or 1.0
    return float(10 ** math.floor(math.log10(span / 100)))


def slider_bounds(table: pd.DataFrame, column: str) -> tuple[float, float]:
    """Slider range for ``column``: the fixed bounds of :data:`SLIDERS` widened to the data's range
    (for any other numeric column: the data's range on the step of :func:`slider_step`)."""
    if column not in SLIDERS:
        step = slider_step(table, column)
        values = pd.to_numeric(table[column], errors="coerce").dropna() if column in table.columns else pd.Series([])
        if values.empty:
            return 0.0, 1.0
        lo, hi = math.floor(values.min() / step) * step, math.ceil(values.max() / step) * step
        return float(lo), float(hi if hi > lo else lo + step)
    _, lo, hi, step = SLIDERS[column]
    if column in table.columns:
        values = pd.to_numeric(table[column], errors="coerce").dropna()
        if len(values):
            lo = min(lo, math.floor(values.min() / step) * step)
            hi = max(hi, math.ceil(values.max() / step) * step)
    return float(lo), float(hi)


# ----------------------------------------------------------------------------- downloads


def export_bytes(table: pd.DataFrame, fmt: str, provenance: dict[str, Any] | None = None) -> bytes:
    """``table`` in ``fmt`` (csv, tsv, sdf, smi) through the writer ``molgen sample`` uses
    (:class:`molgen.data.TableWriter`): the grid's ``id`` first, every column, floats without
    binary noise, provenance columns (model, seed, temperature, molgen version) last; rows in
    the table's order. Invalid rows are kept (an SDF record without atoms keeps their fields)."""
    from molgen.data import TableWriter, export_table

    buf = io.StringIO()
    with TableWriter(f"export.{fmt}", stream=buf, fmt=fmt) as writer:
        writer.write(export_table(table, provenance))
    return buf.getvalue().encode("utf-8")


def export_name(stem: str, fmt: str, provenance: dict[str, Any] | None = None) -> str:
    """A download's file name saying what it holds: ``generated-gvae-seed0-T1.0.csv``."""
    import re

    parts = [stem]
    if provenance:
        if provenance.get("model"):
            parts.append(Path(str(provenance["model"])).stem if str(provenance["model"]).endswith(".pt")
                         else Path(str(provenance["model"])).name)
        if provenance.get("seed") is not None:
            parts.append(f"seed{provenance['seed']}")
        if provenance.get("temperature") is not None:
            parts.append(f"T{float(provenance['temperature']):g}")
    name = "-".join(parts)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) + f".{fmt}"
