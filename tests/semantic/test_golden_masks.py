"""The semantic machine computes exactly the masks, finishing-policy rules and states it computed
when ``tests/fixtures/golden_masks.json`` was recorded (``tests/semantic/golden_masks.py``, made
with the machine before it was rewritten for speed): a faster machine must be the same machine."""

from __future__ import annotations

import json

import pytest

from golden_masks import GOLDEN, MAX_LENS, MODES, digest
from molgen.masking import fused as fused_mod


@pytest.mark.parametrize("fused", [False, pytest.param(True, marks=pytest.mark.skipif(
    not fused_mod.AVAILABLE, reason="numba is not installed"))], ids=["tensor", "fused"])
@pytest.mark.parametrize("max_len", MAX_LENS)
@pytest.mark.parametrize("mode", list(MODES))
def test_masks_policy_and_state_are_the_recorded_ones(mode, max_len, fused):
    """Both implementations of the machine: the tensor one (GPUs) and the fused one (CPU)."""
    record = json.loads(GOLDEN.read_text())
    assert digest(mode, max_len, fused=fused) == record["digests"][f"{mode}@{max_len}"]
