"""Monte-Carlo rollouts (SeqGAN's action values) and the REINFORCE loss that uses them.

For a sampled sequence ``y_1..y_L`` (``y_L`` = EOS) the value of action ``y_t`` after prefix
``y_<t`` is ``Q_t = mean_n R(y_1..y_t ++ completion_n)``, the completions drawn from the rollout
policy G_beta; at the last step ``Q_L = R(Y)`` itself. Positions after EOS are masked out.

Speed (the reason this module exists): G_beta runs **once** over every sampled sequence to keep
its recurrent state after each prefix; all ``B x L x N`` completions then continue from those
cached states in batches of ``chunk`` rows (1024 by default: big enough for efficient matrix
products, small enough to stay in a CPU's cache), finished rows being dropped as they emit EOS. No prefix is ever recomputed, and no Python loop runs per sequence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from molgen.organ.generator import Generator, State, lengths, select_state

#: reward of complete sequences: ``(M, T)`` token ids and ``(M,)`` batch-group ids -> ``(M,)`` rewards.
#: Completions built the same way (same prefix length, same rollout index) share a group, so
#: batch-level objectives (ORGAN's duplicate rule, within-batch diversity) see a batch like the sampled one.
RewardFn = Callable[[Tensor, Tensor], Tensor]


@dataclass
class RolloutResult:
    """Action values for a batch of sampled sequences."""

    q: Tensor             # (B, T) Q of each action, 0 where masked
    mask: Tensor          # (B, T) True up to and including EOS
    final_reward: Tensor  # (B,) R(Y) of the sampled sequences
    n_completions: int    # rollouts actually run (prefixes x N)
    seconds_policy: float  # time in G_beta (prefix states + completions)
    seconds_reward: float  # time in the reward function (discriminator + objectives)


def _gather_states(states: list[State], prefix_len: Tensor, batch_idx: Tensor) -> State:
    """State after prefix ``prefix_len[r]`` of sequence ``batch_idx[r]`` for every row r."""
    if isinstance(states[0], tuple):
        parts = []
        for i in range(2):
            stacked = torch.stack([s[i] for s in states])  # (T, layers, B, H)
            parts.append(stacked[prefix_len, :, batch_idx].transpose(0, 1).contiguous())
        return tuple(parts)  # type: ignore[return-value]
    stacked = torch.stack(states)  # type: ignore[arg-type]
    return stacked[prefix_len, :, batch_idx].transpose(0, 1).contiguous()


@torch.no_grad()
def complete(policy: Generator, out: Tensor, start: Tensor, state: State, logits: Tensor,
             generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
    """Fill ``out[r, start[r]:]`` by sampling from ``policy`` continuing from ``state``/``logits``
    (the state and next-token logits after ``out[r, :start[r]]``); rows stop at EOS or the end."""
    T = out.size(1)
    rows = torch.arange(out.size(0), device=out.device)
    pos = start.clone()
    while rows.numel():
        probs = torch.softmax(logits / temperature, dim=-1)
        tok = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        out[rows, pos] = tok
        keep = ((tok != policy.eos) & (pos + 1 < T)).nonzero().squeeze(1)
        if keep.numel() == 0:
            break
        if keep.numel() < rows.numel():  # drop finished rows so later steps run on fewer
            rows, pos, tok, state = rows[keep], pos[keep], tok[keep], select_state(state, keep)
        pos = pos + 1
        step_logits, state = policy(tok.unsqueeze(1), state)
        logits = step_logits[:, 0]
    return out


@torch.no_grad()
def mc_rollout(policy: Generator, seqs: Tensor, reward_fn: RewardFn, n_rollouts: int,
               generator: torch.Generator | None = None, chunk: int = 1024, stride: int = 1) -> RolloutResult:
    """Q values of every action of ``seqs`` ``(B, T)`` by ``n_rollouts`` completions per prefix.

    ``stride > 1`` is a cheaper approximation for small machines: only prefixes whose length is a
    multiple of ``stride`` are rolled out, and an action in between takes the Q of the next
    rolled-out prefix (or the final reward). ``stride = 1`` is SeqGAN's estimator."""
    was_training = policy.training
    policy.eval()
    B, T = seqs.shape
    device = seqs.device
    lens = lengths(seqs, policy.eos)
    mask = torch.arange(T, device=device).unsqueeze(0) < lens.unsqueeze(1)

    t0 = time.perf_counter()
    final = reward_fn(seqs, torch.zeros(B, dtype=torch.long, device=device)).float()
    seconds_reward = time.perf_counter() - t0
    q = torch.zeros(B, T, device=device)
    q[torch.arange(B, device=device), lens - 1] = final

    # prefixes that still need completing: y_1..y_p with 1 <= p < len (no EOS yet)
    p_grid = torch.arange(1, T, device=device).unsqueeze(0).expand(B, -1)
    need = (p_grid < lens.unsqueeze(1)) & (p_grid % stride == 0)
    batch_idx, col = need.nonzero(as_tuple=True)
    prefix_len = col + 1
    n_prefix = int(prefix_len.numel())
    seconds_policy = 0.0
    if n_prefix:
        t0 = time.perf_counter()
        states, logits = policy.prefix_states(seqs)
        rows_b = batch_idx.repeat_interleave(n_rollouts)
        rows_p = prefix_len.repeat_interleave(n_rollouts)
        groups = (rows_p - 1) * n_rollouts + torch.arange(n_rollouts, device=device).repeat(n_prefix)
        completions = []
        for lo in range(0, rows_b.numel(), chunk):
            b, p = rows_b[lo : lo + chunk], rows_p[lo : lo + chunk]
            out = torch.where(torch.arange(T, device=device).unsqueeze(0) < p.unsqueeze(1), seqs[b],
                              torch.full_like(seqs[b], policy.pad))
            completions.append(complete(policy, out, p, _gather_states(states, p, b), logits[b, p], generator))
        full = torch.cat(completions)
        seconds_policy = time.perf_counter() - t0
        t0 = time.perf_counter()
        rewards = reward_fn(full, groups).float()
        seconds_reward += time.perf_counter() - t0
        q[batch_idx, col] = rewards.view(n_prefix, n_rollouts).mean(1)
    if stride > 1:  # fill skipped actions from the next estimated one, right to left
        known = torch.zeros_like(mask)
        known[:, : T - 1] = need  # need[:, j] is the prefix of j + 1 tokens, whose Q sits in column j
        known[torch.arange(B, device=device), lens - 1] = True
        for j in range(T - 2, -1, -1):
            fill = mask[:, j] & ~known[:, j]
            q[fill, j] = q[fill, j + 1]
    policy.train(was_training)
    return RolloutResult(q, mask, final, n_prefix * n_rollouts, seconds_policy, seconds_reward)


def reinforce_loss(token_logp: Tensor, entropy: Tensor, q: Tensor, mask: Tensor, baseline: float,
                   entropy_coef: float = 0.0) -> Tensor:
    """REINFORCE with a baseline: ``-mean_t[(Q_t - b) log G(y_t|y_<t)] - c * mean entropy`` over unmasked steps."""
    m = mask.float()
    advantage = (q - baseline) * m
    n = m.sum().clamp_min(1.0)
    loss = -(advantage.detach() * token_logp).sum() / n
    if entropy_coef:
        loss = loss - entropy_coef * (entropy * m).sum() / n
    return loss
