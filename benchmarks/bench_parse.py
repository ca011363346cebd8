"""Parse throughput: our exact parser vs nltk's ChartParser vs RDKit, plus whole-train-set encoding.

Usage: ``python benchmarks/bench_parse.py [--n 2000] [--n-nltk 200] [--grammar smiles]``.
All rates are molecules per second in one process (encoding uses all cores).
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
from pathlib import Path

from grammar import GRAMMAR_NAMES, encode_dataset, load_grammar
from grammar.testing import nltk_derivations

DATA = Path(__file__).resolve().parent.parent / "data" / "moses"


def read_smiles(path: Path, n: int | None = None) -> list[str]:
    with gzip.open(path, "rt") as fh:
        next(fh)
        out = [line.strip().split(",")[0] for line in fh]
    return out if n is None else out[:n]


def best_rate(fn, items: list[str], repeats: int) -> float:
    """Molecules per second, best of ``repeats`` passes (the machine is shared)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in items:
            fn(s)
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000, help="MOSES train SMILES to parse")
    ap.add_argument("--n-nltk", type=int, default=200, help="subset timed with nltk (it is slow)")
    ap.add_argument("--grammar", choices=GRAMMAR_NAMES, action="append", help="default: both")
    ap.add_argument("--skip-encode", action="store_true")
    args = ap.parse_args(argv)

    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    smiles = read_smiles(DATA / "train.csv.gz", args.n)
    print(f"{len(smiles)} MOSES train SMILES, nltk on the first {args.n_nltk}; cpu_count={os.cpu_count()}")
    rdkit_rate = best_rate(Chem.MolFromSmiles, smiles, 3)
    print(f"RDKit Chem.MolFromSmiles: {rdkit_rate:10.0f} mol/s")
    for name in args.grammar or list(GRAMMAR_NAMES):
        g = load_grammar(name)
        g.parse(smiles[0])  # build the parser and warm its leaf cache outside the timing

        def ours(s: str, g=g) -> None:
            try:
                g.parse(s)
            except Exception:  # noqa: BLE001 - unparsable SMILES are part of the timed work, not errors
                pass

        ours_rate = best_rate(ours, smiles, 3)
        subset = smiles[: args.n_nltk]
        nltk_derivations(g, subset[0])
        t0 = time.perf_counter()
        for s in subset:
            nltk_derivations(g, s, limit=1)
        nltk_rate = len(subset) / (time.perf_counter() - t0)
        ours_subset = best_rate(ours, subset, 3)
        print(
            f"[{name}] ours: {ours_rate:10.0f} mol/s | nltk ChartParser: {nltk_rate:8.1f} mol/s "
            f"-> {ours_subset / nltk_rate:7.0f}x nltk (same {len(subset)} molecules) | "
            f"{ours_rate / rdkit_rate:5.2f}x RDKit"
        )

    if not args.skip_encode:
        train = read_smiles(DATA / "train.csv.gz")
        for name in args.grammar or list(GRAMMAR_NAMES):
            with tempfile.TemporaryDirectory() as cache:
                t0 = time.perf_counter()
                ds = encode_dataset(train, load_grammar(name), cache_dir=cache)
                cold = time.perf_counter() - t0
                t0 = time.perf_counter()
                encode_dataset(train, load_grammar(name), cache_dir=cache)
                warm = time.perf_counter() - t0
            print(
                f"[{name}] encode_dataset on {len(train)} train SMILES: {cold:.1f} s "
                f"(cache hit {warm:.1f} s), kept {int(ds.keep.sum())}, failed {ds.n_failed}, max_len {ds.max_len}"
            )


if __name__ == "__main__":
    main()
