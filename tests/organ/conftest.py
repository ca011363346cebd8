"""Every ORGAN test on one intra-op torch thread (the root conftest's ``one_thread``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny ops on a shared, busy machine: one thread instead of OpenMP spinning."""
