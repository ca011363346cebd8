"""``molgen cache``: build the reference statistics ``molgen evaluate`` needs once, or show the cache."""

from __future__ import annotations

import argparse
import sys

from molgen.commands import _args
from molgen.commands._io import add_reference_sets

NAME = "cache"
HELP = "build (warm) or show the reference-statistics cache that molgen evaluate uses"
DESCRIPTION = """\
The first 'molgen evaluate' computes statistics of its reference sets (canonical training set,
KL descriptors, fingerprints, fragments, scaffolds, properties and the FCD's ChemNet
activations): minutes on a laptop. They are cached (by content) under
$MOLGEN_CACHE_DIR/metrics, default ~/.cache/molgen/metrics, and every later evaluation with
the same reference files loads them in seconds. 'molgen cache build' computes them once, with
progress, for the shipped MOSES sets (or your own, the same options as evaluate).

examples:
  molgen cache build                       # the shipped MOSES train, test and scaffold-test sets
  molgen cache build --no-fcd -j 2
  molgen cache info                        # where the cache is and what it holds"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("build", "info"), help="build the reference statistics, or show the cache")
    add_reference_sets(p)
    p.add_argument("--no-fcd", action="store_true", help="skip the FCD statistics (as evaluate --no-fcd)")
    p.add_argument("-j", "--jobs", type=_args.jobs, default=None, metavar="N", help="worker processes (default: all cores)")
    p.add_argument("--device", default="cpu", help="torch device for the FCD (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from molgen.metrics.reference import cache_dir

    folder = cache_dir()
    if args.action == "build":
        from molgen import evaluation
        from molgen.runtime import pick_device

        settings = evaluation.Settings(fcd=not args.no_fcd, n_jobs=args.jobs, device=pick_device(args.device),
                                       progress=not args.no_progress, cache=True)
        evaluation.References.read(args.train, args.test, args.test_scaffolds).compute(settings)
        print(f"reference statistics cached in {folder}", file=sys.stderr)
    entries = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    print(f"{folder}: {len(entries)} cached reference set(s), {sum(p.stat().st_size for p in entries) / 1e6:.1f} MB")
    for p in entries:
        print(f"  {p.name}  {p.stat().st_size / 1e6:.1f} MB")
    return 0
