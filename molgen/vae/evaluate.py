"""VAE-specific measures: reconstruction, prior validity, out-of-length decodes.

``molgen evaluate`` calls :func:`vae_measures` for models with a latent space; the
distribution metrics (uniqueness, novelty, FCD …) live in :mod:`molgen.metrics`.
``python -m molgen.vae.evaluate`` writes a shipped model's ``report.json`` / ``report.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)


def _canonical_inputs(model, smiles: Sequence[str], limit: int) -> tuple[list[str], torch.Tensor, int]:
    """The first ``limit`` test molecules the model can encode (canonical), their symbol ids, and
    how many were skipped on the way (invalid, unparseable or too long)."""
    from molgen.chem.mol import canonical_smiles

    kept: list[str] = []
    rows: list[torch.Tensor] = []
    skipped = 0
    for s in smiles:
        if len(kept) >= limit:
            break
        canon = canonical_smiles(s)
        if canon is None:
            skipped += 1
            continue
        try:
            rows.append(model.symbol_ids([canon])[0])
        except ValueError:  # GrammarError is a ValueError: unparseable or too long for the model
            skipped += 1
            continue
        kept.append(canon)
    ids = torch.stack(rows) if rows else torch.zeros((0, model.codec.max_len), dtype=torch.long)
    return kept, ids, skipped


@torch.no_grad()
def vae_measures(
    model, test_smiles: Sequence[str], seed: int = 0, n_prior: int = 10000, n_recon: int = 1000,
    stochastic: bool = False, n_stochastic: int = 20, batch_size: int = 512, progress: bool = False,
) -> dict[str, float]:
    """Reconstruction and prior measures of a Grammar / character VAE.

    - ``reconstruction``: greedy decode of the posterior mean of up to ``n_recon`` test
      molecules equals the input (canonical comparison).
    - ``reconstruction_stochastic`` (``stochastic=True``): the paper's protocol on the first
      ``n_stochastic`` of them: 10 posterior samples each, each decoded 100 times by sampling.
    - ``prior_validity`` / ``prior_out_of_length`` / ``prior_overflow`` / ``prior_uniqueness``:
      over ``n_prior`` decodes of z ~ N(0, I) (sampled decoding, temperature 1).
    """
    from molgen.chem.mol import canonical_smiles
    from molgen.vae.api import make_generator

    out: dict[str, float] = {}
    kept, ids, skipped = _canonical_inputs(model, test_smiles, n_recon)
    out["n_recon"] = float(len(kept))
    out["recon_unencodable"] = float(skipped)
    correct = 0
    ool = 0
    chunks = range(0, len(kept), batch_size)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="reconstruction", unit="batch")
    mus, logvars = [], []
    for i in chunks:
        mu, logvar = model.net.encoder(ids[i : i + batch_size].to(model.device))
        mus.append(mu)
        logvars.append(logvar)
        dec = model.decode_details(mu, greedy=True)
        ool += int(dec.out_of_length.sum())
        correct += sum(canonical_smiles(d) == s for d, s in zip(dec.smiles, kept[i : i + batch_size]) if d)
    out["reconstruction"] = correct / len(kept) if kept else math.nan
    out["recon_out_of_length"] = ool / len(kept) if kept else math.nan

    if stochastic and kept:
        gen = make_generator(seed, model.device)
        mu = torch.cat(mus)[:n_stochastic]
        std = torch.exp(0.5 * torch.cat(logvars)[:n_stochastic])
        hits = total = 0
        for j in range(len(mu)):
            z = mu[j] + std[j] * torch.randn((10, mu.shape[1]), generator=gen, device=mu.device)
            z = z.repeat_interleave(100, dim=0)
            dec = model.decode_details(z, greedy=False, generator=gen)
            hits += sum(canonical_smiles(d) == kept[j] for d in dec.smiles if d)
            total += len(dec.smiles)
        out["reconstruction_stochastic"] = hits / total
        out["n_stochastic"] = float(len(mu))

    prior = model.sample_details(n_prior, seed=seed, batch_size=batch_size, progress=progress)
    canon = [canonical_smiles(s) if s else None for s in prior.smiles]
    valid = [c for c in canon if c is not None]
    out["n_prior"] = float(n_prior)
    out["prior_validity"] = len(valid) / n_prior if n_prior else math.nan
    out["prior_uniqueness"] = len(set(valid)) / len(valid) if valid else math.nan
    out["prior_out_of_length"] = float(np.mean(prior.out_of_length)) if n_prior else math.nan
    out["prior_overflow"] = float(np.mean(prior.overflow)) if n_prior else math.nan
    return out


def _read_column(path: Path) -> list[str]:
    """SMILES of a file as written (no canonicalisation: the measures canonicalise what they use)."""
    from molgen.commands.evaluate import read_raw_smiles

    return [s for s in read_raw_smiles(path) if s]


def write_report(
    model_path: str, test_path: Path, train_path: Path, out_dir: Path, seed: int = 0, n_prior: int = 10000,
    n_recon: int = 1000, stochastic: bool = True, n_stochastic: int = 20, test_scaffolds_path: Path | None = None,
) -> dict:
    """Evaluate a checkpoint on test SMILES and write ``report.json`` and ``report.md`` into ``out_dir``."""
    from molgen.api import load_model
    from molgen.atomic import atomic_open

    model = load_model(model_path)
    test = _read_column(test_path)
    report: dict = {
        "model": str(model_path), "kind": model.kind, "test": str(test_path), "seed": seed,
        "vae": vae_measures(model, test, seed=seed, n_prior=n_prior, n_recon=n_recon, stochastic=stochastic,
                            n_stochastic=n_stochastic, progress=True),
    }
    try:
        from molgen.metrics import evaluate as distribution_metrics
    except ImportError:
        distribution_metrics = None
    if distribution_metrics is not None:
        try:
            samples = model.sample(n_prior, seed=seed)  # the same draws as the prior measures above
            train = _read_column(train_path)
            scaffolds = _read_column(test_scaffolds_path) if test_scaffolds_path else None
            metrics = distribution_metrics(samples, train=train, test=test, test_scaffolds=scaffolds, cache=True,
                                           progress=True)
            report["distribution"] = {k: float(v) for k, v in dict(metrics).items() if isinstance(v, (int, float))}
        except (TypeError, ValueError) as exc:
            log.warning("distribution metrics failed: %s", exc)
            report["distribution_error"] = str(exc)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "report.json", "w") as fh:
        json.dump(report, fh, indent=2)
    lines = [f"# {model.kind} evaluation", "", f"Test set: `{test_path}`, seed {seed}.", "",
             "| measure | value |", "|---|---|"]
    for section in ("vae", "distribution"):
        for k, v in report.get(section, {}).items():
            lines.append(f"| {k} | {v:.4f} |" if isinstance(v, float) and not float(v).is_integer() else f"| {k} | {v:g} |")
    with atomic_open(out_dir / "report.md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m molgen.vae.evaluate --model CKPT --test TEST --train TRAIN --out DIR``."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--test", type=Path, required=True)
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--test-scaffolds", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-prior", type=int, default=10000)
    p.add_argument("--n-recon", type=int, default=1000)
    p.add_argument("--n-stochastic", type=int, default=20)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    report = write_report(args.model, args.test, args.train, args.out, seed=args.seed, n_prior=args.n_prior,
                          n_recon=args.n_recon, n_stochastic=args.n_stochastic, test_scaffolds_path=args.test_scaffolds)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
