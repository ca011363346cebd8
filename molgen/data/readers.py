"""Read molecules from SMILES/CSV/TSV/SDF/Parquet files, streaming, with a reject report.

Every record is accounted for: a record that does not parse is skipped and counted, the
first few are named with file, line and reason, and a warning with the summary is logged.
Problems with the file itself (missing, empty, binary, not UTF-8, no SMILES column) raise
:class:`~molgen.errors.InputError` with one line naming the file.
"""

from __future__ import annotations

import codecs
import functools
import csv
import gzip
import io
import itertools
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterator

from molgen.errors import InputError

if TYPE_CHECKING:  # RDKit is imported only where a molecule is parsed
    from molgen.chem.mol import SizeLimits

log = logging.getLogger("molgen.data")

TEXT_FORMATS = {".smi": "smi", ".smiles": "smi", ".txt": "smi", ".csv": "csv", ".tsv": "tsv", ".sdf": "sdf", ".sd": "sdf", ".mol": "sdf"}
FORMATS = {**TEXT_FORMATS, ".parquet": "parquet", ".pq": "parquet"}
SMILES_COLUMNS = ("smiles", "canonical_smiles", "isomeric_smiles", "smi", "smiles_string", "mol_smiles")
NAME_COLUMNS = ("name", "id", "mol_id", "molecule_id", "compound_id", "molecule_name", "title", "chembl_id", "zinc_id")
MAX_EXAMPLES = 10


@dataclass(frozen=True)
class Record:
    """One input record: 1-based line (row for Parquet, first line for SDF), SMILES, name, and
    the values of any other columns the reader was asked for.

    For SDF the molecule is parsed from its mol block; ``smiles`` is then ``None`` and
    ``molblock`` holds the text.
    """

    line: int
    smiles: str | None
    name: str | None = None
    molblock: str | None = None
    values: dict | None = field(default=None, compare=False)  # the reader's ``columns`` (raw values)

    def __iter__(self) -> Iterator:
        """Unpacks as ``line, smiles, name`` (``for line, smi, name in iter_records(path)``)."""
        return iter((self.line, self.smiles, self.name))


@dataclass(frozen=True)
class ByteSpan:
    """A range of a plain text file that starts at a line start: bytes ``start`` to ``end``
    (exclusive), whose first line is line ``first_line`` of the whole file, so that a partition
    read on its own names its records by their true line numbers."""

    start: int
    end: int
    first_line: int


@dataclass
class ReadReport:
    """What happened to every record of a file: counts and the first few rejects."""

    path: str
    n_records: int = 0
    n_valid: int = 0
    n_invalid: int = 0
    examples: list[tuple[str, int, str]] = field(default_factory=list)

    def add_invalid(self, line: int, reason: str) -> None:
        self.n_invalid += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((self.path, line, reason))

    def merge(self, other: "ReadReport") -> None:
        """Add another report's counts (e.g. from a worker's chunk)."""
        self.n_records += other.n_records
        self.n_valid += other.n_valid
        self.n_invalid += other.n_invalid
        room = MAX_EXAMPLES - len(self.examples)
        self.examples.extend(other.examples[: max(0, room)])

    def summary(self) -> str:
        """One line: ``file: N records, V valid, I invalid (line 4: reason; …)``."""
        text = f"{self.path}: {self.n_records:,} records, {self.n_valid:,} valid, {self.n_invalid:,} invalid"
        if self.examples:
            shown = "; ".join(f"line {line}: {reason}" for _, line, reason in self.examples[:3])
            more = ", …" if self.n_invalid > 3 else ""
            text += f" ({shown}{more})"
        return text


def detect_format(path: str | os.PathLike) -> tuple[str, bool]:
    """``(format, gzipped)`` from the file name: ``.smi/.txt/.csv/.tsv/.sdf/.parquet`` + ``.gz``."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    gz = bool(suffixes) and suffixes[-1] in (".gz", ".gzip")
    ext = suffixes[-2] if gz and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
    if ext not in FORMATS:
        known = " ".join(sorted(set(FORMATS)))
        raise InputError(f"{path}: unsupported file type {ext or '(none)'!r}; use one of {known} (text ones may end in .gz)")
    if gz and FORMATS[ext] == "parquet":
        raise InputError(f"{path}: Parquet files are compressed internally; do not gzip them")
    return FORMATS[ext], gz


def _open_binary(path: Path, data: bytes | None = None) -> IO[bytes]:
    """Open a file (or in-memory ``data`` named ``path``) for reading bytes, gunzipping it when
    it starts with the gzip magic bytes."""
    if data is not None:
        if not data:
            raise InputError(f"{path}: file is empty")
        buf = io.BytesIO(data)
        return gzip.GzipFile(fileobj=buf, mode="rb") if data[:2] == b"\x1f\x8b" else buf
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
        if not head:
            raise InputError(f"{path}: file is empty")
        return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _open_plain(path: Path) -> IO[bytes]:
    """Open a plain file for reading bytes (a byte range of it: see :class:`ByteSpan`)."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


_NEWLINE = {bytes: re.compile(rb"\r\n|\r|\n"), str: re.compile(r"\r\n|\r|\n")}
_CHUNK = 1 << 16


def _split_lines(chunks: Iterator) -> Iterator:
    """Lines of a stream of ``bytes`` or ``str`` chunks, without their endings; a line ends at
    ``\\r\\n``, ``\\n`` or a lone ``\\r`` (classic Mac files), in any mix."""
    rest = None
    for chunk in chunks:
        buf = chunk if rest is None else rest + chunk
        cr = buf[-1:] == (b"\r" if isinstance(buf, bytes) else "\r")
        parts = _NEWLINE[type(buf)].split(buf[:-1] if cr else buf)
        rest = parts.pop() + (buf[-1:] if cr else buf[:0])  # a final CR may be half of CRLF
        yield from parts
    if rest:
        yield rest.rstrip(b"\r" if isinstance(rest, bytes) else "\r")


def _wide_encoding(head: bytes) -> str | None:
    """``utf-32``/``utf-16`` (with a byte-order mark), ``utf-16-le``/``-be`` (without, recognised
    by the NUL byte in every ASCII character), or ``None`` for a byte-oriented encoding."""
    if head[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):
        return "utf-32"
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    pairs = len(head) // 2
    if pairs >= 2:
        if all(head[2 * i + 1] == 0 and head[2 * i] != 0 for i in range(pairs)):
            return "utf-16-le"
        if all(head[2 * i] == 0 and head[2 * i + 1] != 0 for i in range(pairs)):
            return "utf-16-be"
    return None


def _span_chunks(fh: IO[bytes], span: ByteSpan) -> Iterator[bytes]:
    """The bytes of ``span`` from an open file, in blocks."""
    fh.seek(span.start)
    left = span.end - span.start
    while left > 0:
        block = fh.read(min(_CHUNK, left))
        if not block:
            return
        left -= len(block)
        yield block


def _lines(path: Path, data: bytes | None = None, span: ByteSpan | None = None) -> Iterator[tuple[int, str]]:
    """Numbered text lines without line endings (LF, CRLF or CR). UTF-8 is decoded strictly line
    by line so that an encoding problem is reported with its line number; UTF-16 (spreadsheet
    "Unicode text" exports) and UTF-32 are recognised and decoded. With ``span``, only that byte
    range of a plain (not gzipped) file is read, numbered from its ``first_line``."""
    n = 0 if span is None else span.first_line - 1
    with (_open_binary(path, data) if span is None else _open_plain(path)) as fh:
        try:
            head = fh.read(_CHUNK) if span is None else b""
            rest = iter(lambda: fh.read(_CHUNK), b"") if span is None else _span_chunks(fh, span)
            chunks = itertools.chain([head], rest)
            encoding = _wide_encoding(head[:64])
            if encoding is not None:
                decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
                try:
                    text = (decoder.decode(c) for c in itertools.chain(chunks, [b""]))
                    for n, line in enumerate(_split_lines(text), n + 1):
                        yield n, line.lstrip("\ufeff") if n == 1 else line
                except UnicodeDecodeError as exc:
                    after = f" after line {n}" if n else ""
                    raise InputError(f"{path}: not {encoding.upper()} text{after} ({exc.reason}); re-save the file as UTF-8") from None
                return
            for n, raw in enumerate(_split_lines(chunks), n + 1):
                if b"\x00" in raw:
                    raise InputError(f"{path}: line {n}: binary data (NUL byte); expected a text file of molecules")
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(f"{path}: line {n}: not UTF-8 text ({exc.reason}); re-save the file as UTF-8") from None
                if n == 1:
                    line = line.lstrip("\ufeff")  # byte-order mark written by spreadsheet programs
                yield n, line
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: corrupt gzip data ({exc})") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _find_column(header: list[str], wanted: str | None, candidates: tuple[str, ...], path: Path, what: str) -> int | None:
    lowered = [h.strip().lower() for h in header]
    if wanted is not None:
        if wanted.lower() in lowered:
            return lowered.index(wanted.lower())
        raise InputError(f"{path}: no column {wanted!r}; columns found: {', '.join(header)}")
    for cand in candidates:
        if cand in lowered:
            return lowered.index(cand)
    if what == "SMILES":
        for i, h in enumerate(lowered):
            if "smiles" in h:
                return i
    return None


class RecordReader:
    """Streams :class:`Record` s from one file; ``has_names`` says whether names can occur.

    ``columns`` names further columns of a CSV/TSV/Parquet file to carry in :attr:`Record.values`
    (matched case-insensitively); once the header is read, :attr:`found` lists those present.
    ``span`` reads one byte range of a plain SMILES/CSV/TSV file (a partition of a large file:
    :func:`molgen.data.partitions.plan_partitions`); a CSV/TSV range after the first takes the file's header.
    """

    def __init__(
        self, path: str | os.PathLike, column: str | None = None, name_column: str | None = None,
        data: bytes | None = None, columns: tuple[str, ...] = (), span: ByteSpan | None = None,
    ):
        self.path = Path(path)
        self.span = span
        self.columns = columns
        self.found: list[str] = []
        self.data = data  # in-memory content (an upload); ``path`` then only names it
        self.column = column
        self.name_column = name_column
        self.format, _ = detect_format(self.path)
        self.has_names = self.format in ("smi", "sdf") or name_column is not None
        if span is not None and (data is not None or self.format not in ("smi", "csv", "tsv")):
            raise ValueError(f"{self.path}: a byte range is read from a plain SMILES/CSV/TSV file only")
        if data is None and self.format != "parquet":
            _open_binary(self.path).close()  # missing, empty or unreadable: say so before any work

    def __iter__(self) -> Iterator[Record]:
        if self.format == "smi":
            return self._smi()
        if self.format in ("csv", "tsv"):
            return self._delimited("," if self.format == "csv" else "\t")
        if self.format == "sdf":
            return self._sdf()
        return self._parquet()

    def _smi(self) -> Iterator[Record]:
        for n, line in _lines(self.path, self.data, self.span):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split(None, 1)
            if n == 1 and parts[0].lower() in SMILES_COLUMNS:
                continue  # a header line
            yield Record(n, parts[0], parts[1].strip() if len(parts) > 1 else None)

    def _delimited(self, delimiter: str) -> Iterator[Record]:
        # a huge field is one record to skip and report (size guard), not a reason to stop reading
        csv.field_size_limit(2**31 - 1)
        # csv gets each line with its end back, so a quoted field that spans lines keeps its line breaks
        lines = (line + "\n" for _, line in _lines(self.path, self.data, self.span))
        # a later range of the file: its header comes from line 1, and csv's line count (which
        # then counts the header too) is shifted to the range's first line
        later = self.span is not None and self.span.start > 0
        shift = self.span.first_line - 2 if later else 0
        if later:
            header_line = next((line + "\n" for _, line in _lines(self.path)), None)
            lines = itertools.chain([header_line], lines) if header_line is not None else lines
        first = next(lines, None)
        if first is None:
            raise InputError(f"{self.path}: file is empty")
        delimiter = self._delimiter(first, delimiter)
        reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{self.path}: file is empty") from None
        except csv.Error as exc:
            raise InputError(f"{self.path}: line 1: {exc}") from None
        col = _find_column(header, self.column, SMILES_COLUMNS, self.path, "SMILES")
        headerless = False
        if col is None:
            # A one-column file without a header: its first cell is itself a SMILES.
            from molgen.chem.mol import to_mol

            if len(header) == 1 and header[0].strip() and to_mol(header[0].strip()) is not None:
                col, headerless = 0, True
            else:
                raise InputError(
                    f"{self.path}: no SMILES column; columns found: {', '.join(header) or '(none)'}; "
                    "name it with --column"
                )
        name_col = None if headerless else _find_column(header, self.name_column, NAME_COLUMNS, self.path, "name")
        self.has_names = name_col is not None
        extra = {} if headerless else self._extra_columns(header)
        if headerless and not later:
            yield Record(1, header[0].strip(), None)
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                smi = row[col].strip() if col < len(row) else ""
                name = row[name_col].strip() if name_col is not None and name_col < len(row) else None
                values = {c: row[i] for c, i in extra.items() if i < len(row)} if extra else None
                yield Record(reader.line_num + shift, smi, name or None, values=values)
        except csv.Error as exc:
            raise InputError(f"{self.path}: line {reader.line_num + shift}: {exc}") from None

    def _extra_columns(self, header: list[str]) -> dict[str, int]:
        """Position of each asked-for column present in ``header``; sets :attr:`found`."""
        lowered = [h.strip().lower() for h in header]
        extra = {c: lowered.index(c.lower()) for c in self.columns if c.lower() in lowered}
        self.found = list(extra)
        return extra

    def _delimiter(self, header: str, expected: str) -> str:
        """The delimiter the header line actually uses: tab-separated data is often named .csv
        (and European spreadsheets write ';'); reading it with ',' would glue every column into one."""
        if expected in header:
            return expected
        for other in ("\t", ",", ";"):
            if other != expected and other in header:
                shown = {"\t": "tab", ",": "comma", ";": "semicolon"}
                log.info("%s: the header is %s-separated, not %s-separated; reading it as such",
                         self.path, shown[other], shown[expected])
                return other
        return expected

    def _sdf(self) -> Iterator[Record]:
        block: list[str] = []
        start = 1
        for n, line in _lines(self.path, self.data):
            if not block:
                start = n
            if line.startswith("$$$$"):
                yield self._sdf_record(start, block)
                block = []
            else:
                block.append(line)
        if any(x.strip() for x in block):
            yield self._sdf_record(start, block)

    @staticmethod
    def _sdf_record(start: int, block: list[str]) -> Record:
        # The mol block ends at "M  END"; the data fields after it are not needed here.
        end = next((i for i, x in enumerate(block) if x.startswith("M  END")), len(block) - 1)
        name = block[0].strip() if block else None
        return Record(start, None, name or None, "\n".join(block[: end + 1]) + "\n")

    def _parquet(self) -> Iterator[Record]:
        import pyarrow.parquet as pq

        if self.data is None and not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        try:
            pf = pq.ParquetFile(self.path if self.data is None else io.BytesIO(self.data))
        except (PermissionError, IsADirectoryError) as exc:
            raise InputError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        except Exception as exc:  # pyarrow raises ArrowInvalid for non-Parquet bytes
            raise InputError(f"{self.path}: not a readable Parquet file ({exc})") from None
        header = pf.schema_arrow.names
        col = _find_column(header, self.column, SMILES_COLUMNS, self.path, "SMILES")
        if col is None:
            raise InputError(f"{self.path}: no SMILES column; columns found: {', '.join(header)}; name it with --column")
        name_col = _find_column(header, self.name_column, NAME_COLUMNS, self.path, "name")
        self.has_names = name_col is not None
        extra = self._extra_columns(header)
        cols = [header[col]] + ([header[name_col]] if name_col is not None else []) + [header[i] for i in extra.values()]
        first_extra = 2 if name_col is not None else 1
        row = 0
        for batch in pf.iter_batches(batch_size=65536, columns=cols):
            smiles = batch.column(0).to_pylist()
            names = batch.column(1).to_pylist() if name_col is not None else [None] * len(smiles)
            others = [batch.column(first_extra + k).to_pylist() for k in range(len(extra))]
            for j, (smi, name) in enumerate(zip(smiles, names)):
                row += 1
                values = {c: others[k][j] for k, c in enumerate(extra)} if extra else None
                yield Record(row, _text(smi), None if name is None else _text(name), values=values)


def _text(value) -> str:
    """A Parquet cell as text: binary columns hold UTF-8 bytes (an undecodable byte shows as U+FFFD
    and the record is reported invalid), missing is empty."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def iter_records(
    path: str | os.PathLike, column: str | None = None, name_column: str | None = None,
    max_records: int | None = None, data: bytes | None = None,
) -> Iterator[Record]:
    """Stream raw :class:`Record` s (line, SMILES, name) without validating them (huge files).
    With ``data``, read that in-memory content instead of the file; ``path`` names it."""
    for i, rec in enumerate(RecordReader(path, column, name_column, data=data)):
        if max_records is not None and i >= max_records:
            return
        yield rec


def _molblock_heavy_atoms(block: str) -> int | None:
    """Heavy atoms listed in a V2000 mol block (counts line, then the atom lines), without RDKit;
    ``None`` for a V3000 or unreadable header (RDKit's count is then checked after parsing)."""
    lines = block.split("\n", 4)
    if len(lines) < 4 or "V3000" in lines[3]:
        return None
    try:
        n_atoms = int(lines[3][:3])
    except ValueError:
        return None
    atom_lines = block.split("\n", 4 + n_atoms)[4 : 4 + n_atoms]
    return sum(1 for a in atom_lines if a[31:34].strip() not in ("H", "D", "T"))


def parse_record(rec: Record, standardize: bool = False, limits: SizeLimits | None = None):
    """Molecule for a record, or ``(None, reason)``: SMILES or mol block, optional standardisation.

    Records above ``limits`` (heavy atoms, SMILES length; default :data:`~molgen.chem.mol.DEFAULT_LIMITS`)
    are refused before RDKit parses them.
    """
    from rdkit import Chem

    from molgen.chem.mol import DEFAULT_LIMITS, parse_smiles, quiet_rdkit, standardize_mol

    limits = limits or DEFAULT_LIMITS
    if rec.molblock is not None:
        heavy = _molblock_heavy_atoms(rec.molblock)
        if heavy is not None and heavy > limits.max_heavy_atoms:
            return None, f"molecule too large ({heavy:,} heavy atoms; limit {limits.max_heavy_atoms:,}, --max-atoms)"
        with quiet_rdkit():
            mol = Chem.MolFromMolBlock(rec.molblock)
        if mol is None or mol.GetNumAtoms() == 0:
            return None, f"unreadable mol block{f' ({rec.name})' if rec.name else ''}"
        if mol.GetNumHeavyAtoms() > limits.max_heavy_atoms:
            return None, f"molecule too large ({mol.GetNumHeavyAtoms():,} heavy atoms; limit {limits.max_heavy_atoms:,}, --max-atoms)"
        reason = None
    else:
        mol, reason = parse_smiles(rec.smiles or "", limits)
        if mol is None:
            return None, reason
    if standardize:
        return standardize_mol(mol)
    return mol, reason


@dataclass
class MoleculeSet:
    """Valid molecules from a file (SMILES and optional names) with the report on the rest."""

    smiles: list[str]
    names: list[str | None]
    report: ReadReport

    def __len__(self) -> int:
        return len(self.smiles)


#: records handed to one call of a ``map_chunks`` function by :func:`read_smiles`
READ_CHUNK = 2048


def read_smiles(
    path: str | os.PathLike,
    column: str | None = None,
    standardize: bool = False,
    canonical: bool = True,
    progress: bool = False,
    max_records: int | None = None,
    data: bytes | None = None,
    limits: SizeLimits | None = None,
    map_chunks: Callable[[Callable, Iterator], Iterator] | None = None,
) -> MoleculeSet:
    """Read, validate (RDKit) and canonicalise every molecule of a file.

    ``canonical=False`` keeps the input SMILES as written (SDF records are always written out
    as RDKit SMILES). Invalid records are skipped, counted in ``report`` and logged.
    ``data`` reads in-memory content (an upload) instead of the file; ``path`` then names it
    (and its extension gives the format) in the report and errors. Molecules above ``limits``
    are skipped and reported like invalid ones. ``map_chunks(func, chunks)``, when given, runs the
    RDKit work over chunks of :data:`READ_CHUNK` records and yields the results in order (a process
    pool: :func:`molgen.parallel.imap_chunks`); the result is the same as the sequential read.
    """
    from tqdm.auto import tqdm

    report = ReadReport(str(path))
    smiles: list[str] = []
    names: list[str | None] = []
    records = iter_records(path, column=column, max_records=max_records, data=data)
    chunks = _chunks(records, READ_CHUNK)
    task = functools.partial(_parse_chunk, standardize=standardize, canonical=canonical, limits=limits)
    results = map_chunks(task, chunks) if map_chunks is not None else map(task, chunks)
    with tqdm(unit="mol", disable=not progress, desc=Path(path).name) as bar:
        for parsed in results:
            for line, smi, name, reason in parsed:
                report.n_records += 1
                if smi is None:
                    report.add_invalid(line, reason or "invalid")
                    continue
                report.n_valid += 1
                smiles.append(smi)
                names.append(name)
            bar.update(len(parsed))
    if report.n_records == 0:
        raise InputError(f"{path}: no molecules found (only a header, blank lines or comments)")
    if report.n_invalid:
        log.warning("skipped invalid records: %s", report.summary())
    return MoleculeSet(smiles, names, report)


def _chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def _parse_chunk(records: list[Record], standardize: bool, canonical: bool,
                 limits: SizeLimits | None) -> list[tuple[int, str | None, str | None, str | None]]:
    """``(line, SMILES or None, name, reason)`` per record: the RDKit part of :func:`read_smiles`."""
    from rdkit import Chem

    out: list[tuple[int, str | None, str | None, str | None]] = []
    for rec in records:
        mol, reason = parse_record(rec, standardize, limits)
        if mol is None:
            out.append((rec.line, None, rec.name, reason))
        elif canonical or standardize or rec.smiles is None:
            out.append((rec.line, Chem.MolToSmiles(mol), rec.name, reason))
        else:
            out.append((rec.line, rec.smiles, rec.name, reason))
    return out
