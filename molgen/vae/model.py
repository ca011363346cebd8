"""The VAE skeleton shared by the Grammar VAE and the character VAE.

Encoder: one-hot symbol sequence (rules or tokens) -> 1-D convolutions -> dense -> (mu, log var),
or (``encoder = "gru"``) a bidirectional GRU over symbol embeddings in place of the convolutions.
Decoder: z -> dense -> GRU stack unrolled over the sequence -> logits over symbols. With
``autoregressive`` the GRU also sees the previous symbol (the true one in training: teacher
forcing; its own choice when decoding). Which symbols are allowed is the codec's business
(:mod:`molgen.masking.codec`), so this module knows nothing about grammars or vocabularies.

Training runs ``nn.GRU`` over whole sequences; decoding runs one step at a time with the same
weights written out as GRU cells (:meth:`Decoder.step`), so the parts of the input that do not
change from step to step are projected once (see :class:`DecoderState`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F
from torch import nn

from molgen.precision import logits_fp32
from molgen.vae.config import ModelConfig

if TYPE_CHECKING:
    from molgen.training.distributed import Shard


_PACK_ROWS = 16


def step_linear(weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> x W^T + b`` for a decoding loop that applies it to a few hundred rows at every step.

    On CPU outside autograd, for batches of at least ``_PACK_ROWS`` rows, it goes through oneDNN
    with ``weight`` packed once: 2-4x faster than the default BLAS for these shapes on some CPUs
    (MKL on AMD), and it rounds the same whatever the number of rows. Elsewhere (one molecule at
    a time: packing costs more than it saves), or if oneDNN is missing, it is ``F.linear``. The
    two agree to float32 rounding. ``rows`` is the batch size the loop starts with. Under bf16
    autocast it is ``F.linear``, which autocast runs in bf16.
    """
    if rows >= _PACK_ROWS and weight.device.type == "cpu" and weight.dtype == torch.float32 \
            and not torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu") \
            and torch.backends.mkldnn.is_available():
        try:
            op = torch.ops.mkldnn._linear_pointwise
            packed = torch.ops.mkldnn._reorder_linear_weight(weight, int(rows))

            def fn(x: torch.Tensor) -> torch.Tensor:
                return op(x, packed, bias, "none", [], "")

            fn(weight.new_zeros(1, weight.shape[1]))  # an op this torch build lacks fails here, not mid-decode
            return fn
        except (AttributeError, RuntimeError, TypeError):
            pass
    return partial(F.linear, weight=weight, bias=bias)


@dataclass
class DecoderState:
    """What :meth:`Decoder.step` carries between steps for a batch of rows.

    The first GRU layer's input is ``[dense(z), embed(previous symbol)]``, so its input-gate
    pre-activations ``W_ih x + b_ih`` split into a part fixed per row (``zx``, from z) and a
    part fixed per symbol (``table``, one row per embedding row): a step then needs a gather
    and an add instead of a matrix product over the input. ``hh``, ``ih`` and ``out`` are the
    remaining per-step products (:func:`step_linear`), set up once per decode.
    """

    zx: torch.Tensor  # (B, 3H): z's share of the first layer's input gates, b_ih included
    table: torch.Tensor | None  # (n_symbols + 2, 3H): the previous symbol's share; None if not autoregressive
    h: list[torch.Tensor]  # hidden state per layer, each (B, H)
    hh: list[Callable]  # per layer: h -> W_hh h + b_hh
    ih: list[Callable]  # per layer above the first: x -> W_ih x + b_ih
    out: Callable  # top layer's h -> logits

    def select(self, rows: torch.Tensor) -> "DecoderState":
        """The state of the given rows only (rows that finished are dropped from the batch)."""
        return replace(self, zx=self.zx.index_select(0, rows), h=[h.index_select(0, rows) for h in self.h])


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


class GRUEncoder(nn.Module):
    """A bidirectional GRU over symbol embeddings; both final states -> dense -> (mu, log var).

    The backward direction reads each sequence's real symbols reversed (padding never enters
    either direction), so a molecule's encoding does not depend on the batch it is in. Written as
    two one-directional ``nn.GRU`` over padded batches: faster on CPU than packed sequences.
    """

    def __init__(self, cfg: ModelConfig, n_symbols: int, pad: int) -> None:
        super().__init__()
        self.pad = pad
        self.embed = nn.Embedding(n_symbols, cfg.embedding_size)
        self.forward_gru = nn.GRU(cfg.embedding_size, cfg.encoder_size, batch_first=True)
        self.backward_gru = nn.GRU(cfg.embedding_size, cfg.encoder_size, batch_first=True)
        self.dense = nn.Linear(2 * cfg.encoder_size, cfg.dense_size)
        self.mu = nn.Linear(cfg.dense_size, cfg.latent_size)
        self.logvar = nn.Linear(cfg.dense_size, cfg.latent_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: (B, max_len) symbol ids, padded at the end -> mu, log var, each (B, latent_size)."""
        lengths = (x != self.pad).sum(dim=1).clamp(min=1)
        steps = int(lengths.max())
        x = x[:, :steps]
        backwards = (lengths.unsqueeze(1) - 1 - torch.arange(steps, device=x.device)).clamp(min=0)
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, self.forward_gru.hidden_size)
        ahead, _ = self.forward_gru(self.embed(x))
        behind, _ = self.backward_gru(self.embed(x.gather(1, backwards)))
        h = torch.cat([ahead.gather(1, last).squeeze(1), behind.gather(1, last).squeeze(1)], dim=-1)
        h = F.relu(self.dense(h))
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    """GRU stack conditioned on z (as input at every step and as the initial hidden state)."""

    def __init__(self, cfg: ModelConfig, n_symbols: int) -> None:
        super().__init__()
        self.autoregressive = cfg.autoregressive
        self.layers = cfg.num_layers
        self.hidden = cfg.hidden_size
        self.start_id = n_symbols  # an extra embedding row: "no previous symbol"
        self.blank_id = n_symbols + 1  # another: "previous symbol hidden" (word dropout)
        self.word_dropout = cfg.word_dropout
        self.z_in = nn.Linear(cfg.latent_size, cfg.decoder_input_size)
        self.h0 = nn.Linear(cfg.latent_size, cfg.num_layers * cfg.hidden_size)
        in_size = cfg.decoder_input_size
        if self.autoregressive:
            self.embed = nn.Embedding(n_symbols + 2, cfg.embedding_size)
            in_size += cfg.embedding_size
        self.gru = nn.GRU(in_size, cfg.hidden_size, cfg.num_layers, batch_first=True,
                          dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.out = nn.Linear(cfg.hidden_size, n_symbols)

    def _initial(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-step input from z, initial hidden state (layers, B, H))."""
        zin = F.relu(self.z_in(z))
        h = torch.tanh(self.h0(z)).view(z.shape[0], self.layers, self.hidden).transpose(0, 1).contiguous()
        return zin, h

    def init_state(self, z: torch.Tensor) -> DecoderState:
        """Decoding state for latents ``z`` (B, latent_size), before the first step."""
        zin, h = self._initial(z)
        w_ih = self.gru.weight_ih_l0
        d = zin.shape[1]
        zx = F.linear(zin, w_ih[:, :d], self.gru.bias_ih_l0)
        table = F.linear(self.embed.weight, w_ih[:, d:]) if self.autoregressive else None
        rows = z.shape[0]

        def gru_linear(kind: str, layer: int) -> Callable:
            return step_linear(getattr(self.gru, f"weight_{kind}_l{layer}"), getattr(self.gru, f"bias_{kind}_l{layer}"), rows)

        hh = [gru_linear("hh", k) for k in range(self.layers)]
        ih = [gru_linear("ih", k) for k in range(1, self.layers)]
        out = step_linear(self.out.weight, self.out.bias, rows)
        return DecoderState(zx, table, list(h.float().unbind(0)), hh, ih, out)

    def _inputs(self, zin: torch.Tensor, prev: torch.Tensor | None, steps: int) -> torch.Tensor:
        x = zin.unsqueeze(1).expand(-1, steps, -1)
        if self.autoregressive:
            x = torch.cat([x, self.embed(prev)], dim=-1)
        return x

    def forward(self, z: torch.Tensor, targets: torch.Tensor, generator: torch.Generator | None = None,
                shard: Shard | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, T, n_symbols) for the target ids (B, T) (word dropout in training mode;
        for a rank's ``shard`` of a global batch, drawn as for the global batch)."""
        zin, h = self._initial(z)
        steps = targets.shape[1]
        prev = None
        if self.autoregressive:
            start = torch.full_like(targets[:, :1], self.start_id)
            prev = torch.cat([start, targets[:, :-1]], dim=1)
            if self.training and self.word_dropout > 0:
                hide = _draw(torch.rand, prev.shape, shard, steps=True, generator=generator, device=prev.device) \
                    < self.word_dropout
                prev = prev.masked_fill(hide, self.blank_id)
        y, _ = self.gru(self._inputs(zin, prev, steps), h)
        return self.out(y)

    def step(self, prev: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """One decoding step (inference: no dropout): logits (B, n_symbols) for the next symbol and the new state.

        ``prev`` (B,) is the previous symbol (``start_id`` at the first step). The GRU cells
        are ``nn.GRU``'s equations and weights; results agree with ``nn.GRU`` to float32 rounding.
        """
        hs = []
        x = None
        for layer, h in enumerate(state.h):
            if layer == 0:
                gi = state.zx if state.table is None else state.table.index_select(0, prev).add_(state.zx)
            else:
                gi = state.ih[layer - 1](x)
            x = _gru_gates(gi, state.hh[layer](h), h)
            hs.append(x)
        return state.out(x), DecoderState(state.zx, state.table, hs, state.hh, state.ih, state.out)


def _gru_gates(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """New hidden state from the input and hidden gate pre-activations (B, 3H) in nn.GRU's (r, z, n) order.

    r, z = sigmoid(gi_rz + gh_rz); n = tanh(gi_n + r * gh_n); h' = n + z * (h - n). Overwrites ``gh``
    only (``gi`` may be the state's ``zx``). tanh is taken as 2 sigmoid(2x) - 1 (within 2e-7 of
    it): torch's CPU tanh is several times slower than its sigmoid. The gates and the state are
    float32 even when the products ran in bf16 (autocast), so rounding does not build up over steps.
    """
    gi, gh = gi.float(), gh.float()
    size = h.shape[1]
    rz = gh[:, : 2 * size].add_(gi[:, : 2 * size]).sigmoid_()
    n = torch.addcmul(gi[:, 2 * size :], gh[:, 2 * size :], rz[:, :size]).mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)
    return torch.lerp(n, h, rz[:, size:])


class SequenceVAE(nn.Module):
    """Encoder + decoder over sequences of ``n_symbols`` symbols of length ``max_len``."""

    def __init__(self, cfg: ModelConfig, n_symbols: int, max_len: int, pad: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_symbols = n_symbols
        self.max_len = max_len
        self.pad = pad
        if cfg.encoder == "gru":
            if pad is None:
                raise ValueError("a GRU encoder needs the padding symbol's id")
            self.encoder: nn.Module = GRUEncoder(cfg, n_symbols, pad)
        else:
            self.encoder = Encoder(cfg, n_symbols, max_len)
        self.decoder = Decoder(cfg, n_symbols)

    def forward(self, x: torch.Tensor, steps: int | None = None, generator: torch.Generator | None = None,
                shard: Shard | None = None):
        """Reconstruction logits for ``x`` (B, max_len) over its first ``steps`` positions, with mu and log var.

        The decoder is causal, so trimming to the batch's longest sequence changes nothing
        but saves the padded tail. ``x`` may be one rank's ``shard`` of a global batch (torchrun):
        its noise is then the global batch's, row for row.
        """
        mu, logvar = self.encoder(x)
        mu, logvar = mu.float(), logvar.float()  # bf16 under autocast; the noise and the KL stay fp32
        eps = _draw(torch.randn, mu.shape, shard, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)
        steps = x.shape[1] if steps is None else steps
        return self.decoder(z, x[:, :steps], generator=generator, shard=shard), mu, logvar

    def loss(
        self, x: torch.Tensor, train_mask: Callable[[torch.Tensor], torch.Tensor | None] | None = None,
        free_bits: float = 0.0, generator: torch.Generator | None = None, shard: Shard | None = None,
    ) -> "VAELoss":
        """The ELBO terms of a batch ``x`` (B, max_len) of symbol ids padded with ``pad``.

        Decodes only up to the batch's longest sequence. ``train_mask(targets)`` gives the
        symbols allowed at each step (the Grammar VAE's mask from the *true* sequence), so the
        model learns among the choices it has when decoding.
        """
        if self.pad is None:
            raise ValueError("the loss needs the padding symbol's id (build the model with pad=...)")
        steps = int((x != self.pad).sum(dim=1).max())
        logits, mu, logvar = self(x, steps=steps, generator=generator, shard=shard)
        targets = x[:, :steps]
        recon = reconstruction_nll(logits, targets, train_mask(targets) if train_mask else None, self.pad)
        per_dim = kl_per_dim(mu, logvar)
        return VAELoss(recon, *floored_kl(per_dim, free_bits), per_dim)


@dataclass
class VAELoss:
    """Reconstruction NLL and KL (nats per molecule); ``kl_penalised`` after free bits; ``per_dim``
    the KL of each latent dimension, batch mean (what free bits floor)."""

    recon: torch.Tensor
    kl: torch.Tensor
    kl_penalised: torch.Tensor
    per_dim: torch.Tensor | None = None

    def objective(self, beta: float) -> torch.Tensor:
        """What training minimises: reconstruction + beta * penalised KL."""
        return self.recon + beta * self.kl_penalised

    def elbo_loss(self, beta: float) -> torch.Tensor:
        """What is reported: reconstruction + beta * KL (free bits not subtracted)."""
        return self.recon + beta * self.kl


def reconstruction_nll(logits: torch.Tensor, targets: torch.Tensor, allowed: torch.Tensor | None, pad: int) -> torch.Tensor:
    """Masked cross-entropy summed over real positions, averaged over molecules.

    For the Grammar VAE, ``allowed`` comes from the *true* sequence: logits of rules whose
    left-hand side is not the true rule's are set to -inf before the softmax.
    """
    logits = logits_fp32(logits)  # mask and log-softmax in float32, also after bf16 products
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    real = targets != pad
    return (nll * real).sum() / targets.shape[0]


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL to N(0, I) of each latent dimension, mean over the batch (latent_size,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=0)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(KL to N(0, I) per molecule, the same with each dimension's batch mean floored at ``free_bits`` nats)."""
    return floored_kl(kl_per_dim(mu, logvar), free_bits)


def floored_kl(per_dim: torch.Tensor, free_bits: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(the KL summed over dimensions, the same with each dimension floored at ``free_bits`` nats)."""
    kl = per_dim.sum()
    if free_bits > 0:
        return kl, per_dim.clamp(min=free_bits).sum()
    return kl, kl


def _draw(sample: Callable[..., torch.Tensor], shape: torch.Size, shard: Shard | None, steps: bool = False,
          **kwargs) -> torch.Tensor:
    """``sample(shape, **kwargs)``; for a rank's ``shard``, the rows of the global batch's draw."""
    if shard is None:
        return sample(shape, **kwargs)
    return shard.draw(sample, shape, steps=steps, **kwargs)
