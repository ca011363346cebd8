"""Time one adversarial generator step of LeakGAN against SeqGAN at the same sizes, and count D's work.

Setup (the CPU recipe of configs/organ-qed.toml, SeqGAN's reward lambda = 1): MOSES tokens, a
generator with a 2 x 256 LSTM (LeakGAN: the same worker plus a 128-unit manager LSTM, goals of
k = 16), the "small" discriminator (384 features), batch 64, 8 rollouts on every 2nd prefix. Both
generators are first trained by MLE for ``--mle-steps`` steps on the shipped MOSES sample (same
data order, same seed), so their samples have molecule-like lengths; both use the same D.

One step = sample a batch, Monte-Carlo rollouts (``mc_rollout``, completions continued from cached
prefix states), the policy update (SeqGAN: REINFORCE on Q; LeakGAN: manager on Q, worker on the
intrinsic reward). For LeakGAN the D feature rows (prefixes featurised) and CNN calls are counted
per part of the step. *Without the cache* is the paper's procedure, run for real on
``--naive-prefixes`` prefix lengths and extrapolated by the number of prefix lengths: for each
rolled-out prefix length and each rollout, the generator re-runs from BOS over the batch, reading
D's features of the current prefix at every step (one CNN call of B rows per step), and the update
featurises the sampled batch step by step again for the manager pass, its loss and the intrinsic
reward, each prefix by a full pass over its padded length (this code: one symbol's windows per
step, all prefixes of a batch in one pass). Figures are wall-clock and CPU seconds on one thread (best of ``--repeat``); set
``OMP_WAIT_POLICY=PASSIVE`` on a shared machine.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_leakgan.py
    python benchmarks/bench_leakgan.py --hidden 64 --layers 1 --mle-steps 20 --batch 16   # quick look
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gzip
import time

import torch

from molgen import paths
from molgen.organ.config import DiscriminatorConfig, GeneratorConfig, LeakGANConfig
from molgen.organ.discriminator import Discriminator
from molgen.organ.generator import GeneratorNet, lengths
from molgen.organ.leakgan import FeatureLeak, LeakGANGenerator, LeakGANObjective, build_leakgan
from molgen.organ.rollout import mc_rollout, reinforce_loss
from molgen.organ.symbols import TokenSymbols
from molgen.vocab import Vocabulary


def moses_smiles(n: int) -> list[str]:
    """The first ``n`` SMILES of the shipped MOSES training sample."""
    with gzip.open(paths.DATA_DIR / "moses" / "train.csv.gz", "rt") as fh:
        next(fh)
        return [next(fh).strip().split(",")[0] for _ in range(n)]


def pretrain(g: GeneratorNet, loss_fn, ids: torch.Tensor, steps: int, batch: int, seed: int) -> float:
    """``steps`` MLE steps (Adam 3e-3) on random batches of ``ids``; returns the last loss."""
    opt = torch.optim.Adam(g.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        rows = ids[torch.randint(len(ids), (batch,), generator=gen)]
        rows = rows[:, : int((rows != g.pad).sum(1).max())]
        loss = loss_fn(rows)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(g.parameters(), 5.0)
        opt.step()
    return loss.item()


class CountingReward:
    """SeqGAN's reward D(Y), counting the sequences D scores."""

    def __init__(self, d: Discriminator) -> None:
        self.d, self.rows = d, 0

    def __call__(self, seqs: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        uniq, inverse = torch.unique(seqs, dim=0, return_inverse=True)
        self.rows += uniq.size(0)
        return self.d.reward(uniq)[inverse]


def step(g: GeneratorNet, d: Discriminator, args: argparse.Namespace, objective: LeakGANObjective | None) -> dict:
    """One adversarial generator step from ``g``'s current weights (restored afterwards)."""
    start = copy.deepcopy(g.state_dict())
    policy = copy.deepcopy(g).eval()
    opt = torch.optim.Adam(g.parameters(), lr=1e-4)
    reward = CountingReward(d)
    leak: FeatureLeak | None = getattr(g, "leak", None)
    counts = {}

    def mark(name: str) -> None:
        if leak is not None:
            counts[name] = (leak.calls, leak.rows)

    gen = torch.Generator().manual_seed(args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    mark("start")
    g.eval()
    seqs = g.sample(args.batch, generator=gen)
    t_sample = time.perf_counter() - t0
    mark("sample")
    res = mc_rollout(policy, seqs, reward, args.rollouts, generator=gen, stride=args.stride)
    t1 = time.perf_counter()
    mark("rollouts")
    g.train()
    if objective is None:
        logp, ent = g.token_log_probs(seqs)
        loss = reinforce_loss(logp, ent, res.q, res.mask, float(res.q[res.mask].mean()))
    else:
        loss, _, _ = objective.adversarial_loss(seqs, None, res.q, float(res.q[res.mask].mean()))
    opt.zero_grad()
    loss.backward()
    opt.step()
    mark("update")
    out = {"step": time.perf_counter() - t0, "cpu": time.process_time() - c0, "sample": t_sample,
           "rollouts": t1 - t0 - t_sample, "update": time.perf_counter() - t1, "completions": res.n_completions,
           "length": float(lengths(seqs, g.eos).float().mean()), "d_rows": reward.rows, "seqs": seqs}
    if leak is not None:
        names = ["start", "sample", "rollouts", "update"]
        for a, b in zip(names, names[1:]):
            out[f"{b}_calls"] = counts[b][0] - counts[a][0]
            out[f"{b}_rows"] = counts[b][1] - counts[a][1]
    g.load_state_dict(start)
    return out


@torch.no_grad()
def naive_rollout(g: LeakGANGenerator, seqs: torch.Tensor, n_rollouts: int, prefix_len: int, gen: torch.Generator) -> None:
    """The paper's rollout of one prefix length: per rollout, the whole batch from BOS, teacher-forced
    over the prefix, then sampled to the full length, D's features read at every step (no cached state)."""
    B, T = seqs.shape
    leak = g.features()
    leak.step = lambda done, prefix, ell: (leak(prefix), done)  # a full pass over every padded prefix
    for _ in range(n_rollouts):
        logits, state = g(torch.full((B, 1), g.bos, dtype=torch.long))  # features of the empty prefix
        for t in range(T):
            if t < prefix_len:
                tok = seqs[:, t]
            else:
                tok = torch.multinomial(torch.softmax(logits[:, -1], -1), 1, generator=gen).squeeze(1)
            if t + 1 < T:
                logits, state = g(tok.unsqueeze(1), state)
    del leak.step  # back to the incremental step of the class


def naive_update_features(leak: FeatureLeak, seqs: torch.Tensor) -> None:
    """Without the shared feature pass: the manager pass, its loss and the intrinsic reward each
    featurise every prefix of the sampled batch, one CNN call per step."""
    B, T = seqs.shape
    pad = leak.disc.embed.padding_idx or 0
    for _ in range(3):
        for t in range(T + 1):
            prefix = seqs.clone()
            prefix[:, t:] = pad
            leak(prefix)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rollouts", type=int, default=8)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=100)
    ap.add_argument("--mle-steps", type=int, default=150, help="MLE steps for each generator before timing")
    ap.add_argument("--naive-prefixes", type=int, default=2, help="prefix lengths the cache-less rollout is timed on")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    smiles = moses_smiles(5000)
    symbols = TokenSymbols(Vocabulary.build(smiles), args.max_len)
    ids = torch.from_numpy(symbols.encode(smiles).astype("int64"))
    torch.manual_seed(args.seed)
    d = Discriminator(DiscriminatorConfig(preset="small"), symbols.n_inputs, symbols.pad, args.max_len).eval()
    g_cfg = GeneratorConfig(hidden_size=args.hidden, num_layers=args.layers, max_len=args.max_len)
    l_cfg = LeakGANConfig()
    torch.manual_seed(args.seed)
    seqgan = GeneratorNet(g_cfg, symbols.n_inputs, symbols.pad, symbols.bos, symbols.eos)
    torch.manual_seed(args.seed)
    leak_g = build_leakgan(dataclasses.replace(g_cfg, architecture="leakgan"), l_cfg, symbols, d)
    objective = LeakGANObjective(leak_g, l_cfg)
    print(f"setup: batch {args.batch}, {args.rollouts} rollouts every {args.stride} prefix(es), generator "
          f"{args.layers}x{args.hidden} LSTM (LeakGAN + manager {l_cfg.manager_hidden_size}, k = {l_cfg.goal_size}, "
          f"c = {l_cfg.horizon}), max_len {args.max_len}, discriminator 'small' ({leak_g.feature_size} features), reward D "
          f"(SeqGAN), {args.threads} torch thread(s), seed {args.seed}; params SeqGAN "
          f"{sum(p.numel() for p in seqgan.parameters()):,}, LeakGAN {sum(p.numel() for p in leak_g.parameters()):,}")
    t0 = time.perf_counter()
    nll_s = pretrain(seqgan, seqgan.nll, ids, args.mle_steps, 64, args.seed)
    t_s = time.perf_counter() - t0
    nll_l = pretrain(leak_g, lambda rows: objective.mle_loss(rows)[0], ids, args.mle_steps, 64, args.seed)
    t_l = time.perf_counter() - t0 - t_s
    print(f"MLE pretraining, {args.mle_steps} steps of 64: SeqGAN {t_s:.0f} s (last NLL {nll_s:.2f}), "
          f"LeakGAN {t_l:.0f} s (last NLL + manager loss {nll_l:.2f})")

    results = {}
    for name, g, obj in (("SeqGAN", seqgan, None), ("LeakGAN", leak_g, objective)):
        runs = [step(g, d, args, obj) for _ in range(args.repeat)]
        results[name] = min(runs, key=lambda r: r["step"])
    print("\n| method | mean length | completions | step s (CPU s) | sample s | rollouts s | update s | D reward rows "
          "| feature rows: sample / rollouts / update | CNN calls: sample / rollouts / update |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        rows = calls = "-"
        if "sample_rows" in r:
            rows = f"{r['sample_rows']:,} / {r['rollouts_rows']:,} / {r['update_rows']:,}"
            calls = f"{r['sample_calls']:,} / {r['rollouts_calls']:,} / {r['update_calls']:,}"
        print(f"| {name} | {r['length']:.1f} | {r['completions']:,} | {r['step']:.1f} ({r['cpu']:.1f}) | {r['sample']:.2f} "
              f"| {r['rollouts']:.1f} | {r['update']:.2f} | {r['d_rows']:,} | {rows} | {calls} |")
    s, lk = results["SeqGAN"], results["LeakGAN"]
    print(f"\nLeakGAN / SeqGAN time per adversarial step: {lk['step'] / s['step']:.1f}x wall clock, "
          f"{lk['cpu'] / s['cpu']:.1f}x CPU (SeqGAN mean length {s['length']:.1f}, LeakGAN {lk['length']:.1f})")

    # without the cache: the paper's rollouts and update, timed on a few prefix lengths, extrapolated
    seqs = lk["seqs"]
    T = int(lengths(seqs, leak_g.eos).max())
    seqs = seqs[:, :T]
    rolled = [p for p in range(1, T) if p % args.stride == 0]
    timed = rolled[:: max(1, len(rolled) // max(1, args.naive_prefixes))][: args.naive_prefixes]
    leak = leak_g.leak
    calls0, rows0 = leak.calls, leak.rows
    t0, c0 = time.perf_counter(), time.process_time()
    gen = torch.Generator().manual_seed(args.seed)
    for p in timed:
        naive_rollout(leak_g, seqs, args.rollouts, p, gen)
    t_roll, c_roll = time.perf_counter() - t0, time.process_time() - c0
    scale = len(rolled) / max(1, len(timed))
    roll_calls, roll_rows = (leak.calls - calls0) * scale, (leak.rows - rows0) * scale
    calls0, rows0 = leak.calls, leak.rows
    t0, c0 = time.perf_counter(), time.process_time()
    naive_update_features(leak, seqs)
    t_upd, c_upd = time.perf_counter() - t0, time.process_time() - c0
    upd_calls, upd_rows = leak.calls - calls0, leak.rows - rows0
    cached_rows = lk["sample_rows"] + lk["rollouts_rows"] + lk["update_rows"]
    cached_calls = lk["sample_calls"] + lk["rollouts_calls"] + lk["update_calls"]
    naive_rows = lk["sample_rows"] + roll_rows + upd_rows
    naive_calls = lk["sample_calls"] + roll_calls + upd_calls
    naive_time = lk["sample"] + t_roll * scale + t_upd + lk["update"]
    print(f"\nwithout the cache (paper's rollout timed on {len(timed)} of {len(rolled)} prefix lengths, x{scale:.1f}): "
          f"rollouts {t_roll * scale:.0f} s (CPU {c_roll * scale:.0f} s), update features {t_upd:.1f} s (CPU {c_upd:.1f} s)")
    print("| LeakGAN step | feature rows | CNN calls | step s |")
    print("|---|---|---|---|")
    print(f"| cached, batched (this code) | {cached_rows:,} | {cached_calls:,} | {lk['step']:.1f} |")
    print(f"| without the cache (paper) | {naive_rows:,.0f} | {naive_calls:,.0f} | {naive_time:.0f} |")
    print(f"\ncache: {naive_rows / cached_rows:.1f}x fewer feature rows, {naive_calls / cached_calls:.0f}x fewer CNN calls, "
          f"{naive_time / lk['step']:.1f}x less time per step; SeqGAN's D scored {s['d_rows']:,} sequences in its step")


if __name__ == "__main__":
    main()
