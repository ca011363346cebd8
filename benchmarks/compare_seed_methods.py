"""The seed-methods comparison: six ways to train the ORGAN generator at one wall-clock budget.

Each row is a config in ``configs/compare/``: teacher forcing continued, professor forcing,
SeqGAN (lambda = 1), ORGAN (the organ-qed recipe), the Gumbel-softmax estimator and LeakGAN. All
start from the shipped ``organ-mle`` generator (a 2 x 256 LSTM, seed 0, fp32, 1 torch thread) and
stop when their steps have taken ``max_minutes`` of wall-clock time. This script trains the rows
(``--jobs`` side by side, each a ``molgen train organ`` process; a row already finished is kept,
an interrupted one resumes), scores 10,000 samples of each with ``molgen evaluate`` (and of the
starting generator with sampling seeds 0 and 1: the sampling noise of each metric), and prints one
table (Markdown, also written to ``--table`` with the per-row details as JSON beside it):
validity, unique@10k, novelty, IntDiv1, FCD/test, KL score, mean QED, steps, training time (the
steps' seconds) and time per step of the method's own stage.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/compare_seed_methods.py --jobs 2 --table docs/seed-methods-table.md
    python benchmarks/compare_seed_methods.py --rows teacher gumbel --minutes 0.5 --max-molecules 5000 -n 500  # a smoke run

The budget is ``max_minutes`` of each config unless ``--minutes`` overrides it (the override is
written into a copy of the config in the run folder, so the run records what it used).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PRINT = threading.Lock()


def say(text: str) -> None:
    """One progress line (the rows run in threads)."""
    with _PRINT:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)
#: (row name, config file, the label in the table, the stage whose steps are "the method's")
ROWS = (
    ("teacher", "teacher forcing (organ-mle recipe, continued)", "mle"),
    ("professor", "+ professor forcing", "mle"),
    ("seqgan", "SeqGAN (lambda = 1)", "adversarial"),
    ("organ", "ORGAN (organ-qed recipe)", "adversarial"),
    ("gumbel", "Gumbel-softmax GAN (organ-qed reward)", "adversarial"),
    ("leakgan", "LeakGAN (lambda = 1)", "adversarial"),
    # not among the six: professor forcing with a lighter adversarial term (the paper's weight is 1),
    # SeqGAN at its own learning rate (the paper's 1e-4; the six use organ-qed's 1e-3)
    ("professor-w0.1", "+ professor forcing, weight 0.1", "mle"),
    ("seqgan-lr1e-4", "SeqGAN, g_lr 1e-4", "adversarial"),
)
SIX = [r[0] for r in ROWS[:6]]
#: the generator every row starts from, scored as two reference rows: sampling seeds 0 and 1 (their
#: difference is the sampling noise of each metric at 10,000 molecules)
START = "data/models/organ-mle"
REFERENCES = (("start-seed0", "start: shipped organ-mle (0 min)", 0), ("start-seed1", "start, sampling seed 1", 1))
METRICS = (("valid", "validity"), ("unique@10k", "unique@10k"), ("novelty", "novelty"), ("intdiv1", "IntDiv1"),
           ("fcd/test", "FCD/test"), ("kl_score", "KL score"), ("qed", "mean QED"))


def parse_row(spec: str) -> tuple[str, str, str, int | None]:
    """``NAME`` or ``NAME@SEED`` (the row trained from another seed: the noise of training itself)
    -> (run name, config name, label, seed or None)."""
    name, _, seed = spec.partition("@")
    found = {r[0]: r for r in ROWS}
    if name not in found or (seed and not seed.isdigit()):
        raise SystemExit(f"--rows: {spec!r} is not NAME or NAME@SEED with NAME one of {', '.join(found)}")
    _, label, _ = found[name]
    return (f"{name}-seed{seed}", name, f"{label}, training seed {seed}", int(seed)) if seed else (name, name, label, None)


def config_for(run: str, name: str, out: Path, minutes: float | None, max_molecules: int, seed: int | None) -> Path:
    """The row's config, or a copy in ``out`` with the budget / molecule count / seed overridden."""
    src = ROOT / "configs" / "compare" / f"{name}.toml"
    if minutes is None and not max_molecules and seed is None:
        return src
    text = src.read_text()
    if seed is not None:
        text = re.sub(r"(?m)^seed = .*$", f"seed = {seed}", text)
    if minutes is not None:
        text = re.sub(r"(?m)^max_minutes = .*$", f"max_minutes = {minutes}", text)
    if max_molecules:
        text = re.sub(r"(?m)^max_minutes = (.*)$", rf"max_minutes = \1\nmax_molecules = {max_molecules}", text)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{run}.toml"
    path.write_text(text)
    return path


def rel(path: Path) -> str:
    """``path`` relative to the repository when inside it (what the run records as its command)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run(cmd: list[str], log_path: Path) -> None:
    """Run one molgen command with its output in ``log_path``; a failure stops the script with its log's tail."""
    with open(log_path, "a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    if rc != 0:
        tail = log_path.read_text().splitlines()[-5:]
        raise SystemExit(f"{' '.join(cmd)} exited {rc}; {log_path}:\n" + "\n".join(tail))


def train(name: str, out: Path, data: str, config: Path) -> None:
    """Train one row, resume it if it was interrupted, or leave it when it is done. A resume whose
    budget is spent ends in the trainer itself, before it reads any data."""
    import torch

    run_dir, last = out / name, out / name / "checkpoints" / "last.pt"
    cmd = [sys.executable, "-m", "molgen", "train", "organ", "--data", data, "--config", rel(config),
           "--out", rel(run_dir), "--no-progress"]
    if last.exists():
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
        if ckpt["stage"] == "done":
            say(f"{name}: trained ({ckpt['stage']} step {ckpt['step']})")
            return
        cmd.append("--resume")
    say(f"train {name}")
    run(cmd, out / f"{name}.train.log")


def evaluate(name: str, out: Path, n: int, model: str | None = None, seed: int = 0) -> None:
    """10,000 samples (``-n``) of the row (or ``model``), ``seed``, scored by ``molgen evaluate`` into ``out/NAME/eval``."""
    report = out / name / "eval"
    say(f"evaluate {name}")
    run([sys.executable, "-m", "molgen", "evaluate", "--model", model or rel(out / name), "-n", str(n),
         "--seed", str(seed), "--report-dir", rel(report), "--no-progress"], out / f"{name}.eval.log")


def reference(name: str, label: str, out: Path) -> dict:
    """A reference row: the starting generator's report (no training in the budget)."""
    report = json.loads((out / name / "eval" / "report.json").read_text())
    (model,) = report["models"].values()
    return {"row": name, "method": label, "stage": "mle", "steps": {"mle": 0}, "train_seconds": 0.0,
            "seconds_per_step": None, "metrics": {k: model["metrics"].get(k) for k, _ in METRICS},
            "settings": report["settings"]}


def summarise(name: str, label: str, stage: str, out: Path) -> dict:
    """The row's figures: the report's metrics, the steps per stage and their seconds (log.csv, checkpoint)."""
    import torch

    ckpt = torch.load(out / name / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    with open(out / name / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    steps = {s: max((int(r["stage_step"]) for r in rows if r["stage"] == s), default=0)
             for s in ("mle", "dpretrain", "adversarial")}
    if ckpt["stage"] in steps:  # the log holds every log_every-th step; the checkpoint the last
        steps[ckpt["stage"]] = int(ckpt["stage_step"])
    own = [float(r["seconds"]) for r in rows if r["stage"] == stage and r["seconds"]]
    report = json.loads((out / name / "eval" / "report.json").read_text())
    (model,) = report["models"].values()
    return {
        "row": name, "method": label, "stage": stage, "steps": steps, "last_step": ckpt["step"],
        "finished_stage": ckpt["stage"], "train_seconds": ckpt.get("extra", {}).get("train_seconds"),
        "seconds_per_step": statistics.median(own) if own else None,
        "metrics": {k: model["metrics"].get(k) for k, _ in METRICS},
        "sampling_seconds": model.get("sampling_seconds"),
    }


def table(rows: list[dict]) -> str:
    """The Markdown table the README carries."""
    head = ["method", *[h for _, h in METRICS], "steps (own stage)", "training min", "s / step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m = r["metrics"]
        cells = [r["method"]] + [("—" if m[k] is None else f"{m[k]:.3f}") for k, _ in METRICS]
        own = r["steps"][r["stage"]]
        cells += [f"{own:,} {r['stage']}" if own else "—", f"{(r['train_seconds'] or 0) / 60:.1f}",
                  "—" if r["seconds_per_step"] is None else f"{r['seconds_per_step']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", nargs="+", default=SIX, metavar="NAME[@SEED]",
                   help=f"rows to train and score (default the six: {' '.join(SIX)}; also {' '.join(r[0] for r in ROWS[6:])}; "
                        "NAME@SEED trains a row from another seed)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "compare")
    p.add_argument("--data", default="data/moses/train.csv.gz")
    p.add_argument("--jobs", type=int, default=2, help="rows trained (and scored) side by side (default 2)")
    p.add_argument("--minutes", type=float, help="override every row's max_minutes")
    p.add_argument("--max-molecules", type=int, default=0, help="train on the first N molecules (smoke runs)")
    p.add_argument("-n", type=int, default=10000, help="samples scored per row (default 10000)")
    p.add_argument("--table", type=Path, help="also write the table here (and NAME.json with the details)")
    args = p.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("MOLGEN_THREADS", "1")  # one thread per process: --jobs processes share the cores
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = [parse_row(spec) for spec in args.rows]
    stages = {r[0]: r[2] for r in ROWS}
    configs = {run: config_for(run, name, args.out / "configs", args.minutes, args.max_molecules, seed)
               for run, name, _, seed in chosen}

    names = [run for run, _, _, _ in chosen]
    # every row trains beside one other training (never beside an evaluation), then all are scored
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(lambda name: train(name, args.out, args.data, configs[name]), names))
    jobs = [(name, None, 0) for name in names] + [(name, START, seed) for name, _, seed in REFERENCES]
    todo = [job for job in jobs if not (args.out / job[0] / "eval" / "report.json").exists()]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(lambda job: evaluate(job[0], args.out, args.n, job[1], job[2]), todo))
    rows = [reference(name, label, args.out) for name, label, _ in REFERENCES]
    rows += [summarise(run, label, stages[name], args.out) for run, name, label, _ in chosen]
    text = table(rows)
    print(text)
    if args.table:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(text + "\n")
        args.table.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
