"""The ORGAN generator G_theta: symbol embedding -> LSTM/GRU -> softmax over the symbols.

Trained by maximum likelihood with teacher forcing (the true previous token is the input) and
sampled free-running (its own previous token). Over production rules (:mod:`molgen.organ.symbols`)
every step is masked by a machine: sampling draws among the allowed rules only, and the
teacher-forced loss and the policy's log-probabilities use the masks replayed along the true
sequence (a masked cross-entropy, as the Grammar VAE's loss). A sequence is ``y_1 .. y_T`` without BOS; it
ends with EOS and is padded after it. The recurrent state is a tensor (GRU) or an ``(h, c)``
pair (LSTM), always ``(num_layers, batch, hidden)``; :func:`select_state` and
:func:`stack_states` let the rollout code index and gather states of either kind.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor, nn

from molgen.masking.choice import choose, uniform
from molgen.organ.config import GeneratorConfig
from molgen.precision import logits_fp32

State = Union[Tensor, tuple[Tensor, Tensor]]


def select_state(state: State, index: Tensor) -> State:
    """Rows ``index`` of a recurrent state (batch is dim 1; a tuple may hold any tensors batched on dim 1)."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)  # type: ignore[return-value]
    return state.index_select(1, index)


def stack_states(states: list[State]) -> State:
    """Concatenate states along the batch dimension."""
    if isinstance(states[0], tuple):
        return tuple(torch.cat([s[i] for s in states], dim=1) for i in range(len(states[0])))  # type: ignore[return-value]
    return torch.cat(states, dim=1)  # type: ignore[arg-type]


class GeneratorNet(nn.Module):
    """Autoregressive model over ``vocab_size`` input ids (special tokens included) and
    ``n_outputs`` output symbols (the same by default; rules: the rules, without BOS)."""

    def __init__(self, cfg: GeneratorConfig, vocab_size: int, pad: int, bos: int, eos: int,
                 n_outputs: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab_size, self.pad, self.bos, self.eos = vocab_size, pad, bos, eos
        self.n_outputs = vocab_size if n_outputs is None else n_outputs
        self.embed = nn.Embedding(vocab_size, cfg.embedding_size, padding_idx=pad)
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.rnn = rnn(cfg.embedding_size, cfg.hidden_size, cfg.num_layers, batch_first=True,
                       dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.head = nn.Linear(cfg.hidden_size, self.n_outputs)

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Logits ``(B, L, V)`` for the next token after each input token, and the final state."""
        out, state = self.rnn(self.embed(inputs), state)
        return self.head(out), state

    def inputs_for(self, seqs: Tensor) -> Tensor:
        """Teacher-forcing inputs: BOS followed by the sequence shifted right by one."""
        bos = torch.full((seqs.size(0), 1), self.bos, dtype=seqs.dtype, device=seqs.device)
        return torch.cat([bos, seqs[:, :-1]], dim=1)

    def _logits(self, seqs: Tensor, mask: Tensor | None) -> Tensor:
        """Teacher-forced float32 logits ``(B, T, n_outputs)`` (under bf16 autocast too), -inf where
        ``mask`` (``(B, >= T, n_outputs)``) forbids."""
        logits, _ = self(self.inputs_for(seqs))
        logits = logits_fp32(logits)
        if mask is not None:
            logits = logits.masked_fill(~mask[:, : seqs.size(1)], float("-inf"))
        return logits

    def token_log_probs(self, seqs: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """log G(y_t | y_<t) and the entropy of each step's distribution, both ``(B, T)``; with ``mask``
        (the machine's, replayed along ``seqs``) the distribution is the one sampling drew from."""
        return step_log_probs(self._logits(seqs, mask), seqs, mask)

    def nll(self, seqs: Tensor, mask: Tensor | None = None) -> Tensor:
        """Mean teacher-forced negative log-likelihood per token, padding excluded (MLE loss); with
        ``mask`` a masked cross-entropy (the true symbol must be allowed, as the replayed masks ensure)."""
        logits = self._logits(seqs, mask)
        return nn.functional.cross_entropy(logits.reshape(-1, self.n_outputs), seqs.reshape(-1), ignore_index=self.pad)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
               max_len: int | None = None, machine=None) -> Tensor:
        """``n`` sequences ``(n, T)`` sampled free-running; PAD after EOS, stops once all have ended.
        With ``machine`` (a fresh one of ``n`` rows) every step draws among the symbols it allows."""
        max_len = max_len or self.cfg.max_len
        if machine is not None:
            return self._sample_masked(n, machine, temperature, generator, max_len)
        device = self.head.weight.device
        out = torch.full((n, max_len), self.pad, dtype=torch.long, device=device)
        tokens = torch.full((n, 1), self.bos, dtype=torch.long, device=device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        state: State | None = None
        for t in range(max_len):
            logits, state = self(tokens, state)
            probs = torch.softmax(logits_fp32(logits[:, -1]) / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            nxt = torch.where(done, torch.full_like(nxt, self.pad), nxt)
            out[:, t] = nxt
            done |= nxt == self.eos
            if bool(done.all()):
                break
            tokens = nxt.unsqueeze(1)
        return out

    def _sample_masked(self, n: int, machine, temperature: float, generator: torch.Generator | None,
                       max_len: int) -> Tensor:
        """Free-running sampling under ``machine``: one uniform per row and step (:func:`choose`), until
        every row's machine has stopped (a finished derivation then only allows the padding rule)."""
        device = self.head.weight.device
        out = torch.full((n, max_len), self.pad, dtype=torch.long, device=device)
        tokens = torch.full((n, 1), self.bos, dtype=torch.long, device=device)
        state: State | None = None
        for t in range(max_len):
            logits, state = self(tokens, state)
            nxt = choose(logits[:, -1], machine.penalty(), uniform(n, generator, device), temperature)
            machine.advance(nxt)
            out[:, t] = nxt
            if bool(machine.stopped.all()):
                break
            tokens = nxt.unsqueeze(1)
        return out

    @torch.no_grad()
    def prefix_states(self, seqs: Tensor) -> tuple[list[State], Tensor]:
        """Run once over ``BOS, y_1 .. y_{T-1}`` and keep the state and next-token logits after every
        prefix: ``states[t]`` / ``logits[:, t]`` follow the prefix ``y_1..y_t`` (t = 0: BOS only).
        This is what lets rollouts continue a prefix without recomputing it."""
        inputs = self.inputs_for(seqs)
        states: list[State] = []
        logits = []
        state: State | None = None
        for t in range(inputs.size(1)):
            step_logits, state = self(inputs[:, t : t + 1], state)
            states.append(state)
            logits.append(logits_fp32(step_logits[:, 0]))
        return states, torch.stack(logits, dim=1)


def step_log_probs(logits: Tensor, seqs: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """log p(y_t) and the entropy of each step, both ``(B, T)``, from (masked) logits ``(B, T, V)``."""
    logp = torch.log_softmax(logits, dim=-1)
    token = logp.gather(-1, seqs.unsqueeze(-1)).squeeze(-1)
    if mask is None:
        entropy = -(logp.exp() * logp).sum(-1)
    else:  # forbidden symbols have p = 0 and log p = -inf: they add nothing
        entropy = -(logp.exp() * logp.masked_fill(~mask[:, : seqs.size(1)], 0.0)).sum(-1)
    return token, entropy


def lengths(seqs: Tensor, eos: int) -> Tensor:
    """Number of tokens up to and including the first EOS (the full width when there is none)."""
    is_eos = seqs == eos
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1), torch.full_like(seqs[:, 0], seqs.size(1) - 1))
    return first + 1
