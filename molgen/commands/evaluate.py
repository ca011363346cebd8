"""``molgen evaluate``: MOSES/GuacaMol metrics of generated molecules (files or models), side by side."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import warnings
from pathlib import Path
from typing import Sequence

from molgen.errors import UsageError

NAME = "evaluate"
HELP = "score generated molecules (files or models) with MOSES/GuacaMol metrics"
DESCRIPTION = """\
Score generated molecules against the shipped MOSES sample (or your own train/test files):
validity, uniqueness@1k/@10k, novelty, internal diversity (IntDiv1/2), FCD, SNN, fragment
and scaffold similarity to the test and scaffold-test sets, GuacaMol KL score, MOSES filter
and PAINS-free pass rates, and QED/SA/logP/MW means and distances.

GENERATED files keep every record, invalid SMILES included (they count against validity).
With --model, each model is sampled (-n molecules, --seed) and scored; VAEs also get their
reconstruction and prior measures. Several files/models give one column each; the table is
printed as Markdown and written to -o (.json, .csv or .md). Reference statistics (FCD
mean/covariance, fingerprints, canonical training set) are cached under
~/.cache/molgen/metrics (or $MOLGEN_CACHE_DIR), so repeated runs are fast.
FCD uses fcd-torch 1.0.7 with its shipped ChemNet weights.

examples:
  molgen evaluate samples.smi
  molgen evaluate samples.csv --column smiles -o report.json
  molgen evaluate --model gvae --model cvae --model organ -n 10000 --seed 0 -o compare.md
  molgen evaluate a.smi b.smi --test my_test.smi --train my_train.smi --test-scaffolds none
  molgen evaluate samples.smi --no-fcd -j 2
"""

log = logging.getLogger("molgen.evaluate")

_DATA = Path(__file__).resolve().parent.parent.parent / "data" / "moses"
_OUTPUT_FORMATS = (".json", ".csv", ".md")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("generated", nargs="*", metavar="GENERATED", help="file(s) of generated SMILES (.smi .txt .csv .tsv .sdf .parquet, .gz)")
    p.add_argument("--model", action="append", default=[], metavar="NAME_OR_CKPT",
                   help="sample this model (shipped name, run directory or checkpoint); repeatable")
    p.add_argument("-n", "--n-samples", type=int, default=10000, metavar="N", help="molecules to sample per model (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--train", default=str(_DATA / "train.csv.gz"), metavar="PATH",
                   help="training set for novelty and KL ('none' to skip; default: shipped MOSES train)")
    p.add_argument("--test", default=str(_DATA / "test.csv.gz"), metavar="PATH",
                   help="test set for FCD/SNN/Frag/Scaf and properties ('none' to skip; default: MOSES test)")
    p.add_argument("--test-scaffolds", default=str(_DATA / "test_scaffolds.csv.gz"), metavar="PATH",
                   help="scaffold test set ('none' to skip; default: MOSES scaffold test)")
    p.add_argument("--column", metavar="NAME", help="SMILES column of CSV/TSV/Parquet inputs (default: found by name)")
    p.add_argument("-o", "--output", type=Path, metavar="REPORT", help="write the table (.json, .csv or .md)")
    p.add_argument("--no-fcd", action="store_true", help="skip the Fréchet ChemNet Distance")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N", help="worker processes (default: all cores)")
    p.add_argument("--device", default="cpu", help="torch device for FCD and sampling (default cpu)")
    p.add_argument("--no-cache", action="store_true", help="recompute reference statistics instead of using the cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _check_args(args: argparse.Namespace) -> None:
    if not args.generated and not args.model:
        raise UsageError("nothing to evaluate: give GENERATED file(s) and/or --model NAME")
    if args.n_samples < 1:
        raise UsageError(f"-n must be at least 1, got {args.n_samples}")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"-j must be at least 1, got {args.jobs}")
    if args.output is not None and args.output.suffix.lower() not in _OUTPUT_FORMATS:
        raise UsageError(f"-o {args.output}: unsupported report format; use one of {', '.join(_OUTPUT_FORMATS)}")


def read_raw_smiles(path: str | Path, column: str | None = None) -> list[str]:
    """Every record's SMILES as written, invalid and empty ones included (SDF records are
    converted; an unreadable mol block becomes an empty string)."""
    from rdkit import Chem

    from molgen.data import iter_records, parse_record

    out = []
    for rec in iter_records(path, column=column):
        if rec.smiles is not None:
            out.append(rec.smiles)
        else:
            mol, _ = parse_record(rec)
            out.append("" if mol is None else Chem.MolToSmiles(mol))
    return out


def _reference(path: str, what: str) -> list[str] | None:
    if path.strip().lower() in ("", "none"):
        return None
    smiles = read_raw_smiles(path)
    log.info("%s set: %s (%d SMILES)", what, path, len(smiles))
    return smiles


def _log_warnings(caught: Sequence[warnings.WarningMessage], label: str) -> None:
    seen = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            log.warning("%s: %s", label, msg)


def _unique_label(label: str, taken: dict) -> str:
    out, i = label, 2
    while out in taken:
        out, i = f"{label} ({i})", i + 1
    return out


def run(args: argparse.Namespace) -> int:
    from molgen.metrics import reference_stats
    from molgen.runtime import command_line, versions

    _check_args(args)
    log.info("molgen evaluate | %s", " ".join(f"{k}={v}" for k, v in versions().items()))
    log.info("command: %s", command_line())
    progress = not args.no_progress
    fcd = not args.no_fcd
    cache = not args.no_cache
    # Read the generated files and load the models first: a missing file or an unknown model
    # name should fail before minutes of reference statistics.
    from molgen.api import load_model

    inputs: dict[str, list[str]] = {}
    for path in args.generated:
        inputs[_unique_label(Path(path).name, inputs)] = read_raw_smiles(path, args.column)
    models = {}
    for name in args.model:
        models[_unique_label(str(name), {**inputs, **models})] = load_model(name, device=args.device)

    train = _reference(args.train, "train")
    test = _reference(args.test, "test")
    test_sf = _reference(args.test_scaffolds, "scaffold test")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refs = {
            "train": None if train is None else reference_stats(train, "train", n_jobs=args.jobs, progress=progress, cache=cache),
            "test": None if test is None else reference_stats(test, "test", fcd=fcd, n_jobs=args.jobs, device=args.device, progress=progress, cache=cache),
            "test_scaffolds": None if test_sf is None else reference_stats(
                test_sf, "test", fcd=fcd, n_jobs=args.jobs, device=args.device, progress=progress, cache=cache),
        }
    _log_warnings(caught, "reference")

    results: dict[str, dict[str, float]] = {}
    for label, smiles in inputs.items():
        results[label] = _score(smiles, refs, args, label)
    for label, model in models.items():
        results[label] = _score_model(model, test, refs, args, label)

    table = format_markdown(results)
    print(table)
    if args.output is not None:
        write_report(args.output, results, meta={
            "references": {"train": args.train, "test": args.test, "test_scaffolds": args.test_scaffolds},
            "n_samples": args.n_samples if args.model else None, "seed": args.seed if args.model else None,
            "fcd": None if args.no_fcd else _fcd_package(),
            "versions": versions(), "command": command_line(),
        })
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _fcd_package() -> str:
    from molgen.metrics import FCD_PACKAGE

    return f"{FCD_PACKAGE} (shipped ChemNet weights)"


def _score(smiles: list[str], refs: dict, args: argparse.Namespace, label: str) -> dict[str, float]:
    from molgen.metrics import evaluate

    log.info("scoring %s (%d strings)", label, len(smiles))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = evaluate(smiles, refs["train"], refs["test"], refs["test_scaffolds"], n_jobs=args.jobs,
                       fcd=not args.no_fcd, device=args.device, progress=not args.no_progress)
    _log_warnings(caught, label)
    return out


def _score_model(model, test: list[str] | None, refs: dict, args: argparse.Namespace, label: str) -> dict[str, float]:
    from molgen.api import LatentGenerator

    log.info("sampling %d molecules from %s (seed %d)", args.n_samples, label, args.seed)
    samples = model.sample(args.n_samples, seed=args.seed, progress=not args.no_progress)
    out = _score(list(samples), refs, args, label)
    if isinstance(model, LatentGenerator):
        if test is None:
            log.warning("%s: no test set, skipping the VAE reconstruction/prior measures", label)
        else:
            from molgen.vae.evaluate import vae_measures  # imported lazily: only VAEs need it

            out.update(vae_measures(model, test, seed=args.seed, n_prior=args.n_samples, progress=not args.no_progress))
    return out


# --- report formatting -----------------------------------------------------------------------


def _rows(results: dict[str, dict[str, float]]) -> list[str]:
    from molgen.metrics import METRICS

    present = {k for r in results.values() for k in r}
    rows = [k for k in METRICS if k in present]
    for r in results.values():
        rows.extend(k for k in r if k not in rows)
    return rows


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def format_markdown(results: dict[str, dict[str, float]]) -> str:
    """Metrics × models as a Markdown table (``n/a`` where undefined or not computed)."""
    cols = list(results)
    lines = ["| metric | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for row in _rows(results):
        lines.append(f"| {row} | " + " | ".join(_fmt(results[c].get(row)) for c in cols) + " |")
    return "\n".join(lines)


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(path: Path, results: dict[str, dict[str, float]], meta: dict | None = None) -> None:
    """Write the table atomically as JSON (``{"results": {model: {metric: value}}, "meta": …}``,
    NaN as null), CSV (metric rows × model columns) or Markdown."""
    from molgen.atomic import atomic_open

    suffix = path.suffix.lower()
    if suffix == ".json":
        payload = {"results": {c: {k: _json_value(v) for k, v in r.items()} for c, r in results.items()}, "meta": meta or {}}
        text = json.dumps(payload, indent=2) + "\n"
    elif suffix == ".csv":
        import pandas as pd

        frame = pd.DataFrame({c: [results[c].get(k, float("nan")) for k in _rows(results)] for c in results},
                             index=pd.Index(_rows(results), name="metric"))
        text = frame.to_csv()
    elif suffix == ".md":
        text = format_markdown(results) + "\n"
    else:
        raise UsageError(f"-o {path}: unsupported report format; use one of {', '.join(_OUTPUT_FORMATS)}")
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
