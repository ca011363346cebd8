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
