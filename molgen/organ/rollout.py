"""Monte-Carlo rollouts (SeqGAN's action values) and the REINFORCE loss that uses them.

For a sampled sequence ``y_1..y_L`` (``y_L`` = EOS) the value of action ``y_t`` after prefix
``y_<t`` is ``Q_t = mean_n R(y_1..y_t ++ completion_n)``, the completions drawn from the rollout
policy G_beta; at the last step ``Q_L = R(Y)`` itself. Positions after EOS are masked out.

Speed (the reason this module exists): G_beta runs **once** over every sampled sequence to keep
its recurrent state after each prefix; all ``B x L x N`` completions then continue from those
cached states, ``chunk`` rows in flight at a time (1024 by default: big enough for efficient
matrix products, small enough to stay in a CPU's cache). A row that emits EOS leaves the batch
and the next completion takes its place, so the batch stays full and the work follows the
completions' real lengths. No prefix is ever recomputed, and no Python loop runs per sequence.
Each completion draws its tokens from its own row of uniform numbers, so the result for a seed
does not depend on ``chunk`` or on when other rows finish.

Over production rules (``new_machine`` given) a completion also continues the prefix's
**machine**: the sampled sequences are replayed once through a machine, a copy of its state
(stack, valences, open rings, steps left) is kept after every prefix that is rolled out, and a
completion takes its prefix's copy (``take``) beside its LSTM state, draws only among the rules
it allows and leaves the batch when its derivation is complete. So every completion is a
finished derivation, and with semantic constraints a valid molecule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from molgen.masking.choice import choose
from molgen.organ.generator import GeneratorNet, State, lengths, select_state, stack_states
from molgen.precision import logits_fp32

#: reward of complete sequences: ``(M, T)`` token ids and ``(M,)`` batch-group ids -> ``(M,)`` rewards.
#: Completions built the same way (same prefix length, same rollout index) share a group, so
#: batch-level objectives (ORGAN's duplicate rule, within-batch diversity) see a batch like the sampled one.
RewardFn = Callable[[Tensor, Tensor], Tensor]
#: a fresh machine at the start of ``n`` derivations (:meth:`molgen.organ.symbols.RuleSymbols.machine`)
MachineFn = Callable[[int], Any]


@dataclass
class RolloutResult:
    """Action values for a batch of sampled sequences."""

    q: Tensor             # (B, T) Q of each action, 0 where masked
    mask: Tensor          # (B, T) True up to and including EOS
    final_reward: Tensor  # (B,) R(Y) of the sampled sequences
    n_completions: int    # rollouts actually run (prefixes x N)
    seconds_policy: float  # time in G_beta (prefix states + completions)
    seconds_reward: float  # time in the reward function (discriminator + objectives)


class _Uniforms:
    """The uniform numbers that drive completion ``r``'s token draws: row ``r`` of a ``(M, T)`` table,
    drawn from ``generator`` in fixed blocks of rows as completions are admitted in order. A
    completion's tokens therefore depend on the seed and its own index only, not on how many rows
    run together or when others finish, so the pool size and the dropping of finished rows leave
    every sampled completion (and Q) unchanged."""

    BLOCK = 4096

    def __init__(self, n_rows: int, width: int, generator: torch.Generator | None, device: torch.device) -> None:
        self.left, self.width, self.generator, self.device = n_rows, width, generator, device
        self.buffer = torch.empty(0, width, device=device)

    def take(self, k: int) -> Tensor:
        """The next ``k`` rows of the table."""
        while self.buffer.size(0) < k:
            n = min(self.BLOCK, self.left)
            self.left -= n
            block = torch.rand(n, self.width, generator=self.generator, device=self.device)
            self.buffer = torch.cat([self.buffer, block])
        head, self.buffer = self.buffer[:k], self.buffer[k:]
        return head


def _draw(logits: Tensor, u: Tensor, temperature: float) -> Tensor:
    """One token per row by inverting the CDF of ``softmax(logits / temperature)`` at ``u`` in [0, 1)."""
    cdf = torch.softmax(logits_fp32(logits) / temperature, dim=-1).cumsum(-1)
    tok = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
    return tok.clamp_max(logits.size(1) - 1)


@torch.no_grad()
def complete(policy: GeneratorNet, out: Tensor, start: Tensor, state: State, logits: Tensor, index: Tensor | None = None,
             generator: torch.Generator | None = None, temperature: float = 1.0, pool: int = 1024,
             machines: Any = None, machine_index: Tensor | None = None) -> Tensor:
    """Fill ``out[r, start[r]:]`` by sampling from ``policy``; rows stop at EOS or the end of ``out``.

    With ``machines`` (a machine whose row ``machine_index[r]``, default ``index[r]``, is in the state
    after ``out[r, :start[r]]``) row r draws among the symbols its copy of that row allows, and
    stops when the copy has stopped (its derivation is complete).

    Row r continues from state row ``index[r]`` (batch dim 1) and next-token logits row ``index[r]``:
    the state and logits after ``out[r, :start[r]]``; ``index`` defaults to ``r`` itself (many rows
    may share one start). Continuous batching: at most ``pool`` rows are in flight; finished rows
    leave and the next rows in order take their places, so every step runs on a full batch until
    the last rows drain and the work follows the completions' actual lengths. The result depends
    on ``generator`` only, not on ``pool`` (see :class:`_Uniforms`)."""
    M, T = out.shape
    device = out.device
    index = torch.arange(M, device=device) if index is None else index
    machine_index = index if machine_index is None else machine_index
    uniforms = _Uniforms(M, T, generator, device)
    # rows in flight: output row, position of its next token, its uniforms, next-token logits, state
    rows = torch.empty(0, dtype=torch.long, device=device)
    pos, u, cur_logits = rows, torch.empty(0, T, device=device), logits[:0]
    cur_state = select_state(state, rows)
    cur_machine = machines.take(rows) if machines is not None else None
    admitted = 0
    while True:
        k = min(pool - rows.numel(), M - admitted)
        if k > 0:  # the next rows in order join with their cached state and logits
            new = torch.arange(admitted, admitted + k, device=device)
            admitted += k
            rows, pos, u = torch.cat([rows, new]), torch.cat([pos, start[new]]), torch.cat([u, uniforms.take(k)])
            cur_logits = torch.cat([cur_logits, logits[index[new]]])
            cur_state = stack_states([cur_state, select_state(state, index[new])])
            if cur_machine is not None:
                cur_machine.extend(machines.take(machine_index[new]))
        if rows.numel() == 0:
            return out
        u_now = u.gather(1, pos.unsqueeze(1)).squeeze(1)
        if cur_machine is None:
            tok = _draw(cur_logits, u_now, temperature)
            ended = tok == policy.eos
        else:  # 1 - u lies in (0, 1], as choose needs
            tok = choose(cur_logits, cur_machine.penalty(), 1.0 - u_now, temperature)
            cur_machine.advance(tok)
            ended = cur_machine.stopped
        out[rows, pos] = tok
        keep = (~ended & (pos + 1 < T)).nonzero().squeeze(1)
        if keep.numel() < rows.numel():  # finished rows leave the batch
            rows, pos, tok, u, cur_logits = rows[keep], pos[keep], tok[keep], u[keep], cur_logits[keep]
            cur_state = select_state(cur_state, keep)
            if cur_machine is not None:
                cur_machine.select(keep)
            if rows.numel() == 0:
                continue
        step_logits, cur_state = policy(tok.unsqueeze(1), cur_state)
        cur_logits, pos = logits_fp32(step_logits[:, 0]), pos + 1


@torch.no_grad()
def prefix_machines(new_machine: MachineFn, seqs: Tensor, prefix_lens: list[int]) -> Any:
    """One machine holding the state after each prefix length in ``prefix_lens`` (ascending) of every
    sequence: row ``k * B + b`` is after the first ``prefix_lens[k]`` symbols of ``seqs[b]``."""
    B = seqs.size(0)
    machine = new_machine(B)
    every = torch.arange(B, device=seqs.device)
    snapshots = []
    wanted = iter(prefix_lens)
    nxt = next(wanted, None)
    for t in range(prefix_lens[-1]):
        machine.advance(seqs[:, t])
        if t + 1 == nxt:
            snapshots.append(machine.take(every))
            nxt = next(wanted, None)
    table = snapshots[0]
    table.extend(*snapshots[1:])
    return table


@torch.no_grad()
def mc_rollout(policy: GeneratorNet, seqs: Tensor, reward_fn: RewardFn, n_rollouts: int,
               generator: torch.Generator | None = None, chunk: int = 1024, stride: int = 1,
               new_machine: MachineFn | None = None) -> RolloutResult:
    """Q values of every action of ``seqs`` ``(B, T)`` by ``n_rollouts`` completions per prefix.

    ``chunk`` is the number of completions in flight at once (see :func:`complete`); it changes
    speed only, never the result: for a given ``generator`` state the completions are the same.
    ``stride > 1`` is a cheaper approximation for small machines: only prefixes whose length is a
    multiple of ``stride`` are rolled out, and an action in between takes the Q of the next
    rolled-out prefix (or the final reward). ``stride = 1`` is SeqGAN's estimator. With
    ``new_machine`` the completions continue each prefix's machine state (see the module docstring)."""
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
        longest = int(prefix_len.max())
        states, logits = policy.prefix_states(seqs[:, : longest + 1])  # states after prefixes 0..longest
        rows_b = batch_idx.repeat_interleave(n_rollouts)
        rows_p = prefix_len.repeat_interleave(n_rollouts)
        groups = (rows_p - 1) * n_rollouts + torch.arange(n_rollouts, device=device).repeat(n_prefix)
        out = seqs[rows_b].masked_fill(torch.arange(T, device=device).unsqueeze(0) >= rows_p.unsqueeze(1), policy.pad)
        # one table of every prefix's state, row t * B + b after prefix t of sequence b; the
        # completions index it, so only the rows in flight are ever copied out
        machines = machine_index = None
        if new_machine is not None:  # the machines' table holds the rolled-out prefix lengths only
            lens_used = sorted(set(prefix_len.tolist()))
            slot = torch.zeros(longest + 1, dtype=torch.long, device=device)
            slot[torch.tensor(lens_used, device=device)] = torch.arange(len(lens_used), device=device)
            machines = prefix_machines(new_machine, seqs, lens_used)
            machine_index = slot[rows_p] * B + rows_b
        full = complete(policy, out, rows_p, stack_states(states), logits.transpose(0, 1).reshape(-1, logits.size(2)),
                        index=rows_p * B + rows_b, generator=generator, pool=chunk, machines=machines,
                        machine_index=machine_index)
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
