"""Training throughput (molecules/s) of the default VAE config and time per epoch on the shipped sample.

Times optimisation steps on length-bucketed batches (as the trainer builds them) from the
MOSES sample, for the Grammar VAE and the character VAE, and extrapolates one epoch of the
250k-molecule training file (98 % after the validation split).

Usage: python benchmarks/bench_vae_training.py [--threads 2] [--steps 8] [--configs configs/gvae-small.toml]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import torch

from molgen.config import load_config
from molgen.vae.api import build_net
from molgen.vae.codec import GrammarCodec, TokenCodec
from molgen.vae.config import VAEConfig
from molgen.vae.model import kl_divergence, reconstruction_nll
from molgen.vae.trainer import epoch_batches

ROOT = Path(__file__).resolve().parent.parent
N_EPOCH = int(250_000 * 0.98)


def read(n: int) -> list[str]:
    with gzip.open(ROOT / "data" / "moses" / "train.csv.gz", "rt") as fh:
        fh.readline()
        return [next(fh).strip().split(",")[0] for _ in range(n)]


def bench(kind: str, cfg: VAEConfig, smiles: list[str], steps: int) -> float:
    """Molecules per second over ``steps`` training steps (after one warm-up step)."""
    codec = GrammarCodec.from_data(cfg.grammar) if kind == "gvae" else TokenCodec.from_data(smiles)
    enc = codec.encode(smiles, n_jobs=1, cache_dir=Path(tempfile.mkdtemp(prefix="bench-vae-")))
    ids = enc.ids[enc.keep]
    lengths = (ids != codec.pad).sum(axis=1)
    batches = epoch_batches(cfg.seed, 0, lengths, cfg.train.batch_size)
    net = build_net(cfg.model, codec)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.train.lr)
    done = 0
    t0 = 0.0
    for i, b in enumerate(batches[: steps + 1]):
        if i == 1:
            t0 = time.perf_counter()
        x = torch.from_numpy(ids[b])
        t = int((x != codec.pad).sum(dim=1).max())
        logits, mu, logvar = net(x, steps=t)
        target = x[:, :t]
        loss = reconstruction_nll(logits, target, codec.train_mask(target), codec.pad) + 0.1 * kl_divergence(mu, logvar)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 1:
            done += len(b)
    return done / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--molecules", type=int, default=8192, help="MOSES molecules to draw batches from")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    smiles = read(args.molecules)
    print(f"torch threads {torch.get_num_threads()}, {args.steps} timed steps per model")
    for kind in ("gvae", "cvae"):
        cfg = load_config(VAEConfig, ROOT / "configs" / f"{kind}-small.toml")
        rate = bench(kind, cfg, smiles, args.steps)
        print(f"{kind} (configs/{kind}-small.toml, batch {cfg.train.batch_size}): {rate:7.1f} mol/s, "
              f"{N_EPOCH / rate / 60:6.1f} min per epoch of the 250k MOSES sample")


if __name__ == "__main__":
    main()
