"""VAE-specific measures: reconstruction, prior validity, out-of-length decodes.

:func:`molgen.evaluation.score_model` adds :func:`vae_measures` for models with a latent
space (the report's ``vae`` section); the distribution metrics (uniqueness, novelty, FCD …)
live in :mod:`molgen.metrics`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch


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
