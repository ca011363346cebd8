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

.npy gets an (n, latent_size) float32 array, one row per input record in input order;
.csv/.parquet get line (the input's line or row), name (when the input has names: .smi, .sdf
or --id-column), smiles (as written), encoded (true/false) and z0, z1, …. Records the model
cannot encode (invalid SMILES, outside the grammar, too long) keep their row with NaN
latents and encoded = false, so rows stay aligned with the input; they are counted in the log.

examples:
  molgen encode --model gvae molecules.smi -o latents.npy
  molgen encode --model cvae data.csv --column smiles --id-column id -o latents.parquet"""

log = logging.getLogger("molgen.encode")

LATENT_FORMATS = (".npy", ".csv", ".parquet")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="VAE: shipped name (gvae, cvae), checkpoint or run directory")
    p.add_argument("input", type=Path, help="molecules (.smi .csv .tsv .sdf .parquet, optionally .gz)")
    p.add_argument("-o", "--out", required=True, type=Path, help="latents file (.npy, .csv or .parquet)")
    p.add_argument("--column", help="SMILES column for csv/tsv/parquet input")
    p.add_argument("--id-column", help="column of csv/tsv/parquet input carried to the output as name")
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


def encode_records(model, smiles: list[str | None], batch_size: int) -> tuple[np.ndarray, int]:
    """Posterior means of ``smiles`` (None: an unreadable record), one row each; rows the model cannot
    encode stay NaN. Returns the latents and the number of such rows."""
    z = np.full((len(smiles), model.latent_size), np.nan, dtype=np.float32)
    failed = 0
    for i in range(0, len(smiles), batch_size):
        rows = [j for j in range(i, min(i + batch_size, len(smiles))) if smiles[j]]
        failed += min(i + batch_size, len(smiles)) - i - len(rows)
        try:
            if rows:
                z[rows] = model.encode([smiles[j] for j in rows]).numpy()
        except ValueError:  # one bad molecule: encode this batch one by one
            for j in rows:
                try:
                    z[j] = model.encode([smiles[j]]).numpy()[0]
                except ValueError as exc:
                    failed += 1
                    log.debug("cannot encode %s: %s", smiles[j], exc)
    return z, failed


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from rdkit import Chem

    from molgen.atomic import atomic_path
    from molgen.data import iter_records, parse_record

    suffix = args.out.suffix.lower()
    if suffix not in LATENT_FORMATS:
        raise UsageError(f"-o {args.out}: use one of {', '.join(LATENT_FORMATS)}")
    model = load_latent_model(args.model, args.device)
    lines, names, written, canonical = [], [], [], []
    for rec in iter_records(args.input, column=args.column, name_column=args.id_column):
        mol, _ = parse_record(rec)
        lines.append(rec.line)
        names.append(rec.name)
        written.append(rec.smiles if rec.smiles is not None else ("" if mol is None else Chem.MolToSmiles(mol)))
        canonical.append(None if mol is None else Chem.MolToSmiles(mol))
    z, failed = encode_records(model, canonical, args.batch_size)
    if failed:
        log.warning("%d of %d records could not be encoded (NaN rows, encoded = false)", failed, len(z))
    with atomic_path(args.out) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, z)
        else:
            df = pd.DataFrame(z, columns=[f"z{k}" for k in range(z.shape[1])])
            head = {"line": lines, **({"name": names} if any(n is not None for n in names) else {}),
                    "smiles": written, "encoded": ~np.isnan(z).any(axis=1) if len(z) else np.zeros(0, bool)}
            df = pd.concat([pd.DataFrame(head), df], axis=1)
            if suffix == ".csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
    log.info("wrote %d latent vectors (%d dims) to %s", len(z), z.shape[1], args.out)
    return 0
