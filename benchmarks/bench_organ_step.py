"""Time one ORGAN adversarial generator step: batched rollouts from cached prefix states vs a naive rollout.

Setup (the MOSES ORGAN defaults that took 80-480 s per step): batch 64, 16 rollouts, generator
2 x 512 LSTM, max length 100, reward = 0.5 * D (SeqGAN's CNN) + 0.5 * QED. Both variants use the
same generator, discriminator, sampled batch and seed.

* fast: :func:`molgen.organ.rollout.mc_rollout` (G_beta run once over the batch, every prefix's
  completions continued from its cached state, 1024 in flight with finished ones replaced by the
  next, rewards deduplicated and cached) followed by the REINFORCE update.
* naive: for each sequence, for each prefix, re-run the prefix from BOS and complete it N times
  (batched over the N rollouts only), scoring every completion (D and QED) without any cache.
  It is timed on ``--naive-seqs`` sequences and extrapolated to the batch by the number of
  prefixes, which the output says.

Both run on one thread; on a shared machine the CPU time of each (``time.process_time``) is
printed beside the wall-clock time, as other processes slow the wall clock unevenly.

    python benchmarks/bench_organ_step.py                   # the spec's sizes
    python benchmarks/bench_organ_step.py --hidden 128 --rollouts 4 --naive-seqs 2   # quick look
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import torch

from molgen.organ.config import DiscriminatorConfig, GeneratorConfig
from molgen.organ.discriminator import Discriminator
from molgen.organ.generator import GeneratorNet, lengths
from molgen.organ.rewards import OrganReward
from molgen.organ.rollout import mc_rollout, reinforce_loss
from molgen.scoring import ObjectiveContext, ObjectiveScorer, ObjectiveSpec
from molgen.vocab import Vocabulary

MOSES_TOKENS = ["#", "(", ")", "-", "1", "2", "3", "4", "5", "6", "=", "Br", "C", "Cl", "F", "N", "O", "S",
                "[H]", "[nH]", "c", "n", "o", "s"]


def naive_q(policy: GeneratorNet, seqs: torch.Tensor, reward, n_rollouts: int, gen: torch.Generator,
            rows: list[int]) -> tuple[int, dict[str, float]]:
    """Q of every prefix of ``seqs[rows]`` the naive way; returns the prefixes done and the time split."""
    T = seqs.size(1)
    lens = lengths(seqs, policy.eos)
    split = {"generator": 0.0, "reward": 0.0}
    done = 0
    for b in rows:
        for p in range(1, int(lens[b])):
            t0 = time.perf_counter()
            prefix = seqs[b : b + 1, :p].expand(n_rollouts, -1)
            inputs = torch.cat([torch.full((n_rollouts, 1), policy.bos), prefix], dim=1)
            logits, state = policy(inputs)  # the whole prefix, from BOS, every time
            out = torch.full((n_rollouts, T), policy.pad, dtype=torch.long)
            out[:, :p] = prefix
            nxt_logits = logits[:, -1]
            finished = torch.zeros(n_rollouts, dtype=torch.bool)
            for t in range(p, T):
                tok = torch.multinomial(torch.softmax(nxt_logits, -1), 1, generator=gen).squeeze(1)
                tok = torch.where(finished, torch.full_like(tok, policy.pad), tok)
                out[:, t] = tok
                finished |= tok == policy.eos
                if bool(finished.all()):
                    break
                step_logits, state = policy(tok.unsqueeze(1), state)
                nxt_logits = step_logits[:, 0]
            t1 = time.perf_counter()
            reward(out, torch.arange(n_rollouts)).mean()
            split["generator"] += t1 - t0
            split["reward"] += time.perf_counter() - t1
            done += 1
    return done, split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rollouts", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=100)
    ap.add_argument("--discriminator", default="seqgan", choices=("seqgan", "small"))
    ap.add_argument("--naive-seqs", type=int, default=2, help="sequences the naive rollout is timed on")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="time each variant this many times, keep the best")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    vocab = Vocabulary(["<pad>", "<bos>", "<eos>", "<unk>", *MOSES_TOKENS])
    g = GeneratorNet(GeneratorConfig(hidden_size=args.hidden, num_layers=args.layers, max_len=args.max_len),
                  len(vocab), vocab.pad, vocab.bos, vocab.eos)
    with torch.no_grad():  # untrained weights; P(EOS) = 1/36 per step so lengths average ~36 tokens like MOSES
        g.head.weight[vocab.eos] = 0.0
        g.head.bias[vocab.eos] = g.head.bias.mean() + math.log((len(vocab) - 1) / 35)
    d = Discriminator(DiscriminatorConfig(preset=args.discriminator), len(vocab), vocab.pad, args.max_len)
    print(f"setup: batch {args.batch}, {args.rollouts} rollouts, generator {args.layers}x{args.hidden} LSTM, "
          f"max_len {args.max_len}, discriminator '{args.discriminator}' ({sum(p.numel() for p in d.parameters()):,} params), "
          f"reward 0.5*D + 0.5*QED, {args.threads} torch thread(s), seed {args.seed}")

    def make_reward(cache: bool) -> OrganReward:
        scorer = ObjectiveScorer([ObjectiveSpec("qed")], ObjectiveContext(), cache_size=500_000 if cache else 0)
        return OrganReward(vocab, d, scorer, 0.5, divide_by_count=True)

    sample_gen = torch.Generator().manual_seed(args.seed)
    seqs = g.sample(args.batch, generator=sample_gen)
    lens = lengths(seqs, vocab.eos)
    n_prefixes = int((lens - 1).sum())
    print(f"sampled batch: mean length {lens.float().mean():.1f} tokens, {n_prefixes} prefixes to roll out")

    # fast: one generator step as the trainer does it (best of --repeat, from the same weights each time)
    start = copy.deepcopy(g.state_dict())
    best = None
    for _ in range(args.repeat):
        g.load_state_dict(start)
        opt = torch.optim.Adam(g.parameters(), lr=1e-4)
        reward = make_reward(cache=True)
        t0, c0 = time.perf_counter(), time.process_time()
        res = mc_rollout(g, seqs, reward, args.rollouts, generator=torch.Generator().manual_seed(args.seed + 1))
        t1, c1 = time.perf_counter(), time.process_time()
        logp, ent = g.token_log_probs(seqs)
        loss = reinforce_loss(logp, ent, res.q, res.mask, float(res.q[res.mask].mean()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
        print(f"  fast step run: {t_fast:.1f} s (CPU {c_fast:.1f} s)")
        if best is None or t_fast < best[0]:
            best = (t_fast, c_fast, time.perf_counter() - t1, time.process_time() - c1, res, reward)
    g.load_state_dict(start)
    t_fast, c_fast, t_update, c_update, res, reward = best
    print(f"\nfast step (best of {args.repeat}): {t_fast:.1f} s (CPU {c_fast:.1f} s) for {res.n_completions:,} completions")
    print(f"  generator (prefix states + completions)  {res.seconds_policy:8.1f} s")
    print(f"  discriminator (distinct sequences)        {reward.seconds['discriminator']:8.1f} s")
    print(f"  chemistry (QED, cached per SMILES)        {reward.seconds['chemistry']:8.1f} s")
    print(f"  decoding ids -> SMILES                    {reward.seconds['decode']:8.1f} s")
    print(f"  policy-gradient update                    {t_update:8.1f} s")
    other = t_fast - res.seconds_policy - sum(reward.seconds.values()) - t_update
    print(f"  other (bookkeeping)                       {other:8.1f} s")

    # naive: a subset of sequences, extrapolated by the number of prefixes
    rows = list(range(min(args.naive_seqs, args.batch)))
    t_sub = math.inf
    for _ in range(args.repeat):
        naive_reward = make_reward(cache=False)
        t0, c0 = time.perf_counter(), time.process_time()
        done, run_split = naive_q(g, seqs, naive_reward, args.rollouts, torch.Generator().manual_seed(args.seed + 1), rows)
        if time.perf_counter() - t0 < t_sub:
            t_sub, c_sub, split = time.perf_counter() - t0, time.process_time() - c0, run_split
    scale = n_prefixes / max(done, 1)
    t_naive, c_naive = t_sub * scale + t_update, c_sub * scale + c_update
    print(f"\nnaive step (best of {args.repeat}): timed {t_sub:.1f} s (CPU {c_sub:.1f} s) on {len(rows)} sequences ({done} prefixes), "
          f"extrapolated x{scale:.1f} by prefix count to {n_prefixes} prefixes: {t_naive:.0f} s (CPU {c_naive:.0f} s)")
    print(f"  generator {split['generator'] * scale:8.0f} s   reward (D + QED, no cache) {split['reward'] * scale:8.0f} s")
    print(f"\nspeed-up: {t_naive / t_fast:.1f}x wall clock, {c_naive / c_fast:.1f}x CPU time (target >= 10x)")


if __name__ == "__main__":
    main()
