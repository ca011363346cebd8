"""Every shipped model samples exactly the recorded SMILES for a fixed seed.

The record (``tests/fixtures/golden_samples.json``) was made by ``tests/shipped/golden_samples.py``
before the architecture refactor (the context-free Grammar VAE, shipped then as ``gvae``, is
recorded under its new name ``gvae-cf``; the semantic ``gvae`` was added when it shipped); any
change to loading, decoding or sampling that alters what a shipped model draws fails here.
"""

from __future__ import annotations

import json

import pytest

from golden_samples import GOLDEN, SHIPPED, samples


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_samples_the_recorded_smiles(name):
    record = json.loads(GOLDEN.read_text())
    expected = record["models"][name]
    got = samples(name)
    assert len(got) == len(expected) == record["n"]
    diff = [i for i, (a, b) in enumerate(zip(got, expected)) if a != b]
    assert not diff, f"{name}: {len(diff)} of {len(got)} samples differ, first at #{diff[0]}: {got[diff[0]]!r} != {expected[diff[0]]!r}"
