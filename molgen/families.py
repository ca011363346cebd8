"""The one registry of model families, used by loading, training, sampling, the CLI and the dashboard.

A family is a subpackage of :mod:`molgen` with the same inner files:

- ``config.py``: the run config dataclass (validated from TOML; ``RENAMED`` for old key names)
- ``model.py`` (or its parts, e.g. ``generator.py`` + ``discriminator.py``): the networks, loss on the model
- ``trainer.py``: ``train_from_options(opts: TrainOptions) -> int``, a short loop on :mod:`molgen.training`
- ``api.py``: ``from_checkpoint(ckpt: dict, device: str)`` -> an object following :class:`molgen.api.Generator`

Adding a family is adding that subpackage and one line to :data:`FAMILIES` (see ARCHITECTURE.md).
Modules are imported lazily, so listing the families costs nothing at import time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from molgen.errors import UsageError


@dataclass(frozen=True)
class Family:
    """One model family: the checkpoint ``kind`` it writes, the package that implements it, what it is."""

    kind: str
    package: str
    title: str
    latent: bool = False  # has an encoder and a latent space (encode/decode, the dashboard's Latent page)

    def module(self, role: str) -> ModuleType:
        """The family's ``config``, ``trainer`` or ``api`` module."""
        return importlib.import_module(f"{self.package}.{role}")

    def load(self, ckpt: dict, device: str = "cpu"):
        """A sampler for a loaded checkpoint of this family."""
        return self.module("api").from_checkpoint(ckpt, device)

    def train(self, opts) -> int:
        """Run or resume training (``opts``: :class:`molgen.training.TrainOptions`); the exit code."""
        return int(self.module("trainer").train_from_options(opts))


FAMILIES: dict[str, Family] = {
    "gvae": Family("gvae", "molgen.vae", "Grammar VAE", latent=True),
    "cvae": Family("cvae", "molgen.vae", "character VAE", latent=True),
    "organ": Family("organ", "molgen.organ", "ORGAN / SeqGAN"),
}


def family(kind: str) -> Family:
    """The family of checkpoint kind ``kind`` (a clear error for an unknown one)."""
    try:
        return FAMILIES[kind]
    except KeyError:
        raise UsageError(f"unknown model kind {kind!r}; choose one of {', '.join(FAMILIES)}") from None
