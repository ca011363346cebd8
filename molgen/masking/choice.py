"""One draw per row among the symbols a machine allows: how every masked decoder picks its next
symbol (the VAE's decoder, the ORGAN generator over rules and its rollouts)."""

from __future__ import annotations

import torch

from molgen.precision import logits_fp32


def choose(logits: torch.Tensor, penalty: torch.Tensor, u: torch.Tensor | None = None,
           temperature: float = 1.0) -> torch.Tensor:
    """Pick one allowed symbol per row (``penalty`` is 0 / -inf): argmax, or a sample if ``u`` is given.

    Sampling inverts the cumulative distribution of softmax(logits / T) restricted to the
    allowed symbols with one uniform ``u`` in (0, 1] per row: the first symbol whose cumulative
    probability reaches ``u`` times the total. One random number per row instead of one per
    symbol (the Gumbel-max trick's) is what makes it cheap. Overwrites ``logits`` when they are
    float32; bf16 logits (from an autocast region) are cast to float32 first, so the mask and the
    cumulative sum are exact whatever the precision of the products.
    """
    logits = logits_fp32(logits)
    if u is None:
        return logits.add_(penalty).argmax(dim=-1)
    if temperature != 1.0:
        logits = logits.div_(temperature)
    # masked symbols get probability exp(-inf) = 0 exactly, so the cumulative sum stays flat over
    # them and the first position reaching a target in (0, total] is always an allowed one
    cum = torch.softmax(logits.add_(penalty), dim=-1).cumsum_(dim=-1)
    target = (u * cum[:, -1]).clamp_(min=torch.finfo(cum.dtype).tiny)
    return torch.searchsorted(cum, target.unsqueeze(1)).squeeze(1)


def uniform(n: int, generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
    """``n`` uniforms in (0, 1] (1 - U[0, 1), so never 0)."""
    return torch.rand(n, generator=generator, device=device).neg_().add_(1.0)
