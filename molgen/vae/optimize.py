"""Property-guided optimisation in a VAE's latent space (the Grammar VAE paper's application).

Bayesian optimisation with BoTorch/GPyTorch: encode seed molecules, fit a Gaussian process on
(z, score), propose a batch of latent points by expected improvement (``qLogExpectedImprovement``),
decode them, score the molecules, add them to the data, repeat until the evaluation budget is
spent. A semantic-grammar model decodes only valid molecules, so every evaluation counts; with a
context-free model an invalid decode scores the worst value seen (and is counted).

Objectives: ``qed``, ``plogp`` (penalised logP: logP - SA - ring penalty, each term standardised
with the ZINC250k statistics of JT-VAE, the benchmark of the GVAE/SD-VAE/JT-VAE papers), or a
scoring config file (:mod:`molgen.scoring`: any components, transforms and aggregation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from molgen.errors import UsageError

Objective = Callable[[Sequence[str]], np.ndarray]


@dataclass
class OptimizeConfig:
    """Settings of one optimisation run."""

    budget: int = 500          # decoded proposals scored (the evaluation budget)
    n_init: int = 200          # seed molecules encoded and scored before the first proposal
    batch_size: int = 10       # proposals per round (q of qLogEI)
    seed: int = 0
    box: float = 0.0           # latent search box +/- box per dimension; 0: the seeds' range + 10 %
    restarts: int = 4          # optimize_acqf restarts
    raw_samples: int = 256     # optimize_acqf raw samples

    def validate(self) -> None:
        if self.budget < 1 or self.n_init < 2 or self.batch_size < 1:
            raise UsageError("optimise needs budget >= 1, n_init >= 2 and batch_size >= 1")


@dataclass
class OptimizeResult:
    """Every evaluated molecule in order (``trajectory``) and the best distinct ones (``best``)."""

    trajectory: pd.DataFrame  # round, source (seed | proposal), smiles, valid, score, best_so_far
    seconds: float
    n_invalid: int
    objective: str
    best: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        found = self.trajectory[(self.trajectory.source == "proposal") & self.trajectory.valid]
        self.best = (found.sort_values("score", ascending=False).drop_duplicates("smiles")
                     .reset_index(drop=True))

    def top_mean(self, k: int = 50) -> float:
        """Mean score of the ``k`` best distinct molecules found (NaN if fewer)."""
        return float(self.best.score.head(k).mean()) if len(self.best) >= k else math.nan


def make_objective(name: str) -> tuple[str, Objective]:
    """``qed``, ``plogp`` or a scoring config path -> (label, function of SMILES -> scores, NaN if invalid)."""
    from molgen.chem.mol import to_mol

    if name in ("qed", "plogp"):
        from rdkit.Chem import QED

        from molgen.chem.properties import penalized_logp

        def score(smiles: Sequence[str]) -> np.ndarray:
            out = np.full(len(smiles), np.nan)
            for i, s in enumerate(smiles):
                mol = to_mol(s) if s else None
                if mol is not None:
                    out[i] = QED.qed(mol) if name == "qed" else penalized_logp(mol, normalized=True)
            return out

        return name, score
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"--objective {name!r}: not qed, plogp or a scoring config file")
    from molgen.config import load_config
    from molgen.scoring.run import context_for
    from molgen.scoring.scorer import ObjectiveScorer
    from molgen.scoring.spec import ScoringConfig

    cfg = load_config(ScoringConfig, path)
    scorer = ObjectiveScorer(cfg.objectives, context_for(cfg, path.resolve().parent), n_jobs=1, cache_size=0,
                             aggregate=cfg.aggregate)

    def score_config(smiles: Sequence[str]) -> np.ndarray:
        total = scorer.evaluate(list(smiles)).total.astype(float)
        valid = np.array([bool(s) and to_mol(s) is not None for s in smiles])
        return np.where(valid, total, np.nan)

    return path.name, score_config


def optimize(
    model, objective: Objective, seeds: Sequence[str], cfg: OptimizeConfig, label: str = "objective",
    progress: bool = False, callback: Callable[[int, int], None] | None = None,
) -> OptimizeResult:
    """Run Bayesian optimisation in ``model``'s latent space from the molecules ``seeds``.

    ``callback(evaluations_done, budget)`` is called after every round (the dashboard's progress).
    Reproducible for a seed: the seed molecules are drawn and the acquisition optimised with it.
    """
    from botorch.acquisition.logei import qLogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from tqdm.auto import tqdm

    cfg.validate()
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    pool = list(dict.fromkeys(s for s in seeds if s))
    if len(pool) < 2:
        raise UsageError("optimise needs at least 2 valid seed molecules")
    picked = [pool[i] for i in rng.choice(len(pool), size=min(cfg.n_init, len(pool)), replace=False)]
    z_rows, kept = [], []
    for s in picked:  # one by one: a seed the model cannot encode is skipped, not fatal
        try:
            z_rows.append(model.encode([s])[0])
            kept.append(s)
        except ValueError:  # not parseable by the grammar (GrammarError), not kekulisable, or too long
            continue
    if len(kept) < 2:
        raise UsageError("fewer than 2 seed molecules could be encoded")
    Z = torch.stack(z_rows).double()
    y = objective(kept)
    rows = [{"round": 0, "source": "seed", "smiles": s, "valid": not math.isnan(v), "score": v} for s, v in zip(kept, y)]
    ok = ~np.isnan(y)
    Z, Y = Z[torch.from_numpy(ok)], torch.from_numpy(y[ok]).double().unsqueeze(1)
    if cfg.box > 0:
        lo, hi = -cfg.box * torch.ones(Z.shape[1]), cfg.box * torch.ones(Z.shape[1])
    else:
        span = Z.max(0).values - Z.min(0).values
        lo, hi = Z.min(0).values - 0.1 * span, Z.max(0).values + 0.1 * span
    bounds = torch.stack([lo, hi]).double()
    n_invalid, done, rnd = 0, 0, 0
    bar = tqdm(total=cfg.budget, desc=f"optimise {label}", unit="mol", disable=not progress)
    while done < cfg.budget:
        rnd += 1
        q = min(cfg.batch_size, cfg.budget - done)
        gp = SingleTaskGP(Z, Y, input_transform=Normalize(d=Z.shape[1], bounds=bounds), outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        acq = qLogExpectedImprovement(gp, best_f=Y.max())
        cand, _ = optimize_acqf(acq, bounds=bounds, q=q, num_restarts=cfg.restarts, raw_samples=cfg.raw_samples,
                                options={"seed": int(rng.integers(2**31))})
        smiles = model.decode(cand.float(), greedy=True)
        scores = objective(smiles)
        bad = np.isnan(scores)
        n_invalid += int(bad.sum())
        # an invalid decode teaches the GP that the point is poor: the worst value seen
        filled = np.where(bad, float(Y.min()), scores)
        Z = torch.cat([Z, cand.detach()])
        Y = torch.cat([Y, torch.from_numpy(filled).double().unsqueeze(1)])
        rows += [{"round": rnd, "source": "proposal", "smiles": s, "valid": not b, "score": v}
                 for s, v, b in zip(smiles, scores, bad)]
        done += q
        bar.update(q)
        if callback is not None:
            callback(done, cfg.budget)
    bar.close()
    traj = pd.DataFrame(rows)
    traj["best_so_far"] = traj.score.where(traj.source == "proposal").cummax()
    return OptimizeResult(traj, time.perf_counter() - t0, n_invalid, label)
