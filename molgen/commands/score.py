"""``molgen score``: score every molecule of a file with a scoring config (REINVENT's scoring run mode)."""

from __future__ import annotations

import argparse
import sys
from molgen.commands import _args
from molgen.commands._io import add_scheduler

NAME = "score"
HELP = "score a molecule file with scoring components, transforms and aggregation (TOML config)"
DESCRIPTION = """\
Score every valid molecule of INPUT with the components of a scoring config and write, per
molecule, each component's raw value (<name>_raw, empty where it has none), its transformed
value (<name>) and the aggregated total (score). Invalid records are skipped and counted; the
summary names the first few with their line and reason. Output is written atomically.

Config (TOML):
  aggregate = "arithmetic"          # or "geometric" (any term at 0 makes the total 0)
  n_jobs = 0                        # worker processes, 0 = all cores (-j overrides)
  reference = "train.smi"           # needed by novelty/diversity; relative to the config file
  objectives = [
    { name = "qed", weight = 0.6 },
    { name = "sa", weight = 0.4, transform = { kind = "sigmoid", low = 0.5, high = 0.8, k = 0.5 } },
    { name = "mypkg.mymod:score", params = { scale = 2.0 } },
  ]
Components: validity, qed, sa, logp_range, novelty, diversity, uniqueness, batch_diversity,
smarts, similarity, or a dotted path 'package.module:function'. Transforms: ramp (low, high),
sigmoid / reverse_sigmoid (low, high, k), step (low, high), identity. Batch components
(uniqueness, batch_diversity) see the whole file as one batch.

examples:
  molgen score samples.smi --config configs/scoring-qed.toml -o scored.csv
  molgen score library.csv --column smiles --config scoring.toml -o scored.parquet -j 4
  molgen score samples.smi --config configs/scoring-qed.toml -o scored.csv --scheduler local:2

With --scheduler (a Dask scheduler address or local:N; or the config's 'scheduler', or
$MOLGEN_SCHEDULER) the per-molecule components run on that cluster in tasks of
'cluster_batch' SMILES (config key, default 1000): an expensive component (a docking or
physics call) scales past one machine. The table is the same as without a cluster.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="molecule file (.smi .txt .csv .tsv .sdf .parquet, .gz)")
    parser.add_argument("--config", required=True, metavar="TOML", help="scoring config (objectives, aggregate)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="scores table (.csv .tsv .smi .sdf .parquet)")
    parser.add_argument("--column", metavar="NAME", help="SMILES column of a CSV/TSV/Parquet input (default: found by name)")
    parser.add_argument("-j", "--jobs", type=_args.jobs, default=None, metavar="N",
                        help="worker processes (default: the config's n_jobs; 0 = all cores)")
    add_scheduler(parser, partitions=False)


def run(args: argparse.Namespace) -> int:
    from molgen.atomic import check_output_path
    from molgen.cluster import resolve_scheduler
    from molgen.scoring.run import score_file

    check_output_path(args.output)
    result = score_file(args.input, args.config, args.output, column=args.column, n_jobs=args.jobs,
                        scheduler=resolve_scheduler(args.scheduler))
    if result.report.n_invalid:
        print(result.report.summary(), file=sys.stderr)
    print(f"wrote {result.n_scored:,} scored molecules to {args.output}", file=sys.stderr)
    return 0
