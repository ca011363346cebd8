"""Benchmark ``molgen filter``: throughput against the single-core RDKit floor, and memory.

    python benchmarks/bench_filter.py                  # 1,000,000 SMILES (MOSES train sample x4) and 250,000
    python benchmarks/bench_filter.py --n 100000 -j 2  # a quicker run

What it prints, from one run:

* the **floor**: per-molecule time of the RDKit calls the command cannot avoid when every
  column is needed (parse, canonical SMILES, each property, the three alert catalogs),
  measured single-core on a sample and extrapolated to N;
* for two input sizes (N/4 and N): wall time, molecules/s, the ratio of that throughput to
  the single-core floor (the ideal for J workers with no short-circuiting is J), molecules
  kept, and peak memory of the process tree (parent + workers, sampled from
  /proc/PID/smaps_rollup every 0.1 s) as summed RSS and summed PSS (shared pages split
  between the forked workers), and the largest single process (``getrusage(RUSAGE_CHILDREN)``).
  Wall time includes interpreter start-up (molgen.cli imports torch: several seconds).
  Flat memory between the two sizes shows the streaming works.

The filter (``--preset lipinski --preset pains-free --range qed=0.5:``) lets the command
skip QED and alerts for molecules already rejected by cheaper tests, so its throughput can
exceed J × floor; the kept fraction is printed so the saving can be judged.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILTER_ARGS = ["--preset", "lipinski", "--preset", "pains-free", "--range", "qed=0.5:"]


def load_source(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        next(fh)
        return [line.strip().split(",")[0] for line in fh if line.strip()]


def write_input(smiles: list[str], n: int, path: Path) -> None:
    """``n`` SMILES, cycling through the source (the 250k sample x4 for 1M)."""
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(smiles[i % len(smiles)] + "\n")


def floor_us_per_mol(smiles: list[str]) -> tuple[dict[str, float], float]:
    """Single-core µs per molecule of each RDKit call a full property row needs (wall clock),
    and the CPU µs per molecule of all of them together (immune to other processes' load)."""
    from rdkit import Chem

    from molgen.chem.alerts import family_matches
    from molgen.chem.properties import PROPERTIES

    mols = [Chem.MolFromSmiles(s) for s in smiles]
    n = len(smiles)
    out: dict[str, float] = {}
    cpu0 = time.process_time()

    def timed(name, fn, items):
        fn(items[0])  # warm-up: SA's fragment table, catalogs and lazy imports load once
        t = time.perf_counter()
        for x in items:
            fn(x)
        out[name] = (time.perf_counter() - t) / n * 1e6

    timed("parse", Chem.MolFromSmiles, smiles)
    timed("canonical", Chem.MolToSmiles, mols)
    # logP and MR share one Crippen call in molgen; penalized_logp and lipinski_violations
    # reuse logP/SA/MW/HBD/HBA there, so the floor counts only their own extra work.
    from rdkit.Chem import rdMolDescriptors

    timed("crippen(logp+mr)", rdMolDescriptors.CalcCrippenDescriptors, mols)
    for name in ["mw", "qed", "sa", "tpsa", "hbd", "hba", "rotatable_bonds", "rings", "aromatic_rings",
                 "heavy_atoms", "formal_charge", "fsp3", "atoms"]:
        timed(name, PROPERTIES[name], mols)
    timed("ring sizes (penalized_logp)", lambda m: m.GetRingInfo().AtomRings(), mols)
    for fam in ("pains", "brenk", "nih"):
        # as molgen matches them: PAINS through its exact fingerprint pre-screen, the rest directly
        timed(f"alerts {fam}", functools.partial(family_matches, family=fam), mols)
    return out, (time.process_time() - cpu0) / n * 1e6


def _tree_memory_kb(root: int) -> tuple[int, int]:
    """``(sum of RSS, sum of PSS)`` in kB over ``root`` and its descendants, from /proc.

    RSS counts pages shared by forked workers once per process; PSS splits them, so the
    PSS sum is the memory the tree really occupies."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in tree:
                tree.add(child)
                frontier.append(child)
    rss = pss = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def run_filter(inp: Path, out: Path, jobs: int, chunk_size: int, filter_args: list[str]) -> dict[str, float]:
    cmd = [sys.executable, "-m", "molgen.cli", "filter", str(inp), "-o", str(out), *filter_args,
           "-j", str(jobs), "--chunk-size", str(chunk_size), "--no-progress"]
    peak = [0, 0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample():
        while not done.is_set():
            rss, pss = _tree_memory_kb(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"molgen filter failed ({proc.returncode}):\n{err}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    summary = [line for line in err.splitlines() if "records: kept" in line][-1]
    kept = int(re.search(r"kept ([\d,]+),", summary).group(1).replace(",", ""))
    return {"wall": wall, "cpu": cpu, "kept": kept, "peak_tree_mb": peak[0] / 1024, "peak_pss_mb": peak[1] / 1024,
            "max_proc_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="large input size (the small one is n/4)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--chunk-size", type=int, default=2000)
    ap.add_argument("--floor-sample", type=int, default=2000, help="molecules timed for the floor")
    ap.add_argument("--source", type=Path, default=ROOT / "data" / "moses" / "train.csv.gz")
    ap.add_argument("--filter", default=" ".join(FILTER_ARGS),
                    help="molgen filter options to time (default: %(default)s); e.g. a cheap, very selective "
                    "'--range mw=0:255' to check memory at large N quickly")
    args = ap.parse_args(argv)
    filter_args = shlex.split(args.filter)

    source = load_source(args.source)
    print(f"source: {args.source} ({len(source):,} SMILES); cores available: {len(os.sched_getaffinity(0))}, "
          f"load average {os.getloadavg()[0]:.1f}")
    sample = source[: args.floor_sample]
    floor, floor_cpu = floor_us_per_mol(sample)
    per_mol = sum(floor.values())
    floor_rate = 1e6 / per_mol
    print(f"\nsingle-core RDKit floor on {len(sample):,} molecules: {per_mol:,.0f} µs/mol wall = {floor_rate:,.0f} mol/s "
          f"({floor_cpu:,.0f} CPU-µs/mol = {1e6 / floor_cpu:,.0f} mol/s per fully available core)")
    for name, us in sorted(floor.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<30} {us:8.1f} µs  ({us / per_mol:5.1%})")
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "import molgen.cli"], cwd=ROOT, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    startup_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(f"interpreter + 'import molgen.cli' start-up: {time.perf_counter() - t:.1f} s wall, {startup_cpu:.1f} s CPU")

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_filter.") as tmp:
        for n in (args.n // 4, args.n):
            inp, out = Path(tmp) / f"in_{n}.smi", Path(tmp) / f"out_{n}.parquet"
            write_input(source, n, inp)
            print(f"\nmolgen filter {shlex.join(filter_args)} -j {args.jobs} on {n:,} SMILES ...", flush=True)
            res = run_filter(inp, out, args.jobs, args.chunk_size, filter_args)
            print("  " + res["summary"])
            rows.append((n, res))
            inp.unlink()

    print(f"\n{'input':>10} {'wall s':>8} {'mol/s':>8} {'x floor':>8} {'CPU s':>8} {'CPU-µs/mol':>11} {'kept':>7} "
          f"{'tree RSS MB':>12} {'tree PSS MB':>12} {'max proc RSS MB':>16}")
    for n, r in rows:
        rate = n / r["wall"]
        cpu_us = (r["cpu"] - startup_cpu) / n * 1e6
        print(f"{n:>10,} {r['wall']:>8.1f} {rate:>8,.0f} {rate / floor_rate:>8.2f} {r['cpu']:>8.1f} {cpu_us:>11,.0f} "
              f"{r['kept'] / n:>7.1%} {r['peak_tree_mb']:>12,.0f} {r['peak_pss_mb']:>12,.0f} {r['max_proc_mb']:>16,.0f}")
    (n1, r1), (n2, r2) = rows
    cpu_us = (r2["cpu"] - startup_cpu) / n2 * 1e6
    print(f"\nwall-clock throughput / single-core floor with {args.jobs} workers: {n2 / r2['wall'] / floor_rate:.2f} "
          f"(ideal without short-circuiting: {args.jobs}; both measured under the load average shown)")
    print(f"CPU per molecule: filter {cpu_us:,.0f} µs (parent + workers, start-up excluded) vs floor {floor_cpu:,.0f} µs "
          f"-> efficiency {floor_cpu / cpu_us:.2f}; on {args.jobs} idle cores that is "
          f"{args.jobs * 1e6 / cpu_us:,.0f} mol/s = {args.jobs * floor_cpu / cpu_us:.2f} x the single-core floor, "
          f"{1_000_000 * cpu_us / 1e6 / args.jobs / 60:,.0f} min per million")
    print(f"peak tree memory (PSS) {r1['peak_pss_mb']:,.0f} MB at {n1:,} vs {r2['peak_pss_mb']:,.0f} MB at {n2:,} "
          f"({r2['peak_pss_mb'] / max(r1['peak_pss_mb'], 1):.2f}x for {n2 / n1:.0f}x the input)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes share these cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
