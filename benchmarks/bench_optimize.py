"""Latent-space Bayesian optimisation of penalised logP: the Grammar VAE paper's benchmark.

Runs ``molgen.vae.optimize`` (BoTorch SingleTaskGP + qLogExpectedImprovement) on a model from
seed molecules of the shipped MOSES training sample, for ``--budget`` decoded proposals, and
prints in the same run the best penalised logP found, the mean of the top 50 distinct
molecules, the fraction of invalid proposals and the wall time, next to the published figures
(ZINC, their own budgets: GVAE 2.94, CVAE 1.98, SD-VAE 4.04, JT-VAE 5.30 best found). The
objective is the standardised one of those papers (logP, SA and ring penalty each normalised
with ZINC250k statistics). With ``--compare`` a second model runs with the same seeds and budget.

Usage: python benchmarks/bench_optimize.py [--model gvae] [--compare gvae-cf] [--budget 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from molgen.api import load_model
from molgen.data import read_smiles
from molgen.paths import MOSES_DIR
from molgen.vae.optimize import OptimizeConfig, make_objective, optimize

PUBLISHED = {"GVAE (Kusner et al. 2017)": 2.94, "CVAE": 1.98, "SD-VAE (Dai et al. 2018)": 4.04,
             "JT-VAE (Jin et al. 2018)": 5.30}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gvae")
    p.add_argument("--compare", help="a second latent model run on the same seeds and budget")
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--n-init", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seeds = read_smiles(MOSES_DIR / "train.csv.gz", max_records=5000).smiles
    _, objective = make_objective("plogp")
    print(f"penalised logP (standardised), budget {args.budget} proposals, {args.n_init} seed molecules, "
          f"batch {args.batch_size}, seed {args.seed}; torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    seed_best = None
    for name in [args.model] + ([args.compare] if args.compare else []):
        model = load_model(name)
        cfg = OptimizeConfig(budget=args.budget, n_init=args.n_init, batch_size=args.batch_size, seed=args.seed)
        t0 = time.perf_counter()
        res = optimize(model, objective, seeds, cfg, label="plogp", progress=False)
        wall = time.perf_counter() - t0
        start = res.trajectory[res.trajectory.source == "seed"].score.max()
        seed_best = start if seed_best is None else seed_best
        best = res.best.score.iloc[0] if len(res.best) else float("nan")
        print(f"{name}: best {best:.2f}; mean of the top 50 {res.top_mean(50):.2f}; best seed molecule {start:.2f}; "
              f"{res.n_invalid} of {args.budget} proposals invalid ({res.n_invalid / args.budget:.0%}); {wall:.0f} s")
        if len(res.best):
            print(f"  best molecule: {res.best.smiles.iloc[0]}")
    print("published best found (ZINC, their budgets): " + ", ".join(f"{k} {v}" for k, v in PUBLISHED.items()))


if __name__ == "__main__":
    main()
