"""Split molecule inputs into partitions for data-parallel jobs (:mod:`molgen.cluster`).

A partition is one file, or a byte range of a large plain SMILES/CSV/TSV file that starts at a
line start (:class:`~molgen.data.readers.ByteSpan`), never inside a quoted CSV field. The ranges carry the line number they start
at, counted once here, so a record read inside any partition is named by its true line in reject
reports and errors, as the single-process reader names it. Gzipped, SDF, Parquet and UTF-16/32
files are one partition each (a byte offset means nothing inside them).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from molgen.data.readers import FORMATS, ByteSpan, _wide_encoding, detect_format
from molgen.errors import InputError

_BLOCK = 1 << 23  # bytes scanned at a time when counting lines
MIN_AUTO_BYTES = 64 << 10  # automatic partitions are at least this large (~2,000 SMILES: tasks cost ~40 ms) ...
MAX_AUTO_BYTES = 64 << 20  # ... and at most this (memory of a worker, time lost with a dead one)


@dataclass(frozen=True)
class Partition:
    """The ``index``-th piece of a job's input: a whole file (``span`` None) or a byte range of it."""

    index: int
    path: str
    span: ByteSpan | None = None

    def describe(self) -> str:
        """``file`` or ``file (bytes a-b, from line n)`` for messages and the manifest."""
        if self.span is None:
            return self.path
        return f"{self.path} (bytes {self.span.start}-{self.span.end}, from line {self.span.first_line})"

    @classmethod
    def from_dict(cls, d: dict) -> "Partition":
        """The partition :meth:`as_dict` recorded (a manifest's plan, reused by a re-run)."""
        span = ByteSpan(d["start"], d["end"], d["first_line"]) if "start" in d else None
        return cls(d["index"], d["path"], span)

    def as_dict(self) -> dict:
        """The manifest's record of this partition."""
        out: dict = {"index": self.index, "path": self.path}
        if self.span is not None:
            out.update(start=self.span.start, end=self.span.end, first_line=self.span.first_line)
        return out


def input_files(spec: str | os.PathLike) -> list[Path]:
    """The files an input names: a file, a directory (its molecule files, sorted) or a glob pattern."""
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _known(p))
        if not files:
            raise InputError(f"{path}: no molecule files in this directory ({' '.join(sorted(set(FORMATS)))}, .gz)")
        return files
    if glob.has_magic(text) and not path.exists():
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not files:
            raise InputError(f"{text}: no file matches this pattern")
        return files
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return [path]


def _known(path: Path) -> bool:
    try:
        detect_format(path)
    except InputError:
        return False
    return True


def _splittable(path: Path) -> bool:
    """A plain (not gzipped), byte-oriented SMILES/CSV/TSV file."""
    fmt, gz = detect_format(path)
    if gz or fmt not in ("smi", "csv", "tsv"):
        return False
    with open(path, "rb") as fh:
        head = fh.read(64)
    return head[:2] != b"\x1f\x8b" and _wide_encoding(head) is None


def _line_ends(block: bytes) -> int:
    """Line endings in ``block`` as the readers count them: LF, CRLF and a lone CR are one each."""
    return block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")


def split_text(path: str | os.PathLike, target_bytes: int, quoted: bool | None = None) -> list[ByteSpan]:
    """Byte ranges of about ``target_bytes`` each, every one starting just after a LF, with the
    line number it starts at (one pass over the file, counting line endings).

    ``quoted`` (default: CSV/TSV files): a LF inside a quoted field (``"a name\non two lines"``) is
    not a record start, so no range starts there; whether a LF is inside quotes is the parity of the
    ``"`` before it, exact for CSV quoting (RFC 4180: a field quoted whole, ``""`` inside it)."""
    if quoted is None:
        quoted = detect_format(Path(path))[0] in ("csv", "tsv")
    if target_bytes < 1:
        raise ValueError(f"target_bytes must be >= 1, got {target_bytes}")
    size = os.path.getsize(path)
    spans: list[ByteSpan] = []
    start, first_line = 0, 1
    lines = 0  # line endings before ``offset``
    quotes = 0  # '"' before the position counted to (odd: inside a quoted field)
    offset = 0
    carry = b""  # a trailing CR held back so that a CRLF pair is never split between blocks
    with open(path, "rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            data = carry + block
            if not block:
                break
            carry = b"\r" if data.endswith(b"\r") else b""
            if carry:
                data = data[:-1]
            pos = 0  # where in ``data`` the lines are counted up to
            while True:
                want = start + target_bytes - offset  # first index in data a boundary may follow
                if want >= len(data):
                    break
                cut = data.find(b"\n", max(want - 1, pos))
                if cut < 0:
                    break
                lines += _line_ends(data[pos : cut + 1])
                if quoted:
                    quotes += data.count(b'"', pos, cut + 1)
                pos = cut + 1
                if quotes % 2:  # inside a quoted field: jump to its closing quote, then cut at the next line end
                    q = data.find(b'"', pos)
                    if q < 0:
                        break  # the field runs on into the next block
                    lines += _line_ends(data[pos : q + 1])
                    quotes += 1
                    pos = q + 1
                    continue
                boundary = offset + pos
                if boundary >= size:
                    break
                spans.append(ByteSpan(start, boundary, first_line))
                start, first_line = boundary, lines + 1
            lines += _line_ends(data[pos:])
            if quoted:
                quotes += data.count(b'"', pos)
            offset += len(data)
    spans.append(ByteSpan(start, size, first_line))
    return spans


def plan_partitions(spec: str | os.PathLike, target_bytes: int) -> list[Partition]:
    """The partitions of an input (file, directory or glob): one per file, and a large plain
    text file cut into ranges of about ``target_bytes``; indices follow input order."""
    parts: list[Partition] = []
    for path in input_files(spec):
        detect_format(path)  # an unsupported extension fails here, naming the file
        if _splittable(path) and path.stat().st_size > target_bytes:
            spans = split_text(path, target_bytes)
            first = len(parts)
            parts.extend([Partition(first + i, str(path), s) for i, s in enumerate(spans)])
        else:
            parts.append(Partition(len(parts), str(path)))
    return parts


def auto_partition_bytes(inputs: list[Path], n_workers: int) -> int:
    """A byte-range size giving each worker about four partitions of the input (so the work
    balances and a lost worker costs little), between :data:`MIN_AUTO_BYTES` and :data:`MAX_AUTO_BYTES`."""
    total = sum(p.stat().st_size for p in inputs)
    return int(min(MAX_AUTO_BYTES, max(MIN_AUTO_BYTES, total // max(1, 4 * n_workers))))
