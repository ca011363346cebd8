"""``molgen train``: train a Grammar VAE, character VAE or ORGAN model on a SMILES file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from molgen.commands import _args
from molgen.runtime import command_line, versions
from molgen.families import FAMILIES
from molgen.training import TrainOptions, train

NAME = "train"
HELP = "train a model (gvae, cvae, organ) on a SMILES file"
DESCRIPTION = """Train a model and write a run directory (config, log.csv, checkpoints/).

examples:
  molgen train gvae --data data/moses/train.csv.gz --config configs/gvae-small.toml --out runs/gvae
  molgen train cvae --data data/moses/test.csv.gz --out runs/cvae --seed 1
  molgen train organ --data data/moses/train.csv.gz --config configs/organ-qed.toml --out runs/organ
  molgen train gvae --data data/moses/train.csv.gz --out runs/gvae --resume   # after Ctrl-C or a crash
  molgen train gvae --data data/moses/train.csv.gz --out runs/gvae --resume --max-minutes 60   # an hour in all
  torchrun --nproc-per-node 2 -m molgen.cli train gvae --data data/moses/train.csv.gz --out runs/gvae-ddp

Ctrl-C (or SIGTERM) saves a checkpoint and stops; --resume continues to the same
result as an uninterrupted run with the same seed. A run folder is locked while a training
runs in it; --resume refuses data other than the run's (size and SHA-256 recorded) unless
--allow-data-change; a start that fails leaves no run folder behind.

Under torchrun each process trains on its share of every batch (train.batch_size is the
global batch) with DistributedDataParallel; rank 0 writes the run folder."""

log = logging.getLogger("molgen.train")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=sorted(FAMILIES), help="model family")
    p.add_argument("--data", required=True, type=Path, help="training SMILES (.smi .csv .tsv .sdf .parquet, optionally .gz)")
    p.add_argument("--config", type=Path, help="TOML config (default: the family's default config)")
    p.add_argument("--out", required=True, type=Path, help="run directory to create (or resume)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    p.add_argument("--seed", type=_args.seed, help="random seed (overrides the config)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default)")
    p.add_argument("--precision", type=_args.precision, help="fp32, bf16 (mixed precision: bf16 products, fp32 weights) "
                   "or auto (bf16 where the CPU/GPU runs it natively); overrides the config's precision")
    p.add_argument("--max-minutes", type=_args.non_negative_float, metavar="M",
                   help="wall-clock budget: stop (checkpointed, exit 0) once the training steps have taken M minutes "
                        "in all; with --resume it may be set, raised, lowered or lifted (0: none); overrides the "
                        "config's max_minutes")
    p.add_argument("--column", help="SMILES column name for csv/tsv/parquet input")
    p.add_argument("--allow-data-change", action="store_true",
                   help="with --resume: continue on data other than the run's (its size and hash are recorded)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dist-backend", default="auto", choices=("auto", "gloo", "nccl"),
                   help="under torchrun: the torch.distributed backend (auto: nccl on CUDA, gloo on CPU)")


def run(args: argparse.Namespace) -> int:
    cmd = command_line()
    log.info("molgen train %s | %s", args.kind, " ".join(f"{k}={v}" for k, v in versions().items()))
    log.info("command: %s", cmd)
    opts = TrainOptions(
        kind=args.kind, data=args.data, out=args.out, config=args.config, resume=args.resume,
        seed=args.seed, precision=args.precision, max_minutes=args.max_minutes, device=args.device, column=args.column, command=cmd, progress=not args.no_progress,
        allow_data_change=args.allow_data_change, dist_backend=args.dist_backend,
    )
    return train(opts)
