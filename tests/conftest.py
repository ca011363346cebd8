"""Shared fixtures: CPU only, deterministic torch, small real SMILES from the shipped data."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


@pytest.fixture(autouse=True)
def _torch_state():
    """Reset global torch state each test: one thread pool size, default dtype, seed."""
    import torch

    threads = torch.get_num_threads()
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(torch.float32)


def _read_smiles(name: str, n: int) -> list[str]:
    out = []
    with gzip.open(DATA / "moses" / name, "rt") as fh:
        header = fh.readline()
        assert header.strip().lower().startswith("smiles")
        for line in fh:
            out.append(line.strip().split(",")[0])
            if len(out) >= n:
                break
    return out


@pytest.fixture(scope="session")
def train_smiles() -> list[str]:
    """First 2,000 SMILES of the shipped MOSES training sample."""
    return _read_smiles("train.csv.gz", 2000)


@pytest.fixture(scope="session")
def test_smiles() -> list[str]:
    """First 1,000 SMILES of the shipped MOSES test sample."""
    return _read_smiles("test.csv.gz", 1000)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
