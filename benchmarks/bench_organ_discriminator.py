"""What should the discriminator of the ORGAN over rules read: the rule ids, or the SMILES tokens
of each derivation? (``[discriminator] input = "symbols" | "smiles"``)

From one trained rule generator (``--model``, e.g. the MLE prior), both discriminators (the same
config, the "small" CNN preset) are pretrained with the same budget on the same real and generated
sequences, as the trainer's dpretrain stage does (``--steps`` x ``--samples`` fresh negatives,
``--epochs`` passes), then scored on held-out real molecules (the tail of ``--data``) against fresh
samples: accuracy and ROC AUC of D, and the time D takes to score a rollout-sized batch of
distinct sequences (``--score-n``), decoding included for the SMILES input.

    python benchmarks/bench_organ_discriminator.py --model runs/organ-grammar-mle

``--cost`` measures instead what D costs inside one adversarial step, on the completions real
rollouts produce (``--model``, default the shipped organ-qed: ``--q-batch`` sampled sequences,
``--rollouts`` completions per prefix), for the model's own discriminator and an untrained one of
SeqGAN's preset (MOSES's default, 12 widths up to 20), each variant timed on the same completions
(CPU time, best of ``--repeat``) with its result checked against the convolution:

* conv: the training forward (``nn.Conv1d`` per width over padded embeddings), every completion;
* per-offset lookups: the lookup tables read with one ``embedding`` call and one add per filter
  offset (molgen's path before issue #17), every completion;
* embedding_bag: the same tables read by one fused ``embedding_bag`` per width (molgen's path);
* D.reward, distinct only: ``Discriminator.reward`` (embedding_bag) on the distinct completions
  (what ``OrganReward`` scores), its tables built once per call;
* + bf16: D.reward on the distinct completions under bf16 autocast (highway and output layer in
  bf16; the tables stay fp32).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_organ_discriminator.py --cost
"""

from __future__ import annotations

import argparse
import os
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


def per_offset_pooled(d: Discriminator, seqs: torch.Tensor, tables: list[torch.Tensor]) -> torch.Tensor:
    """The lookup path as it was before the fused embedding_bag: one lookup and one add per filter offset."""
    longest = int((seqs != d.embed.padding_idx).sum(1).max())
    widest = max(conv.kernel_size[0] for conv in d.convs)
    ids = d.pad_to_length(seqs)[:, : min(d.max_len, longest + widest)]
    pooled = []
    for conv, table in zip(d.convs, tables):
        n = ids.size(1) - table.size(0) + 1
        acc = torch.nn.functional.embedding(ids[:, :n], table[0])
        for k in range(1, table.size(0)):
            acc += torch.nn.functional.embedding(ids[:, k : k + n], table[k])
        pooled.append(torch.relu(acc.amax(1) + conv.bias))
    return torch.cat(pooled, dim=1)


def rollout_completions(args) -> tuple[object, torch.Tensor]:
    """The model's sampler and every completion one step's rollouts produce (``--q-batch`` x prefixes x
    ``--rollouts``)."""
    from molgen.organ.rollout import mc_rollout

    sampler = load_model(args.model)
    g, symbols = sampler.model, sampler.symbols
    gen = torch.Generator().manual_seed(args.seed)
    seqs = g.sample(args.q_batch, generator=gen, machine=symbols.machine(args.q_batch, "cpu"))
    seen: list[torch.Tensor] = []

    def capture(batch: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        seen.append(batch.clone())
        return torch.zeros(len(batch))

    new_machine = (lambda n: symbols.machine(n, "cpu")) if symbols.masked else None
    mc_rollout(g, seqs, capture, args.rollouts, generator=gen, new_machine=new_machine)
    return sampler, seen[-1]


def cost(args) -> None:
    """What D costs on one step's rollout completions, variant by variant (see the module docstring)."""
    from molgen.organ.trainer import config_from_checkpoint
    from molgen.precision import autocast

    sampler, completions = rollout_completions(args)
    ckpt = sampler.checkpoint
    cfg = config_from_checkpoint(ckpt)
    view = discriminator_input(cfg.discriminator.input, sampler.symbols, ckpt=ckpt)
    ids = view(completions)
    distinct, inverse = torch.unique(ids, dim=0, return_inverse=True)
    lengths = (ids != view.pad).sum(1).float()
    print(f"{args.model}: {args.q_batch} sampled sequences x {args.rollouts} rollouts per prefix -> {len(ids):,} completions "
          f"({len(distinct):,} distinct, mean length {lengths.mean():.1f}); 1 thread, CPU s best of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.1f}")
    own = Discriminator(cfg.discriminator, view.n_inputs, view.pad, cfg.generator.max_len)
    own.load_state_dict(ckpt["discriminator"])
    torch.manual_seed(args.seed)
    seqgan = Discriminator(DiscriminatorConfig(preset="seqgan"), view.n_inputs, view.pad, cfg.generator.max_len)
    for label, d in ((f"own ({cfg.discriminator.preset})", own), ("seqgan preset", seqgan)):
        d.eval()
        tables = d.lookup_tables()

        def chunks(fn, x: torch.Tensor) -> torch.Tensor:  # shortest first, 64 at a time, as D.reward runs
            order = (x != view.pad).sum(1).argsort()
            out = torch.empty(len(x))
            for i in range(0, len(x), 64):
                idx = order[i : i + 64]
                out[idx] = fn(x[idx]).float()
            return out

        head = lambda pooled: d.out(d.highway(pooled)).squeeze(1)  # noqa: E731
        variants = [
            ("conv (training forward)", ids, lambda x: d(d.pad_to_length(x))),
            ("per-offset lookups", ids, lambda x: head(per_offset_pooled(d, x, tables))),
            ("embedding_bag", ids, lambda x: head(d.pooled_by_lookup(x, tables))),
            ("D.reward: embedding_bag, distinct only", distinct, lambda x: d.reward(x)),
        ]
        print(f"\n{label}, {sum(p.numel() for p in d.parameters()):,} parameters:\n")
        print("| variant | sequences scored | CPU s | speed-up vs conv | max abs diff vs conv |\n|---|---|---|---|---|")
        with torch.no_grad():
            reference = chunks(variants[0][2], ids)
            base = None
            for name, x, fn in variants + [(None, distinct, None)]:
                precision = "bf16" if fn is None else "fp32"
                if fn is None:  # molgen's path again, under bf16 autocast
                    name, x, fn = variants[-1]
                    name += ", bf16"
                best = float("inf")
                for _ in range(args.repeat):
                    t0 = time.process_time()
                    with autocast("cpu", precision):
                        if name.startswith("D.reward"):  # its own chunks; a probability: back to the logit
                            got = torch.logit(fn(x).double()).float() if d.cfg.loss == "bce" else fn(x)
                        else:
                            got = chunks(fn, x)
                    best = min(best, time.process_time() - t0)
                base = base or best
                full = got[inverse] if len(x) < len(ids) else got
                print(f"| {name} | {len(x):,} | {best:.2f} | {base / best:.1f}x | {float((full - reference).abs().max()):.2e} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a rule generator (run folder or checkpoint); with --cost any ORGAN model "
                    "(default organ-qed)")
    ap.add_argument("--cost", action="store_true", help="time D's variants on one step's rollout completions")
    ap.add_argument("--q-batch", type=int, default=16, help="with --cost: sampled sequences rolled out")
    ap.add_argument("--rollouts", type=int, default=16, help="with --cost: completions per prefix")
    ap.add_argument("--repeat", type=int, default=2, help="with --cost: timed runs per variant (best kept)")
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
    if args.cost:
        args.model = args.model or "organ-qed"
        cost(args)
        return
    if not args.model:
        ap.error("--model is required (a rule generator), except with --cost")

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
