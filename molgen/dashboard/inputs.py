"""Molecule sets a user gives the dashboard: pasted text, uploaded files, shipped data files.

Uploads are parsed in memory with :func:`molgen.data.read_smiles` and never written to disk;
shipped files are chosen by name under ``data/moses/``, never by path. Unreadable entries are
counted and named in :attr:`SmilesInput.problems`, ready to show.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from molgen import paths
from molgen.errors import InputError

#: Largest upload accepted (bytes); a 100k-SMILES file is ~5 MB.
MAX_UPLOAD_BYTES = 200_000_000


@dataclass
class SmilesInput:
    """SMILES read from a paste, an upload or a shipped file, with per-line problems for the user."""

    smiles: list[str]
    names: list[str] | None = None
    source: str = ""
    problems: list[str] = field(default_factory=list)
    #: The file's other columns (an activity, an assay), one raw value per molecule kept.
    columns: dict[str, list] = field(default_factory=dict)


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
    out = _from_molecule_set(read_smiles(filename, column=column, data=data), filename)
    left = other_columns(filename, data, column)
    if left:
        values = _column_values(filename, data, column, left)
        if len(values) == len(out.smiles):
            out.columns = {c: [(v or {}).get(c) for v in values] for c in left}
        else:  # cannot happen while both passes keep the same records; said, never dropped in silence
            out.problems.append(f"{len(left)} column{'s' if len(left) > 1 else ''} of {filename} not shown: "
                                f"{', '.join(left[:8])}{', …' if len(left) > 8 else ''}")
    return out


def _column_values(filename: str, data: bytes, column: str | None, names: list[str]) -> list[dict | None]:
    """The ``names`` columns of every record :func:`molgen.data.read_smiles` keeps, in its order: the
    same reader, the same test of each record (:func:`molgen.data.readers.parse_record`)."""
    from molgen.data.readers import RecordReader, parse_record

    reader = RecordReader(filename, column, data=data, columns=tuple(names))
    return [rec.values for rec in reader if parse_record(rec)[0] is not None]


def other_columns(filename: str, data: bytes, column: str | None = None) -> list[str]:
    """Columns of a CSV/TSV/Parquet upload other than its SMILES and name columns (empty for other
    formats or an unreadable header; :func:`read_upload` has already said what is wrong with it)."""
    import io

    from molgen.data.readers import NAME_COLUMNS, SMILES_COLUMNS, detect_format

    fmt, gzipped = detect_format(filename)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            header = list(pq.ParquetFile(io.BytesIO(data)).schema_arrow.names)
        elif fmt in ("csv", "tsv"):
            header = list(pd.read_csv(io.BytesIO(data), nrows=0, sep=None, engine="python",
                                      compression="gzip" if gzipped else None).columns)
        else:
            return []
    except Exception:  # noqa: BLE001 - a header pandas or pyarrow cannot read: nothing to add to the reader's own report
        return []
    lowered = [str(h).strip().lower() for h in header]
    smiles = column.lower() if column else next((c for c in SMILES_COLUMNS if c in lowered), None)
    if smiles not in lowered:  # a headerless file: its first row is a molecule, not column names
        return []
    name = next((c for c in NAME_COLUMNS if c in lowered), None)
    return [str(h).strip() for h, low in zip(header, lowered) if low not in (smiles, name) and str(h).strip()]


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
    if not paths.MOSES_DIR.is_dir():
        return {}
    suffixes = (".csv.gz", ".csv", ".smi")
    return {p.name: p for p in sorted(paths.MOSES_DIR.iterdir()) if p.is_file() and p.name.endswith(suffixes)}


def training_file(path: str | os.PathLike | None = None) -> Path:
    """A training-set file (default: the shipped MOSES training set); :class:`InputError` if missing."""
    p = Path(path) if path is not None else paths.MOSES_DIR / "train.csv.gz"
    if not p.is_file():
        raise InputError(f"{p}: training set not found")
    return p


def smiles_column(path: str | os.PathLike, nrows: int | None = None) -> list[str]:
    """The SMILES column (named ``smiles`` in any case, else the first) of a shipped-style CSV file."""
    df = pd.read_csv(path, nrows=nrows)
    col = next((c for c in df.columns if c.lower() == "smiles"), df.columns[0])
    return df[col].astype(str).tolist()


def read_shipped_data(name: str, limit: int | None = None) -> SmilesInput:
    """First ``limit`` SMILES of a shipped data file chosen by name (never an arbitrary path)."""
    files = shipped_data_files()
    if name not in files:
        raise InputError(f"{name}: not a shipped data file ({', '.join(files) or 'none'})")
    return SmilesInput(smiles_column(files[name], nrows=limit), None, source=name)


def invalid_messages(smiles: Sequence[str], limit: int = 5, valid: Sequence[bool] | None = None) -> list[str]:
    """Why the first ``limit`` unparsable SMILES fail: ``#n`` (numbered from 1, as the grid) and
    what and where (:func:`molgen.chem.mol.explain_smiles`, first line: "unclosed ring 1 at position 1").

    With ``valid`` (the table's validity column) only the invalid entries are re-parsed, so a
    100,000-molecule set costs nothing here.
    """
    from molgen.chem.mol import explain_smiles

    candidates = range(len(smiles)) if valid is None else (i for i, ok in enumerate(valid) if not ok)
    out = []
    for i in candidates:
        reason = explain_smiles(smiles[i])
        if reason is not None:
            out.append(f"#{i + 1}: {reason.splitlines()[0]}")
            if len(out) >= limit:
                break
    return out


#: Columns :func:`prepare_molecules` adds to a molecule table.
PREPARED_COLUMNS = ("input_smiles", "fragments", "inorganic", "flags")


def structure_flags(smiles: str) -> tuple[int, bool, list[str]]:
    """``(fragments, inorganic, flags)`` of an input SMILES: how many disconnected pieces it has,
    whether it has no carbon at all, and the warnings a chemist should see (salt or mixture,
    inorganic, a net charge). An unparsable SMILES gives ``(0, False, [])``."""
    from rdkit import Chem

    from molgen.chem.mol import to_mol

    mol = to_mol(smiles)
    if mol is None:
        return 0, False, []
    fragments = len(Chem.GetMolFrags(mol))
    inorganic = not any(a.GetAtomicNum() == 6 for a in mol.GetAtoms())
    flags = []
    if fragments > 1:
        flags.append(f"{fragments} fragments (salt or mixture)")
    if inorganic:
        flags.append("inorganic (no carbon)")
    charge = Chem.GetFormalCharge(mol)
    if charge and fragments == 1:
        flags.append(f"net charge {charge:+d}")
    return fragments, inorganic, flags


def prepare_molecules(smiles: Sequence[str], standardize: bool) -> tuple[list[str], pd.DataFrame]:
    """The SMILES to score and a frame of :data:`PREPARED_COLUMNS` (one row per input).

    Every input is flagged as given (multi-fragment, inorganic, net charge). With ``standardize``
    each valid one goes through :func:`molgen.chem.mol.standardize_mol`, the CLI's
    ``--standardize``: cleanup, largest organic fragment, neutralised; the input is kept in
    ``input_smiles`` and the flag says what changed. A molecule that cannot be standardised is
    kept as given, with the reason in its flags; an invalid one stays as typed (and invalid).
    """
    from rdkit import Chem

    from molgen.chem.mol import canonical_smiles, standardize_mol, to_mol

    out: list[str] = []
    rows = []
    for smi in smiles:
        fragments, inorganic, flags = structure_flags(smi)
        scored = smi
        mol = to_mol(smi) if standardize else None
        if mol is not None:
            std, reason = standardize_mol(mol)
            if std is None:
                flags.append(f"kept as given: {reason}")
            else:
                scored = Chem.MolToSmiles(std)
                if scored != canonical_smiles(smi):
                    flags.append(f"standardised to {scored}")
                    inorganic = not any(a.GetAtomicNum() == 6 for a in std.GetAtoms())
        out.append(scored)
        rows.append({"input_smiles": smi, "fragments": fragments, "inorganic": inorganic, "flags": "; ".join(flags)})
    return out, pd.DataFrame(rows, columns=list(PREPARED_COLUMNS))
