"""Sampling under load: torch's default CPU threads vs molgen's thread policy.

``molgen sample --model gvae -n N --no-props`` is timed in a fresh process with torch's defaults
(``MOLGEN_THREADS=torch``: one OpenMP thread per core, waiting threads spin) and with molgen's
policy (:func:`molgen.runtime.apply_thread_policy`: ``OMP_WAIT_POLICY=PASSIVE``, threads = free
cores), first on an idle machine, then while ``--load`` busy processes (default: one per core)
compete for the CPUs, as on a shared server. Same seed, so the same molecules every time.

Usage: python benchmarks/bench_thread_policy.py [-n 10000] [--model gvae] [--load K] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICIES = {"torch default": {"MOLGEN_THREADS": "torch"}, "molgen policy": {}}


def timed_sample(n: int, model: str, extra_env: dict[str, str], out: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MOLGEN_THREADS")}
    env.update(extra_env, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "molgen.cli", "sample", "--model", model, "-n", str(n), "--seed", "0",
           "--no-props", "--no-progress", "--device", "cpu", "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def busy(k: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--model", default="gvae")
    ap.add_argument("--load", type=int, default=len(os.sched_getaffinity(0)), help="busy processes (default: one per core)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores, load average {os.getloadavg()[0]:.2f} at start; sampling {args.n} from {args.model}")
    with tempfile.TemporaryDirectory() as tmp:
        outs = {}
        for state in ("idle", f"{args.load} busy processes"):
            procs = busy(args.load) if state != "idle" else []
            try:
                if procs:
                    time.sleep(2)
                for name, env in POLICIES.items():
                    out = Path(tmp) / f"{name.replace(' ', '_')}.smi"
                    times = [timed_sample(args.n, args.model, env, out) for _ in range(args.repeat)]
                    outs.setdefault(name, out.read_text())
                    print(f"{state:>22} | {name:>13} | {statistics.median(times):7.1f} s")
            finally:
                for p in procs:
                    p.kill()
                for p in procs:
                    p.wait()
        same = len(set(outs.values())) == 1
        print(f"same molecules under both policies: {same}")


if __name__ == "__main__":
    main()
