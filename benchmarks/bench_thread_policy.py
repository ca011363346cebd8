"""Sampling under load: torch's default CPU threads vs molgen's thread policy.

``molgen sample --model gvae -n N --no-props`` is timed in a fresh process with torch's defaults
(``MOLGEN_THREADS=torch``: one OpenMP thread per core, waiting threads spin) and with molgen's
policy (:func:`molgen.runtime.apply_thread_policy`: ``OMP_WAIT_POLICY=PASSIVE``, threads = free
cores), first on an idle machine, then while ``--load`` busy processes (default: one per core)
compete for the CPUs, as on a shared server. Same seed, so the same molecules every time.

A run longer than ``--timeout`` seconds is stopped and shown as "> T s". On a machine that is
never idle (a shared server), ``--no-idle`` skips the idle pass and ``--load 0`` adds no load:
the figures are then both policies under the machine's own load (its load average is printed).

Usage: python benchmarks/bench_thread_policy.py [-n 10000] [--model gvae] [--load K] [--repeat 1]
       [--timeout 600] [--no-idle]
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


def timed_sample(n: int, model: str, extra_env: dict[str, str], out: Path, timeout: float) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MOLGEN_THREADS")}
    env.update(extra_env, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "molgen.cli", "sample", "--model", model, "-n", str(n), "--seed", "0",
           "--no-props", "--no-progress", "--device", "cpu", "--out", str(out)]
    t0 = time.perf_counter()
    try:
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - t0


def busy(k: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--model", default="gvae")
    ap.add_argument("--load", type=int, default=len(os.sched_getaffinity(0)), help="busy processes (default: one per core)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a run is stopped (shown as '> T s')")
    ap.add_argument("--no-idle", action="store_true", help="skip the idle pass (a machine that is never idle)")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores, load average {os.getloadavg()[0]:.2f} at start; sampling {args.n} from {args.model}")
    with tempfile.TemporaryDirectory() as tmp:
        outs = {}
        states = ([] if args.no_idle else ["idle"]) + ([f"{args.load} busy processes"] if args.load else ["machine's own load"])
        for state in states:
            procs = busy(args.load) if "busy" in state else []
            try:
                if procs:
                    time.sleep(2)
                for name, env in POLICIES.items():
                    out = Path(tmp) / f"{name.replace(' ', '_')}.smi"
                    times = [timed_sample(args.n, args.model, env, out, args.timeout) for _ in range(args.repeat)]
                    t = statistics.median(times)
                    if out.exists():
                        outs.setdefault(name, out.read_text())
                    shown = f"> {args.timeout:.0f} s (stopped)" if t == float("inf") else f"{t:7.1f} s"
                    print(f"{state:>22} | {name:>13} | {shown} | load average {os.getloadavg()[0]:.2f}", flush=True)
            finally:
                for p in procs:
                    p.kill()
                for p in procs:
                    p.wait()
        if len(outs) == len(POLICIES):
            print(f"same molecules under both policies: {len(set(outs.values())) == 1}")


if __name__ == "__main__":
    main()
