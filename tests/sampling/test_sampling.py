"""sample_table over the Generator protocol: columns, filters, reproducibility, latent-space helpers."""

from __future__ import annotations

import pandas as pd
import pytest

from molgen.api import load_model
from molgen.sampling import BASE_COLUMNS, sample_table


@pytest.fixture(scope="module")
def cvae(tmp_path_factory, train_smiles, tiny_vae_run):
    rc, out = tiny_vae_run(tmp_path_factory.mktemp("cvae"), "cvae", train_smiles[:400], steps=12)
    assert rc == 0
    return load_model(out)


class FixedGenerator:
    """A Generator-protocol stand-in (like ORGAN): cycles through fixed strings."""

    kind = "fixed"
    checkpoint: dict = {}

    def __init__(self, strings):
        self.strings = strings

    def sample(self, n, *, temperature=1.0, seed=None, batch_size=512, progress=False):
        return [self.strings[(seed + i) % len(self.strings)] for i in range(n)]


def test_columns_and_reproducibility(cvae):
    a = sample_table(cvae, 30, seed=1, properties=False)
    b = sample_table(cvae, 30, seed=1, properties=False)
    assert list(a.columns) == list(BASE_COLUMNS)
    assert len(a) == 30
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(sample_table(cvae, 30, seed=2, properties=False))


def test_properties_are_added_for_valid_rows_only():
    gen = FixedGenerator(["CCO", "c1ccccc1", "C1CC", ""])
    df = sample_table(gen, 8, seed=0, properties=True)
    assert {"mw", "qed", "logp"} <= set(df.columns)
    assert df["valid"].tolist().count(True) == 4
    assert df.loc[df["valid"], "mw"].notna().all()
    assert df.loc[~df["valid"], "mw"].isna().all()
    assert set(df.loc[df["valid"], "canonical_smiles"]) == {"CCO", "c1ccccc1"}


def test_valid_only_and_unique_keep_sampling_until_n():
    gen = FixedGenerator(["CCO", "OCC", "C1CC", "CCN", "", "c1ccccc1", "CCCl"])
    df = sample_table(gen, 4, seed=0, valid_only=True, unique=True, properties=False, batch_size=2)
    assert len(df) == 4
    assert df["valid"].all()
    assert df["canonical_smiles"].is_unique  # "CCO" and "OCC" are one molecule


def test_impossible_request_stops_at_max_draws():
    gen = FixedGenerator(["CCO"])
    df = sample_table(gen, 5, seed=0, unique=True, properties=False, max_draws=50)
    assert len(df) == 1


def test_interpolate_and_neighbours(cvae, train_smiles):
    from molgen.vae.latent import interpolate, neighbours

    a, b = train_smiles[0], train_smiles[1]
    df = interpolate(cvae, a, b, n_steps=5)
    assert list(df["step"]) == [0, 1, 2, 3, 4]
    assert df["t"].iloc[0] == 0 and df["t"].iloc[-1] == 1
    assert {"smiles", "valid", "canonical_smiles", "similarity_a", "similarity_b"} <= set(df.columns)
    assert df.loc[~df["valid"], "similarity_a"].isna().all()
    nb = neighbours(cvae, a, radius=0.5, n=20, seed=0)
    assert nb["valid"].all() and nb["canonical_smiles"].is_unique
    assert nb["similarity"].is_monotonic_decreasing
    assert nb["count"].sum() <= 20
    again = neighbours(cvae, a, radius=0.5, n=20, seed=0)
    pd.testing.assert_frame_equal(nb, again)
    with pytest.raises(ValueError):
        interpolate(cvae, a, b, n_steps=1)


def test_vae_measures_keys_and_ranges(cvae, test_smiles):
    from molgen.evaluation.vae import vae_measures

    m = vae_measures(cvae, test_smiles[:20], seed=0, n_prior=40, n_recon=10, stochastic=True, n_stochastic=1)
    for key in ("reconstruction", "reconstruction_stochastic", "prior_validity", "prior_out_of_length", "prior_uniqueness"):
        assert key in m
    assert m["n_recon"] == 10
    for key in ("reconstruction", "reconstruction_stochastic", "prior_validity", "prior_out_of_length"):
        assert 0.0 <= m[key] <= 1.0
    assert m == vae_measures(cvae, test_smiles[:20], seed=0, n_prior=40, n_recon=10, stochastic=True, n_stochastic=1)
