"""Dashboard latent space: SMILES typed by the user are checked before anything is encoded."""

from __future__ import annotations

import pytest

from molgen.dashboard import latent
from molgen.errors import InputError


def test_check_smiles():
    assert latent.check_smiles(" OCC ") == "CCO"
    with pytest.raises(InputError, match="not a valid SMILES"):
        latent.check_smiles("C1CC")
    with pytest.raises(InputError):
        latent.check_smiles("")
