"""Load a trained ORGAN generator from a checkpoint and sample SMILES (the :class:`molgen.api.Generator` protocol)."""

from __future__ import annotations

from typing import Callable

import torch
from tqdm.auto import tqdm

from molgen.config import from_dict, quiet_renames
from molgen.organ.config import GeneratorConfig
from molgen.organ.generator import GeneratorNet
from molgen.organ.symbols import symbols_from_checkpoint
from molgen.precision import autocast


class OrganSampler:
    """A trained ORGAN (or MLE-only) generator: ``sample(n)`` returns decoded strings; over tokens
    possibly invalid, over rules under semantic constraints always molecules. ``precision``
    (``fp32`` or ``bf16``, set by :func:`molgen.api.load_model`) is that of the generator's
    products; fp32 by default (see the README)."""

    kind = "organ"
    precision = "fp32"

    def __init__(self, checkpoint: dict, device: str = "cpu") -> None:
        self.checkpoint = checkpoint
        self.device = device
        with quiet_renames():  # keys renamed since the checkpoint was written: the user cannot edit it
            cfg = from_dict(GeneratorConfig, checkpoint["config"]["generator"], where="checkpoint config.generator")
        self.symbols = symbols_from_checkpoint(checkpoint, cfg)
        self.codec = getattr(self.symbols, "codec", None)  # over rules: the grammar and its constraints
        s = self.symbols
        if cfg.architecture == "leakgan":  # the manager reads the checkpoint's discriminator
            from molgen.organ.leakgan import leakgan_from_checkpoint

            self.model: GeneratorNet = leakgan_from_checkpoint(checkpoint, cfg, s, device)
        else:
            self.model = GeneratorNet(cfg, s.n_inputs, s.pad, s.bos, s.eos, n_outputs=s.n_outputs).to(device)
        self.model.load_state_dict(checkpoint["model"])
        self.model.eval()

    def sample(self, n: int, *, temperature: float = 1.0, seed: int | None = None, batch_size: int = 512,
               progress: bool | Callable[[int], None] = False) -> list[str]:
        """``n`` strings sampled free-running at ``temperature``; the same seed gives the same strings.

        ``progress``: True for a progress bar, or a callable given the number sampled after each batch."""
        if n < 0 or batch_size < 1 or temperature <= 0:
            raise ValueError("need n >= 0, batch_size >= 1 and temperature > 0")
        gen = torch.Generator(device=self.device)
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        out: list[str] = []
        with tqdm(total=n, unit="mol", disable=progress is not True, desc="sampling") as bar:
            while len(out) < n:
                k = min(batch_size, n - len(out))
                with autocast(self.device, self.precision):
                    seqs = self.model.sample(k, temperature=temperature, generator=gen,
                                             machine=self.symbols.machine(k, self.device))
                out.extend(self.symbols.to_smiles(s) for s in seqs.tolist())
                bar.update(k)
                if callable(progress):
                    progress(len(out))
        return out


def from_checkpoint(ckpt: dict, device: str = "cpu") -> OrganSampler:
    """The loader :func:`molgen.api.load_model` calls for checkpoints of kind ``"organ"``."""
    return OrganSampler(ckpt, device)
