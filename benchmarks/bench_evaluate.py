"""Benchmark ``molgen evaluate``'s path: 10,000 "generated" SMILES against the shipped MOSES sample.

The generated set is the first N records of ``data/moses/test_scaffolds.csv.gz`` (raw strings,
as the CLI reads them), scored against the shipped train/test/scaffold-test files with every
metric, FCD included. Reference statistics are timed separately: cold (computed, then cached)
or warm (loaded from the cache); the evaluation itself is timed per stage and in total and
compared with the 60 s target. The machine's load average is printed before and after, since
on a shared machine it moves the figures more than anything else.

usage:
  .venv/bin/python benchmarks/bench_evaluate.py               # uses the reference cache
  .venv/bin/python benchmarks/bench_evaluate.py --cold        # fresh cache: time the reference side too
  .venv/bin/python benchmarks/bench_evaluate.py -n 2000 -j 2 --no-fcd
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 60.0


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - non-Unix
        return "n/a"


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the feature workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _group_breakdown(smiles: list[str]) -> None:
    """CPU ms per molecule of each feature group (one process), to split the single RDKit pass
    of ``evaluate`` between the metrics that use it."""
    from molgen.metrics.features import compute_features

    def timed(groups: tuple[str, ...]) -> float:
        t = time.process_time()
        compute_features(smiles, groups=groups, n_jobs=1)
        return time.process_time() - t

    base = timed(())
    users = {"fp": "SNN, IntDiv", "kl": "KL score", "frag": "Frag", "scaf": "Scaf", "props": "QED/SA/logP/MW",
             "filters": "Filters, PAINS-free"}
    print(f"\nRDKit feature groups, CPU ms/molecule on {len(smiles):,} molecules (one process):")
    print(f"| group (metrics) | ms/mol |\n|---|---:|\n| parse + canonical (valid, unique, novelty) | {1000 * base / len(smiles):.2f} |")
    for group, used_by in users.items():
        extra = timed((group,)) - base
        print(f"| {group} ({used_by}) | {1000 * extra / len(smiles):.2f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=10000, help="generated SMILES to score (default 10000)")
    p.add_argument("-j", "--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--no-fcd", action="store_true", help="skip FCD")
    p.add_argument("--cold", action="store_true", help="use an empty cache folder, so reference statistics are computed")
    p.add_argument("--cache-dir", help="cache folder (default: molgen's, ~/.cache/molgen or $MOLGEN_CACHE_DIR)")
    p.add_argument("--breakdown", type=int, default=1000, metavar="N",
                   help="time each RDKit feature group alone on N molecules, one process (0 to skip; default 1000)")
    args = p.parse_args(argv)

    if args.cold:
        os.environ["MOLGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="molgen-bench-")
    elif args.cache_dir:
        os.environ["MOLGEN_CACHE_DIR"] = args.cache_dir

    import torch

    from molgen.evaluation import format_markdown, read_raw_smiles
    from molgen.metrics import evaluate, reference_stats
    from molgen.metrics.reference import cache_dir

    data = ROOT / "data" / "moses"
    print(f"load average before: {_load()} | cores: {len(os.sched_getaffinity(0))} | torch threads: {torch.get_num_threads()}")
    print(f"reference cache: {cache_dir()}{' (fresh)' if args.cold else ''}")

    t0 = time.perf_counter()
    generated = read_raw_smiles(data / "test_scaffolds.csv.gz")[: args.n]
    train = read_raw_smiles(data / "train.csv.gz")
    test = read_raw_smiles(data / "test.csv.gz")
    test_sf = read_raw_smiles(data / "test_scaffolds.csv.gz")
    read_s = time.perf_counter() - t0
    print(f"read files: {read_s:.1f} s ({len(generated):,} generated, {len(train):,} train, {len(test):,} test, {len(test_sf):,} scaffold test)")

    fcd = not args.no_fcd
    ref_times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, smiles, role in (("train", train, "train"), ("test", test, "test"), ("test_scaffolds", test_sf, "test")):
            t = time.perf_counter()
            stats = reference_stats(smiles, role, fcd=fcd, n_jobs=args.jobs)
            ref_times[name] = time.perf_counter() - t
            if name == "train":
                train_s = stats
            elif name == "test":
                test_s = stats
            else:
                sf_s = stats
        ref_total = sum(ref_times.values())
        print("reference statistics: " + ", ".join(f"{k} {v:.1f} s" for k, v in ref_times.items()) + f" (total {ref_total:.1f} s)")

        timings: dict[str, float] = {}
        cpu0 = _cpu_seconds()
        t = time.perf_counter()
        result = evaluate(generated, train_s, test_s, sf_s, n_jobs=args.jobs, fcd=fcd, timings=timings)
        eval_s = time.perf_counter() - t
        eval_cpu = _cpu_seconds() - cpu0

    print()
    print("| stage | seconds |")
    print("|---|---:|")
    for k, v in timings.items():
        print(f"| {k} | {v:.2f} |")
    print(f"| **evaluate total** | **{eval_s:.1f}** |")
    print()
    verdict = "meets" if eval_s <= TARGET_S else "MISSES"
    print(f"evaluate({len(generated):,} SMILES), reference statistics precomputed: {eval_s:.1f} s -> {verdict} the {TARGET_S:.0f} s target")
    print(f"CPU time of the evaluation (all processes): {eval_cpu:.1f} s "
          f"(wall/CPU = {eval_s / max(eval_cpu, 1e-9):.2f}; below 1 means the worker processes ran in parallel)")
    print(f"including the reference side as measured above: {eval_s + ref_total:.1f} s")
    if args.breakdown:
        _group_breakdown(generated[: args.breakdown])
    print(f"load average after: {_load()}")
    print()
    print(format_markdown({"test_scaffolds[:n]": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
