"""``molgen props``: a table of RDKit properties and structural alerts for every molecule of a file."""

from __future__ import annotations

import argparse
import sys

from molgen.commands._args import jobs, positive_int
from molgen.commands._io import add_scheduler, add_size_limits, size_limits

NAME = "props"
HELP = "compute RDKit properties (MW, cLogP, QED, SA, TPSA, alerts, …) for a molecule file"
DESCRIPTION = """\
Compute per-molecule properties for every valid molecule of INPUT and write them to OUTPUT.

Columns: smiles, [name], mw, logp, qed, sa, tpsa, hbd, hba, rotatable_bonds, rings,
aromatic_rings, heavy_atoms, formal_charge, fsp3, lipinski_violations, penalized_logp, mr,
atoms, and (unless --no-alerts) pains, brenk, nih, alerts. Invalid records are skipped and
counted; the summary names the first few with their line and reason.

Input: .smi/.txt (SMILES [name]), .csv/.tsv (SMILES column found by name or --column),
.sdf, .parquet; text formats may be gzipped. Output format from the extension: .csv .tsv
.sdf .parquet (+ .gz for text); not .smi, which has no place for the columns. Output is
written atomically.

examples:
  molgen props data/moses/test.csv.gz -o test_props.parquet
  molgen props library.smi -o props.csv --no-alerts -j 4
  molgen props vendor.sdf -o clean.csv.gz --standardize
  molgen props library.smi -o props/ --scheduler local:2 --no-alerts

On a Dask cluster (--scheduler, or $MOLGEN_SCHEDULER) INPUT may be a file, a directory or a glob,
and OUTPUT a directory of Parquet parts with manifest.json and rejects.csv (see 'molgen filter
--help'); the rows equal those of the run without a cluster.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="molecule file (.smi .txt .csv .tsv .sdf .parquet, .gz)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="output table (.csv .tsv .sdf .parquet)")
    parser.add_argument("--column", metavar="NAME", help="SMILES column of a CSV/TSV/Parquet input (default: found by name)")
    parser.add_argument("--no-alerts", action="store_true", help="skip PAINS/Brenk/NIH alerts (the slowest part)")
    parser.add_argument("-j", "--jobs", type=jobs, default=None, metavar="N", help="worker processes (default: all cores)")
    parser.add_argument("--standardize", action="store_true",
                        help="keep the largest fragment, neutralise, normalise before computing")
    parser.add_argument("--chunk-size", type=positive_int, default=2000, metavar="N", help="molecules per work unit (default 2000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_size_limits(parser)
    add_scheduler(parser)


def run(args: argparse.Namespace) -> int:
    from molgen.atomic import check_output_path
    from molgen.chem.filters import FilterSpec
    from molgen.cluster import is_directory_output, resolve_scheduler
    from molgen.data.readers import detect_format
    from molgen.errors import InputError, UsageError
    from molgen.screening import filter_file, filter_partitioned

    scheduler = resolve_scheduler(args.scheduler)
    if not (scheduler and is_directory_output(args.output)):
        check_output_path(args.output)
        try:
            fmt = detect_format(args.output)[0]
        except InputError as exc:
            raise UsageError(f"output {exc}") from None
        if fmt == "smi":
            raise UsageError(f"{args.output}: a SMILES file holds only SMILES and names, so every property column "
                             "would be lost; write .csv, .tsv, .parquet or .sdf")

    options = dict(column=args.column, chunk_size=args.chunk_size, standardize=args.standardize,
                   alerts=not args.no_alerts, progress=not args.no_progress, limits=size_limits(args), desc="props")
    if scheduler:
        result = filter_partitioned(args.input, args.output, FilterSpec(), scheduler,
                                    partition_bytes=args.partition_size, command="props", **options)
    else:
        result = filter_file(args.input, args.output, FilterSpec(), n_jobs=args.jobs, **options)
    if result.report.n_invalid:
        print(result.report.summary(), file=sys.stderr)
    print(f"wrote {result.n_kept:,} rows to {args.output}", file=sys.stderr)
    return 0
