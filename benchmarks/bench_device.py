"""The three hot paths on one device, fp32 against bf16 autocast, in one run: ORGAN step, VAE sampling, VAE training.

Written to time a GPU (``--device cuda``) against this project's CPU figures, and to run the same
code on the CPU (``--device cpu``) so the two are measured the same way:

1. **ORGAN adversarial generator step** at the MOSES ORGAN defaults (batch 64, 16 rollouts per
   prefix, 2 x 512 LSTM, max length 100, SeqGAN's CNN discriminator, reward 0.5 D + 0.5 QED):
   batched rollouts from cached prefix states (:func:`molgen.organ.rollout.mc_rollout`) and the
   REINFORCE update. QED is RDKit on the CPU whatever the device; its share is printed.
2. **VAE prior sampling**: ``--samples`` molecules (default 10,000) from a Grammar VAE checkpoint
   (``--vae``, default the shipped ``gvae``: semantic machine, Kekulé grammar) at each ``--batches``
   size, with the fraction RDKit parses.
3. **VAE training**: optimisation steps of the shipped ``gvae`` recipe (``configs/gvae-semantic.toml``)
   on length-bucketed MOSES batches, the semantic training masks replayed on the device for
   ``replay_ahead(device)`` batches at a time (16 on a CPU, 256 on a GPU) as the trainer does,
   at each ``--train-batches`` size: molecules per second.

bf16 runs every path under ``torch.autocast(device, bfloat16)`` (fp32 weights and optimiser
state; the softmax over masked logits autocasts to fp32). Figures are wall clock after a warm-up,
with CUDA synchronised before each timer read.

    python benchmarks/bench_device.py --device cuda
    python benchmarks/bench_device.py --device cpu --threads 1 --samples 2000 --organ-rollouts 4
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import math
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MOSES_TOKENS = ["#", "(", ")", "-", "1", "2", "3", "4", "5", "6", "=", "Br", "C", "Cl", "F", "N", "O", "S",
                "[H]", "[nH]", "c", "n", "o", "s"]


def sync(device: torch.device) -> None:
    """Wait for queued kernels so a timer read covers the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def precision_ctx(device: torch.device, precision: str):
    """bf16 autocast on ``device``, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def organ_step(device: torch.device, precision: str, args: argparse.Namespace) -> dict[str, float]:
    """One adversarial generator step at the MOSES defaults (best of ``--repeat``)."""
    import copy

    from molgen.organ.config import DiscriminatorConfig, GeneratorConfig
    from molgen.organ.discriminator import Discriminator
    from molgen.organ.generator import GeneratorNet, lengths
    from molgen.organ.rewards import OrganReward
    from molgen.organ.rollout import mc_rollout, reinforce_loss
    from molgen.organ.symbols import TokenSymbols
    from molgen.scoring import ObjectiveContext, ObjectiveScorer, ObjectiveSpec
    from molgen.vocab import Vocabulary

    torch.manual_seed(args.seed)
    vocab = Vocabulary(["<pad>", "<bos>", "<eos>", "<unk>", *MOSES_TOKENS])
    g = GeneratorNet(GeneratorConfig(hidden_size=512, num_layers=2, max_len=100), len(vocab), vocab.pad, vocab.bos,
                     vocab.eos)
    with torch.no_grad():  # untrained weights; P(EOS) = 1/36 per step so lengths average ~36 tokens like MOSES
        g.head.weight[vocab.eos] = 0.0
        g.head.bias[vocab.eos] = g.head.bias.mean() + math.log((len(vocab) - 1) / 35)
    g.to(device)
    d = Discriminator(DiscriminatorConfig(preset="seqgan"), len(vocab), vocab.pad, 100).to(device)
    seqs = g.sample(64, generator=torch.Generator(device=device).manual_seed(args.seed))
    start = copy.deepcopy(g.state_dict())
    best: dict[str, float] | None = None
    for _ in range(args.repeat):
        g.load_state_dict(start)
        opt = torch.optim.Adam(g.parameters(), lr=1e-4)
        scorer = ObjectiveScorer([ObjectiveSpec("qed")], ObjectiveContext(), cache_size=500_000)
        reward = OrganReward(TokenSymbols(vocab, 100), d, scorer, 0.5, divide_by_count=True)
        sync(device)
        t0 = time.perf_counter()
        with precision_ctx(device, precision):
            res = mc_rollout(g, seqs, reward, args.organ_rollouts,
                             generator=torch.Generator(device=device).manual_seed(args.seed + 1))
            logp, ent = g.token_log_probs(seqs)
            loss = reinforce_loss(logp.float(), ent.float(), res.q, res.mask, float(res.q[res.mask].mean()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync(device)
        run = {"step": time.perf_counter() - t0, "policy": res.seconds_policy,
               "discriminator": reward.seconds["discriminator"], "chemistry": reward.seconds["chemistry"],
               "completions": float(res.n_completions), "length": float(lengths(seqs, vocab.eos).float().mean())}
        if best is None or run["step"] < best["step"]:
            best = run
    assert best is not None
    return best


def vae_sampling(device: torch.device, precision: str, args: argparse.Namespace) -> list[dict[str, float]]:
    """Prior samples per second of ``--vae`` at each batch size, and the fraction RDKit parses."""
    from molgen.api import load_model
    from molgen.chem.mol import to_mol

    model = load_model(args.vae, device=str(device))
    rows = []
    for batch in args.batches:
        with precision_ctx(device, precision):
            model.sample(min(batch, args.samples), seed=args.seed, batch_size=batch)  # warm-up
            sync(device)
            t0 = time.perf_counter()
            smiles = model.sample(args.samples, seed=args.seed, batch_size=batch)
            sync(device)
            dt = time.perf_counter() - t0
        valid = sum(to_mol(s) is not None for s in smiles) / len(smiles)
        rows.append({"batch": batch, "mol_per_s": args.samples / dt, "seconds": dt, "valid": valid})
    return rows


def _moses(n: int) -> list[str]:
    with gzip.open(ROOT / "data" / "moses" / "train.csv.gz", "rt") as fh:
        fh.readline()
        return [next(fh).strip().split(",")[0] for _ in range(n)]


def vae_training(device: torch.device, precision: str, args: argparse.Namespace) -> list[dict[str, float]]:
    """Training molecules per second of the shipped gvae recipe at each batch size."""
    from molgen.config import load_config
    from molgen.masking.codec import GrammarCodec, replay_ahead
    from molgen.vae.api import build_net
    from molgen.vae.config import VAEConfig
    from molgen.vae.trainer import epoch_batches

    cfg = load_config(VAEConfig, ROOT / "configs" / "gvae-semantic.toml")
    codec = GrammarCodec.from_data(cfg.grammar, constraints=cfg.constraints)
    enc = codec.encode(_moses(args.train_molecules), n_jobs=1, cache_dir=Path(tempfile.mkdtemp(prefix="bench-dev-")))
    ids = enc.ids[enc.keep]
    lengths = (ids != codec.pad).sum(axis=1)
    rows = []
    for batch in args.train_batches:
        torch.manual_seed(args.seed)
        net = build_net(cfg.model, codec).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.train.lr)
        gen = torch.Generator(device=device).manual_seed(args.seed)
        batches = epoch_batches(cfg.seed, 0, lengths, batch)[: args.train_steps + 1]
        done, t0 = 0, 0.0
        masks: list[torch.Tensor] = []
        for i, b in enumerate(batches):
            if i == 1:
                sync(device)
                t0 = time.perf_counter()
            if not masks:  # replay the next replay_ahead(device) batches together, as the trainer does
                ahead = [ids[bb] for bb in batches[i : i + replay_ahead(device)]]
                steps = max(int((r != codec.pad).sum(1).max()) for r in ahead)
                x = torch.from_numpy(np.concatenate([r[:, :steps] for r in ahead])).to(device)
                allowed = codec.train_mask(x)
                masks = list(torch.split(allowed, [len(r) for r in ahead]))
            m = masks.pop(0)
            x = torch.from_numpy(ids[b]).to(device)
            with precision_ctx(device, precision):
                terms = net.loss(x, lambda targets, m=m: m[:, : targets.shape[1]], generator=gen)
                loss = terms.objective(cfg.train.kl_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.train.grad_clip)
            opt.step()
            if i >= 1:
                done += len(b)
        sync(device)
        dt = time.perf_counter() - t0
        rows.append({"batch": batch, "mol_per_s": done / dt, "steps_per_s": (len(batches) - 1) / dt,
                     "loss": float(loss.detach())})
    return rows


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"CPU, {torch.get_num_threads()} torch thread(s), {os.cpu_count()} cores (torch {torch.__version__})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", default="fp32,bf16", help="comma-separated: fp32, bf16")
    ap.add_argument("--parts", default="organ,sampling,training", help="comma-separated: organ, sampling, training")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=2, help="ORGAN steps timed per precision (the best is kept)")
    ap.add_argument("--organ-rollouts", type=int, default=16)
    ap.add_argument("--vae", default="gvae", help="VAE checkpoint or shipped name for the sampling part")
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--batches", default="512,4096", help="sampling batch sizes")
    ap.add_argument("--train-batches", default="64,512", help="training batch sizes")
    ap.add_argument("--train-steps", type=int, default=40)
    ap.add_argument("--train-molecules", type=int, default=20_000)
    args = ap.parse_args()
    args.batches = [int(b) for b in args.batches.split(",")]
    args.train_batches = [int(b) for b in args.train_batches.split(",")]
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    parts = args.parts.split(",")
    precisions = args.precision.split(",")
    print(f"device: {describe(device)}; load average {os.getloadavg()[0]:.1f}; seed {args.seed}")
    results: dict[tuple[str, str], object] = {}
    for part, fn in (("organ", organ_step), ("sampling", vae_sampling), ("training", vae_training)):
        if part not in parts:
            continue
        for p in precisions:
            try:
                results[part, p] = fn(device, p, args)
            except Exception as exc:  # noqa: BLE001 - a path that fails in one precision must not hide the others
                results[part, p] = exc
            print(f"{part} {p}: {results[part, p]}", flush=True)

    print(f"\n## {describe(device)}\n")
    if "organ" in parts:
        print(f"ORGAN adversarial step (batch 64, {args.organ_rollouts} rollouts, 2 x 512 LSTM, max length 100, "
              "0.5 D + 0.5 QED):\n\n| precision | step s | generator s | discriminator s | QED (CPU) s | completions |")
        print("|---|---|---|---|---|---|")
        for p in precisions:
            r = results.get(("organ", p))
            if isinstance(r, dict):
                print(f"| {p} | {r['step']:.2f} | {r['policy']:.2f} | {r['discriminator']:.2f} | {r['chemistry']:.2f} "
                      f"| {int(r['completions']):,} |")
            else:
                print(f"| {p} | failed: {r} | | | | |")
        ok = [results.get(("organ", p)) for p in ("fp32", "bf16")]
        if all(isinstance(r, dict) for r in ok):
            print(f"\nbf16 / fp32 step: {ok[0]['step'] / ok[1]['step']:.2f}x faster")
    for part, title, key in (("sampling", f"VAE prior sampling ({args.vae}, {args.samples:,} molecules)", "mol_per_s"),
                             ("training", "VAE training (configs/gvae-semantic.toml, semantic masks)", "mol_per_s")):
        if part not in parts:
            continue
        print(f"\n{title}:\n\n| precision | batch | molecules/s | extra |\n|---|---|---|---|")
        for p in precisions:
            r = results.get((part, p))
            if not isinstance(r, list):
                print(f"| {p} | | failed: {r} | |")
                continue
            for row in r:
                extra = f"valid {row['valid']:.3f}" if "valid" in row else f"{row['steps_per_s']:.1f} steps/s, loss {row['loss']:.2f}"
                print(f"| {p} | {row['batch']} | {row[key]:,.0f} | {extra} |")


if __name__ == "__main__":
    main()
