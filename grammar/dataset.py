"""Encode a SMILES data set into padded production-rule id arrays, in parallel, cached on disk.

Molecules the grammar cannot parse (or whose derivation is longer than a given
``max_len``) are counted and reported, never fatal: real users' files contain a few.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing as mp
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from grammar.cfg import Grammar
from grammar.errors import GrammarError

_MAX_FAILURES = 20
_IN_PROCESS_BELOW = 5_000  # smaller inputs are not worth the process start-up
_CACHE_VERSION = 1


@dataclass
class EncodedDataset:
    """Rule-id sequences of the rows that parsed.

    ``ids`` and ``lengths`` hold one row per *kept* input row (``keep.sum()`` rows, in input
    order), so ``np.asarray(smiles)[keep]`` lines up with ``ids``. ``ids`` is padded with
    the grammar's ``pad_rule``.
    """

    ids: np.ndarray  # (n_kept, max_len) int16
    lengths: np.ndarray  # (n_kept,) int64: derivation length before padding
    keep: np.ndarray  # (n_input,) bool: which input rows parsed and fit in max_len
    max_len: int
    n_failed: int
    failures: list[tuple[int, str]]  # (input row, reason), the first few


def default_cache_dir() -> Path:
    """``$MOLGEN_CACHE_DIR`` or ``~/.cache/molgen``."""
    return Path(os.environ.get("MOLGEN_CACHE_DIR") or Path.home() / ".cache" / "molgen")


# Set in each worker by _init_worker: the grammar is rebuilt from its text once per process.
_worker_grammar: Grammar | None = None


def _init_worker(text: str, name: str) -> None:
    global _worker_grammar
    _worker_grammar = Grammar.from_text(text, name=name)


def _encode_chunk(args: tuple[int, Sequence[str]]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]], int]:
    """Parse one chunk: (lengths with -1 for failures, concatenated ids, first failures, n_failed)."""
    offset, smiles = args
    g = _worker_grammar
    assert g is not None
    return _encode_list(g, smiles, offset)


def _encode_list(g: Grammar, smiles: Sequence[str], offset: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]], int]:
    lengths = np.full(len(smiles), -1, dtype=np.int64)
    flat: list[int] = []
    failures: list[tuple[int, str]] = []
    n_failed = 0
    parse = g.parse
    for k, s in enumerate(smiles):
        try:
            if not isinstance(s, str):
                raise GrammarError(repr(s), 0, "a SMILES string", f"got {type(s).__name__}")
            ids = parse(s)
        except GrammarError as err:
            n_failed += 1
            if len(failures) < _MAX_FAILURES:
                failures.append((offset + k, str(err).splitlines()[0]))
            continue
        lengths[k] = len(ids)
        flat.extend(ids)
    return lengths, np.asarray(flat, dtype=np.int16), failures, n_failed


def _cache_key(grammar: Grammar, smiles: Sequence[str], max_len: int | None, margin: float) -> str:
    data = hashlib.sha256()
    for s in smiles:
        data.update((s if isinstance(s, str) else repr(s)).encode("utf-8", "surrogatepass"))
        data.update(b"\n")
    spec = f"v{_CACHE_VERSION}|{grammar.hash}|{data.hexdigest()}|{max_len}|{margin if max_len is None else ''}"
    return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:32]


def _load_cache(path: Path) -> EncodedDataset | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return EncodedDataset(
                ids=z["ids"],
                lengths=z["lengths"],
                keep=z["keep"],
                max_len=int(z["max_len"]),
                n_failed=int(z["n_failed"]),
                failures=[(int(i), str(r)) for i, r in zip(z["fail_rows"], z["fail_reasons"])],
            )
    except (OSError, KeyError, ValueError):
        return None  # missing or unreadable cache: recompute


def _save_cache(path: Path, ds: EncodedDataset) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                ids=ds.ids,
                lengths=ds.lengths,
                keep=ds.keep,
                max_len=np.int64(ds.max_len),
                n_failed=np.int64(ds.n_failed),
                fail_rows=np.array([i for i, _ in ds.failures], dtype=np.int64),
                fail_reasons=np.array([r for _, r in ds.failures], dtype=str),
            )
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C and full disks included: remove the half-written temp file, then re-raise
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_dataset(
    smiles: Sequence[str],
    grammar: Grammar,
    max_len: int | None = None,
    margin: float = 1.1,
    n_jobs: int | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> EncodedDataset:
    """Parse every SMILES into rule ids, pad to ``max_len`` and cache the result.

    ``max_len`` defaults to ``ceil(longest derivation * margin)`` (room for the decoder to
    generate slightly longer molecules); with an explicit ``max_len`` longer derivations
    are rejected and counted. Parsing runs on ``n_jobs`` processes (default: all cores).
    The result is cached as ``.npz`` keyed by grammar hash, data hash and ``max_len``.
    """
    smiles = list(smiles)
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if margin < 1.0:
        raise ValueError(f"margin must be >= 1.0, got {margin}")
    cache_path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_file = cache_path / f"grammar-{grammar.name}-{_cache_key(grammar, smiles, max_len, margin)}.npz"
    cached = _load_cache(cache_file)
    if cached is not None:
        if progress:
            print(f"encode_dataset: cache hit {cache_file}", file=sys.stderr)
        return cached

    lengths, flat, failures, n_failed = _parse_all(smiles, grammar, n_jobs, progress)
    parsed = lengths >= 0
    longest = int(lengths.max()) if parsed.any() else 0
    if max_len is None:
        max_len = max(1, math.ceil(longest * margin))
    else:
        too_long = np.flatnonzero(lengths > max_len)
        for row in too_long:
            n_failed += 1
            if len(failures) < _MAX_FAILURES:
                failures.append((int(row), f"derivation has {lengths[row]} rules > max_len {max_len}"))
        failures.sort()
    keep = parsed & (lengths <= max_len)
    # scatter the concatenated sequences of the kept rows into the padded matrix
    starts = np.concatenate(([0], np.cumsum(np.where(parsed, lengths, 0))))[:-1]
    kept_len = lengths[keep]
    ids = np.full((int(keep.sum()), max_len), grammar.pad_rule, dtype=np.int16)
    cols = np.arange(max_len)
    fill = cols[None, :] < kept_len[:, None]
    src = starts[keep][:, None] + cols[None, :]
    ids[fill] = flat[src[fill]]
    ds = EncodedDataset(ids=ids, lengths=kept_len, keep=keep, max_len=int(max_len), n_failed=int(n_failed), failures=failures[:_MAX_FAILURES])
    _save_cache(cache_file, ds)
    if progress:
        print(f"encode_dataset: {keep.sum()} / {len(smiles)} kept, {n_failed} failed, max_len {max_len}", file=sys.stderr)
    return ds


def _parse_all(smiles: list[str], grammar: Grammar, n_jobs: int | None, progress: bool) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]], int]:
    """Parse in-process or over a process pool, in input order."""
    n_jobs = n_jobs or os.cpu_count() or 1
    if n_jobs <= 1 or len(smiles) < _IN_PROCESS_BELOW:
        return _encode_list(grammar, smiles, 0)
    chunk = max(1_000, math.ceil(len(smiles) / (n_jobs * 8)))
    tasks = [(start, smiles[start : start + chunk]) for start in range(0, len(smiles), chunk)]
    # fork shares the already-imported modules; the grammar itself is rebuilt from its text
    method = "fork" if "fork" in mp.get_all_start_methods() else None
    ctx = mp.get_context(method)
    parts = []
    with ctx.Pool(n_jobs, initializer=_init_worker, initargs=(grammar.text, grammar.name)) as pool:
        for k, part in enumerate(pool.imap(_encode_chunk, tasks)):
            parts.append(part)
            if progress:
                print(f"encode_dataset: {min((k + 1) * chunk, len(smiles))} / {len(smiles)}", file=sys.stderr)
    lengths = np.concatenate([p[0] for p in parts])
    flat = np.concatenate([p[1] for p in parts])
    failures = [f for p in parts for f in p[2]][:_MAX_FAILURES]
    n_failed = sum(p[3] for p in parts)
    return lengths, flat, failures, n_failed
