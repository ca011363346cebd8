"""Record digests of the semantic machine's masks along fixed fuzz trajectories, for ``test_golden_masks``.

The machine is tuned for speed (few tensor operations per step); any such change must leave
every mask, every finishing-policy rule and every state it reaches exactly as they were. Run this
script only when the machine's rules are meant to change, and say so in the commit
(``python tests/semantic/golden_masks.py``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden_masks.json"
ROWS, SEED = 96, 0
MAX_LENS = (30, 80, 169)
#: the rule kinds each trajectory pushes its logits towards (corner cases of rings, valence, length)
MODES = {
    "random": (),
    "rings": ("LABEL", "TAIL_RING_MORE", "BA_TAIL", "RINGBOND_BOND"),
    "growing": ("CHAIN_MORE", "TAIL_BRANCH_MORE", "BA_TAIL", "CHAIN_BOND", "BRANCH_BOND"),
    "bonds": ("BOND", "RBOND", "RINGBOND_BOND", "TAIL_RING"),
}


def bias_towards(codec, mode: str):
    """Logit bias (n_rules,): +6 on the rules of the kinds ``MODES[mode]`` names."""
    import torch

    from molgen.masking import tables as T

    kinds = torch.as_tensor(codec.semantic_tables.kind)
    bias = torch.zeros(codec.n_symbols)
    for name in MODES[mode]:
        bias[kinds == getattr(T, name)] = 6.0
    return bias


def digest(mode: str, max_len: int, fused: bool | None = None) -> str:
    """SHA-256 over every step's mask, policy rule and drawn rule, and the final state, of one trajectory
    (``ROWS`` rows, logits drawn from a seeded generator, biased towards ``MODES[mode]``), under the
    fused or the tensor machine (``fused``, default: the one this machine would use)."""
    import torch

    from grammar import load_grammar
    from molgen.vae.codec import GrammarCodec

    torch.set_num_threads(1)
    codec = GrammarCodec(load_grammar("kekule"), max_len=max_len, constraints="semantic")
    bias = bias_towards(codec, mode)
    gen = torch.Generator().manual_seed(SEED + max_len)
    machine = codec.machine(ROWS, "cpu", fused=fused)
    h = hashlib.sha256()
    for _ in range(max_len):
        allowed = machine.allowed()
        h.update(allowed.numpy().tobytes())
        h.update(machine.policy().numpy().tobytes())
        logits = (torch.randn(ROWS, codec.n_symbols, generator=gen) * 3 + bias).masked_fill(~allowed, float("-inf"))
        rules = torch.multinomial(torch.softmax(logits, 1), 1, generator=gen).squeeze(1)
        h.update(rules.numpy().tobytes())
        machine.advance(rules)
    for name in ("rem", "n_atoms", "ring_atom", "ring_order", "weight", "hosts"):
        h.update(getattr(machine, name).numpy().tobytes())
    h.update(machine.finished.numpy().tobytes())
    return h.hexdigest()


def main() -> int:
    record = {"rows": ROWS, "seed": SEED,
              "digests": {f"{mode}@{n}": digest(mode, n) for mode in MODES for n in MAX_LENS}}
    GOLDEN.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
