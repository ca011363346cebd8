"""Training throughput (molecules/s) of the default VAE config and time per epoch on the shipped sample.

Times optimisation steps on length-bucketed batches (as the trainer builds them) from the
MOSES sample, for the Grammar VAE and the character VAE, and extrapolates one epoch of the
250k-molecule training file (98 % after the validation split).

``--precision fp32|bf16|both``: the training step's forward pass in that precision (mixed
precision: bf16 products under autocast, fp32 weights and Adam state, as ``precision = "bf16"``
trains); ``both`` times fp32 and bf16 in the same run and prints steps/s and the ratio.
``--device cuda`` trains on the GPU (CUDA synchronised before the clock is read).

Usage: python benchmarks/bench_vae_training.py [--threads 2] [--steps 8] [--precision both] [--device cpu]
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
from pathlib import Path

import torch

from molgen.config import load_config
from molgen.precision import autocast
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


def clock(device: torch.device) -> float:
    """``time.perf_counter()`` after the device's queued work is done (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def bench(kind: str, cfg: VAEConfig, smiles: list[str], steps: int, precision: str = "fp32",
          device: torch.device = torch.device("cpu")) -> tuple[float, float, float]:
    """Molecules per second, steps per second and steps per CPU second (this process's CPU time: on
    a shared machine the wall clock depends on the other processes) over ``steps`` training steps
    (after one warm-up step)."""
    codec = GrammarCodec.from_data(cfg.grammar) if kind == "gvae" else TokenCodec.from_data(smiles)
    enc = codec.encode(smiles, n_jobs=1, cache_dir=Path(tempfile.mkdtemp(prefix="bench-vae-")))
    ids = enc.ids[enc.keep]
    lengths = (ids != codec.pad).sum(axis=1)
    batches = epoch_batches(cfg.seed, 0, lengths, cfg.train.batch_size)
    torch.manual_seed(cfg.seed)  # the same initial weights for every precision
    net = build_net(cfg.model, codec).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.train.lr)
    done = 0
    t0 = c0 = 0.0
    for i, b in enumerate(batches[: steps + 1]):
        if i == 1:
            t0, c0 = clock(device), time.process_time()
        x = torch.from_numpy(ids[b]).to(device)
        t = int((x != codec.pad).sum(dim=1).max())
        target = x[:, :t]
        mask = codec.train_mask(target)
        with autocast(device, precision):
            logits, mu, logvar = net(x, steps=t)
            loss = reconstruction_nll(logits, target, mask, codec.pad) + 0.1 * kl_divergence(mu, logvar)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 1:
            done += len(b)
    seconds = clock(device) - t0
    return done / seconds, steps / seconds, steps / (time.process_time() - c0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--molecules", type=int, default=8192, help="MOSES molecules to draw batches from")
    p.add_argument("--precision", choices=("fp32", "bf16", "both"), default="fp32",
                   help="precision of the forward pass; both: fp32 and bf16 in the same run, with the ratio")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    smiles = read(args.molecules)
    print(f"torch threads {torch.get_num_threads()}, device {device}, {args.steps} timed steps per model; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for kind in ("gvae", "cvae"):
        cfg = load_config(VAEConfig, ROOT / "configs" / f"{kind}-small.toml")
        rates = {}
        for precision in (["fp32", "bf16"] if args.precision == "both" else [args.precision]):
            rate, steps_s, steps_cpu = rates[precision] = bench(kind, cfg, smiles, args.steps, precision, device)
            print(f"{kind} (configs/{kind}-small.toml, batch {cfg.train.batch_size}), {precision}: {rate:7.1f} mol/s, "
                  f"{steps_s:6.2f} steps/s ({steps_cpu:6.2f} per CPU second), "
                  f"{N_EPOCH / rate / 60:6.1f} min per epoch of the 250k MOSES sample")
        if len(rates) == 2:
            print(f"  -> {kind}: bf16 mixed precision {rates['bf16'][1] / rates['fp32'][1]:.2f}x the steps/s of fp32, "
                  f"{rates['bf16'][2] / rates['fp32'][2]:.2f}x per CPU second (same run)")


if __name__ == "__main__":
    main()
