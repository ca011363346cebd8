"""Rebuild the shipped MOSES sample (or the full set) bit for bit from the molsets wheel.

    python data/build_moses.py                 # 250k/25k/25k sample -> data/moses/
    python data/build_moses.py --full --out data/moses-full   # all 1.58M/176k/176k

The wheel (molsets==0.3.1, MIT licence) is fetched with ``pip download`` unless
``--wheel`` points at a local copy; its SHA-256 is checked. Sampling uses Python's
``random.Random(seed).sample`` (stable across Python versions) and keeps the
original order; gzip is written with a zero timestamp so the bytes are reproducible.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "molsets==0.3.1"
WHEEL_SHA256 = "7f4450e3ebecebe79c3a2a55950c93daddee071120daf64a163d03481e811d34"
SPLITS = {"train": "train.csv.gz", "test": "test.csv.gz", "test_scaffolds": "test_scaffolds.csv.gz"}
DEFAULT_SIZES = {"train": 250_000, "test": 25_000, "test_scaffolds": 25_000}


def fetch_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), WHEEL], check=True
    )
    return next(dest.glob("molsets-0.3.1-*.whl"))


def read_split(wheel: zipfile.ZipFile, split: str) -> list[str]:
    raw = gzip.decompress(wheel.read(f"moses/dataset/data/{SPLITS[split]}")).decode()
    lines = raw.splitlines()
    if lines[0].strip() != "SMILES":
        raise SystemExit(f"unexpected header in {SPLITS[split]}: {lines[0]!r}")
    return [ln.strip() for ln in lines[1:] if ln.strip()]


def write_csv_gz(path: Path, smiles: list[str]) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(("SMILES\n" + "\n".join(smiles) + "\n").encode())
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "moses")
    ap.add_argument("--wheel", type=Path, help="local molsets-0.3.1 wheel (default: pip download it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full", action="store_true", help="write the full splits instead of a sample")
    for split, n in DEFAULT_SIZES.items():
        ap.add_argument(f"--n-{split.replace('_', '-')}", type=int, default=n, dest=f"n_{split}")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = args.wheel or fetch_wheel(Path(tmp))
        digest = hashlib.sha256(wheel_path.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise SystemExit(f"{wheel_path}: SHA-256 {digest} does not match molsets 0.3.1 ({WHEEL_SHA256})")
        args.out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel_path) as wheel:
            for i, split in enumerate(SPLITS):
                smiles = read_split(wheel, split)
                if not args.full:
                    n = getattr(args, f"n_{split}")
                    idx = sorted(random.Random(args.seed + i).sample(range(len(smiles)), n))
                    smiles = [smiles[j] for j in idx]
                out = args.out / SPLITS[split]
                write_csv_gz(out, smiles)
                sha = hashlib.sha256(out.read_bytes()).hexdigest()
                print(f"{out}: {len(smiles):,} SMILES  sha256={sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
