"""Library side of the Streamlit dashboard (``apps/``): pure, cache-friendly functions.

The pages only lay out widgets; everything that reads files, loads models, computes,
filters or serialises lives here so it can be unit-tested without Streamlit. Every failure
a user can cause (bad SMILES, unreadable upload, wrong checkpoint, bad filter expression)
is raised as a :class:`~molgen.errors.MolgenError` or
:class:`~molgen.checkpoint.CheckpointError` with a message fit to show as is.

What the dashboard reads: shipped models (``data/models``), shipped data (``data/moses``),
and user-given run directories / ``*.pt`` checkpoints (validated here; checkpoints are loaded
with ``weights_only=True`` by :func:`molgen.checkpoint.load_checkpoint`). Uploads are parsed
in memory and never written to disk.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from molgen import api
from molgen.errors import InputError, MolgenError, UsageError

ROOT = Path(__file__).resolve().parent.parent
#: Shipped SMILES files the Inspect page offers (nothing else under data/ is listed).
DATA_DIR = ROOT / "data" / "moses"

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
#: Properties with a histogram against the training set on the Inspect page.
HISTOGRAM_COLUMNS = ("qed", "sa", "mw", "logp", "tpsa", "hbd", "hba", "rotatable_bonds")
#: Training-set molecules sampled for the Inspect page's reference histograms.
REFERENCE_SIZE = 2000
#: Above this many molecules the Inspect page computes structural alerts only on request (~4 ms each).
ALERTS_DEFAULT_MAX = 5000
#: Largest upload accepted (bytes); a 100k-SMILES file is ~5 MB.
MAX_UPLOAD_BYTES = 200_000_000
#: Largest checkpoint the dashboard will load.
MAX_CHECKPOINT_BYTES = 2_000_000_000


# ----------------------------------------------------------------------------- models


def shipped_model_names() -> list[str]:
    """Names of the shipped models present on disk (``data/models/<name>/model.pt``)."""
    return list(api.shipped_models())


def shipped_run_dirs() -> dict[str, Path]:
    """Shipped model directories (``data/models/<name>/``, with their config, log and report) by name."""
    from molgen.runs import list_run_dirs

    return list_run_dirs(api.MODELS_DIR)


def resolve_checkpoint(text: str) -> Path:
    """A shipped model name, a run directory or a ``*.pt`` file typed by the user, as a checkpoint path.

    Raises :class:`InputError` for anything else: missing path, a directory without a
    checkpoint, a file that is not ``.pt``, or an implausibly large file.
    """
    text = (text or "").strip()
    if not text:
        raise InputError("no model given: pick a shipped model or type a run directory / .pt checkpoint")
    if "\x00" in text:
        raise InputError("model path contains a NUL byte")
    shipped = api.shipped_models()
    if text in shipped:
        return shipped[text]
    p = Path(text).expanduser()
    try:
        p = p.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError(f"{text}: no such file or directory (and not a shipped model: "
                         f"{', '.join(shipped) or 'none installed'})") from None
    if p.is_dir():
        try:
            p = api.resolve_model_path(p).resolve()
        except UsageError as exc:
            raise InputError(str(exc)) from None
    if not p.is_file() or p.suffix != ".pt":
        raise InputError(f"{text}: only molgen checkpoints (*.pt files or run directories) are loaded")
    if p.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise InputError(f"{text}: {p.stat().st_size:,} bytes is too large for a molgen checkpoint")
    return p


def checkpoint_key(path: str | os.PathLike) -> tuple[str, float]:
    """Cache key for a checkpoint: its path and modification time, so a retrained file reloads."""
    p = Path(path)
    return str(p), p.stat().st_mtime


def load_generator(path: str | os.PathLike) -> api.Generator:
    """Load a checkpoint resolved by :func:`resolve_checkpoint` (safe ``weights_only`` load)."""
    return api.load_model(Path(path))


def is_latent(model: Any) -> bool:
    """True for models with an encoder (GVAE, CVAE): the Latent space page works with them."""
    return callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))


def model_summary(model: Any) -> dict[str, Any]:
    """Short description of a loaded model for display: kind, source, step, training command."""
    ckpt = getattr(model, "checkpoint", {}) or {}
    out = {"kind": getattr(model, "kind", ckpt.get("kind", "?")), "checkpoint": getattr(model, "source", "")}
    for key in ("step", "epoch"):
        if key in ckpt:
            out[key] = ckpt[key]
    if ckpt.get("command"):
        out["command"] = ckpt["command"]
    return out


def generate_table(
    model: api.Generator,
    n: int,
    temperature: float = 1.0,
    seed: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    chunk: int = 250,
) -> pd.DataFrame:
    """``n`` samples with validity, canonical SMILES and properties; the same rows as
    :func:`molgen.sampling.sample_table` (so the CLI and the dashboard agree for a seed).

    ``progress(fraction, message)`` is called as sampling (first half) and the property
    computation (second half, in chunks of ``chunk`` molecules) advance.
    """
    from molgen.sampling import annotate, iter_sample_tables

    if n < 1:
        raise UsageError("number of molecules must be at least 1")
    if not temperature > 0:
        raise UsageError("temperature must be positive")
    report = progress or (lambda fraction, message: None)
    report(0.0, f"Sampling {n:,} strings…")
    raw: list[str] = []
    for part in iter_sample_tables(model, n, seed=seed, temperature=temperature, properties=False):
        raw.extend(part["smiles"].tolist())
        report(0.5 * len(raw) / n, f"Sampled {len(raw):,} / {n:,}")
    # At most ~20 progress steps; chunks big enough for worker processes use all cores.
    size = max(chunk, math.ceil(len(raw) / 20))
    frames = []
    for i, part in enumerate(chunks(raw, size)):
        frames.append(annotate(list(part), properties=True, n_jobs=None if size >= 2000 else 1))
        done = min((i + 1) * size, len(raw))
        report(0.5 + 0.5 * done / max(1, len(raw)), f"Properties {done:,} / {len(raw):,}")
    if not frames:
        return annotate([], properties=True)
    return pd.concat(frames, ignore_index=True)


def generation_summary(table: pd.DataFrame) -> dict[str, str]:
    """Headline figures of a generated table for display: count, validity, uniqueness, mean QED."""
    out = {"Generated": f"{len(table):,}"}
    if "valid" not in table.columns or table.empty:
        return out
    valid = table["valid"].astype(bool)
    key = "canonical_smiles" if "canonical_smiles" in table.columns else "smiles"
    out["Valid"] = f"{valid.mean():.1%}"
    out["Unique (of valid)"] = f"{table.loc[valid, key].nunique() / valid.sum():.1%}" if valid.any() else "–"
    if "qed" in table.columns:
        out["Mean QED (valid)"] = f"{table.loc[valid, 'qed'].mean():.3f}" if valid.any() else "–"
    return out


# ----------------------------------------------------------------------------- input sets


@dataclass
class SmilesInput:
    """SMILES read from a paste, an upload or a shipped file, with per-line problems for the user."""

    smiles: list[str]
    names: list[str] | None = None
    source: str = ""
    problems: list[str] = field(default_factory=list)


def parse_pasted(text: str) -> SmilesInput:
    """One SMILES per line, optionally followed by a name (whitespace, comma or tab separated).

    Blank lines and ``#`` comments are skipped, as is a ``smiles`` header line.
    """
    smiles: list[str] = []
    names: list[str] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for sep in ("\t", ",", " "):
            if sep in line:
                smi, _, name = line.partition(sep)
                break
        else:
            smi, name = line, ""
        smi, name = smi.strip(), name.strip().strip(",").strip()
        if not smiles and smi.lower() == "smiles":
            continue
        smiles.append(smi)
        names.append(name)
    if not smiles:
        raise InputError("no SMILES found: paste one SMILES per line (optionally followed by a name)")
    return SmilesInput(smiles, names if any(names) else None, source="pasted")


def read_upload(filename: str, data: bytes, column: str | None = None) -> SmilesInput:
    """Parse an uploaded file in memory (``.smi``/``.txt``, ``.csv``, ``.tsv``, ``.sdf``, ``.parquet``,
    text ones optionally gzipped) with :func:`molgen.data.read_smiles`; invalid records are
    counted and named, as for files on disk."""
    from molgen.data import read_smiles

    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"{filename}: {len(data):,} bytes is larger than the {MAX_UPLOAD_BYTES:,} accepted")
    return _from_molecule_set(read_smiles(filename, column=column, data=data), filename)


def _sdf_record(record_type: Any, start: int, block: list[str]) -> Any:
    end = next((i for i, x in enumerate(block) if x.startswith("M  END")), len(block) - 1)
    name = block[0].strip() if block else None
    return record_type(start, None, name or None, "\n".join(block[: end + 1]) + "\n")


def _from_molecule_set(ms: Any, source: str) -> SmilesInput:
    names = list(ms.names) if getattr(ms, "names", None) is not None else None
    if names is not None and not any(names):
        names = None
    problems = []
    report = getattr(ms, "report", None)
    n_invalid = getattr(report, "n_invalid", 0) or 0
    if n_invalid:
        problems.append(f"{n_invalid:,} {'entry' if n_invalid == 1 else 'entries'} could not be read and "
                        f"{'was' if n_invalid == 1 else 'were'} skipped")
        for example in list(getattr(report, "examples", []) or [])[:5]:
            if isinstance(example, tuple) and len(example) == 3:
                problems.append(f"line {example[1]}: {example[2]}")
            else:
                problems.append(str(example))
    return SmilesInput(list(ms.smiles), names, source=source, problems=problems)


def shipped_data_files() -> dict[str, Path]:
    """The SMILES files shipped under ``data/moses/`` by file name."""
    if not DATA_DIR.is_dir():
        return {}
    suffixes = (".csv.gz", ".csv", ".smi")
    return {p.name: p for p in sorted(DATA_DIR.iterdir()) if p.is_file() and p.name.endswith(suffixes)}


def read_shipped_data(name: str, limit: int | None = None) -> SmilesInput:
    """First ``limit`` SMILES of a shipped data file chosen by name (never an arbitrary path)."""
    files = shipped_data_files()
    if name not in files:
        raise InputError(f"{name}: not a shipped data file ({', '.join(files) or 'none'})")
    df = pd.read_csv(files[name], nrows=limit)
    col = next((c for c in df.columns if c.lower() == "smiles"), df.columns[0])
    return SmilesInput(df[col].astype(str).tolist(), None, source=name)


def invalid_messages(smiles: Sequence[str], limit: int = 5, valid: Sequence[bool] | None = None) -> list[str]:
    """Why the first ``limit`` unparsable SMILES fail (RDKit's reason, ``#`` position in the set).

    With ``valid`` (the table's validity column) only the invalid entries are re-parsed, so a
    100,000-molecule set costs nothing here.
    """
    from molgen.chem.mol import parse_smiles

    candidates = range(len(smiles)) if valid is None else (i for i, ok in enumerate(valid) if not ok)
    out = []
    for i in candidates:
        mol, reason = parse_smiles(smiles[i])
        if mol is None:
            out.append(f"#{i}: {reason}")
            if len(out) >= limit:
                break
    return out


# ----------------------------------------------------------------------------- properties


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
    from molgen.depict import format_value

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
    """Valid molecules of the table as SDF bytes with 2D coordinates and every other column as an SD tag."""
    from rdkit import Chem
    from rdkit.Chem import rdDepictor

    from molgen.chem.mol import quiet_rdkit, to_mol

    buf = io.StringIO()
    writer = Chem.SDWriter(buf)
    cols = [c for c in table.columns if c != "smiles"]
    with quiet_rdkit():
        for row in table.to_dict("records"):
            mol = to_mol(str(row.get("smiles") or ""))
            if mol is None:
                continue
            rdDepictor.Compute2DCoords(mol)
            name = row.get("name")
            mol.SetProp("_Name", str(name) if isinstance(name, str) and name else str(row["smiles"]))
            mol.SetProp("smiles", str(row["smiles"]))
            for c in cols:
                v = row[c]
                if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                    continue
                mol.SetProp(c, f"{v:.4g}" if isinstance(v, float) else str(v))
            writer.write(mol)
    writer.close()
    return buf.getvalue().encode("utf-8")


# ----------------------------------------------------------------------------- training-set reference


def reference_smiles(path: str | os.PathLike | None = None, n: int = REFERENCE_SIZE, seed: int = 0) -> list[str]:
    """A reproducible random sample of ``n`` training SMILES (default: the shipped MOSES train file)."""
    p = Path(path) if path is not None else DATA_DIR / "train.csv.gz"
    if not p.is_file():
        raise InputError(f"{p}: training set not found")
    df = pd.read_csv(p)
    col = next((c for c in df.columns if c.lower() == "smiles"), df.columns[0])
    values = df[col].astype(str)
    if len(values) > n:
        values = values.sample(n=n, random_state=seed)
    return values.tolist()


def histogram_frame(
    current: pd.DataFrame, reference: pd.DataFrame | None, column: str, bins: int = 30,
    labels: tuple[str, str] = ("this set", "training set"),
) -> pd.DataFrame:
    """Density histograms of ``column`` for the set and the reference on common bins, long format
    (``bin_start, bin_end, set, density``) ready for a layered bar chart."""
    sets = [(labels[0], current)] + ([(labels[1], reference)] if reference is not None else [])
    values = {name: pd.to_numeric(df[column], errors="coerce").dropna().to_numpy(float)
              for name, df in sets if column in df.columns}
    allv = np.concatenate([v for v in values.values() if len(v)] or [np.zeros(0)])
    if len(allv) == 0:
        return pd.DataFrame(columns=["bin_start", "bin_end", "set", "density"])
    lo, hi = np.percentile(allv, [0.5, 99.5]) if len(allv) > 20 else (allv.min(), allv.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    integer = column in ("hbd", "hba", "rotatable_bonds", "rings", "aromatic_rings", "heavy_atoms")
    edges = np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.5) if integer else np.linspace(lo, hi, bins + 1)
    rows = []
    for name, v in values.items():
        counts, _ = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)
        total = counts.sum()
        density = counts / total if total else counts.astype(float)
        rows.append(pd.DataFrame({"bin_start": edges[:-1], "bin_end": edges[1:], "set": name, "density": density}))
    return pd.concat(rows, ignore_index=True)


#: Bar colours of the two sets in :func:`histogram_chart` (orange on blue-grey reads well overlaid).
HISTOGRAM_COLOURS = {"this set": "#e4572e", "training set": "#4c78a8"}


def histogram_chart(frame: pd.DataFrame, title: str) -> Any:
    """Altair chart of :func:`histogram_frame`: overlaid translucent bars, one colour per set."""
    import altair as alt

    known = set(frame["set"]) <= set(HISTOGRAM_COLOURS)
    scale = (alt.Scale(domain=list(HISTOGRAM_COLOURS), range=list(HISTOGRAM_COLOURS.values()))
             if known else alt.Undefined)
    return (
        alt.Chart(frame, title=title)
        .mark_bar(opacity=0.55, binSpacing=0)
        .encode(
            x=alt.X("bin_start:Q", title=title, bin="binned"),
            x2="bin_end:Q",
            y=alt.Y("density:Q", title="fraction", stack=None),
            color=alt.Color("set:N", legend=alt.Legend(orient="top", title=None), scale=scale),
            tooltip=["set:N", alt.Tooltip("bin_start:Q", format=".2f"), alt.Tooltip("density:Q", format=".3f")],
        )
        .properties(height=180)
    )


def line_chart(frame: pd.DataFrame, title: str, x_title: str = "step") -> Any:
    """Altair line chart of a long ``(x, metric, value)`` frame (see :func:`molgen.runs.curve_frame`)."""
    import altair as alt

    return (
        alt.Chart(frame, title=title)
        .mark_line(point=len(frame) < 60)
        .encode(
            x=alt.X("x:Q", title=x_title),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("metric:N", legend=alt.Legend(orient="top", title=None)),
            tooltip=["metric:N", "x:Q", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(height=240)
    )


# ----------------------------------------------------------------------------- latent space


def check_smiles(smiles: str) -> str:
    """Canonical form of a user-typed SMILES; :class:`InputError` with RDKit's reason if it does not parse."""
    from rdkit import Chem

    from molgen.chem.mol import parse_smiles

    smiles = (smiles or "").strip()
    if not smiles:
        raise InputError("enter a SMILES string")
    mol, reason = parse_smiles(smiles)
    if mol is None:
        raise InputError(f"not a valid SMILES: {reason}")
    return Chem.MolToSmiles(mol)


def neighbours_table(model: Any, smiles: str, radius: float, n: int, seed: int = 0) -> pd.DataFrame:
    """Decoded molecules around ``smiles`` in latent space with similarity, plus properties."""
    from molgen.vae.latent import neighbours

    smiles = check_smiles(smiles)
    try:
        df = neighbours(model, smiles, radius=radius, n=n, seed=seed)
    except MolgenError:
        raise
    except (ValueError, KeyError) as exc:
        raise InputError(f"the model cannot encode {smiles}: {exc}") from exc
    return _with_properties(df)


def interpolation_table(model: Any, smiles_a: str, smiles_b: str, n_steps: int) -> pd.DataFrame:
    """Decoded molecules along the latent line from ``smiles_a`` to ``smiles_b``, plus properties."""
    from molgen.vae.latent import interpolate

    a, b = check_smiles(smiles_a), check_smiles(smiles_b)
    try:
        df = interpolate(model, a, b, n_steps)
    except MolgenError:
        raise
    except (ValueError, KeyError) as exc:
        raise InputError(f"the model cannot encode the endpoints: {exc}") from exc
    return _with_properties(df)


def _with_properties(df: pd.DataFrame) -> pd.DataFrame:
    """Add the property columns a latent-space result lacks (keeping its own columns)."""
    missing = [c for c in ("valid", "qed", "sa", "mw", "logp", "tpsa", "alerts") if c not in df.columns]
    if not missing:
        return df.reset_index(drop=True)
    props = chunk_properties(df["smiles"].astype(str).tolist(), alerts=True)
    out = df.reset_index(drop=True).copy()
    for c in props.columns:
        if c not in out.columns:
            out[c] = props[c].to_numpy()
    return out
