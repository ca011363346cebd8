"""``molgen sample``: generate molecules from any trained model into a table file."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path

from molgen.commands._args import count, positive_float, positive_int, precision, seed

NAME = "sample"
HELP = "generate molecules from a model (gvae, cvae, organ, checkpoint or run directory)"
DESCRIPTION = """Sample N molecules and write them with their validity, canonical SMILES and RDKit
properties (.csv .tsv .smi .sdf .parquet, chosen by the extension; written atomically and
streamed in chunks, so N can be millions).

Columns: id (1, 2, …: the numbers the dashboard's grid shows), smiles (the raw decoded string,
possibly invalid; empty when a VAE decode ran out of length), valid, canonical_smiles, then
properties (mw, logp, qed, sa, …) unless --no-props, then provenance: model, seed, temperature,
molgen_version. The dashboard's downloads are written by the same writer.

Without --out (or with --out -) SMILES go to stdout, one per line (--format csv/tsv/sdf for a
table), so the output can be piped.

examples:
  molgen sample --model gvae -n 100 --out samples.csv
  molgen sample --model gvae -n 5 --seed 0 --no-progress | head -3
  molgen sample --model cvae -n 10000 --valid-only --unique --seed 1 --out lib.parquet
  molgen sample --model runs/gvae -n 1000000 --no-props --batch-size 2048 --out big.smi
  molgen sample --model organ-qed -n 500 --temperature 0.8 --out organ.sdf"""

log = logging.getLogger("molgen.sample")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="shipped model name, checkpoint file or run directory")
    p.add_argument("-n", type=count, required=True, help="number of molecules (rows) to write")
    p.add_argument("--out", "-o", default="-", help="output table (.csv .tsv .smi .sdf .parquet, .gz for text); "
                   "'-' or none: stdout")
    p.add_argument("--format", default="smi", help="format on stdout: smi (default), csv, tsv or sdf")
    p.add_argument("--seed", type=seed, help="random seed (default: a fresh one, logged)")
    p.add_argument("--temperature", type=positive_float, default=1.0, help="sampling temperature (default 1.0)")
    p.add_argument("--batch-size", type=positive_int, default=512, help="molecules decoded per batch (default 512)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default)")
    p.add_argument("--precision", type=precision, default="fp32",
                   help="fp32 (default: the same molecules for a seed on every machine), bf16 (faster on CPUs "
                        "with AMX/AVX-512 BF16 and on GPUs) or auto (bf16 where the hardware runs it natively)")
    p.add_argument("--valid-only", action="store_true", help="keep only RDKit-valid molecules (samples until N are found)")
    p.add_argument("--unique", action="store_true", help="drop repeated molecules (by canonical SMILES)")
    p.add_argument("--no-props", action="store_true", help="do not compute RDKit properties")
    p.add_argument("--chunk-size", type=positive_int, default=10_000, help="rows generated and written per chunk (default 10000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from molgen.api import load_model
    from molgen.data import TableWriter, export_table
    from molgen.runtime import pick_device
    from molgen.sampling import iter_sample_tables, provenance

    to_stdout = str(args.out) == "-"
    # The writer checks the format before the model is loaded.
    writer = TableWriter("stdout", stream=sys.stdout, fmt=args.format) if to_stdout else TableWriter(Path(args.out))
    device = pick_device(args.device)
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    model = load_model(args.model, device=device, precision=args.precision)
    log.info("sampling %d molecules from %s (%s) with seed %d%s", args.n, args.model, model.kind, seed,
             "" if model.precision == "fp32" else f" in {model.precision}")
    origin = provenance(args.model, seed, args.temperature)
    with writer:
        for df in iter_sample_tables(
            model, args.n, seed=seed, temperature=args.temperature, batch_size=args.batch_size,
            valid_only=args.valid_only, unique=args.unique, properties=not args.no_props,
            chunk_size=args.chunk_size, progress=not args.no_progress, n_jobs=None,
        ):
            writer.write(export_table(df, origin, first_id=writer.rows + 1))
        rows = writer.rows
    if to_stdout:
        sys.stdout.flush()
    log.info("wrote %d rows to %s", rows, "stdout" if to_stdout else args.out)
    return 0
