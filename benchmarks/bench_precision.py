"""What bf16 changes, measured against the noise of a second seed (issue #17): the numbers the
defaults of ``precision`` follow from (README, "Precision").

Four sections, each printing its table and the comparison it makes:

1. **Next-symbol distributions** on real prefixes: the total-variation distance between the fp32
   and the bf16 distribution at every position of ``--n-prefixes`` MOSES test molecules, for the
   shipped ``organ-mle`` (its tokens, run step by step as rollouts run it) and the shipped ``gvae``
   decoder (teacher-forced along the true rule sequence from the posterior mean, masked by the
   semantic machine as decoding masks it); mean, median, 99th percentile, max, and how often the
   most likely symbol differs.
2. **Q estimates** of SeqGAN rollouts (``organ-qed``: its generator and trained discriminator,
   reward 0.5 D + 0.5 QED, ``--rollouts`` completions per prefix of ``--q-batch`` sampled
   sequences): fp32 and bf16 with the same rollout seed, against fp32 with a second seed. bf16 is
   within the noise when ``|Q_fp32 - Q_bf16|`` is far below ``|Q_fp32(seed) - Q_fp32(seed')|``.
3. **Samples**: validity, uniqueness and FCD/test of ``--n-samples`` prior samples of ``gvae`` and
   ``organ-mle`` in fp32 and bf16 at seeds s and s + 1 (a shift of bf16 beyond the fp32 seed-to-seed
   difference shows at both seeds), and the fraction of molecules identical between fp32 and bf16
   at seed s. FCD/test is against the first
   ``--n-ref`` molecules of ``data/moses/test.csv.gz`` (issue #17 asks for 10,000 samples: pass
   ``--n-samples 10000 --n-ref 25000`` where there is time).
4. **Training curves**: ``configs/cvae-small.toml`` and ``configs/organ-mle.toml`` (MLE only) trained
   ``--train-steps`` steps on the first ``--train-molecules`` MOSES training molecules in fp32
   (seed s), bf16 (mixed precision, seed s) and fp32 (seed s + 1); the loss at every logged step.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_precision.py                  # all sections
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_precision.py --sections tv,q   # some of them
    python benchmarks/bench_precision.py --device cuda --n-samples 10000 --n-ref 25000
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from molgen.api import load_model
from molgen.precision import autocast

ROOT = Path(__file__).resolve().parent.parent
MOSES = ROOT / "data" / "moses"


def read_moses(name: str, n: int) -> list[str]:
    """The first ``n`` SMILES of a MOSES file."""
    from molgen.data import read_smiles

    return list(read_smiles(MOSES / f"{name}.csv.gz", max_records=n, progress=False).smiles)


def tv_summary(p: torch.Tensor, q: torch.Tensor) -> dict[str, float]:
    """Total variation 0.5 |p - q|_1 per row of two (rows, symbols) distributions, summarised."""
    tv = 0.5 * (p - q).abs().sum(-1)
    return {"positions": float(len(tv)), "mean": float(tv.mean()), "median": float(tv.median()),
            "p99": float(tv.quantile(0.99)), "max": float(tv.max()),
            "argmax differs": float((p.argmax(-1) != q.argmax(-1)).float().mean())}


@torch.no_grad()
def organ_distributions(smiles: list[str], device: torch.device, precision: str) -> torch.Tensor:
    """Next-token distributions of organ-mle after every prefix of ``smiles`` (real positions only)."""
    sampler = load_model("organ-mle", device=str(device))
    ids = torch.from_numpy(sampler.symbols.encode(smiles).astype(np.int64)).to(device)
    ids = ids[:, : int((ids != sampler.symbols.pad).sum(1).max())]
    with autocast(device, precision):
        _, logits = sampler.model.prefix_states(ids)  # step by step, as rollouts continue prefixes
    return torch.softmax(logits.float(), -1)[ids != sampler.symbols.pad].cpu()


@torch.no_grad()
def gvae_distributions(smiles: list[str], device: torch.device, precision: str) -> torch.Tensor:
    """Masked next-rule distributions of the gvae decoder along the true derivations of ``smiles``."""
    model = load_model("gvae", device=str(device))
    rows = []
    for s in smiles:
        try:
            rows.append(model.symbol_ids([s]))
        except ValueError:  # a molecule the codec cannot encode: skipped (counted by the caller's total)
            continue
    x = torch.cat(rows).to(device)
    steps = int((x != model.codec.pad).sum(1).max())
    targets = x[:, :steps]
    mu, _ = model.net.encoder(x)
    mask = model.codec.train_mask(targets)
    dec = model.net.decoder
    out = []
    with autocast(device, precision):
        state = dec.init_state(mu)
        prev = torch.full((len(x),), dec.start_id, dtype=torch.long, device=device)
        for t in range(steps):
            logits, state = dec.step(prev, state)
            out.append(logits.float().masked_fill(~mask[:, t], float("-inf")))
            prev = targets[:, t]
    probs = torch.softmax(torch.stack(out, 1), -1)
    return probs[targets != model.codec.pad].cpu()


def section_tv(args, device: torch.device) -> None:
    smiles = read_moses("test", args.n_prefixes)
    print(f"\n## 1. fp32 vs bf16 next-symbol distributions on real prefixes ({len(smiles)} MOSES test molecules)\n")
    print("| model | positions | mean TV | median TV | p99 TV | max TV | argmax differs |\n|---|---|---|---|---|---|---|")
    for name, fn in (("organ-mle (tokens)", organ_distributions), ("gvae (rules, semantic mask)", gvae_distributions)):
        s = tv_summary(fn(smiles, device, "fp32"), fn(smiles, device, "bf16"))
        print(f"| {name} | {int(s['positions']):,} | {s['mean']:.4f} | {s['median']:.4f} | {s['p99']:.4f} | {s['max']:.4f} "
              f"| {s['argmax differs']:.2%} |")


def section_q(args, device: torch.device) -> None:
    from molgen.organ.discriminator import Discriminator
    from molgen.organ.rewards import OrganReward
    from molgen.organ.rollout import mc_rollout
    from molgen.organ.symbols import discriminator_input
    from molgen.organ.trainer import config_from_checkpoint
    from molgen.scoring import ObjectiveContext, ObjectiveScorer, ObjectiveSpec

    sampler = load_model("organ-qed", device=str(device))
    cfg = config_from_checkpoint(sampler.checkpoint)
    view = discriminator_input(cfg.discriminator.input, sampler.symbols, ckpt=sampler.checkpoint)
    d = Discriminator(cfg.discriminator, view.n_inputs, view.pad, cfg.generator.max_len).to(device)
    d.load_state_dict(sampler.checkpoint["discriminator"])
    g = sampler.model
    seqs = g.sample(args.q_batch, generator=torch.Generator(device=device).manual_seed(args.seed))

    def q(precision: str, seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        scorer = ObjectiveScorer([ObjectiveSpec("qed")], ObjectiveContext())
        reward = OrganReward(sampler.symbols, d, scorer, 0.5, divide_by_count=True, disc_input=view)
        t0 = time.perf_counter()
        with autocast(device, precision):
            res = mc_rollout(g, seqs, reward, args.rollouts, generator=torch.Generator(device=device).manual_seed(seed))
        return res.q.cpu(), res.mask.cpu(), time.perf_counter() - t0

    q32, mask, t32 = q("fp32", args.seed + 1)
    q16, _, t16 = q("bf16", args.seed + 1)
    q32b, _, t32b = q("fp32", args.seed + 2)
    a, b, c = q32[mask], q16[mask], q32b[mask]
    print(f"\n## 2. Q estimates of rollouts (organ-qed, reward 0.5 D + 0.5 QED, {args.q_batch} sequences, "
          f"{args.rollouts} rollouts per prefix, {int(mask.sum())} actions)\n")
    print("| comparison | mean abs diff | max abs diff | correlation |\n|---|---|---|---|")
    for label, x, y in (("fp32 vs bf16, same seed", a, b), ("fp32 vs fp32, second seed", a, c),
                        ("bf16 vs fp32, second seed", b, c)):
        corr = float(np.corrcoef(x.numpy(), y.numpy())[0, 1])
        print(f"| {label} | {float((x - y).abs().mean()):.4f} | {float((x - y).abs().max()):.4f} | {corr:.4f} |")
    print(f"\nmean Q: fp32 {float(a.mean()):.4f}, bf16 {float(b.mean()):.4f}, fp32 second seed {float(c.mean()):.4f}; "
          f"rollout time fp32 {t32:.1f} s / {t32b:.1f} s, bf16 {t16:.1f} s")


def section_samples(args, device: torch.device) -> None:
    from molgen.evaluation import References, Settings
    from molgen.evaluation.scoring import score_smiles

    test = MOSES / "test.csv.gz"
    with tempfile.TemporaryDirectory() as tmp:
        ref_file = Path(tmp) / "test.smi"
        ref_file.write_text("\n".join(read_moses("test", args.n_ref)) + "\n")
        settings = Settings(n_jobs=1, device=str(device), cache=True)
        refs = References.read(None, ref_file, None).compute(settings)
    print(f"\n## 3. Samples: {args.n_samples:,} per run; FCD against the first {args.n_ref:,} molecules of {test.name}\n")
    print("| model | run | valid | unique (of valid) | FCD/test | identical to fp32, same seed | sampling s |")
    print("|---|---|---|---|---|---|---|")
    for name in ("gvae", "organ-mle"):
        runs = {}
        for label, precision, seed in (("fp32", "fp32", args.seed), ("bf16", "bf16", args.seed),
                                       ("fp32, seed + 1", "fp32", args.seed + 1), ("bf16, seed + 1", "bf16", args.seed + 1)):
            model = load_model(name, device=str(device), precision=precision)
            t0 = time.perf_counter()
            smiles = model.sample(args.n_samples, seed=seed)
            seconds = time.perf_counter() - t0
            m = score_smiles(smiles, refs, settings, f"{name} {label}")
            same = np.mean([x == y for x, y in zip(smiles, runs["fp32"][0])]) if "fp32" in runs else 1.0
            runs[label] = (smiles, m)
            print(f"| {name} | {label} | {m['valid']:.4f} | {m.get('unique_valid', float('nan')):.4f} "
                  f"| {m.get('fcd/test', float('nan')):.3f} | {same:.1%} | {seconds:.1f} |")


def train_curve(kind: str, config: Path, data: Path, out: Path, precision: str, seed: int, steps: int,
                molecules: int, device: str) -> list[tuple[int, float]]:
    """(step, training loss) at every logged step of a run of ``steps`` steps."""
    from molgen.config import load_toml, to_toml
    from molgen.training import TrainOptions, train

    cfg = load_toml(config)
    cfg.update(seed=seed, precision=precision, max_molecules=molecules, log_every=max(1, steps // 10),
               checkpoint_every=steps)
    if kind == "organ":
        cfg["torch_threads"] = 0
        cfg["mle"].update(steps=steps, eval_every=steps + 1)
        cfg.setdefault("dpretrain", {})["steps"] = 0
        cfg.setdefault("adversarial", {})["steps"] = 0
        key = "mle_loss"
    else:
        cfg["train"].update(max_steps=steps, val_every=10 * steps, tensorboard=False, kl_anneal_steps=0)
        key = "loss"
    path = out.with_suffix(".toml")
    path.write_text(to_toml(cfg))
    code = train(TrainOptions(kind=kind, data=data, out=out, config=path, progress=False, device=device))
    assert code == 0, f"{kind} training failed"
    with open(out / "log.csv", newline="") as fh:
        return [(int(r["step"]), float(r[key])) for r in csv.DictReader(fh) if r.get(key)]


def section_train(args, device: torch.device) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "train.smi"
        data.write_text("\n".join(read_moses("train", args.train_molecules)) + "\n")
        print(f"\n## 4. Training curves: {args.train_steps} steps on {args.train_molecules:,} MOSES training molecules\n")
        for kind, config in (("cvae", ROOT / "configs" / "cvae-small.toml"), ("organ", ROOT / "configs" / "organ-mle.toml")):
            curves, times = {}, {}
            for label, precision, seed in (("fp32", "fp32", args.seed), ("bf16", "bf16", args.seed),
                                           ("fp32, seed + 1", "fp32", args.seed + 1)):
                t0 = time.perf_counter()
                curves[label] = train_curve(kind, config, data, Path(tmp) / f"{kind}-{precision}-{seed}", precision, seed,
                                            args.train_steps, args.train_molecules, str(device))
                times[label] = time.perf_counter() - t0
            steps = [s for s, _ in curves["fp32"]]
            print(f"{kind} ({config.relative_to(ROOT)}), training loss by step:\n")
            print("| step | " + " | ".join(curves) + " |\n|---" * 1 + "|---" * len(curves) + "|")
            for i, s in enumerate(steps):
                print(f"| {s} | " + " | ".join(f"{c[i][1]:.4f}" for c in curves.values()) + " |")
            tail = max(1, len(steps) // 3)
            last = {k: float(np.mean([v for _, v in c[-tail:]])) for k, c in curves.items()}
            print(f"\nmean of the last {tail} logged losses: " + ", ".join(f"{k} {v:.4f}" for k, v in last.items())
                  + f"; |fp32 - bf16| {abs(last['fp32'] - last['bf16']):.4f} vs |fp32 - second seed| "
                  f"{abs(last['fp32'] - last['fp32, seed + 1']):.4f}; wall time " +
                  ", ".join(f"{k} {v:.0f} s" for k, v in times.items()) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", default="tv,q,samples,train", help="comma-separated: tv, q, samples, train")
    ap.add_argument("--n-prefixes", type=int, default=500, help="MOSES test molecules whose prefixes section 1 uses")
    ap.add_argument("--q-batch", type=int, default=16, help="sampled sequences whose actions section 2 values")
    ap.add_argument("--rollouts", type=int, default=16)
    ap.add_argument("--n-samples", type=int, default=2000, help="samples per run in section 3 (the issue's figure: 10000)")
    ap.add_argument("--n-ref", type=int, default=5000, help="MOSES test molecules FCD is measured against")
    ap.add_argument("--train-steps", type=int, default=60)
    ap.add_argument("--train-molecules", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(chosen) - {"tv", "q", "samples", "train"}
    if unknown:
        ap.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), seed {args.seed}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, fn in (("tv", section_tv), ("q", section_q), ("samples", section_samples), ("train", section_train)):
        if name in chosen:
            fn(args, device)


if __name__ == "__main__":
    main()
