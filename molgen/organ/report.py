"""Evaluate ORGAN models side by side and write ``report.json`` / ``report.md`` into each model folder.

Each model is sampled (``-n`` strings, one seed) and scored with :func:`molgen.metrics.evaluate`
against the shipped MOSES train/test sets; the goals for the QED-optimised model are checked
against the training set's mean QED (computed on a seeded sample of it)::

    python -m molgen.organ.report --model data/models/organ-mle --model data/models/organ-qed -n 10000
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from molgen.atomic import atomic_open

DATA = Path(__file__).resolve().parent.parent.parent / "data" / "moses"
#: ORGAN (QED + validity + diversity) goals on 10,000 samples; QED is relative to the training mean.
GOALS = {"valid": 0.95, "unique@10k": 0.95, "novelty": 0.80, "intdiv1": 0.85}
QED_MARGIN = 0.05
ROWS = ["valid", "unique@1k", "unique@10k", "unique_valid", "novelty", "intdiv1", "intdiv2", "fcd/test", "snn/test", "frag/test",
        "scaf/test", "kl_score", "filters", "qed", "sa", "logp", "mw", "mean_length_chars"]


def training_qed(train_smiles: Sequence[str], n: int = 20000, seed: int = 0) -> float:
    """Mean QED of a seeded random sample of ``n`` training molecules."""
    from molgen.chem.mol import to_mol
    from molgen.chem.properties import PROPERTIES

    rng = np.random.default_rng(seed)
    pick = rng.choice(len(train_smiles), size=min(n, len(train_smiles)), replace=False)
    mols = [to_mol(train_smiles[i]) for i in pick]
    return float(np.mean([PROPERTIES["qed"](m) for m in mols if m is not None]))


def goals_met(metrics: dict[str, float], train_qed: float) -> dict[str, dict[str, Any]]:
    """Each goal with its target, the value and whether it is met."""
    out = {k: {"target": f">= {v}", "value": metrics.get(k), "met": bool(metrics.get(k, -1) >= v)} for k, v in GOALS.items()}
    target = train_qed + QED_MARGIN
    out["qed"] = {"target": f">= {target:.3f} (training mean {train_qed:.3f} + {QED_MARGIN})",
                  "value": metrics.get("qed"), "met": bool(metrics.get("qed", -1) >= target)}
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def add_derived(metrics: dict[str, float]) -> dict[str, float]:
    """``unique_valid``: distinct among all valid samples (defined even when unique@10k is not,
    i.e. when fewer than 10,000 of the samples are valid)."""
    if metrics.get("n_valid"):
        metrics["unique_valid"] = metrics["n_unique"] / metrics["n_valid"]
    return metrics


def markdown(results: dict[str, dict[str, float]], train_qed: float, n: int, seed: int, goals_for: str | None) -> str:
    """A side-by-side Markdown table of the models' metrics plus the goal check for ``goals_for``."""
    names = list(results)
    results = {m: add_derived(dict(r)) for m, r in results.items()}
    lines = [f"# ORGAN models on {n:,} samples (seed {seed}) vs the shipped MOSES test set", "",
             f"Training-set mean QED (20,000-molecule seeded sample): {train_qed:.4f}", "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in ROWS:
        if any(key in r for r in results.values()):
            lines.append(f"| {key} | " + " | ".join(_fmt(results[m].get(key, float('nan'))) for m in names) + " |")
    if goals_for and goals_for in results:
        lines += ["", f"## Goals ({goals_for})", "", "| goal | target | value | met |", "|---|---|---|---|"]
        for k, g in goals_met(results[goals_for], train_qed).items():
            lines.append(f"| {k} | {g['target']} | {_fmt(g['value'])} | {'yes' if g['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, type=Path, help="model folder (holding model.pt); repeatable")
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--goals-for", default="organ-qed", help="model folder name the goals are checked for")
    ap.add_argument("--no-fcd", action="store_true")
    ap.add_argument("-j", "--n-jobs", type=int, default=1)
    ap.add_argument("--rerender", action="store_true", help="rewrite report.md/json from the existing report.json files")
    args = ap.parse_args(argv)
    if args.rerender:
        old = {f: json.loads((f / "report.json").read_text()) for f in args.model}
        first = next(iter(old.values()))
        results = {f.name: add_derived(old[f]["metrics"]) for f in args.model}
        _write(args, results, first["train_qed_mean"])
        return 0

    from molgen.api import load_model
    from molgen.data import read_smiles
    from molgen.metrics import evaluate

    train = read_smiles(DATA / "train.csv.gz").smiles
    test = read_smiles(DATA / "test.csv.gz").smiles
    test_sf = read_smiles(DATA / "test_scaffolds.csv.gz").smiles
    train_qed = training_qed(train)
    results: dict[str, dict[str, float]] = {}
    for folder in args.model:
        t0 = time.perf_counter()
        samples = load_model(folder / "model.pt").sample(args.n, seed=args.seed)
        t_sample = time.perf_counter() - t0
        metrics = evaluate(samples, train, test, test_sf, n_jobs=args.n_jobs, fcd=not args.no_fcd, cache=True)
        metrics["mean_length_chars"] = float(np.mean([len(s) for s in samples]))
        metrics["seconds_sampling"] = t_sample
        results[folder.name] = add_derived(metrics)
        print(folder.name, json.dumps({k: metrics[k] for k in ROWS if k in metrics}))
    _write(args, results, train_qed)
    return 0


def _write(args: argparse.Namespace, results: dict[str, dict[str, float]], train_qed: float) -> None:
    """Print the comparison and write report.json / report.md into every model folder."""
    text = markdown(results, train_qed, args.n, args.seed, args.goals_for)
    print(text)
    for folder in args.model:
        report = {"model": folder.name, "n_samples": args.n, "seed": args.seed, "train_qed_mean": train_qed,
                  "metrics": results[folder.name], "compared": results}
        if folder.name == args.goals_for:
            report["goals"] = goals_met(results[folder.name], train_qed)
        with atomic_open(folder / "report.json") as fh:
            json.dump(report, fh, indent=2, default=float)
        with atomic_open(folder / "report.md") as fh:
            fh.write(text)


if __name__ == "__main__":
    raise SystemExit(main())
