"""The ORGAN discriminator D_phi: a CNN over token embeddings (Kim 2014, as in SeqGAN).

Several filter widths, ReLU, max-over-time pooling, a highway layer, dropout and one output:
a logit (``loss = "bce"``: D(Y) = sigmoid(logit), the probability that Y is real) or a critic
score (``loss = "wasserstein"``, OR(W)GAN: no sigmoid, kept 1-Lipschitz by weight clipping or a
gradient penalty on interpolated embeddings).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from molgen.organ.config import DiscriminatorConfig


@contextmanager
def frozen(module: nn.Module, eval_mode: bool = False) -> Iterator[nn.Module]:
    """``module`` with its weights held fixed (and in eval mode if ``eval_mode``): a discriminator whose
    score trains the generator passes gradients to its input only, its weights are left for its own step.
    (A recurrent discriminator stays in train mode: cuDNN runs an RNN's backward only in train mode.)"""
    was_training = module.training
    flags = [p.requires_grad for p in module.parameters()]
    if eval_mode:
        module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)
        module.train(was_training)


def window_sums(ids: Tensor, table: Tensor) -> Tensor:
    """``(B, windows, C)``: one filter width's pre-activations at every window of ``ids`` ``(B, L)``,
    read from its lookup table ``(w, V, C)`` (:meth:`Discriminator.lookup_tables`) by one fused
    ``embedding_bag`` (sum): window s is the bag of ``table[k, ids[s + k]]``, k < w, offset k
    reading block k of the stacked tables. One pass over the output instead of w lookups and w
    adds: the same sums in the same order, 1.5x faster on one step's rollout completions
    (``benchmarks/bench_organ_discriminator.py --cost``)."""
    width, vocab, channels = table.shape
    bags = ids.unfold(1, width, 1) + torch.arange(width, device=ids.device) * vocab
    sums = nn.functional.embedding_bag(bags.reshape(-1, width), table.reshape(-1, channels), mode="sum")
    return sums.view(ids.size(0), -1, channels)


class Highway(nn.Module):
    """y = g * relu(W x) + (1 - g) * x, g = sigmoid(W_g x) (Srivastava et al. 2015)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.transform = nn.Linear(size, size)
        self.gate = nn.Linear(size, size)

    def forward(self, x: Tensor) -> Tensor:
        g = torch.sigmoid(self.gate(x))
        return g * torch.relu(self.transform(x)) + (1 - g) * x


class Discriminator(nn.Module):
    """Sequences ``(B, T)`` of token ids (PAD after EOS) -> one score per sequence."""

    def __init__(self, cfg: DiscriminatorConfig, vocab_size: int, pad: int, max_len: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.max_len = max_len
        widths, counts = cfg.filters()
        self.embed = nn.Embedding(vocab_size, cfg.embedding_size, padding_idx=pad)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.embedding_size, c, w) for w, c in zip(widths, counts))
        total = sum(counts)
        self.highway = Highway(total)
        self.dropout = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(total, 1)

    def pad_to_length(self, seqs: Tensor) -> Tensor:
        """Right-pad (or crop) to ``max_len`` so the widest filter always fits."""
        if seqs.size(1) >= self.max_len:
            return seqs[:, : self.max_len]
        pad = torch.full((seqs.size(0), self.max_len - seqs.size(1)), self.embed.padding_idx or 0,
                         dtype=seqs.dtype, device=seqs.device)
        return torch.cat([seqs, pad], dim=1)

    def embed_seqs(self, seqs: Tensor) -> Tensor:
        """Token embeddings ``(B, T, E)`` of padded sequences."""
        return self.embed(self.pad_to_length(seqs))

    def features_embedded(self, emb: Tensor) -> Tensor:
        """The feature vector ``(B, sum(filter counts))`` from embeddings: pooled convolutions through the highway."""
        x = emb.transpose(1, 2)
        pooled = [torch.relu(conv(x)).amax(dim=2) for conv in self.convs]
        return self.highway(torch.cat(pooled, dim=1))

    def features(self, seqs: Tensor) -> Tensor:
        """D's feature vector of each sequence, the layer before its output (what LeakGAN's manager reads)."""
        return self.features_embedded(self.embed_seqs(seqs))

    def score_embedded(self, emb: Tensor) -> Tensor:
        """Scores from embeddings (used directly by the Wasserstein gradient penalty)."""
        return self.out(self.dropout(self.features_embedded(emb))).squeeze(1)

    def forward(self, seqs: Tensor) -> Tensor:
        """Logit (bce) or critic score (wasserstein) per sequence."""
        return self.score_embedded(self.embed_seqs(seqs))

    def forward_soft(self, onehots: Tensor) -> Tensor:
        """Scores of (soft) one-hot sequences ``(B, T, V')``, ``V' <= vocab_size`` (the generator's
        outputs): embedded as ``onehots @ W_emb``, so a Gumbel-softmax sample passes D's gradient to
        the generator. A hard one-hot scores exactly as its ids; past ``T``, padding as in :meth:`forward`."""
        weight = self.embed.weight[: onehots.size(-1)]
        emb = onehots[:, : self.max_len] @ weight
        if emb.size(1) < self.max_len:
            pad = self.embed.weight[self.embed.padding_idx or 0].expand(emb.size(0), self.max_len - emb.size(1), -1)
            emb = torch.cat([emb, pad], dim=1)
        return self.score_embedded(emb)

    @torch.no_grad()
    def lookup_tables(self) -> list[Tensor]:
        """Per filter width, ``(w, V, C)``: what each vocabulary token adds to each filter at each offset.
        Always float32, also under bf16 autocast: the lookups add up to 20 of these per window, and
        they are gathers and adds, which bf16 would not speed up."""
        with torch.autocast(self.embed.weight.device.type, enabled=False):
            return [torch.einsum("ve,cek->kvc", self.embed.weight, conv.weight) for conv in self.convs]

    @torch.no_grad()
    def pooled_by_lookup(self, seqs: Tensor, tables: list[Tensor] | None = None) -> Tensor:
        """Max-pooled conv features computed without a convolution, for inference.

        A width-w filter over embeddings is a sum over its w offsets of ``embed.weight @ W[:, :, k].T``
        looked up at the token there: w table lookups and adds per window instead of w x E
        multiply-adds, read as one fused ``embedding_bag`` per width (:func:`window_sums`). ReLU
        commutes with max, so it is applied after pooling. Sequences are cropped to the longest one
        plus the widest filter: windows lying wholly in padding all have the same value, so one of
        them stands for the rest and the result equals the full-length one.
        """
        tables = self.lookup_tables() if tables is None else tables
        longest = int((seqs != self.embed.padding_idx).sum(1).max()) if seqs.numel() else 0
        widest = max(conv.kernel_size[0] for conv in self.convs)
        ids = self.pad_to_length(seqs)[:, : min(self.max_len, longest + widest)]
        pooled = [torch.relu(window_sums(ids, table).amax(1) + conv.bias) for conv, table in zip(self.convs, tables)]
        return torch.cat(pooled, dim=1)

    @torch.no_grad()
    def reward(self, seqs: Tensor, batch_size: int = 64) -> Tensor:
        """D(Y) for the generator's reward: sigmoid probability (bce) or raw critic score, in eval mode.
        Sequences are scored shortest first in small chunks (cropped tightly, and cache-sized: on a
        CPU 64 sequences run 3x faster per sequence than 1024)."""
        was_training = self.training
        self.eval()
        tables = self.lookup_tables()
        order = (seqs != self.embed.padding_idx).sum(1).argsort()
        out = torch.empty(seqs.size(0), device=seqs.device)
        for i in range(0, seqs.size(0), batch_size):
            idx = order[i : i + batch_size]
            out[idx] = self.out(self.highway(self.pooled_by_lookup(seqs[idx], tables))).squeeze(1).float()
        self.train(was_training)
        return torch.sigmoid(out) if self.cfg.loss == "bce" else out

    def loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, float]:
        """Training loss on a real and a generated batch, and the batch accuracy."""
        s_real, s_fake = self(real), self(fake)
        if self.cfg.loss == "bce":
            bce = nn.functional.binary_cross_entropy_with_logits
            loss = bce(s_real, torch.ones_like(s_real)) + bce(s_fake, torch.zeros_like(s_fake))
            threshold = 0.0
        else:
            loss = s_fake.mean() - s_real.mean()
            if self.cfg.wgan_constraint == "gp" and self.cfg.gp_weight > 0:
                loss = loss + self.cfg.gp_weight * self._gradient_penalty(real, fake)
            threshold = float(torch.cat([s_real, s_fake]).detach().median())
        acc = float(((s_real > threshold).float().sum() + (s_fake <= threshold).float().sum()) / (len(s_real) + len(s_fake)))
        return loss, acc

    def _gradient_penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        """WGAN-GP on embeddings: tokens are discrete, so interpolate in embedding space."""
        n = min(len(real), len(fake))
        e_real, e_fake = self.embed_seqs(real[:n]).detach(), self.embed_seqs(fake[:n]).detach()
        alpha = torch.rand(n, 1, 1, device=e_real.device)
        mix = (alpha * e_real + (1 - alpha) * e_fake).requires_grad_(True)
        grad, = torch.autograd.grad(self.score_embedded(mix).sum(), mix, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def clip_weights(self) -> None:
        """Weight clipping for the Wasserstein critic (called after each optimizer step)."""
        if self.cfg.loss == "wasserstein" and self.cfg.wgan_constraint == "clip":
            for p in self.parameters():
                p.data.clamp_(-self.cfg.clip_value, self.cfg.clip_value)
