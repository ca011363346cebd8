"""Every ORGAN test on one intra-op torch thread (the root conftest's ``one_thread``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny ops on a shared, busy machine: one thread instead of OpenMP spinning."""


class StopAt:
    """Stand-in for GracefulInterrupt that 'receives SIGINT' at the n-th poll."""

    def __init__(self, n: int) -> None:
        self.n, self.polls, self.signal_name = n, 0, "SIGINT"

    @property
    def requested(self) -> bool:
        self.polls += 1
        return self.polls >= self.n

    def __enter__(self) -> "StopAt":
        return self

    def __exit__(self, *exc) -> None:
        return None


@pytest.fixture
def interrupt_at():
    """``interrupt_at(n)``: a GracefulInterrupt replacement that stops a run at its n-th poll."""
    return StopAt


TINY_ORGAN = """
seed = 3
torch_threads = 1
checkpoint_every = 4
precision = "{precision}"
[generator]
embedding_size = 16
hidden_size = 48
num_layers = 1
max_len = 60
symbols = "{symbols}"
[discriminator]
preset = "custom"
filter_widths = [1, 3, 5]
filter_counts = [8, 8, 8]
embedding_size = 8
[mle]
steps = 6
batch_size = 32
lr = 0.01
eval_every = 3
[dpretrain]
steps = 2
n_samples = 64
[adversarial]
steps = 3
batch_size = 16
rollouts = 2
d_samples = 32
[reward]
lam = 0.5
[[objectives]]
name = "qed"
"""


@pytest.fixture(scope="session")
def tiny_organ_config():
    """``tiny_organ_config(path, precision="fp32", symbols="tokens") -> path``: a tiny ORGAN run config
    (6 MLE, 2 discriminator and 3 adversarial steps, lambda 0.5 with QED) written to ``path``."""
    def write(path, precision: str = "fp32", symbols: str = "tokens"):
        path.write_text(TINY_ORGAN.format(precision=precision, symbols=symbols))
        return path

    return write
