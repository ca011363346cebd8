"""``molgen encode``: SMILES to latent vectors with a Grammar / character VAE."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from molgen.commands import _args
from molgen.errors import UsageError

NAME = "encode"
HELP = "encode molecules to VAE latent vectors (.npy, .csv, .parquet)"
DESCRIPTION = """Encode each molecule of INPUT to its posterior mean in the model's latent space.

.npy gets an (n, latent_size) float32 array; .csv/.parquet get a smiles column and z0, z1, ….
Molecules the model cannot encode (invalid, outside the grammar, too long) keep their row
with NaN latents, so rows stay aligned with the input; they are counted in the log.

examples:
  molgen encode --model gvae molecules.smi -o latents.npy
  molgen encode --model runs/cvae data.csv --column SMILES -o latents.parquet"""

log = logging.getLogger("molgen.encode")

LATENT_FORMATS = (".npy", ".csv", ".parquet")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="VAE: shipped name (gvae, cvae), checkpoint or run directory")
    p.add_argument("input", type=Path, help="molecules (.smi .csv .tsv .sdf .parquet, optionally .gz)")
    p.add_argument("-o", "--out", required=True, type=Path, help="latents file (.npy, .csv or .parquet)")
    p.add_argument("--column", help="SMILES column for csv/tsv/parquet input")
    p.add_argument("--batch-size", type=_args.positive_int, default=512, help="molecules per batch (default 512)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")


def load_latent_model(name: str, device: str):
    """Load ``name`` and check that it has a latent space (a VAE, not ORGAN)."""
    from molgen.api import LatentGenerator, load_model
    from molgen.runtime import pick_device

    device = pick_device(device)
    model = load_model(name, device=device)
    if not isinstance(model, LatentGenerator):
        raise UsageError(f"model {name!r} ({model.kind}) has no latent space; use a gvae or cvae model")
    return model


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from molgen.atomic import atomic_path
    from molgen.data import read_smiles

    suffix = args.out.suffix.lower()
    if suffix not in LATENT_FORMATS:
        raise UsageError(f"-o {args.out}: use one of {', '.join(LATENT_FORMATS)}")
    model = load_latent_model(args.model, args.device)
    smiles = read_smiles(args.input, column=args.column).smiles
    z = np.full((len(smiles), model.latent_size), np.nan, dtype=np.float32)
    failed = 0
    for i in range(0, len(smiles), args.batch_size):
        batch = smiles[i : i + args.batch_size]
        try:
            z[i : i + len(batch)] = model.encode(batch).numpy()
        except ValueError:  # one bad molecule: encode this batch one by one
            for j, s in enumerate(batch):
                try:
                    z[i + j] = model.encode([s]).numpy()[0]
                except ValueError as exc:
                    failed += 1
                    log.debug("cannot encode %s: %s", s, exc)
    if failed:
        log.warning("%d of %d molecules could not be encoded (NaN rows)", failed, len(smiles))
    with atomic_path(args.out) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, z)
        else:
            df = pd.DataFrame(z, columns=[f"z{k}" for k in range(z.shape[1])])
            df.insert(0, "smiles", smiles)
            if suffix == ".csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
    log.info("wrote %d latent vectors (%d dims) to %s", len(z), z.shape[1], args.out)
    return 0
