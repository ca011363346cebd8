"""``molgen evaluate``: MOSES/GuacaMol metrics of generated molecules (files or models), side by
side; a thin command line over :mod:`molgen.evaluation`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from molgen.commands import _args
from molgen.commands._io import add_reference_sets, add_scheduler
from molgen.errors import UsageError
from molgen.evaluation.goals import GOAL_SETS

NAME = "evaluate"
HELP = "score generated molecules (files or models) with MOSES/GuacaMol metrics"
DESCRIPTION = """\
Score generated molecules against the shipped MOSES sample (or your own train/test files):
validity, uniqueness@1k/@10k, novelty, internal diversity (IntDiv1/2), FCD, SNN, fragment
and scaffold similarity to the test and scaffold-test sets, GuacaMol KL score, MOSES filter
and PAINS-free pass rates, and QED/SA/logP/MW means and distances.

GENERATED files keep every record, invalid SMILES included (they count against validity).
With --model, each model is sampled (-n molecules, --seed) and scored; VAEs also get their
reconstruction (--n-recon test molecules; --n-stochastic N adds the paper's protocol on N of
them) and prior measures. --goals checks a goal table (organ-qed: ORGAN's QED, validity and
diversity goals). Several files/models give one column each; the table is printed as
Markdown and written to -o (.json, .csv or .md); --report-dir RUN writes RUN/report.json and
RUN/report.md (the report schema of molgen.evaluation, that of every shipped model).
Reference statistics (FCD mean/covariance, fingerprints, canonical training set) are built on
the first run (minutes, with progress bars) and cached under ~/.cache/molgen/metrics (or
$MOLGEN_CACHE_DIR), so repeated runs are fast; 'molgen cache build' warms the cache once.
FCD uses fcd-torch 1.0.7 with its shipped ChemNet weights. With --scheduler (a Dask scheduler
address or local:N; or $MOLGEN_SCHEDULER) the RDKit features of the generated sets are
computed on that cluster (the reference statistics stay local and cached).

examples:
  molgen evaluate samples.smi
  molgen evaluate samples.csv --column smiles -o report.json
  molgen evaluate --model gvae --model cvae --model organ-mle -n 10000 --seed 0 -o compare.md
  molgen evaluate --model gvae -n 10000 --seed 0 --n-stochastic 10 --report-dir runs/gvae-eval
  molgen evaluate --model organ-qed -n 10000 --seed 0 --goals organ-qed --report-dir runs/organ-qed
  molgen evaluate a.smi b.smi --test my_test.smi --train my_train.smi --test-scaffolds none
  molgen evaluate samples.smi --no-fcd -j 2
"""

log = logging.getLogger("molgen.evaluate")

_OUTPUT_FORMATS = (".json", ".csv", ".md")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("generated", nargs="*", metavar="GENERATED", help="file(s) of generated SMILES (.smi .txt .csv .tsv .sdf .parquet, .gz)")
    p.add_argument("--model", action="append", default=[], metavar="NAME_OR_CKPT",
                   help="sample this model (shipped name, run directory or checkpoint); repeatable")
    p.add_argument("-n", "--n-samples", type=_args.positive_int, default=10000, metavar="N", help="molecules to sample per model (default 10000)")
    p.add_argument("--seed", type=_args.seed, default=0, help="sampling seed (default 0)")
    p.add_argument("--temperature", type=_args.positive_float, default=1.0, help="sampling temperature (default 1; the VAE prior measures always use 1)")
    p.add_argument("--n-recon", type=_args.count, default=1000, metavar="N",
                   help="VAEs: test molecules reconstructed by greedy decoding of the posterior mean (default 1000)")
    p.add_argument("--n-stochastic", type=_args.count, default=0, metavar="N",
                   help="VAEs: the paper's reconstruction protocol (10 encodes x 100 decodes) on N of them (default 0: skipped)")
    p.add_argument("--goals", choices=sorted(GOAL_SETS), help="check a goal table for each model/file (needs --train)")
    add_reference_sets(p)
    p.add_argument("--column", metavar="NAME", help="SMILES column of CSV/TSV/Parquet inputs (default: found by name)")
    p.add_argument("-o", "--output", type=Path, metavar="REPORT", help="write the report (.json, .csv or .md)")
    p.add_argument("--report-dir", type=Path, metavar="RUN", help="write RUN/report.json and RUN/report.md (e.g. a run or model folder)")
    p.add_argument("--no-fcd", action="store_true", help="skip the Fréchet ChemNet Distance")
    p.add_argument("-j", "--jobs", type=_args.jobs, default=None, metavar="N", help="worker processes (default: all cores)")
    p.add_argument("--device", default="cpu", help="torch device for FCD and sampling (default cpu)")
    p.add_argument("--precision", type=_args.precision, default="fp32",
                   help="precision of the models' sampling: fp32 (default), bf16 or auto (recorded in the report)")
    p.add_argument("--no-cache", action="store_true", help="recompute reference statistics instead of using the cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_scheduler(p, partitions=False)


def _check_args(args: argparse.Namespace) -> None:
    if not args.generated and not args.model:
        raise UsageError("nothing to evaluate: give GENERATED file(s) and/or --model NAME")
    for flag, value, least in (("-n", args.n_samples, 1), ("--n-recon", args.n_recon, 0), ("--n-stochastic", args.n_stochastic, 0)):
        if value < least:
            raise UsageError(f"{flag} must be at least {least}, got {value}")
    if args.temperature <= 0:
        raise UsageError(f"--temperature must be positive, got {args.temperature}")
    if args.goals and args.train.strip().lower() in ("", "none"):
        raise UsageError(f"--goals {args.goals} is relative to the training set: give --train")
    if args.report_dir is not None and args.report_dir.exists() and not args.report_dir.is_dir():
        raise UsageError(f"--report-dir {args.report_dir}: not a folder")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"-j must be at least 1, got {args.jobs}")
    if args.output is not None and args.output.suffix.lower() not in _OUTPUT_FORMATS:
        raise UsageError(f"-o {args.output}: unsupported report format; use one of {', '.join(_OUTPUT_FORMATS)}")
    from molgen.atomic import check_output_path

    for target in (args.output, args.report_dir and args.report_dir / "report.json"):
        if target is not None:
            check_output_path(target)  # before sampling and scoring, not after


def _unique_label(label: str, taken: dict) -> str:
    out, i = label, 2
    while out in taken:
        out, i = f"{label} ({i})", i + 1
    return out


def run(args: argparse.Namespace) -> int:
    from molgen import evaluation
    from molgen.cluster import resolve_scheduler
    from molgen.runtime import command_line, versions

    _check_args(args)
    log.info("molgen evaluate | %s", " ".join(f"{k}={v}" for k, v in versions().items()))
    log.info("command: %s", command_line())
    settings = evaluation.Settings(
        n_samples=args.n_samples, seed=args.seed, temperature=args.temperature, n_recon=args.n_recon,
        n_stochastic=args.n_stochastic, fcd=not args.no_fcd, n_jobs=args.jobs, device=args.device,
        precision=args.precision, progress=not args.no_progress, cache=not args.no_cache,
        scheduler=resolve_scheduler(args.scheduler))
    # Read the generated files and load the models first: a missing file or an unknown model
    # name should fail before minutes of reference statistics.
    from molgen.api import load_model

    inputs: dict[str, tuple[str, list[str]]] = {}
    for path in args.generated:
        inputs[_unique_label(Path(path).name, inputs)] = (path, evaluation.read_raw_smiles(path, args.column))
    models = {}
    for name in args.model:
        model = load_model(name, device=args.device, precision=args.precision)
        models[_unique_label(evaluation.model_label(name), {**inputs, **models})] = model
    refs = evaluation.References.read(args.train, args.test, args.test_scaffolds).compute(settings)

    entries = {label: evaluation.score_file(path, refs, settings, smiles=smiles) for label, (path, smiles) in inputs.items()}
    for label, model in models.items():
        entries[label] = evaluation.score_model(model, refs, settings, label)
    if args.goals:
        evaluation.add_goals(args.goals, entries, refs.smiles["train"])
    report = evaluation.new_report(entries, evaluation.settings_section(settings, refs, entries, args.goals))

    print(evaluation.render_markdown(report), end="")
    for target in (args.output, args.report_dir):
        if target is not None:
            for path in evaluation.write_report(target, report):
                print(f"wrote {path}", file=sys.stderr)
    return 0
