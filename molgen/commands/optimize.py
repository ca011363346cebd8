"""``molgen optimize``: Bayesian optimisation of a property in a VAE's latent space."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from molgen.commands import _args
from molgen.errors import UsageError

NAME = "optimize"
HELP = "find molecules that maximise a property by Bayesian optimisation in a VAE's latent space"
DESCRIPTION = """Encode seed molecules, fit a Gaussian process on (latent point, score), propose new
points by expected improvement (BoTorch qLogEI), decode and score them, repeat until --budget
proposals are scored. Writes the best distinct molecules found (--out) and every evaluation in
order (--trajectory). With a semantic-grammar model every proposal decodes to a valid molecule.

Objectives: qed; plogp (penalised logP: logP - SA - ring penalty, each term standardised with
ZINC250k statistics, the GVAE/SD-VAE/JT-VAE benchmark); or a scoring config (.toml, as for
'molgen score').

examples:
  molgen optimize --model gvae --objective qed --budget 100 -o best.csv
  molgen optimize --model gvae --objective plogp --budget 500 --seed 0 -o best.csv --trajectory bo.csv
  molgen optimize --model runs/gvae --objective configs/scoring-qed.toml --budget 200 -o best.csv"""

log = logging.getLogger("molgen.optimize")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="VAE: shipped name (gvae, cvae), checkpoint or run directory")
    p.add_argument("--objective", required=True, help="qed, plogp, or a scoring config file (.toml)")
    p.add_argument("--budget", type=_args.positive_int, default=500, help="proposals decoded and scored (default 500)")
    p.add_argument("--seeds", type=Path, help="seed molecules (default: the shipped MOSES training sample)")
    p.add_argument("--column", help="SMILES column of --seeds for csv/tsv/parquet")
    p.add_argument("--n-init", type=_args.positive_int, default=200, help="seed molecules drawn and encoded (default 200)")
    p.add_argument("--batch-size", type=_args.positive_int, default=10, help="proposals per round (default 10)")
    p.add_argument("--seed", type=_args.seed, default=0, help="random seed (default 0)")
    p.add_argument("--top", type=_args.positive_int, default=50, help="best distinct molecules written to --out (default 50)")
    p.add_argument("-o", "--out", required=True, type=Path, help="best molecules with their scores (.csv .smi .parquet …)")
    p.add_argument("--trajectory", type=Path, help="every evaluation in order (.csv .parquet …)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from molgen.commands.encode import load_latent_model
    from molgen.data import read_smiles, write_table
    from molgen.paths import MOSES_DIR
    from molgen.vae.optimize import OptimizeConfig, make_objective, optimize

    from molgen.atomic import check_output_path

    if args.top < 1:
        raise UsageError("--top must be >= 1")
    for target in (args.out, args.trajectory):
        if target is not None:
            check_output_path(target)  # before hours of optimisation
    cfg = OptimizeConfig(budget=args.budget, n_init=args.n_init, batch_size=args.batch_size, seed=args.seed)
    cfg.validate()
    label, objective = make_objective(args.objective)
    model = load_latent_model(args.model, args.device)
    seeds_path = args.seeds or MOSES_DIR / "train.csv.gz"
    seeds = read_smiles(seeds_path, column=args.column, max_records=max(20 * cfg.n_init, 5000)).smiles
    log.info("optimising %s with %s: %d seed molecules from %s, budget %d, seed %d",
             label, args.model, cfg.n_init, os.path.relpath(seeds_path), cfg.budget, cfg.seed)
    res = optimize(model, objective, seeds, cfg, label=label, progress=not args.no_progress)
    best = res.best.head(args.top)[["smiles", "score", "round"]].rename(columns={"score": label})
    write_table(best, args.out)
    if args.trajectory:
        write_table(res.trajectory, args.trajectory)
    top = res.best.score
    log.info("best %s %.3f; mean of the top %d %.3f; %d of %d proposals invalid; %.0f s",
             label, top.iloc[0] if len(top) else float("nan"), min(args.top, len(top)),
             top.head(args.top).mean() if len(top) else float("nan"), res.n_invalid, cfg.budget, res.seconds)
    return 0
