"""LeakGAN (Guo et al. 2018) as a generator of the ORGAN family: the discriminator leaks its features.

A **manager** LSTM reads D's feature vector ``f_t`` of the current prefix ``y_1..y_t`` (left-aligned,
padded to D's length, as D reads whole sequences) and emits a unit goal ``g_t`` in feature space. The
goals of the last ``c`` steps (``[leakgan] horizon``, the current one included, so the first step has
a goal) are summed and projected without bias to ``k`` dims: ``w_t = psi(sum g)``. A **worker** LSTM
over the symbols emits a matrix ``O_t`` (symbols x k) and the logits are ``O_t w_t``.

Training (the paper's Algorithm 1, on the ORGAN trainer's stages and rollouts):

- MLE (pretraining and the interleaved steps): the worker's teacher-forced NLL, and the manager's
  cosine loss towards the real feature moves ``f_{t+c} - f_t``;
- adversarial: the manager maximises ``Q_t * cos(f_{t+c} - f_t, g_t)`` with ``Q`` the rollout value of
  the reward (optionally the paper's rank-based *bootstrapped rescaled activation*), the worker
  REINFORCE with the intrinsic reward ``1/c sum_i cos(f_t - f_{t-i}, g_{t-i})``; goals reach the
  worker as constants (each part has its own loss, as in the paper).

Cost: every step of every sample and rollout completion needs D's features of a new prefix (the
paper's code ran ~30x SeqGAN's discriminator calls). Here a recurrent state carries its prefix, so a
rollout continues from the cached state of its prefix and only new prefixes are featurised, once per
step for all rows in flight; the features of every prefix of a training batch come from one batched
pass (:meth:`FeatureLeak.prefixes`) shared by the manager pass, its loss and the intrinsic reward.
A state also carries the running max of its prefix's complete convolution windows, so one more
symbol costs a few table lookups per filter, not a pass over the padded prefix (:class:`FeatureLeak`,
which counts its calls and rows; D's lookup tables are rebuilt only when D's weights change).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from molgen.organ.config import GeneratorConfig, LeakGANConfig
from molgen.organ.discriminator import Discriminator
from molgen.organ.generator import GeneratorNet, State, lengths, step_log_probs
from molgen.organ.rollout import reinforce_loss


class FeatureLeak:
    """D's feature vectors of left-aligned prefixes, without gradient: what the manager reads.

    A width-w filter's pooled value for a prefix of length l is the max over three kinds of window:
    *complete* ones (all w symbols in the prefix; they never change once the prefix grows past
    them, so their running max is carried in the generator's state), *partial* ones (the last
    j < w symbols of the prefix, then padding) and the all-padding window (a constant). So a step
    that appends one symbol costs about w^2 / 2 table lookups per width instead of a pass over the
    whole padded prefix, and all prefixes of a batch come from one cumulative max over its complete
    windows (:meth:`prefixes`). Values equal :meth:`Discriminator.features` of the padded prefix.

    Shared (never copied) by the generator and its rollout copy, so both always read the current D.
    ``calls`` counts batched evaluations and ``rows`` the prefixes they featurised."""

    def __init__(self, discriminator: Discriminator) -> None:
        self.disc = discriminator
        self.calls = self.rows = 0
        self._key: tuple | None = None
        self._tables: list[tuple[Tensor, Tensor]] = []

    def __deepcopy__(self, memo: dict) -> "FeatureLeak":
        return self  # a deep copy of the generator (its rollout policy) reads the same, live D

    @property
    def size(self) -> int:
        """Length of the feature vector (the sum of D's filter counts)."""
        return self.disc.highway.gate.in_features

    def _lookup(self) -> list[tuple[Tensor, Tensor]]:
        """Per filter: its table ``(w, V, C)`` (what each symbol adds at each offset) and ``tails``
        ``(w + 1, C)``: ``tails[j]`` is what padding adds at offsets j..w-1."""
        # optimiser steps and load_state_dict change D's weights in place, which bumps their version
        # counters: the tables are rebuilt after each D update and reused by every call in between
        key = tuple((id(p), p._version) for p in self.disc.parameters())
        if key != self._key:
            pad = self.disc.embed.padding_idx or 0
            self._tables = []
            for table in self.disc.lookup_tables():
                at_pad = table[:, pad]
                tails = torch.cat([at_pad.flip(0).cumsum(0).flip(0), torch.zeros_like(at_pad[:1])])
                self._tables.append((table, tails))
            self._key = key
        return self._tables

    def _finish(self, best: list[Tensor]) -> Tensor:
        """Features from each filter's max window value (before bias and ReLU)."""
        pooled = [torch.relu(b + conv.bias) for b, conv in zip(best, self.disc.convs)]
        return self.disc.highway(torch.cat(pooled, dim=-1))

    @torch.no_grad()
    def __call__(self, prefixes: Tensor) -> Tensor:
        """``(N, F)`` features of ``N`` padded prefixes ``(N, L)`` by a full pass over each (the
        reference the incremental paths are tested against, and the cache-less benchmark's cost)."""
        self.calls += 1
        self.rows += prefixes.size(0)
        return self.disc.highway(self.disc.pooled_by_lookup(prefixes, [t for t, _ in self._lookup()]))

    @torch.no_grad()
    def complete_max(self, ids: Tensor) -> Tensor:
        """``(B, C_total)``: per filter, the max over the complete windows of ``ids`` ``(B, l)`` (-inf: none)."""
        out = []
        for table, _ in self._lookup():
            w = table.size(0)
            if ids.size(1) < w:
                out.append(torch.full((ids.size(0), table.size(2)), float("-inf"), device=ids.device))
            else:
                out.append(_window_sums(ids, table).amax(1))
        return torch.cat(out, dim=1)

    @torch.no_grad()
    def prefixes(self, seqs: Tensor) -> tuple[Tensor, Tensor]:
        """Features ``(B, T + 1, F)`` of every prefix ``y_1..y_l`` (l = 0..T) of ``seqs`` ``(B, T)``, and
        the running max of complete windows ``(B, T + 1, C_total)`` after each (what a state carries)."""
        B, T = seqs.shape
        L = self.disc.max_len
        ell = torch.arange(T + 1, device=seqs.device)
        self.calls += 1
        self.rows += B * (T + 1)
        best, done = [], []
        for table, tails in self._lookup():
            w, C = table.size(0), table.size(2)
            complete = torch.full((B, T + 1, C), float("-inf"), device=seqs.device)
            if T >= w:  # window s is complete in every prefix of length >= s + w
                complete[:, w:] = _window_sums(seqs, table).cummax(1).values
            b = torch.maximum(complete, torch.where((ell + w <= L).view(1, -1, 1), tails[0], float("-inf")))
            for j in range(1, min(w, T + 1)):  # the last j symbols, then padding: prefixes of length >= j
                part = _window_sums(seqs, table[:j]) + tails[j]
                fits = (ell[j:] - j + w <= L).view(1, -1, 1)
                b[:, j:] = torch.maximum(b[:, j:], part.masked_fill(~fits, float("-inf")))
            best.append(b)
            done.append(complete)
        return self._finish(best), torch.cat(done, dim=-1)

    @torch.no_grad()
    def step(self, done: Tensor, prefix: Tensor, ell: Tensor) -> tuple[Tensor, Tensor]:
        """Features ``(B, F)`` of prefixes ``(B, L)`` of lengths ``ell`` ``(B,)`` whose last symbol was just
        appended, and ``done`` ``(B, C_total)`` (their complete windows' max before it) updated."""
        B, L = prefix.shape
        self.calls += 1
        self.rows += B
        best, new_done, at = [], [], 0
        for table, tails in self._lookup():
            w, C = table.size(0), table.size(2)
            last = prefix.gather(1, (ell.unsqueeze(1) - w + torch.arange(w, device=prefix.device)).clamp_min(0))
            d = done[:, at : at + C]
            at += C
            whole = sum(F.embedding(last[:, k], table[k]) for k in range(w))
            d = torch.where((ell >= w).unsqueeze(1), torch.maximum(d, whole), d)
            b = torch.where((ell + w <= L).unsqueeze(1), torch.maximum(d, tails[0]), d)
            for j in range(1, w):
                part = tails[j] + sum(F.embedding(last[:, w - j + k], table[k]) for k in range(j))
                ok = (ell >= j) & (ell - j + w <= L)
                b = torch.where(ok.unsqueeze(1), torch.maximum(b, part), b)
            best.append(b)
            new_done.append(d)
        return self._finish(best), torch.cat(new_done, dim=1)


def _window_sums(ids: Tensor, table: Tensor) -> Tensor:
    """``(B, l - j + 1, C)``: for each start s, the sum over offsets k < j of ``table[k][ids[:, s + k]]``
    (j = ``table.size(0)``): a width-j window's value before bias, by lookups instead of a convolution."""
    j, n = table.size(0), ids.size(1) - table.size(0) + 1
    acc = F.embedding(ids[:, :n], table[0])
    for k in range(1, j):
        acc = acc + F.embedding(ids[:, k : k + n], table[k])
    return acc


class LeakGANGenerator(GeneratorNet):
    """The hierarchical generator: the worker is the family's embedding + LSTM (``head`` now gives
    ``O_t``), the manager an LSTM over D's features. Sampling, rollouts and the policy's
    log-probabilities go through the same interface as :class:`GeneratorNet`.

    A recurrent state is the tuple ``(worker h, worker c, manager h, manager c, goals of the last c
    steps (c, B, F), the prefix so far (L, B), its length (1, B), its complete windows' max (1, B, C))``,
    every part batched on dim 1, so the rollout code selects and stacks it like an LSTM state."""

    def __init__(self, cfg: GeneratorConfig, leak_cfg: LeakGANConfig, feature_size: int, vocab_size: int, pad: int,
                 bos: int, eos: int, n_outputs: int | None = None) -> None:
        super().__init__(cfg, vocab_size, pad, bos, eos, n_outputs)
        self.leak_cfg, self.feature_size = leak_cfg, feature_size
        k = leak_cfg.goal_size
        self.head = nn.Linear(cfg.hidden_size, self.n_outputs * k)  # the worker's O_t, (symbols x k) per step
        self.manager = nn.LSTM(feature_size, leak_cfg.manager_hidden_size, batch_first=True)
        self.goal_head = nn.Linear(leak_cfg.manager_hidden_size, feature_size)
        self.psi = nn.Linear(feature_size, k, bias=False)
        self.leak: FeatureLeak | None = None

    def features(self) -> FeatureLeak:
        """The attached feature source (the run's discriminator)."""
        if self.leak is None:
            raise RuntimeError("a LeakGAN generator reads its discriminator's features: set .leak = FeatureLeak(D)")
        return self.leak

    def goals(self, feats: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Unit goals ``(B, L, F)`` from features ``(B, L, F)``, and the manager's state."""
        h, state = self.manager(feats, state)
        return F.normalize(self.goal_head(h), dim=-1), state

    def window(self, goals: Tensor) -> Tensor:
        """``sum_{i < c} g_{t-i}`` at every step ``t`` of ``goals`` ``(B, L, F)`` (fewer at the start)."""
        c, L = self.leak_cfg.horizon, goals.size(1)
        out = goals
        for i in range(1, min(c, L)):
            out = out + F.pad(goals[:, : L - i], (0, 0, i, 0))
        return out

    def _combine(self, worker_out: Tensor, goal_sum: Tensor) -> Tensor:
        """Logits ``O_t w_t`` ``(B, L, V)`` from the worker's outputs and the summed goals."""
        B, L, _ = worker_out.shape
        O = self.head(worker_out).view(B, L, self.n_outputs, self.leak_cfg.goal_size)
        return (O @ self.psi(goal_sum).unsqueeze(-1)).squeeze(-1)

    def teacher(self, inputs: Tensor, feats: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, State]:
        """Run over ``inputs`` ``(B, L)`` (BOS then symbols) in one pass: logits ``(B, L, V)``, goals
        ``(B, L, F)``, the features ``(B, L, F)`` the manager read (those of ``inputs[:, 1:t+1]``;
        computed when not given) and the state after the last input."""
        B, L = inputs.shape
        if feats is None:
            feats, done = self.features().prefixes(inputs[:, 1:])
            done = done[:, -1]
        else:
            done = self.features().complete_max(inputs[:, 1:])
        goals, m_state = self.goals(feats)
        out, w_state = self.rnn(self.embed(inputs))
        logits = self._combine(out, self.window(goals.detach()))  # goals reach the worker as constants
        c = self.leak_cfg.horizon
        recent = F.pad(goals.detach(), (0, 0, max(0, c - L), 0))[:, -c:].transpose(0, 1)
        prefix = torch.full((self.cfg.max_len, B), self.pad, dtype=torch.long, device=inputs.device)
        prefix[: L - 1] = inputs[:, 1:].t()
        length = torch.full((1, B), L - 1, dtype=torch.long, device=inputs.device)
        return logits, goals, feats, (*w_state, *m_state, recent, prefix, length, done.unsqueeze(0))

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Logits ``(B, L, V)`` after each input and the final state. Without a state ``inputs`` start
        with BOS and run in one pass (:meth:`teacher`); with one, step by step, each input symbol
        appended to the state's prefix and its features read from D."""
        if state is None:
            logits, _, _, state = self.teacher(inputs)
            return logits, state
        out = []
        for t in range(inputs.size(1)):
            step, state = self._step(inputs[:, t], state)
            out.append(step)
        return torch.stack(out, dim=1), state

    def _step(self, tok: Tensor, state: State) -> tuple[Tensor, State]:
        """Logits ``(B, V)`` after appending ``tok`` ``(B,)`` to each prefix: its features, a goal, a worker step."""
        hw, cw, hm, cm, recent, prefix, length, done = state  # type: ignore[misc]
        prefix, pos = prefix.clone(), length[0]
        fits = (pos < prefix.size(0)).nonzero().squeeze(1)
        prefix[pos[fits], fits] = tok[fits]
        length = (length + 1).clamp_max(prefix.size(0))
        feats, new_done = self.features().step(done[0], prefix.t(), length[0])
        feats = feats.unsqueeze(1)
        goal, (hm, cm) = self.goals(feats, (hm, cm))
        recent = torch.cat([recent[1:], goal.transpose(0, 1)])
        out, (hw, cw) = self.rnn(self.embed(tok.unsqueeze(1)), (hw, cw))
        return self._combine(out, recent.sum(0).unsqueeze(1))[:, 0], (hw, cw, hm, cm, recent, prefix, length,
                                                                       new_done.unsqueeze(0))

    @torch.no_grad()
    def prefix_states(self, seqs: Tensor) -> tuple[list[State], Tensor]:
        """The state and next-symbol logits after every prefix (see :meth:`GeneratorNet.prefix_states`);
        the features of all prefixes come from one batched call and the prefixes are written directly."""
        B, T = seqs.shape
        inputs = self.inputs_for(seqs)
        feats, done = self.features().prefixes(seqs[:, : T - 1])
        c = self.leak_cfg.horizon
        recent = torch.zeros(c, B, self.feature_size, device=seqs.device)
        base = torch.full((self.cfg.max_len, B), self.pad, dtype=torch.long, device=seqs.device)
        states: list[State] = []
        logits = []
        m_state = w_state = None
        for t in range(T):
            goal, m_state = self.goals(feats[:, t : t + 1], m_state)
            recent = torch.cat([recent[1:], goal.transpose(0, 1)])
            out, w_state = self.rnn(self.embed(inputs[:, t : t + 1]), w_state)
            logits.append(self._combine(out, recent.sum(0).unsqueeze(1))[:, 0])
            prefix = base.clone()
            prefix[:t] = seqs[:, :t].t()
            length = torch.full((1, B), t, dtype=torch.long, device=seqs.device)
            states.append((*w_state, *m_state, recent, prefix, length, done[:, t].unsqueeze(0)))
        return states, torch.stack(logits, dim=1)


def build_leakgan(cfg: GeneratorConfig, leak_cfg: LeakGANConfig, symbols: Any, discriminator: Discriminator) -> LeakGANGenerator:
    """A LeakGAN generator over ``symbols`` reading ``discriminator``'s features (D reads the same symbols)."""
    leak = FeatureLeak(discriminator)
    gen = LeakGANGenerator(cfg, leak_cfg, leak.size, symbols.n_inputs, symbols.pad, symbols.bos, symbols.eos,
                           n_outputs=symbols.n_outputs)
    gen.leak = leak
    return gen


def rescaled_activation(q: Tensor, valid: Tensor, delta: float) -> Tensor:
    """The paper's bootstrapped rescaled activation: at each step, ``sigmoid(delta * (rank / B - 0.5))``
    of each valid row's rank (1 = lowest, ties share the lower rank) among the ``B`` valid rows; 0 elsewhere.
    Scale-free: only the order of the rewards in the batch matters."""
    both = valid.unsqueeze(0) & valid.unsqueeze(1)  # (B, B, T)
    rank = 1 + ((q.unsqueeze(0) < q.unsqueeze(1)) & both).sum(1)  # [b, a]: q[a] < q[b]; counted per b
    n = valid.sum(0, keepdim=True).clamp_min(1)
    return torch.sigmoid(delta * (rank / n - 0.5)) * valid


def feature_moves(feats: Tensor, lens: Tensor, horizon: int) -> Tensor:
    """``f_{min(t + c, len)} - f_t`` ``(B, T, F)`` for t = 0..T-1 from prefix features ``(B, T + 1, F)``."""
    B, T1, _ = feats.shape
    t = torch.arange(T1 - 1, device=feats.device).unsqueeze(0)
    ahead = torch.minimum(t + horizon, lens.unsqueeze(1))
    return feats.gather(1, ahead.unsqueeze(-1).expand(-1, -1, feats.size(2))) - feats[:, :-1]


def manager_loss(goals: Tensor, feats: Tensor, weight: Tensor, valid: Tensor, lens: Tensor, horizon: int) -> Tensor:
    """``-mean_t weight_t * cos(f_{t+c} - f_t, g_t)`` over valid steps (weight 1: MLE pretraining)."""
    cos = F.cosine_similarity(feature_moves(feats, lens, horizon), goals, dim=-1)
    m = valid.float()
    return -(weight * cos * m).sum() / m.sum().clamp_min(1.0)


def intrinsic_reward(goals: Tensor, feats: Tensor, valid: Tensor, horizon: int) -> Tensor:
    """The worker's reward for the action at step t (it makes the prefix of t + 1 symbols):
    ``mean_{i=1..c} cos(f_{t+1} - f_{t+1-i}, g_{t+1-i})`` over the terms that exist; 0 where invalid."""
    B, T, _ = goals.shape
    total = torch.zeros(B, T, device=goals.device)
    count = torch.zeros(T, device=goals.device)
    for i in range(1, horizon + 1):
        if i > T:
            break
        j = slice(0, T + 1 - i)  # goal steps t + 1 - i for actions t = i-1 .. T-1
        moved = feats[:, i : T + 1] - feats[:, j]
        total[:, i - 1 :] += F.cosine_similarity(moved, goals[:, j], dim=-1)
        count[i - 1 :] += 1
    return total / count * valid


class LeakGANObjective:
    """LeakGAN's two training signals over one batch, each from a single feature pass."""

    def __init__(self, generator: LeakGANGenerator, cfg: LeakGANConfig) -> None:
        self.generator, self.cfg = generator, cfg

    def _pass(self, seqs: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Masked teacher-forced logits, goals, prefix features ``(B, T + 1, F)``, lengths and the valid steps."""
        g = self.generator
        T = seqs.size(1)
        feats, _ = g.features().prefixes(seqs)  # once: read by the manager, its loss and the intrinsic reward
        logits, goals, _, _ = g.teacher(g.inputs_for(seqs), feats[:, :T])
        if mask is not None:
            logits = logits.masked_fill(~mask[:, :T], float("-inf"))
        lens = lengths(seqs, g.eos)
        valid = torch.arange(T, device=seqs.device).unsqueeze(0) < lens.unsqueeze(1)
        return logits, goals, feats, lens, valid

    def mle_loss(self, seqs: Tensor, mask: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        """Worker NLL (padding excluded, as the family's MLE) + manager cosine loss to the real feature moves."""
        g = self.generator
        logits, goals, feats, lens, valid = self._pass(seqs, mask)
        nll = F.cross_entropy(logits.reshape(-1, g.n_outputs), seqs.reshape(-1), ignore_index=g.pad)
        m_loss = manager_loss(goals, feats, torch.ones_like(valid, dtype=feats.dtype), valid, lens, self.cfg.horizon)
        return nll + m_loss, {"mle_loss": nll.item(), "manager_loss": m_loss.item()}

    def adversarial_loss(self, seqs: Tensor, mask: Tensor | None, q: Tensor, baseline: float,
                         entropy_coef: float = 0.0) -> tuple[Tensor, Tensor, dict[str, float]]:
        """Manager: reward-weighted cosine to the sampled feature moves; worker: REINFORCE on the
        intrinsic reward. Returns the loss, the per-step entropy ``(B, T)`` and the parts for the log."""
        logits, goals, feats, lens, valid = self._pass(seqs, mask)
        logp, entropy = step_log_probs(logits, seqs, mask)
        weight = rescaled_activation(q, valid, self.cfg.rescale_delta) if self.cfg.rescale else q - baseline
        m_loss = manager_loss(goals, feats, weight.detach(), valid, lens, self.cfg.horizon)
        r_int = intrinsic_reward(goals.detach(), feats, valid, self.cfg.horizon)
        w_loss = reinforce_loss(logp, entropy, r_int, valid, 0.0, entropy_coef)
        m = valid.float()
        parts = {"manager_loss": m_loss.item(), "worker_loss": w_loss.item(),
                 "intrinsic_reward": float((r_int * m).sum() / m.sum().clamp_min(1.0))}
        return m_loss + w_loss, entropy, parts


def leakgan_from_checkpoint(ckpt: dict[str, Any], cfg: GeneratorConfig, symbols: Any, device: str = "cpu") -> LeakGANGenerator:
    """An (untrained) LeakGAN generator reading the checkpoint's own discriminator, whose weights are
    loaded; the caller loads the generator's (``ckpt["model"]``)."""
    from molgen.config import from_dict, quiet_renames
    from molgen.organ.config import DiscriminatorConfig

    with quiet_renames():
        d_cfg = from_dict(DiscriminatorConfig, ckpt["config"]["discriminator"], where="checkpoint config.discriminator")
    leak_cfg = from_dict(LeakGANConfig, ckpt["config"].get("leakgan", {}), where="checkpoint config.leakgan")
    disc = Discriminator(d_cfg, symbols.n_inputs, symbols.pad, cfg.max_len).to(device)
    disc.load_state_dict(ckpt["discriminator"])
    disc.eval()
    return build_leakgan(cfg, leak_cfg, symbols, disc).to(device)
