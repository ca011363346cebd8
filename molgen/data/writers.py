"""Write property tables as CSV/TSV/SMILES/SDF/Parquet, chunk by chunk, atomically.

The format comes from the extension (``.csv .tsv .smi .sdf`` optionally ``.gz``, ``.parquet``).
A :class:`TableWriter` accepts any number of DataFrame chunks with the same columns, so a
streaming filter writes a million rows in flat memory; the file appears only when complete.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
from pathlib import Path
from typing import IO, Any, Mapping

import pandas as pd

from molgen.atomic import atomic_path, check_output_path
from molgen.data.readers import detect_format
from molgen.errors import InputError, UsageError

#: Floats in text tables keep 10 significant digits: exact enough for any property, and free of
#: binary noise (``302.35500000000013`` is written ``302.355``).
FLOAT_FORMAT = "%.10g"
#: Formats a :class:`TableWriter` can write to a text stream (stdout, a download buffer).
STREAM_FORMATS = ("smi", "csv", "tsv", "sdf")


def export_table(df: pd.DataFrame, provenance: Mapping[str, Any] | None = None, first_id: int | None = None) -> pd.DataFrame:
    """``df`` as exported by ``molgen sample`` and the dashboard: an ``id`` column first (the
    table's index when it is named ``id``, as the dashboard's grid numbers molecules, else
    ``first_id, first_id + 1, …``) and one column per provenance item last (model, seed…)."""
    out = df.reset_index(drop=True)
    if "id" not in out.columns:
        if df.index.name == "id":
            ids = list(df.index)
        else:
            start = 1 if first_id is None else first_id
            ids = list(range(start, start + len(out)))
        out.insert(0, "id", ids)
    for key, value in (provenance or {}).items():
        if key not in out.columns:
            out[key] = value
    return out


def one_line(text: str) -> str:
    """``text`` with its line breaks as spaces: for the one-line places of a format (a .smi name, an
    SDF title or data value, where a blank line ends the field) that a quoted CSV field may not fit."""
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text


def _sd_value(value, float_format: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return format(value, float_format)
    return one_line(str(value))


def write_sdf(
    df: pd.DataFrame, fh: IO[str], smiles_col: str = "smiles", *, skip_invalid: bool = False,
    float_format: str = ".6g",
) -> int:
    """Write the rows of ``df`` to the text stream ``fh`` as SDF records; returns how many were written.

    The ``name`` column (when a non-empty string) is the record title; ``smiles_col`` and every
    other column become SD data fields, floats formatted with ``float_format``. A SMILES that does
    not parse gives an empty structure carrying its data fields, or no record with ``skip_invalid``.
    Coordinates are 2D (RDKit computes them for a molecule without a conformer).
    """
    from rdkit import Chem

    from molgen.chem.mol import to_mol

    fields = [c for c in df.columns if c not in (smiles_col, "name")]
    written = 0
    for rec in df.to_dict("records"):
        mol = to_mol(str(rec[smiles_col]))
        if mol is None:
            if skip_invalid:
                continue
            mol = Chem.Mol()  # keep the row (with its data fields) rather than lose it
        name = rec.get("name")
        mol.SetProp("_Name", one_line(name) if isinstance(name, str) else "")
        block = Chem.MolToMolBlock(mol)
        extra = "".join(f">  <{f}>\n{_sd_value(rec[f], float_format)}\n\n" for f in [smiles_col, *fields])
        fh.write(block + extra + "$$$$\n")
        written += 1
    return written


class TableWriter:
    """Context manager writing DataFrame chunks to ``path``; commits atomically on success.

    .smi files get the SMILES and, when present, the ``name`` column; the other columns are
    listed in :attr:`dropped` for the caller to report (SMILES files have no place for them).
    SDF files carry every other column as an SD data field. Text formats are gzipped when the
    name ends in ``.gz``. The path is checked for writing (:func:`~molgen.atomic.check_output_path`)
    when the writer is made, so a command that makes it first fails before its work.
    """

    def __init__(self, path: str | os.PathLike, smiles_col: str = "smiles", *, stream: IO[str] | None = None,
                 fmt: str | None = None):
        """With ``stream`` (stdout, a download buffer) the rows go there in ``fmt`` (one of
        :data:`STREAM_FORMATS`), not atomically; ``path`` then only names it in messages."""
        self.path = Path(path)
        self.smiles_col = smiles_col
        self._stream = stream
        if stream is not None:
            if fmt not in STREAM_FORMATS:
                raise UsageError(f"cannot stream format {fmt!r}; choose from {', '.join(STREAM_FORMATS)}")
            self.format, self.gz = fmt, False
        else:
            check_output_path(self.path)
            try:
                self.format, self.gz = detect_format(self.path)
            except InputError as exc:
                raise UsageError(f"output {exc}") from None
        self.rows = 0
        self.dropped: list[str] = []  # columns a .smi file has no place for (the caller says so)
        self._stack = contextlib.ExitStack()
        self._fh: IO[str] | None = None
        self._parquet = None
        self._schema = None
        self._columns: list[str] | None = None
        self._tmp: Path | None = None
        self._header_written = False
        self._empty: pd.DataFrame | None = None

    def __enter__(self) -> "TableWriter":
        if self._stream is not None:
            self._fh = self._stream
            return self
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        if self.format != "parquet":
            opener = gzip.open if self.gz else open
            self._fh = self._stack.enter_context(opener(self._tmp, "wt", encoding="utf-8", newline=""))
        return self

    def write(self, df: pd.DataFrame) -> None:
        """Append the rows of ``df`` (same columns as the first chunk)."""
        if self.smiles_col not in df.columns:
            raise ValueError(f"no {self.smiles_col!r} column to write; columns: {', '.join(map(str, df.columns))}")
        if self._columns is None:
            self._columns = list(df.columns)
        elif list(df.columns) != self._columns:
            df = df.reindex(columns=self._columns)
        if self.format == "parquet":
            self._write_parquet(df)
        elif self.format in ("csv", "tsv"):
            sep = "," if self.format == "csv" else "\t"
            df.to_csv(self._fh, sep=sep, index=False, header=not self._header_written, lineterminator="\n",
                      float_format=FLOAT_FORMAT)
            self._header_written = True
        elif self.format == "smi":
            cols = [self.smiles_col] + (["name"] if "name" in df.columns else [])
            self.dropped = [c for c in df.columns if c not in cols]
            for row in df[cols].itertuples(index=False):
                name = one_line(row[1]) if len(row) > 1 and isinstance(row[1], str) and row[1] else ""
                self._fh.write(f"{row[0]} {name}".rstrip() + "\n")
        else:
            write_sdf(df, self._fh, self.smiles_col)
        self.rows += len(df)

    def _write_parquet(self, df: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            if len(df) == 0:
                self._empty = df  # cannot tell the types of text columns yet
                return
            self._schema = self._arrow_schema(df)
            self._parquet = pq.ParquetWriter(self._tmp, self._schema)
        self._parquet.write_table(pa.Table.from_pandas(df, schema=self._schema, preserve_index=False))

    @staticmethod
    def _arrow_schema(df: pd.DataFrame):
        import pyarrow as pa

        schema = pa.Schema.from_pandas(df, preserve_index=False)
        # A text column that is all-missing in the first chunk (names) must still be text.
        for i, f in enumerate(schema):
            if pa.types.is_null(f.type):
                schema = schema.set(i, pa.field(f.name, pa.string()))
        return schema.remove_metadata()

    def _finish(self) -> None:
        if self.format == "parquet":
            if self._parquet is None:  # no chunk at all: still write a valid, empty file
                import pyarrow as pa
                import pyarrow.parquet as pq

                empty = self._empty if self._empty is not None else pd.DataFrame({self.smiles_col: []}, dtype=object)
                pq.write_table(pa.Table.from_pandas(empty, schema=self._arrow_schema(empty), preserve_index=False), self._tmp)
            else:
                self._parquet.close()
        elif self.format in ("csv", "tsv") and not self._header_written:
            sep = "," if self.format == "csv" else "\t"
            self._fh.write(sep.join(self._columns or [self.smiles_col]) + "\n")

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self._finish()
            except BaseException as err:
                self._stack.__exit__(type(err), err, err.__traceback__)
                raise
        elif self._parquet is not None:
            self._parquet.close()
        return bool(self._stack.__exit__(exc_type, exc, tb))

def write_table(df: pd.DataFrame, path: str | os.PathLike, smiles_col: str = "smiles") -> None:
    """Write ``df`` to ``path`` in the format its extension names, atomically."""
    with TableWriter(path, smiles_col) as writer:
        writer.write(df)
