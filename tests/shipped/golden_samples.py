"""Record what the shipped models sample with a fixed seed, for ``test_same_seed_samples``.

Run once before a refactor (``python tests/shipped/golden_samples.py``); the test then checks that
every shipped model still samples exactly these strings. Regenerate only when a model is
retrained or sampling is meant to change, and say so in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden_samples.json"
SHIPPED = ("gvae", "gvae-cf", "cvae", "organ-mle", "organ-qed", "organ-grammar-mle", "organ-grammar-qed")
N, SEED, TEMPERATURE, BATCH = 300, 0, 1.0, 128


def samples(name: str) -> list[str]:
    """What shipped model ``name`` samples under the recorded settings."""
    import torch

    from molgen.api import load_model

    torch.set_num_threads(1)
    return load_model(name).sample(N, seed=SEED, temperature=TEMPERATURE, batch_size=BATCH)


def main() -> int:
    record = {"n": N, "seed": SEED, "temperature": TEMPERATURE, "batch_size": BATCH,
              "models": {name: samples(name) for name in SHIPPED}}
    GOLDEN.write_text(json.dumps(record, indent=0) + "\n")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
