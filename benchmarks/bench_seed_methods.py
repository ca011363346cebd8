"""Time one training step of each sequence-GAN method on the same generator, data and seed.

The methods are a table (:data:`METHODS`): a name, the stage it belongs to, the baseline of that
stage, and a function that runs one generator step on a :class:`Setup`. Adding a method (LeakGAN,
say) is one function and one row. Each is timed from the same weights, best and median of
``--repeat`` runs after one warm-up, wall clock and CPU time (``time.process_time``) side by side,
and compared with its stage's baseline in the same run:

* ``mle``: a teacher-forced maximum-likelihood step (the ``organ-mle`` recipe's batch of 128);
* ``professor``: the same step with professor forcing (``[professor]`` defaults, but ``g_threshold = 0`` so the
  adversarial term is always built and back-propagated: its full cost; a free-running run
  as long as the batch, the behaviour discriminator's step, the gated adversarial term);
* ``reinforce``: SeqGAN/ORGAN's adversarial generator step (sample, Monte-Carlo rollouts with
  ``organ-qed``'s ``rollouts`` / ``rollout_stride``, REINFORCE);
* ``gumbel``: the Gumbel-softmax generator step (relaxed sample, D's gradient through it, the
  objectives' whole-sequence REINFORCE term).

The adversarial steps use ``organ-qed``'s reward (0.2 D + 0.8 O, O = QED ramp, validity,
diversity); neither includes the d-steps, which are the same for both estimators. Generator,
discriminator and data: the shipped ``organ-qed`` checkpoint (a 2 x 256 LSTM over SMILES tokens)
and the shipped MOSES sample, so sequence lengths are those of a trained model.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_seed_methods.py
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_seed_methods.py --methods mle professor --repeat 5
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from molgen.organ.discriminator import Discriminator
from molgen.organ.generator import GeneratorNet, lengths
from molgen.organ.rewards import OrganReward
from molgen.organ.symbols import Symbols


@dataclass
class Setup:
    """What every method's step uses: the generator (and its optimizer), D, the reward, real batches."""

    generator: GeneratorNet
    optimizer: torch.optim.Optimizer
    discriminator: Discriminator
    symbols: Symbols
    reward: OrganReward            # lam * D + (1 - lam) * O (REINFORCE with rollouts)
    objective_reward: OrganReward  # O alone (the Gumbel estimator's REINFORCE term)
    lam: float
    real: torch.Tensor             # (n, T) encoded MOSES molecules
    mle_batch: int
    adv_batch: int
    rollouts: int
    stride: int
    state: dict = field(default_factory=dict)  # what a method keeps across its steps (professor forcing's D)

    def real_batch(self, rng: torch.Generator) -> torch.Tensor:
        """``mle_batch`` real sequences, cropped to the longest (as the trainer's batches are)."""
        seqs = self.real[torch.randint(len(self.real), (self.mle_batch,), generator=rng)]
        return seqs[:, : int(lengths(seqs, self.symbols.eos).max())]


def mle_step(s: Setup, rng: torch.Generator) -> dict[str, float]:
    """Teacher forcing: NLL of a real batch, backward, Adam step."""
    seqs = s.real_batch(rng)
    loss = s.generator.nll(seqs)
    s.optimizer.zero_grad()
    loss.backward()
    s.optimizer.step()
    return {"length": float(seqs.size(1))}


def professor_step(s: Setup, rng: torch.Generator) -> dict[str, float]:
    """Professor forcing: NLL + the gated adversarial term, with the behaviour discriminator's step."""
    from molgen.organ.config import ProfessorConfig
    from molgen.organ.professor import ProfessorForcing

    if "professor" not in s.state:  # built on the warm-up step
        s.state["professor"] = ProfessorForcing(ProfessorConfig(enabled=True, g_threshold=0.0), s.generator)
    seqs = s.real_batch(rng)
    loss, row = s.state["professor"].loss(s.generator, seqs, None, s.symbols.machine(len(seqs), "cpu"), rng)
    s.optimizer.zero_grad()
    loss.backward()
    s.optimizer.step()
    return {"length": float(seqs.size(1)), "g_update": row["pf_g_update"]}


def reinforce_step(s: Setup, rng: torch.Generator) -> dict[str, float]:
    """SeqGAN/ORGAN: sample, Monte-Carlo rollouts (Q of every action), REINFORCE with a batch-mean baseline."""
    from molgen.organ.rollout import mc_rollout, reinforce_loss

    seqs = s.generator.sample(s.adv_batch, generator=rng)
    res = mc_rollout(s.generator, seqs, s.reward, s.rollouts, generator=rng, stride=s.stride)
    logp, entropy = s.generator.token_log_probs(seqs)
    loss = reinforce_loss(logp, entropy, res.q, res.mask, float(res.q[res.mask].mean()))
    s.optimizer.zero_grad()
    loss.backward()
    s.optimizer.step()
    return {"completions": float(res.n_completions)}


def gumbel_step(s: Setup, rng: torch.Generator) -> dict[str, float]:
    """Gumbel-softmax: D's term through the relaxed sample, O's by whole-sequence REINFORCE."""
    from molgen.organ.config import GumbelConfig
    from molgen.organ.gumbel import generator_loss, relaxed_sample
    from molgen.organ.rollout import reinforce_loss

    sample = relaxed_sample(s.generator, s.adv_batch, 0.5, rng)
    o = s.objective_reward(sample.seqs, torch.zeros(s.adv_batch, dtype=torch.long))
    pg = reinforce_loss(sample.logp, sample.entropy, (1 - s.lam) * o.unsqueeze(1).expand_as(sample.logp), sample.mask,
                        (1 - s.lam) * float(o.mean()))
    loss = s.lam * generator_loss(s.discriminator, sample, GumbelConfig()) + pg
    s.optimizer.zero_grad()
    loss.backward()
    s.optimizer.step()
    return {"completions": 0.0}


@dataclass
class Method:
    stage: str
    baseline: str  # the method of the same stage it is compared with
    title: str
    step: Callable[[Setup, torch.Generator], dict[str, float]]


#: name -> method; a new method adds a function above and a row here
METHODS: dict[str, Method] = {
    "mle": Method("mle", "mle", "teacher forcing (MLE)", mle_step),
    "professor": Method("mle", "mle", "+ professor forcing", professor_step),
    "reinforce": Method("adversarial", "reinforce", "SeqGAN/ORGAN rollouts + REINFORCE", reinforce_step),
    "gumbel": Method("adversarial", "reinforce", "Gumbel-softmax (+ REINFORCE for O)", gumbel_step),
}


def build_setup(args: argparse.Namespace) -> Setup:
    """The shipped organ-qed generator and discriminator, its reward, and real MOSES batches."""
    from molgen.api import load_model
    from molgen.data import read_smiles
    from molgen.organ.symbols import discriminator_input
    from molgen.organ.trainer import config_from_checkpoint
    from molgen.scoring import ObjectiveContext, ObjectiveScorer

    sampler = load_model(args.model)
    ckpt = sampler.checkpoint
    cfg = config_from_checkpoint(ckpt)
    symbols, g = sampler.symbols, copy.deepcopy(sampler.model).train()
    d_input = discriminator_input(cfg.discriminator.input, symbols, ckpt=ckpt)
    d = Discriminator(cfg.discriminator, d_input.n_inputs, d_input.pad, cfg.generator.max_len)
    d.load_state_dict(ckpt["discriminator"])
    smiles = read_smiles(args.data, max_records=args.n_real).smiles
    real = torch.from_numpy(symbols.encode(smiles)).long()
    scorer = ObjectiveScorer(cfg.objectives, ObjectiveContext.from_training(smiles, cfg.reward.reference_size, 0))
    lam = cfg.reward.weight_d
    return Setup(g, torch.optim.Adam(g.parameters(), lr=1e-4), d, symbols,
                 OrganReward(symbols, d, scorer, lam, cfg.reward.divide_by_count),
                 OrganReward(symbols, None, scorer, 0.0, cfg.reward.divide_by_count), lam, real,
                 args.mle_batch, args.adv_batch, args.rollouts or cfg.adversarial.rollouts,
                 args.stride or cfg.adversarial.rollout_stride)


def time_method(setup: Setup, method: Method, start: dict, repeat: int, seed: int) -> dict[str, float]:
    """One warm-up and ``repeat`` timed steps, each from the same weights and seed."""
    walls, cpus = [], []
    info: dict[str, float] = {}
    for i in range(repeat + 1):
        setup.generator.load_state_dict(start)
        setup.optimizer = torch.optim.Adam(setup.generator.parameters(), lr=1e-4)
        rng = torch.Generator().manual_seed(seed)
        t0, c0 = time.perf_counter(), time.process_time()
        info = method.step(setup, rng)
        if i:  # the first run warms caches (scorer, allocator) and is not counted
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    return {"best": min(walls), "median": statistics.median(walls), "cpu": statistics.median(cpus), **info}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--model", default="organ-qed", help="an ORGAN checkpoint over tokens (generator + discriminator)")
    ap.add_argument("--data", default="data/moses/train.csv.gz")
    ap.add_argument("--n-real", type=int, default=4096, help="real molecules the MLE batches are drawn from")
    ap.add_argument("--mle-batch", type=int, default=128)
    ap.add_argument("--adv-batch", type=int, default=64)
    ap.add_argument("--rollouts", type=int, default=0, help="0: the checkpoint's own (organ-qed: 8)")
    ap.add_argument("--stride", type=int, default=0, help="rollout_stride; 0: the checkpoint's own (organ-qed: 2)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    setup = build_setup(args)
    start = copy.deepcopy(setup.generator.state_dict())
    print(f"{args.model}: {setup.generator.cfg.num_layers} x {setup.generator.cfg.hidden_size} "
          f"{setup.generator.cfg.cell.upper()}, MLE batch {args.mle_batch}, adversarial batch {args.adv_batch}, "
          f"{setup.rollouts} rollouts / stride {setup.stride}, lambda {setup.lam}; {args.threads} torch thread(s), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, load average {os.getloadavg()[0]:.1f}; "
          f"median (best) of {args.repeat} after one warm-up")
    results = {name: time_method(setup, METHODS[name], start, args.repeat, args.seed) for name in args.methods}
    print("\n| method | stage | step s, median (best) | CPU s | vs its stage's baseline: wall (CPU) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        m = METHODS[name]
        base = results.get(m.baseline)
        ratio = (f"{r['median'] / base['median']:.2f}x ({r['cpu'] / base['cpu']:.2f}x) {m.baseline}"
                 if base and m.baseline != name else "baseline")
        print(f"| {name}: {m.title} | {m.stage} | {r['median']:.3f} ({r['best']:.3f}) | {r['cpu']:.3f} | {ratio} |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
