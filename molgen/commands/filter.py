"""``molgen filter``: stream a molecule library through rule presets, ranges and expressions."""

from __future__ import annotations

import argparse
import sys

from molgen.commands._args import jobs, positive_int
from molgen.commands._io import add_scheduler, add_size_limits, size_limits

NAME = "filter"
HELP = "filter a molecule library by presets (Lipinski, PAINS…), property ranges and expressions"
DESCRIPTION = """\
Keep the molecules of INPUT that pass every given test and write them, with their
properties, to OUTPUT. Streams the input in chunks over all cores; memory does not grow
with the input size. Prints how many were kept, rejected and invalid. Property columns the
input already has (a 'molgen props' table) are reused where they agree with RDKit on the
first molecules of each chunk; the summary names them, and why any other was recomputed.

Tests (all must hold):
  --preset NAME          lipinski (Ro5, <= 1 violation), veber, ghose, lead-like
                         (MW 250-350, cLogP <= 3.5, rotb <= 7), pains-free, brenk-free, nih-free
  --range PROP=LO:HI     inclusive; either bound may be left out: qed=0.6:  logp=:3.5
  --where EXPR           e.g. "qed >= 0.6 and mw <= 500 and not pains"
                         operators: and or not ( ) < <= > >= == != between;
                         names: any property column, pains/brenk/nih, preset names
                         (lipinski, lead_like, ...), similarity (with --similar-to)
  --smarts-include S     must contain this substructure (repeatable; all must match)
  --smarts-exclude S     must not contain it (repeatable)
  --similar-to SMILES    Morgan r=2 Tanimoto >= --min-sim (default 0.4) to it (repeatable:
                         max over references); adds a 'similarity' column

examples:
  molgen filter library.smi -o hits.csv --preset lipinski --preset pains-free
  molgen filter data/moses/train.csv.gz -o leads.parquet --range qed=0.6: --where "sa <= 3.5 and not brenk"
  molgen filter library.sdf -o amides.sdf --smarts-include "C(=O)N" --smarts-exclude "[N+](=O)[O-]"
  molgen filter library.csv -o near.csv --similar-to "CC(=O)Oc1ccccc1C(=O)O" --min-sim 0.5
  molgen filter library.smi -o leads/ --preset lead-like --scheduler local:2

On a Dask cluster (--scheduler ADDRESS, local:N or $MOLGEN_SCHEDULER) INPUT may be a file, a
directory or a glob ('shards/*.smi'); each file, and each --partition-size byte range of a
large text file, is one task. OUTPUT is then a directory of Parquet parts (part-00000.parquet …)
with manifest.json and rejects.csv (file, line, reason of every skipped record), or one table
file when it has a table extension. The rows equal those of the run without a cluster; a re-run
into the same OUTPUT skips the partitions already written.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="molecule file (.smi .txt .csv .tsv .sdf .parquet, .gz)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="kept molecules (.csv .tsv .smi .sdf .parquet)")
    parser.add_argument("--preset", action="append", default=[], metavar="NAME", help="rule preset (repeatable)")
    parser.add_argument("--range", action="append", default=[], dest="ranges", metavar="PROP=LO:HI", help="property range (repeatable)")
    parser.add_argument("--where", metavar="EXPR", help="filter expression")
    parser.add_argument("--smarts-include", action="append", default=[], metavar="SMARTS", help="required substructure (repeatable)")
    parser.add_argument("--smarts-exclude", action="append", default=[], metavar="SMARTS", help="forbidden substructure (repeatable)")
    parser.add_argument("--similar-to", action="append", default=[], metavar="SMILES", help="reference molecule (repeatable)")
    parser.add_argument("--min-sim", type=float, default=0.4, metavar="T", help="similarity threshold (default 0.4)")
    parser.add_argument("--column", metavar="NAME", help="SMILES column of a CSV/TSV/Parquet input (default: found by name)")
    parser.add_argument("--no-alerts", action="store_true", help="leave alert columns out of the output")
    parser.add_argument("--standardize", action="store_true", help="largest fragment, neutralise, normalise first")
    parser.add_argument("-j", "--jobs", type=jobs, default=None, metavar="N", help="worker processes (default: all cores)")
    parser.add_argument("--chunk-size", type=positive_int, default=2000, metavar="N", help="molecules per work unit (default 2000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--recompute", action="store_true",
                        help="compute every property even where the input table already has the column")
    add_size_limits(parser)
    add_scheduler(parser)


def run(args: argparse.Namespace) -> int:
    from molgen.chem.filters import FilterSpec
    from molgen.cluster import resolve_scheduler
    from molgen.screening import CHECKED_PER_CHUNK, filter_file, filter_partitioned

    spec = FilterSpec(
        presets=args.preset, ranges=args.ranges, expression=args.where,
        smarts_include=args.smarts_include, smarts_exclude=args.smarts_exclude,
        similar_to=args.similar_to, min_similarity=args.min_sim,
    )
    scheduler = resolve_scheduler(args.scheduler)
    options = dict(column=args.column, chunk_size=args.chunk_size, standardize=args.standardize,
                   alerts=not args.no_alerts, progress=not args.no_progress, limits=size_limits(args),
                   reuse=not args.recompute)
    if scheduler:
        result = filter_partitioned(args.input, args.output, spec, scheduler,
                                    partition_bytes=args.partition_size, **options)
    else:
        result = filter_file(args.input, args.output, spec, n_jobs=args.jobs, **options)
    if result.n_invalid:
        print(result.report.summary(), file=sys.stderr)
    if result.dropped:
        print(f"note: {args.output} holds SMILES and names only; {len(result.dropped)} property columns "
              f"({', '.join(result.dropped[:4])}, …) were not written (use .csv, .tsv, .parquet or .sdf to keep them)",
              file=sys.stderr)
    if result.reused:
        print(f"reused from {args.input}: {', '.join(result.reused)} (checked against RDKit on the first "
              f"{CHECKED_PER_CHUNK} molecules of each chunk; --recompute to compute them)", file=sys.stderr)
    by_reason: dict[str, list[str]] = {}
    for column, why in result.not_reused.items():
        by_reason.setdefault(why, []).append(column)
    for why, columns in by_reason.items():
        print(f"recomputed {', '.join(columns)}: {why}", file=sys.stderr)
    print(result.summary(), file=sys.stderr)
    print(f"wrote {result.n_kept:,} molecules to {args.output}", file=sys.stderr)
    return 0
