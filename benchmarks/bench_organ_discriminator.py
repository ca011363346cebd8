"""What should the discriminator of the ORGAN over rules read: the rule ids, or the SMILES tokens
of each derivation? (``[discriminator] input = "symbols" | "smiles"``)

From one trained rule generator (``--model``, e.g. the MLE prior), both discriminators (the same
config, the "small" CNN preset) are pretrained with the same budget on the same real and generated
sequences, as the trainer's dpretrain stage does (``--steps`` x ``--samples`` fresh negatives,
``--epochs`` passes), then scored on held-out real molecules (the tail of ``--data``) against fresh
samples: accuracy and ROC AUC of D, and the time D takes to score a rollout-sized batch of
distinct sequences (``--score-n``), decoding included for the SMILES input.

    python benchmarks/bench_organ_discriminator.py --model runs/organ-grammar-mle
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from molgen.api import load_model
from molgen.organ.config import DiscriminatorConfig
from molgen.organ.discriminator import Discriminator
from molgen.organ.symbols import discriminator_input
from molgen.data import read_smiles


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC: the probability that a real sequence scores above a generated one (ties count half)."""
    scores = np.concatenate([pos, neg])
    ranks = scores.argsort().argsort() + 1.0
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a rule generator (run folder or checkpoint)")
    ap.add_argument("--data", default="data/moses/train.csv.gz")
    ap.add_argument("--n-real", type=int, default=20000, help="real molecules read (the last --held are held out)")
    ap.add_argument("--held", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--score-n", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)

    sampler = load_model(args.model)
    symbols, g = sampler.symbols, sampler.model
    smiles = list(read_smiles(args.data, max_records=args.n_real).smiles)
    ids = torch.from_numpy(symbols.encode(smiles)).long()
    train, held = ids[: -args.held], ids[-args.held :]
    max_len = g.cfg.max_len

    def sample(n: int, gen: torch.Generator) -> torch.Tensor:
        return g.sample(n, generator=gen, machine=symbols.machine(n, "cpu"))

    # the same real and generated sequences for both discriminators
    gen = torch.Generator().manual_seed(args.seed)
    fakes = [sample(args.samples, gen) for _ in range(args.steps)]
    reals = [train[torch.randint(len(train), (args.samples,), generator=gen)] for _ in range(args.steps)]
    held_fake, batch = sample(len(held), gen), sample(args.score_n, gen)
    print(f"{args.model}: {len(train):,} real training / {len(held):,} held-out derivations; "
          f"{args.steps} steps x {args.samples} negatives x {args.epochs} epochs; seed {args.seed}")
    print("| D reads | vocabulary | held-out accuracy | ROC AUC | train s | score s per "
          f"{args.score_n:,} |\n|---|---|---|---|---|---|")
    for kind in ("symbols", "smiles"):
        torch.manual_seed(args.seed)
        view = discriminator_input(kind, symbols, ids.numpy().astype(np.int64))
        d = Discriminator(DiscriminatorConfig(preset="small"), view.n_inputs, view.pad, max_len)
        opt = torch.optim.Adam(d.parameters(), lr=1e-4)
        order_gen = torch.Generator().manual_seed(args.seed)
        t0 = time.perf_counter()
        for fake, real in zip(fakes, reals):
            fake, real = view(fake), view(real)
            d.train()
            for _ in range(args.epochs):
                order = torch.randperm(args.samples, generator=order_gen)
                for lo in range(0, args.samples, 64):
                    idx = order[lo : lo + 64]
                    loss, _ = d.loss(d.pad_to_length(real[idx]), d.pad_to_length(fake[idx]))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        t_train = time.perf_counter() - t0
        p_real = d.reward(view(held)).numpy()
        p_fake = d.reward(view(held_fake)).numpy()
        acc = ((p_real > 0.5).sum() + (p_fake <= 0.5).sum()) / (len(p_real) + len(p_fake))
        t0 = time.perf_counter()
        d.reward(view(batch))
        t_score = time.perf_counter() - t0
        print(f"| {kind} | {view.n_inputs} | {acc:.3f} | {auc(p_real, p_fake):.3f} | {t_train:.0f} | {t_score:.2f} |")


if __name__ == "__main__":
    main()
