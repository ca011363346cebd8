"""The VAE skeleton shared by the Grammar VAE and the character VAE.

Encoder: one-hot symbol sequence (rules or tokens) -> 1-D convolutions -> dense -> (mu, log var).
Decoder: z -> dense -> GRU stack unrolled over the sequence -> logits over symbols. With
``autoregressive`` the GRU also sees the previous symbol (the true one in training: teacher
forcing; its own choice when decoding). Which symbols are allowed is the codec's business
(:mod:`molgen.vae.codec`), so this module knows nothing about grammars or vocabularies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from molgen.vae.config import ModelConfig


class Encoder(nn.Module):
    """Convolutions over the one-hot sequence, then a dense layer to the posterior parameters."""

    def __init__(self, cfg: ModelConfig, n_symbols: int, max_len: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, length = n_symbols, max_len
        for out, k in zip(cfg.conv_channels, cfg.conv_kernels):
            layers += [nn.Conv1d(channels, out, k), nn.ReLU()]
            channels, length = out, length - (k - 1)
        if length < 1:
            raise ValueError(f"convolution kernels {cfg.conv_kernels} are too wide for sequences of length {max_len}")
        self.convs = nn.Sequential(*layers)
        self.dense = nn.Linear(channels * length, cfg.dense_size)
        self.mu = nn.Linear(cfg.dense_size, cfg.latent_size)
        self.logvar = nn.Linear(cfg.dense_size, cfg.latent_size)
        self.n_symbols = n_symbols

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: (B, max_len) symbol ids -> mu, log var, each (B, latent_size)."""
        h = F.one_hot(x, self.n_symbols).float().transpose(1, 2)
        h = self.convs(h).flatten(1)
        h = F.relu(self.dense(h))
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    """GRU stack conditioned on z (as input at every step and as the initial hidden state)."""

    def __init__(self, cfg: ModelConfig, n_symbols: int) -> None:
        super().__init__()
        self.autoregressive = cfg.autoregressive
        self.layers = cfg.gru_layers
        self.hidden = cfg.gru_size
        self.start_id = n_symbols  # an extra embedding row: "no previous symbol"
        self.blank_id = n_symbols + 1  # another: "previous symbol hidden" (word dropout)
        self.word_dropout = cfg.word_dropout
        self.z_in = nn.Linear(cfg.latent_size, cfg.decoder_input_size)
        self.h0 = nn.Linear(cfg.latent_size, cfg.gru_layers * cfg.gru_size)
        in_size = cfg.decoder_input_size
        if self.autoregressive:
            self.embed = nn.Embedding(n_symbols + 2, cfg.embedding_size)
            in_size += cfg.embedding_size
        self.gru = nn.GRU(in_size, cfg.gru_size, cfg.gru_layers, batch_first=True,
                          dropout=cfg.dropout if cfg.gru_layers > 1 else 0.0)
        self.out = nn.Linear(cfg.gru_size, n_symbols)

    def init_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-step input from z, initial hidden state (layers, B, H))."""
        zin = F.relu(self.z_in(z))
        h = torch.tanh(self.h0(z)).view(z.shape[0], self.layers, self.hidden).transpose(0, 1).contiguous()
        return zin, h

    def _inputs(self, zin: torch.Tensor, prev: torch.Tensor | None, steps: int) -> torch.Tensor:
        x = zin.unsqueeze(1).expand(-1, steps, -1)
        if self.autoregressive:
            x = torch.cat([x, self.embed(prev)], dim=-1)
        return x

    def forward(self, z: torch.Tensor, targets: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, T, n_symbols) for the target ids (B, T) (word dropout in training mode)."""
        zin, h = self.init_state(z)
        steps = targets.shape[1]
        prev = None
        if self.autoregressive:
            start = torch.full_like(targets[:, :1], self.start_id)
            prev = torch.cat([start, targets[:, :-1]], dim=1)
            if self.training and self.word_dropout > 0:
                hide = torch.rand(prev.shape, generator=generator, device=prev.device) < self.word_dropout
                prev = prev.masked_fill(hide, self.blank_id)
        y, _ = self.gru(self._inputs(zin, prev, steps), h)
        return self.out(y)

    def step(self, prev: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One decoding step: logits (B, n_symbols) for the next symbol and the new state."""
        zin, h = state
        x = self._inputs(zin, prev.unsqueeze(1) if self.autoregressive else None, 1)
        y, h = self.gru(x, h)
        return self.out(y[:, 0]), (zin, h)


class SequenceVAE(nn.Module):
    """Encoder + decoder over sequences of ``n_symbols`` symbols of length ``max_len``."""

    def __init__(self, cfg: ModelConfig, n_symbols: int, max_len: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_symbols = n_symbols
        self.max_len = max_len
        self.encoder = Encoder(cfg, n_symbols, max_len)
        self.decoder = Decoder(cfg, n_symbols)

    def forward(self, x: torch.Tensor, steps: int | None = None, generator: torch.Generator | None = None):
        """Reconstruction logits for ``x`` (B, max_len) over its first ``steps`` positions, with mu and log var.

        The decoder is causal, so trimming to the batch's longest sequence changes nothing
        but saves the padded tail.
        """
        mu, logvar = self.encoder(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)
        steps = x.shape[1] if steps is None else steps
        return self.decoder(z, x[:, :steps], generator=generator), mu, logvar


def reconstruction_nll(logits: torch.Tensor, targets: torch.Tensor, allowed: torch.Tensor | None, pad: int) -> torch.Tensor:
    """Masked cross-entropy summed over real positions, averaged over molecules.

    For the Grammar VAE, ``allowed`` comes from the *true* sequence: logits of rules whose
    left-hand side is not the true rule's are set to -inf before the softmax.
    """
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    real = targets != pad
    return (nll * real).sum() / targets.shape[0]


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(KL to N(0, I) per molecule, the same with each dimension's batch mean floored at ``free_bits`` nats)."""
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=0)
    kl = per_dim.sum()
    if free_bits > 0:
        return kl, per_dim.clamp(min=free_bits).sum()
    return kl, kl


def sequence_accuracy(logits: torch.Tensor, targets: torch.Tensor, allowed: torch.Tensor | None, pad: int) -> float:
    """Fraction of molecules whose every real position is the masked argmax (teacher forced)."""
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    ok = (logits.argmax(-1) == targets) | (targets == pad)
    return float(ok.all(dim=1).float().mean())
