"""Gumbel-softmax adversarial training (Jang et al. 2017; Kusner & Hernández-Lobato 2016).

An alternative to REINFORCE for the discriminator's term of ORGAN's reward: the generator's step
output is the relaxed sample ``y = softmax((logits + g) / tau)``, ``g = -log(-log U)``; its argmax
is an exact draw from ``softmax(logits)`` (the Gumbel-max trick) and is what the next step is fed.
The discriminator reads ``y`` through its embedding matrix (``y @ W_emb``,
:meth:`~molgen.organ.discriminator.Discriminator.forward_soft`), so its gradient reaches the
generator directly, with no rollouts. With ``straight_through`` the forward value is the hard
one-hot and the gradient the soft one's. ``tau`` is annealed by :func:`tau_at` (a function of the
step alone, so a resumed run follows the same schedule).

Over production rules the machine's mask is added to the logits before the noise: a forbidden
rule has logit -inf, so its relaxed probability is exactly 0 at every tau and it is never drawn.

The objectives (QED, validity, diversity ...) are not differentiable: they keep a REINFORCE term,
estimated on whole sequences (every action of a sequence gets the sequence's O, minus a moving
baseline). Rollouts would give lower-variance per-action values, but they are the cost Gumbel
removes (a generator step without them costs about an eighth of one with organ-qed's rollouts,
benchmarks/bench_seed_methods.py); the whole-sequence estimator is unbiased and costs one
scoring of the batch. The trainer mixes the two as ``lam * D-term + (1 - lam) * O-term``.

D's own steps are unchanged (SeqGAN's: real sequences vs hard samples, which are the forward
value of the straight-through relaxation), and D must read the generator's own symbols: over
rules a relaxed one-hot has no SMILES-token form, so ``[discriminator] input = "smiles"`` is
refused with this estimator (:meth:`molgen.organ.config.OrganConfig.validate`).

Limits to know: positions after a sequence's end are constant padding, so D's gradient does not
see what ending earlier or later would change (the relaxation is per step, along the drawn path);
and the gradient through softmax(./tau) grows as 1/tau. From the shipped organ-mle generator a
generator learning rate of 1e-3 took validity from 1.0 to 0.02 within 18 steps, 1e-4 did not
(configs/organ-gumbel.toml uses 1e-4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from molgen.organ.config import GumbelConfig
from molgen.organ.discriminator import Discriminator, frozen
from molgen.organ.generator import GeneratorNet, State


def tau_at(cfg: GumbelConfig, step: int) -> float:
    """The temperature at adversarial step ``step`` (0-based): constant, exponential or linear from
    ``tau_start`` to ``tau_end`` over ``anneal_steps``, then ``tau_end``."""
    if cfg.schedule == "constant":
        return cfg.tau_start
    frac = min(step, cfg.anneal_steps) / cfg.anneal_steps
    if cfg.schedule == "exponential":
        return cfg.tau_start * math.exp(frac * math.log(cfg.tau_end / cfg.tau_start))
    return cfg.tau_start + frac * (cfg.tau_end - cfg.tau_start)


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str) -> Tensor:
    """Standard Gumbel noise ``-log(-log U)``, ``U`` uniform in (0, 1) (clamped away from 0 and 1)."""
    u = torch.rand(shape, generator=generator, device=device)
    tiny = torch.finfo(u.dtype).tiny
    return -torch.log(-torch.log(u.clamp(tiny, 1.0 - 1e-7)))


def gumbel_softmax(logits: Tensor, noise: Tensor, tau: float, hard: bool) -> tuple[Tensor, Tensor]:
    """``(y, index)``: the relaxed sample ``softmax((logits + noise) / tau)`` (straight-through one-hot
    of ``index`` forward when ``hard``) and ``index = argmax(logits + noise)``, an exact draw from
    ``softmax(logits)``. Entries of ``logits`` at -inf get probability exactly 0."""
    perturbed = logits + noise
    soft = torch.softmax(perturbed / tau, dim=-1)
    index = perturbed.detach().argmax(dim=-1)
    if not hard:
        return soft, index
    onehot = nn.functional.one_hot(index, logits.size(-1)).to(soft.dtype)
    return onehot - soft.detach() + soft, index


@dataclass
class RelaxedSample:
    """A batch drawn by the Gumbel-max trick with its relaxation (all ``(B, T, ...)``)."""

    seqs: Tensor      # (B, T) the drawn ids, PAD after EOS (as GeneratorNet.sample writes them)
    onehots: Tensor   # (B, T, V) relaxed one-hots D reads (constant one-hot PAD after EOS)
    logp: Tensor      # (B, T) log G(y_t | y_<t) of the drawn ids, under the mask (for REINFORCE)
    entropy: Tensor   # (B, T) entropy of each step's (masked) distribution
    mask: Tensor      # (B, T) True up to and including EOS


def relaxed_sample(generator: GeneratorNet, n: int, tau: float, rng: torch.Generator | None = None,
                   machine=None, straight_through: bool = True) -> RelaxedSample:
    """``n`` sequences drawn free-running with Gumbel noise, keeping the graph through the relaxed
    one-hots (and the log-probabilities). Each step is fed the hard draw; with ``machine`` (a fresh
    one of ``n`` rows) the logits are masked before the noise, so only allowed symbols are drawn."""
    device = generator.head.weight.device
    V, T = generator.n_outputs, generator.cfg.max_len
    tokens = torch.full((n, 1), generator.bos, dtype=torch.long, device=device)
    pad_row = nn.functional.one_hot(torch.tensor(generator.pad, device=device), V).float()
    done = torch.zeros(n, dtype=torch.bool, device=device)
    state: State | None = None
    seqs, onehots, logps, entropies, alive = [], [], [], [], []
    for _ in range(T):
        logits, state = generator(tokens, state)
        step = logits[:, -1]
        if machine is not None:
            step = step + machine.penalty()
        y, index = gumbel_softmax(step, gumbel_noise((n, V), rng, device), tau, straight_through)
        logp = torch.log_softmax(step, dim=-1)
        p = logp.exp()
        entropy = -(p * logp.masked_fill(p == 0, 0.0)).sum(-1)
        # rows that have ended write PAD (a constant), as GeneratorNet.sample does (over rules the
        # machine allows only the padding rule there anyway)
        index = torch.where(done, torch.full_like(index, generator.pad), index)
        y = torch.where(done.unsqueeze(1), pad_row, y)
        if machine is not None:
            machine.advance(index)
        alive.append(~done)
        seqs.append(index)
        onehots.append(y)
        logps.append(logp.gather(1, index.unsqueeze(1)).squeeze(1))
        entropies.append(entropy)
        done = done | (index == generator.eos)  # over rules EOS is the padding rule that ends a derivation
        if bool(done.all()):
            break
        tokens = index.unsqueeze(1)
    return RelaxedSample(torch.stack(seqs, 1), torch.stack(onehots, 1), torch.stack(logps, 1),
                         torch.stack(entropies, 1), torch.stack(alive, 1))


def generator_loss(discriminator: Discriminator, sample: RelaxedSample, cfg: GumbelConfig) -> Tensor:
    """G's loss from D's score of the relaxed sample (D held fixed, in eval mode): ``-log D`` or ``-D``
    (bce), ``-score`` (Wasserstein critic); its gradient reaches G through the relaxed one-hots."""
    with frozen(discriminator, eval_mode=True):
        score = discriminator.forward_soft(sample.onehots)
    if discriminator.cfg.loss == "wasserstein":
        return -score.mean()
    if cfg.d_loss == "log":
        return nn.functional.softplus(-score).mean()  # -log sigmoid(score)
    return -torch.sigmoid(score).mean()
