"""``molgen decode``: latent vectors back to molecules with a Grammar / character VAE."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from molgen.commands import _args
from molgen.commands.encode import LATENT_FORMATS, load_latent_model
from molgen.errors import InputError, UsageError

NAME = "decode"
HELP = "decode VAE latent vectors (.npy, .csv, .parquet) to molecules"
DESCRIPTION = """Decode each latent vector of LATENTS (as written by 'molgen encode': .npy array or
.csv/.parquet with z0, z1, … columns) and write smiles, valid, canonical_smiles (+ properties).

Greedy decoding by default (deterministic); --sample draws each symbol at --temperature with
--seed. Rows with NaN latents (molecules 'encode' could not encode) decode to an empty string.

examples:
  molgen decode --model gvae latents.npy -o decoded.csv
  molgen decode --model cvae latents.parquet -o decoded.sdf --sample --seed 3"""

log = logging.getLogger("molgen.decode")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="VAE: shipped name (gvae, cvae), checkpoint or run directory")
    p.add_argument("latents", type=Path, help="latent vectors (.npy, .csv or .parquet)")
    p.add_argument("-o", "--out", required=True, type=Path, help="output table (.csv .tsv .smi .sdf .parquet)")
    p.add_argument("--sample", action="store_true", help="sample symbols instead of greedy decoding")
    p.add_argument("--temperature", type=_args.positive_float, default=1.0, help="sampling temperature with --sample (default 1.0)")
    p.add_argument("--seed", type=_args.seed, default=0, help="seed for --sample (default 0)")
    p.add_argument("--batch-size", type=_args.positive_int, default=512, help="vectors per batch (default 512)")
    p.add_argument("--no-props", action="store_true", help="do not compute RDKit properties")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")


def read_latents(path: Path) -> np.ndarray:
    """(n, d) float32 latents from .npy or the z* columns of .csv/.parquet."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in LATENT_FORMATS:
        raise UsageError(f"{path}: latents must be one of {', '.join(LATENT_FORMATS)}")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if suffix == ".npy":
        z = np.load(path, allow_pickle=False)
    else:
        df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        cols = sorted((c for c in df.columns if str(c).startswith("z") and str(c)[1:].isdigit()), key=lambda c: int(c[1:]))
        if not cols:
            raise InputError(f"{path}: no latent columns z0, z1, …")
        z = df[cols].to_numpy()
    if z.ndim != 2:
        raise InputError(f"{path}: expected a 2-D array of latent vectors, got shape {z.shape}")
    return z.astype(np.float32)


def run(args: argparse.Namespace) -> int:
    import torch

    from molgen.atomic import check_output_path
    from molgen.data import write_table
    from molgen.sampling import annotate
    from molgen.training.rng import derive_seed

    check_output_path(args.out)  # before loading the model and decoding

    if args.temperature <= 0:
        raise UsageError(f"--temperature must be > 0, got {args.temperature}")
    model = load_latent_model(args.model, args.device)
    z = read_latents(args.latents)
    if z.shape[1] != model.latent_size:
        raise InputError(f"{args.latents}: latents have {z.shape[1]} dimensions, the model {model.latent_size}")
    finite = np.isfinite(z).all(axis=1)
    decoded = [""] * len(z)
    rows = np.flatnonzero(finite)
    for k, i in enumerate(range(0, len(rows), args.batch_size)):
        idx = rows[i : i + args.batch_size]
        out = model.decode(torch.from_numpy(z[idx]), greedy=not args.sample, temperature=args.temperature,
                           seed=derive_seed(args.seed, k))
        for j, s in zip(idx, out):
            decoded[j] = s
    df = annotate(decoded, properties=not args.no_props, n_jobs=None)
    write_table(df, args.out)
    log.info("decoded %d vectors (%d valid) to %s", len(df), int(df["valid"].sum()), args.out)
    return 0
