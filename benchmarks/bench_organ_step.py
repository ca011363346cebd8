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

``--symbols rules`` compares the generator over production rules with the token generator in
the same run, on trained models at the shipped settings (``--token-model``, default organ-qed;
``--rule-model``, default organ-grammar-qed): the time of one adversarial generator step
(sample a batch, rollouts under the machine / free, REINFORCE update) with each model's
``rollouts`` and ``rollout_stride`` and the reward of organ-qed without its validity term (0.2 D + 0.8 QED ramp;
the discriminator is each checkpoint's own), and the sampling throughput of each (molecules and
valid molecules per second through ``molgen.api``).

    python benchmarks/bench_organ_step.py --symbols rules

``--precision fp32|bf16|both`` runs the fast step (and ``--symbols rules``' steps and sampling)
with the generator's and discriminator's products in that precision (:mod:`molgen.precision`,
bf16 autocast as the trainer runs it); ``both`` times fp32 and bf16 in the same run from the same
weights, batch and seed, and prints the ratio (issue #17's target: bf16 >= 2.8x at the MOSES
defaults, 1 thread). ``--device cuda`` runs the networks on the GPU (CUDA is synchronised before
every timer is read); ``--naive-seqs 0`` skips the naive rollout.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_organ_step.py --precision both --naive-seqs 0
    python benchmarks/bench_organ_step.py --precision both --device cuda --naive-seqs 0
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
from molgen.organ.symbols import TokenSymbols, discriminator_input
from molgen.precision import autocast
from molgen.scoring import ObjectiveContext, ObjectiveScorer, ObjectiveSpec
from molgen.vocab import Vocabulary

MOSES_TOKENS = ["#", "(", ")", "-", "1", "2", "3", "4", "5", "6", "=", "Br", "C", "Cl", "F", "N", "O", "S",
                "[H]", "[nH]", "c", "n", "o", "s"]


def clock(device: torch.device | str) -> float:
    """``time.perf_counter()`` after the device's queued work is done (CUDA runs asynchronously)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def precisions(choice: str) -> list[str]:
    """The precisions ``--precision`` asks for, fp32 first."""
    return ["fp32", "bf16"] if choice == "both" else [choice]


def naive_q(policy: GeneratorNet, seqs: torch.Tensor, reward, n_rollouts: int, gen: torch.Generator,
            rows: list[int]) -> tuple[int, dict[str, float]]:
    """Q of every prefix of ``seqs[rows]`` the naive way; returns the prefixes done and the time split."""
    T, device = seqs.size(1), seqs.device
    lens = lengths(seqs, policy.eos)
    split = {"generator": 0.0, "reward": 0.0}
    done = 0
    for b in rows:
        for p in range(1, int(lens[b])):
            t0 = time.perf_counter()
            prefix = seqs[b : b + 1, :p].expand(n_rollouts, -1)
            inputs = torch.cat([torch.full((n_rollouts, 1), policy.bos, device=device), prefix], dim=1)
            logits, state = policy(inputs)  # the whole prefix, from BOS, every time
            out = torch.full((n_rollouts, T), policy.pad, dtype=torch.long, device=device)
            out[:, :p] = prefix
            nxt_logits = logits[:, -1]
            finished = torch.zeros(n_rollouts, dtype=torch.bool, device=device)
            for t in range(p, T):
                tok = torch.multinomial(torch.softmax(nxt_logits, -1), 1, generator=gen).squeeze(1)
                tok = torch.where(finished, torch.full_like(tok, policy.pad), tok)
                out[:, t] = tok
                finished |= tok == policy.eos
                if bool(finished.all()):
                    break
                step_logits, state = policy(tok.unsqueeze(1), state)
                nxt_logits = step_logits[:, 0]
            t1 = clock(device)
            reward(out, torch.arange(n_rollouts, device=device)).mean()
            split["generator"] += t1 - t0
            split["reward"] += clock(device) - t1
            done += 1
    return done, split


def adversarial_step(sampler, ckpt: dict, batch: int, rollouts: int, stride: int, seed: int,
                     precision: str = "fp32") -> dict[str, float]:
    """One generator step as the trainer runs it, from a trained checkpoint: sample, rollouts, update."""
    from molgen.organ.trainer import config_from_checkpoint

    cfg = config_from_checkpoint(ckpt)
    device = sampler.device
    symbols, g = sampler.symbols, copy.deepcopy(sampler.model)
    d_input = discriminator_input(cfg.discriminator.input, symbols, ckpt=ckpt)
    d = Discriminator(cfg.discriminator, d_input.n_inputs, d_input.pad, cfg.generator.max_len).to(device)
    d.load_state_dict(ckpt["discriminator"])
    scorer = ObjectiveScorer([ObjectiveSpec("qed", params={"low": 0.7, "high": 0.95})], ObjectiveContext())
    reward = OrganReward(symbols, d, scorer, 0.2, divide_by_count=True, disc_input=d_input)
    opt = torch.optim.Adam(g.parameters(), lr=1e-4)
    gen = torch.Generator(device=device).manual_seed(seed)
    new_machine = (lambda n: symbols.machine(n, device)) if symbols.masked else None
    t0, c0 = clock(device), time.process_time()
    with autocast(device, precision):
        seqs = g.sample(batch, generator=gen, machine=symbols.machine(batch, device))
        t_sample = clock(device) - t0
        res = mc_rollout(g, seqs, reward, rollouts, generator=gen, stride=stride, new_machine=new_machine)
    t1 = clock(device)
    mask = symbols.train_mask(seqs)
    with autocast(device, precision):
        logp, ent = g.token_log_probs(seqs, mask)
    loss = reinforce_loss(logp, ent, res.q, res.mask, float(res.q[res.mask].mean()))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"step": clock(device) - t0, "cpu": time.process_time() - c0, "sample": t_sample,
            "policy": res.seconds_policy, "reward": res.seconds_reward, "update": clock(device) - t1,
            "completions": res.n_completions, "length": float(lengths(seqs, symbols.eos).float().mean())}


def compare_symbols(args: argparse.Namespace) -> None:
    """Rules vs tokens in one run: adversarial step time at the shipped settings and sampling throughput."""
    from molgen.api import load_model
    from molgen.chem.mol import to_mol
    from molgen.organ.trainer import config_from_checkpoint

    print(f"{args.threads} torch thread(s), device {args.device}, batch {args.batch}, seed {args.seed}; best of {args.repeat}")
    rows = []
    for name in (args.token_model, args.rule_model):
        for precision in precisions(args.precision):
            sampler = load_model(name, device=args.device, precision=precision)
            ckpt = sampler.checkpoint
            cfg = config_from_checkpoint(ckpt)
            stride = args.stride or cfg.adversarial.rollout_stride
            rollouts = args.rollouts or cfg.adversarial.rollouts
            steps = [adversarial_step(sampler, ckpt, args.batch, rollouts, stride, args.seed, precision)
                     for _ in range(args.repeat)]
            best = min(steps, key=lambda r: r["step"])
            t0 = clock(args.device)
            smiles = sampler.sample(args.sample_n, seed=args.seed, batch_size=512)
            t_sample = clock(args.device) - t0
            valid = sum(to_mol(s) is not None for s in smiles)
            rows.append((name, sampler.symbols.kind, precision, f"{rollouts} / {stride}", best, args.sample_n / t_sample,
                         valid / t_sample, valid / len(smiles)))
    print("\n| model | symbols | precision | rollouts / stride | mean length | completions | step s (CPU s) | sample "
          "| rollouts (policy) | reward | update | sampling mol/s | valid mol/s | valid |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, kind, precision, stride, b, rate, vrate, vfrac in rows:
        print(f"| {name} | {kind} | {precision} | {stride} | {b['length']:.1f} | {b['completions']:,} | {b['step']:.1f} ({b['cpu']:.1f}) "
              f"| {b['sample']:.2f} | {b['policy']:.1f} | {b['reward']:.1f} | {b['update']:.2f} | {rate:.0f} | {vrate:.0f} "
              f"| {vfrac:.3f} |")


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
    ap.add_argument("--symbols", choices=("tokens", "rules"), default="tokens",
                    help="rules: compare the rule generator with the token generator (trained models, shipped settings)")
    ap.add_argument("--token-model", default="organ-qed", help="with --symbols rules")
    ap.add_argument("--rule-model", default="organ-grammar-qed", help="with --symbols rules")
    ap.add_argument("--stride", type=int, default=0, help="with --symbols rules: rollout_stride (0: each model's own)")
    ap.add_argument("--sample-n", type=int, default=2000, help="with --symbols rules: molecules for the throughput")
    ap.add_argument("--precision", choices=("fp32", "bf16", "both"), default="fp32",
                    help="precision of the networks' products; both: fp32 and bf16 in the same run, with the ratio")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    if args.symbols == "rules":
        if args.rollouts == 16:  # the default of the token benchmark: use each model's own instead
            args.rollouts = 0
        compare_symbols(args)
        return
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    vocab = Vocabulary(["<pad>", "<bos>", "<eos>", "<unk>", *MOSES_TOKENS])
    g = GeneratorNet(GeneratorConfig(hidden_size=args.hidden, num_layers=args.layers, max_len=args.max_len),
                  len(vocab), vocab.pad, vocab.bos, vocab.eos)
    with torch.no_grad():  # untrained weights; P(EOS) = 1/36 per step so lengths average ~36 tokens like MOSES
        g.head.weight[vocab.eos] = 0.0
        g.head.bias[vocab.eos] = g.head.bias.mean() + math.log((len(vocab) - 1) / 35)
    d = Discriminator(DiscriminatorConfig(preset=args.discriminator), len(vocab), vocab.pad, args.max_len)
    g, d = g.to(device), d.to(device)
    print(f"setup: batch {args.batch}, {args.rollouts} rollouts, generator {args.layers}x{args.hidden} LSTM, "
          f"max_len {args.max_len}, discriminator '{args.discriminator}' ({sum(p.numel() for p in d.parameters()):,} params), "
          f"reward 0.5*D + 0.5*QED, {args.threads} torch thread(s), device {device}, seed {args.seed}, "
          f"precision {args.precision}")

    def make_reward(cache: bool) -> OrganReward:
        scorer = ObjectiveScorer([ObjectiveSpec("qed")], ObjectiveContext(), cache_size=500_000 if cache else 0)
        return OrganReward(TokenSymbols(vocab, args.max_len), d, scorer, 0.5, divide_by_count=True)

    sample_gen = torch.Generator(device=device).manual_seed(args.seed)
    seqs = g.sample(args.batch, generator=sample_gen)  # fp32: every precision rolls out the same batch
    lens = lengths(seqs, vocab.eos)
    n_prefixes = int((lens - 1).sum())
    print(f"sampled batch: mean length {lens.float().mean():.1f} tokens, {n_prefixes} prefixes to roll out")

    # fast: one generator step as the trainer does it (best of --repeat, from the same weights each time)
    start = copy.deepcopy(g.state_dict())
    fast = {}
    for precision in precisions(args.precision):
        best = None
        for _ in range(args.repeat):
            g.load_state_dict(start)
            opt = torch.optim.Adam(g.parameters(), lr=1e-4)
            reward = make_reward(cache=True)
            t0, c0 = clock(device), time.process_time()
            with autocast(device, precision):
                res = mc_rollout(g, seqs, reward, args.rollouts,
                                 generator=torch.Generator(device=device).manual_seed(args.seed + 1))
            t1, c1 = clock(device), time.process_time()
            with autocast(device, precision):
                logp, ent = g.token_log_probs(seqs)
            loss = reinforce_loss(logp, ent, res.q, res.mask, float(res.q[res.mask].mean()))
            opt.zero_grad()
            loss.backward()
            opt.step()
            t_fast, c_fast = clock(device) - t0, time.process_time() - c0
            print(f"  fast step run ({precision}): {t_fast:.1f} s (CPU {c_fast:.1f} s)")
            if best is None or t_fast < best[0]:
                best = (t_fast, c_fast, clock(device) - t1, time.process_time() - c1, res, reward)
        fast[precision] = best
        t_fast, c_fast, t_update, c_update, res, reward = best
        print(f"\nfast step, {precision} (best of {args.repeat}): {t_fast:.1f} s (CPU {c_fast:.1f} s) "
              f"for {res.n_completions:,} completions")
        print(f"  generator (prefix states + completions)  {res.seconds_policy:8.1f} s")
        print(f"  discriminator (distinct sequences)        {reward.seconds['discriminator']:8.1f} s")
        print(f"  chemistry (QED, cached per SMILES)        {reward.seconds['chemistry']:8.1f} s")
        print(f"  decoding ids -> SMILES                    {reward.seconds['decode']:8.1f} s")
        print(f"  policy-gradient update                    {t_update:8.1f} s")
        other = t_fast - res.seconds_policy - sum(reward.seconds.values()) - t_update
        print(f"  other (bookkeeping)                       {other:8.1f} s\n")
    g.load_state_dict(start)
    if len(fast) == 2:
        (t32, c32, *_), (t16, c16, *_) = fast["fp32"], fast["bf16"]
        print(f"bf16 vs fp32, same run, same batch and seed: fp32 {t32:.1f} s (CPU {c32:.1f} s), bf16 {t16:.1f} s "
              f"(CPU {c16:.1f} s): {t32 / t16:.2f}x wall clock, {c32 / c16:.2f}x CPU time (target >= 2.8x)")
    t_fast, c_fast, t_update, c_update, res, reward = fast[precisions(args.precision)[-1]]
    if args.naive_seqs <= 0:
        return

    # naive: a subset of sequences, extrapolated by the number of prefixes
    rows = list(range(min(args.naive_seqs, args.batch)))
    t_sub = math.inf
    for _ in range(args.repeat):
        naive_reward = make_reward(cache=False)
        t0, c0 = clock(device), time.process_time()
        done, run_split = naive_q(g, seqs, naive_reward, args.rollouts,
                                  torch.Generator(device=device).manual_seed(args.seed + 1), rows)
        if clock(device) - t0 < t_sub:
            t_sub, c_sub, split = clock(device) - t0, time.process_time() - c0, run_split
    scale = n_prefixes / max(done, 1)
    t_naive, c_naive = t_sub * scale + t_update, c_sub * scale + c_update
    print(f"\nnaive step (best of {args.repeat}): timed {t_sub:.1f} s (CPU {c_sub:.1f} s) on {len(rows)} sequences ({done} prefixes), "
          f"extrapolated x{scale:.1f} by prefix count to {n_prefixes} prefixes: {t_naive:.0f} s (CPU {c_naive:.0f} s)")
    print(f"  generator {split['generator'] * scale:8.0f} s   reward (D + QED, no cache) {split['reward'] * scale:8.0f} s")
    print(f"\nspeed-up of the {precisions(args.precision)[-1]} step: {t_naive / t_fast:.1f}x wall clock, "
          f"{c_naive / c_fast:.1f}x CPU time (target >= 10x)")


if __name__ == "__main__":
    main()
