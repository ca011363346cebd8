"""Why a VAE's prior samples are less like the data than its reconstructions: the prior hole.

For a trained VAE (default the shipped ``gvae``), decodes in the same run, by sampling at T = 1,
the same number of latent vectors drawn from:

1. the prior N(0, I), as ``molgen sample`` does;
2. a full-covariance Gaussian fitted to the aggregate posterior (the training molecules' posterior
   samples mu + sigma * eps): what matching the prior's first two moments could buy;
3. the aggregate posterior itself (those posterior samples): the decoder's floor, molecules near
   the training set.

and prints for each the validity, uniqueness and FCD to the shipped MOSES test set, with the
aggregate posterior's moments and the squared MMD (``molgen``'s inverse multiquadratic kernels
at WAE's scales) between batches of it and N(0, I) draws, next to its value between two N(0, I)
batches. The gap between 1 and 3 is the prior hole; 2 says how much of it is a matter of moments,
the MMD whether a batch-level penalty (InfoVAE, WAE-MMD) could see it at the training batch size.

Usage: python benchmarks/bench_latent_prior.py [--model gvae] [-n 5000] [--batch 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from molgen.api import load_model
from molgen.chem.mol import canonical_smiles
from molgen.data import read_smiles
from molgen.metrics.fcd import fcd_from_stats, fcd_stats
from molgen.metrics.reference import reference_stats
from molgen.paths import MOSES_DIR
from molgen.vae.api import make_generator

SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # times 2 * latent size: WAE's C = 2 d sigma^2


def mmd2(a: torch.Tensor, b: torch.Tensor) -> float:
    """Unbiased squared MMD between the rows of ``a`` and ``b`` (same count) under a sum of
    inverse multiquadratic kernels C / (C + |x - y|^2)."""
    n, d = a.shape

    def k(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sq = ((x * x).sum(1, keepdim=True) + (y * y).sum(1) - 2 * x @ y.T).clamp(min=0)
        return sum(2 * d * s / (2 * d * s + sq) for s in SCALES)

    off = ~torch.eye(n, dtype=torch.bool)
    return float(k(a, a)[off].mean() + k(b, b)[off].mean() - 2 * k(a, b).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gvae")
    p.add_argument("-n", type=int, default=5000, help="latent vectors per source (and training molecules encoded)")
    p.add_argument("--batch", type=int, default=64, help="batch size of the MMD estimates (the training batch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = load_model(args.model)
    if not hasattr(model, "net"):
        raise SystemExit(f"{args.model}: not a VAE (no latent space)")
    # every k-th molecule of the training file, for a spread over the whole file
    train = read_smiles(MOSES_DIR / "train.csv.gz").smiles
    train = train[:: max(1, len(train) // args.n)][: args.n]
    test = read_smiles(MOSES_DIR / "test.csv.gz").smiles
    print(f"{args.model}: {len(train):,} training molecules encoded, {args.n:,} decodes per source, "
          f"seed {args.seed}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f}")

    gen = torch.Generator().manual_seed(args.seed)
    mus, logvars = [], []
    with torch.no_grad():
        for i in range(0, len(train), 512):
            mu, logvar = model.net.encoder(model.symbol_ids(train[i : i + 512]))
            mus.append(mu.float())
            logvars.append(logvar.float())
    mu, logvar = torch.cat(mus), torch.cat(logvars)
    posterior = mu + torch.randn(mu.shape, generator=gen) * torch.exp(0.5 * logvar)
    d = posterior.shape[1]
    cov = torch.cov(posterior.T)
    eig = torch.linalg.eigvalsh(cov)
    print(f"aggregate posterior: |mean| {posterior.mean(0).abs().mean():.3f} per dimension, variance "
          f"{posterior.var(0).min():.3f}-{posterior.var(0).max():.3f}, covariance eigenvalues "
          f"{eig.min():.3f}-{eig.max():.3f}; posterior std (mean) {torch.exp(0.5 * logvar).mean():.3f}")
    b = args.batch
    between = [mmd2(posterior[i : i + b], torch.randn((b, d), generator=gen)) for i in range(0, len(posterior) - b + 1, b)]
    null = [mmd2(torch.randn((b, d), generator=gen), torch.randn((b, d), generator=gen)) for _ in between]
    print(f"squared MMD, batches of {b}: aggregate posterior vs N(0, I) {statistics.mean(between):.4f} "
          f"+- {statistics.stdev(between):.4f}; N(0, I) vs N(0, I) {statistics.mean(null):.4f} +- {statistics.stdev(null):.4f}")

    reference = reference_stats(test, role="test").fcd  # disk-cached, as molgen evaluate reads it
    normal = torch.randn((args.n, d), generator=gen)
    fitted = posterior.mean(0) + normal @ torch.linalg.cholesky(cov + 1e-5 * torch.eye(d)).T
    sources = {"prior N(0, I)": normal, "Gaussian fitted to the aggregate posterior": fitted,
               "aggregate posterior": posterior[: args.n]}
    print(f"{'decoded from':<44} {'valid':>7} {'unique':>7} {'FCD/test':>9}")
    for name, z in sources.items():
        sampler = make_generator(args.seed, "cpu")
        smiles = []
        for i in range(0, len(z), 512):
            smiles += model.decode_details(z[i : i + 512], greedy=False, generator=sampler).smiles
        valid = [c for c in (canonical_smiles(s) for s in smiles if s) if c]
        fcd = fcd_from_stats(fcd_stats(valid), reference)
        print(f"{name:<44} {len(valid) / len(z):7.3f} {len(set(valid)) / max(1, len(valid)):7.3f} {fcd:9.2f}")
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
