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
from typing import Any, Sequence

import numpy as np
import pandas as pd

from molgen.errors import InputError

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


def molecule_table(props: pd.DataFrame, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Properties with an optional ``name`` column first; the index is the molecule number shown in the grid."""
    table = props.reset_index(drop=True).copy()
    if names is not None and len(names) == len(table):
        table.insert(0, "name", list(names))
    return table


def display_columns(table: pd.DataFrame) -> list[str]:
    """Columns of :data:`TABLE_COLUMNS` present in ``table`` (plus ``similarity``/``step`` when there)."""
    extra = [c for c in ("step", "t", "similarity", "similarity_a", "similarity_b", "distance", "count")
             if c in table.columns]
    return extra + [c for c in TABLE_COLUMNS if c in table.columns]


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
}


def property_sheet(row: pd.Series) -> pd.DataFrame:
    """One molecule's columns as ``(property, value)`` text rows with readable names, numbers rounded."""
    from molgen.dashboard.depict import format_value

    values = []
    for v in row.to_numpy():
        if isinstance(v, (bool, np.bool_)):
            values.append("yes" if v else "no")
        elif isinstance(v, (float, np.floating)):
            values.append(format_value(v, 3))
        else:
            values.append("–" if v is None or v is pd.NA or v == "" else str(v))
    labels = [PROPERTY_LABELS.get(c, c) for c in row.index]
    return pd.DataFrame({"property": labels, "value": values})


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
    """What the filter widgets say: property ranges, rule presets, an expression, valid-only."""

    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    presets: list[str] = field(default_factory=list)
    expression: str = ""
    valid_only: bool = False

    def is_active(self) -> bool:
        return bool(self.ranges or self.presets or self.expression.strip() or self.valid_only)


def filter_presets() -> list[str]:
    """Names of the rule presets offered as checkboxes (from :mod:`molgen.chem.filters`)."""
    from molgen.chem import filters

    return list(filters.PRESETS)


PRESET_LABELS = {"lipinski": "Lipinski", "veber": "Veber", "ghose": "Ghose", "lead-like": "Lead-like",
                 "pains-free": "PAINS-free", "brenk-free": "Brenk-free"}


def preset_label(name: str) -> str:
    """Display label of a filter preset (``pains-free`` -> ``PAINS-free``)."""
    return PRESET_LABELS.get(name, name.replace("_", " ").replace("-", " ").capitalize())


def filter_mask(table: pd.DataFrame, choice: FilterChoice) -> pd.Series:
    """Boolean mask of rows passing ``choice`` (invalid molecules never pass a rule, range or expression).

    A bad expression raises the filter module's ``UsageError`` (its message carries a caret
    under the failing token); a filter needing a column the table lacks raises :class:`InputError`.
    """
    from molgen.chem.filters import FilterSpec, apply_filters

    mask = pd.Series(True, index=table.index)
    if choice.valid_only and "valid" in table.columns:
        mask &= table["valid"].astype(bool)
    ranges = [(col, lo, hi) for col, (lo, hi) in choice.ranges.items() if col in table.columns]
    if ranges or choice.presets or choice.expression.strip():
        spec = FilterSpec(presets=list(choice.presets), ranges=ranges, expression=choice.expression.strip() or None)
        try:
            keep = apply_filters(table, spec)
        except ValueError as exc:  # a column the table lacks (alerts not computed)
            raise InputError(f"cannot apply this filter: {exc}") from None
        mask &= keep.to_numpy(dtype=bool)
    return mask


def slider_bounds(table: pd.DataFrame, column: str) -> tuple[float, float]:
    """Slider range for ``column``: the fixed bounds of :data:`SLIDERS` widened to the data's range."""
    _, lo, hi, step = SLIDERS[column]
    if column in table.columns:
        values = pd.to_numeric(table[column], errors="coerce").dropna()
        if len(values):
            lo = min(lo, math.floor(values.min() / step) * step)
            hi = max(hi, math.ceil(values.max() / step) * step)
    return float(lo), float(hi)


# ----------------------------------------------------------------------------- downloads


def table_csv(table: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV bytes (index dropped)."""
    return table.to_csv(index=False).encode("utf-8")


def table_sdf(table: pd.DataFrame) -> bytes:
    """Valid molecules of the table as SDF bytes (:func:`molgen.data.write_sdf`): 2D coordinates, the
    name (or, without one, the SMILES) as title, every other column as an SD tag."""
    from molgen.data import write_sdf

    smiles = table["smiles"].astype(str)
    names = table["name"] if "name" in table.columns else [None] * len(table)
    titled = table.assign(name=[n if isinstance(n, str) and n else s for n, s in zip(names, smiles)])
    buf = io.StringIO()
    write_sdf(titled, buf, skip_invalid=True, float_format=".4g")
    return buf.getvalue().encode("utf-8")
