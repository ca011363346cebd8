"""The VAE family behind :func:`molgen.api.load_model`: a :class:`~molgen.api.LatentGenerator`.

``VAEModel`` wraps a trained :class:`~molgen.vae.model.SequenceVAE` with its codec (grammar
or vocabulary) and implements ``sample``, ``encode`` and ``decode``; ``decode_details`` also
reports which decodes ran out of length, for evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from molgen.checkpoint import CheckpointError
from molgen.errors import MolgenError
from molgen.masking.codec import Codec, codec_from_checkpoint
from molgen.precision import autocast
from molgen.vae.config import ModelConfig, model_config_from_checkpoint
from molgen.vae.decoding import check_compilable, decode
from molgen.vae.model import SequenceVAE


def make_generator(seed: int | None, device: torch.device | str) -> torch.Generator:
    """A torch.Generator on ``device`` seeded with ``seed`` (a fresh random seed when None)."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


@dataclass
class Decoded:
    """Decoded strings ("" where no complete derivation was reached) and per-row flags."""

    smiles: list[str]
    complete: np.ndarray
    out_of_length: np.ndarray
    overflow: np.ndarray


class VAEModel:
    """A trained Grammar VAE (``kind="gvae"``) or character VAE (``kind="cvae"``).

    ``precision`` (``fp32`` or ``bf16``, set by :func:`molgen.api.load_model`) is the precision of
    the decoder's products when sampling and decoding; fp32 by default (see the README).
    ``compiled`` (set by :meth:`compile_decoding`) runs the decoding machine's step under
    ``torch.compile`` (:func:`molgen.vae.decoding.compiled_step`)."""

    precision = "fp32"
    compiled = False

    def __init__(self, net: SequenceVAE, codec: Codec, model_config: ModelConfig, checkpoint: dict,
                 device: str = "cpu") -> None:
        self.net = net.to(device).eval()
        self.codec = codec
        self.model_config = model_config
        self.checkpoint = checkpoint
        self.kind = codec.kind
        self.device = torch.device(device)
        self.latent_size = model_config.latent_size
        self.source = ""

    def __repr__(self) -> str:
        return f"VAEModel(kind={self.kind!r}, latent_size={self.latent_size}, max_len={self.codec.max_len})"

    def compile_decoding(self) -> None:
        """Decode with the semantic machine's step compiled (``molgen sample --compile``): CUDA and
        semantic constraints only, the settings where it was measured to pay; ``ValueError`` otherwise."""
        if getattr(self.codec, "constraints", None) != "semantic":
            raise ValueError("compiling speeds up the semantic machine; this model decodes under "
                             f"{'context-free' if self.kind == 'gvae' else 'character'} constraints, "
                             "whose compiled step measured no faster than eager")
        check_compilable(self.device)
        self.compiled = True

    def decode_details(
        self, z: torch.Tensor, *, greedy: bool = True, temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Decoded:
        """Decode ``z`` (n, latent_size) and say which rows were complete / out of length."""
        z = torch.as_tensor(z, dtype=torch.float32).to(self.device)
        with autocast(self.device, self.precision):
            res = decode(self.net, self.codec, z, greedy=greedy, temperature=temperature, generator=generator,
                         compiled=self.compiled)
        ids = res.ids.cpu().numpy()
        complete = res.complete.cpu().numpy()
        smiles = [self.codec.to_smiles(row) if ok else "" for row, ok in zip(ids, complete)]
        return Decoded(smiles, complete, res.out_of_length.cpu().numpy(), res.overflow.cpu().numpy())

    def sample_details(
        self, n: int, *, temperature: float = 1.0, seed: int | None = None, batch_size: int = 512,
        progress: bool | Callable[[int], None] = False,
    ) -> Decoded:
        """``n`` prior samples (z ~ N(0, I), decoded by sampling at ``temperature``) with their flags.

        ``progress``: True for a progress bar, or a callable given the number decoded after each batch."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        gen = make_generator(seed, self.device)
        parts: list[Decoded] = []
        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"sampling {self.kind}", unit="mol")
        done = 0
        while done < n:
            b = min(batch_size, n - done)
            z = torch.randn((b, self.latent_size), generator=gen, device=self.device)
            parts.append(self.decode_details(z, greedy=False, temperature=temperature, generator=gen))
            done += b
            if bar is not None:
                bar.update(b)
            elif callable(progress):
                progress(done)
        if bar is not None:
            bar.close()
        if not parts:
            empty = np.zeros(0, dtype=bool)
            return Decoded([], empty, empty, empty)
        return Decoded(
            [s for p in parts for s in p.smiles],
            np.concatenate([p.complete for p in parts]),
            np.concatenate([p.out_of_length for p in parts]),
            np.concatenate([p.overflow for p in parts]),
        )

    def sample(
        self, n: int, *, temperature: float = 1.0, seed: int | None = None, batch_size: int = 512,
        progress: bool | Callable[[int], None] = False,
    ) -> list[str]:
        """``n`` raw decoded strings from the prior, reproducible for a given seed and batch size."""
        return self.sample_details(n, temperature=temperature, seed=seed, batch_size=batch_size, progress=progress).smiles

    def symbol_ids(self, smiles: Sequence[str]) -> torch.Tensor:
        """(n, max_len) symbol ids of canonicalised ``smiles``; raises on unencodable input."""
        from molgen.chem.mol import canonical_smiles

        rows = np.full((len(smiles), self.codec.max_len), self.codec.pad, dtype=np.int64)
        for i, s in enumerate(smiles):
            canon = canonical_smiles(s)
            if not canon:
                raise ValueError(f"not a valid molecule: {s!r}")
            ids = self.codec.encode_one(canon)
            rows[i, : len(ids)] = ids
        return torch.from_numpy(rows)

    @torch.no_grad()
    def encode(self, smiles: Sequence[str]) -> torch.Tensor:
        """Posterior means (n, latent_size) of ``smiles`` (canonicalised first, as in training)."""
        if isinstance(smiles, str):
            raise TypeError("encode takes a list of SMILES, not one string")
        if not len(smiles):
            return torch.zeros((0, self.latent_size))
        mu, _ = self.net.encoder(self.symbol_ids(smiles).to(self.device))
        return mu.cpu()

    def decode(self, z, *, greedy: bool = True, temperature: float = 1.0, seed: int | None = None) -> list[str]:
        """Decode (n, latent_size) vectors to ``n`` strings ("" where the decode ran out of length)."""
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_size:
            raise ValueError(f"expected latents of shape (n, {self.latent_size}), got {tuple(z.shape)}")
        gen = None if greedy else make_generator(seed, self.device)
        return self.decode_details(z, greedy=greedy, temperature=temperature, generator=gen).smiles


def build_net(model_config: ModelConfig, codec: Codec) -> SequenceVAE:
    """A fresh network sized for ``codec``'s symbols and length."""
    return SequenceVAE(model_config, codec.n_symbols, codec.max_len, codec.pad)


def from_checkpoint(ckpt: dict, device: str = "cpu") -> VAEModel:
    """Rebuild a model from a loaded ``gvae``/``cvae`` checkpoint (see :mod:`molgen.checkpoint`)."""
    if ckpt.get("kind") not in ("gvae", "cvae"):
        raise CheckpointError(f"not a VAE checkpoint (kind {ckpt.get('kind')!r})")
    try:
        model_config = model_config_from_checkpoint(ckpt["config"])
        codec = codec_from_checkpoint(ckpt)
        net = build_net(model_config, codec)
        net.load_state_dict(ckpt["model"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, MolgenError) as exc:
        raise CheckpointError(f"{ckpt.get('kind')} checkpoint is incomplete or inconsistent: {exc}") from exc
    return VAEModel(net, codec, model_config, ckpt, device=device)
