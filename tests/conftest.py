"""Shared fixtures: CPU only, deterministic torch, small real SMILES from the shipped data, tiny
trained models and tiny VAE runs, one torch thread on request."""

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


# the tiny models use the context-free SMILES grammar: the tests built on them check how invalid
# decodes are handled (tests/semantic/ covers the semantic grammar)
TINY_GVAE = """
seed = 0
grammar = "smiles"
checkpoint_every = 2
log_every = 1
max_molecules = 200
[model]
latent_size = 8
conv_channels = [4]
conv_kernels = [3]
dense_size = 16
hidden_size = 16
num_layers = 1
embedding_size = 8
[train]
batch_size = 32
epochs = 1
max_steps = 4
val_every = 2
val_max = 32
val_decode = 16
tensorboard = false
"""


def _train_cli(tmp: Path, config_text: str, kind: str = "gvae") -> Path:
    """Train ``kind`` with ``molgen train`` on the shipped MOSES test sample and ``config_text``; the run folder."""
    from molgen.cli import main

    cfg = tmp / f"{kind}.toml"
    cfg.write_text(config_text)
    run = tmp / "run"
    code = main(["train", kind, "--data", str(DATA / "moses" / "test.csv.gz"), "--config", str(cfg),
                 "--out", str(run), "--no-progress", "--device", "cpu"])
    assert code == 0, f"training the tiny {kind} failed"
    return run


@pytest.fixture(scope="session")
def train_tiny_cli():
    """``train_tiny_cli(tmp, config_text, kind="gvae") -> run folder``: a tiny model trained by the CLI."""
    return _train_cli


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A models folder (``<name>/model.pt`` + config.toml + log.csv, like data/models) holding one
    tiny Grammar VAE trained for 4 steps with ``molgen train``: a stand-in for the shipped models."""
    import shutil

    tmp = tmp_path_factory.mktemp("tiny-models")
    run = _train_cli(tmp, TINY_GVAE)
    model = tmp / "models" / "tiny-gvae"
    model.mkdir(parents=True)
    shutil.copy(run / "checkpoints" / "last.pt", model / "model.pt")
    for name in ("config.toml", "log.csv"):
        shutil.copy(run / name, model / name)
    return tmp / "models"


TINY_VAE = """
seed = {seed}
grammar = "smiles"
log_every = 2
checkpoint_every = 3
[model]
latent_size = 8
conv_channels = [4, 4]
conv_kernels = [5, 5]
dense_size = 32
decoder_input_size = 8
hidden_size = 32
num_layers = 1
embedding_size = 8
[train]
batch_size = 32
lr = 3e-3
epochs = 2
max_steps = {steps}
val_every = 4
val_max = 32
val_decode = 8
kl_anneal_steps = 4
tensorboard = false
"""


def _write_tiny_vae_inputs(tmp: Path, smiles: list[str], steps: int = 8, seed: int = 0) -> tuple[Path, Path]:
    """A SMILES CSV and a tiny-model TOML config in ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "train.csv"
    data.write_text("SMILES\n" + "\n".join(smiles) + "\n")
    config = tmp / "tiny.toml"
    config.write_text(TINY_VAE.format(seed=seed, steps=steps))
    return data, config


def _tiny_vae_run(tmp: Path, kind: str, smiles: list[str], steps: int = 8, callbacks=(), seed: int = 0) -> tuple[int, Path]:
    """Train a tiny ``kind`` model for ``steps`` steps; returns (exit code, run directory)."""
    from molgen.training import TrainOptions
    from molgen.vae.trainer import train_from_options

    data, config = _write_tiny_vae_inputs(tmp, smiles, steps=steps, seed=seed)
    out = tmp / f"run-{kind}"
    opts = TrainOptions(kind=kind, data=data, out=out, config=config, progress=False, command="test")
    old = os.environ.get("MOLGEN_CACHE_DIR")
    os.environ["MOLGEN_CACHE_DIR"] = str(tmp / "cache")  # keep encoded-data caches out of the user's home
    try:
        return train_from_options(opts, callbacks=callbacks), out
    finally:
        if old is None:
            del os.environ["MOLGEN_CACHE_DIR"]
        else:
            os.environ["MOLGEN_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def tiny_vae_inputs():
    """``tiny_vae_inputs(tmp, smiles, steps=8, seed=0) -> (data, config)``: a SMILES CSV and a
    tiny VAE TOML config (:data:`TINY_VAE`) written in ``tmp``."""
    return _write_tiny_vae_inputs


@pytest.fixture(scope="session")
def tiny_vae_run():
    """``tiny_vae_run(tmp, kind, smiles, steps=8, callbacks=(), seed=0) -> (exit code, run dir)``:
    trains a tiny ``gvae``/``cvae`` in ``tmp`` (shared by the VAE, sampling and CLI tests)."""
    return _tiny_vae_run


@pytest.fixture
def one_thread():
    """One intra-op torch thread for the test (``_torch_state`` restores the count afterwards):
    on a shared, busy machine OpenMP spinning makes tiny ops far slower."""
    import torch

    torch.set_num_threads(1)


# a tiny Grammar VAE with semantic constraints (tests/semantic/, the dashboard's model summary)
TINY_SEMANTIC = """
seed = 0
grammar = "kekule"
constraints = "semantic"
log_every = 2
checkpoint_every = 4
max_molecules = 300
[model]
latent_size = 8
encoder = "gru"
encoder_size = 16
dense_size = 16
decoder_input_size = 8
hidden_size = 32
embedding_size = 8
[train]
batch_size = 32
epochs = 1
max_steps = 6
val_every = 3
val_max = 32
val_decode = 16
tensorboard = false
"""


@pytest.fixture(scope="session")
def semantic_run(tmp_path_factory, train_tiny_cli):
    """A tiny Grammar VAE trained 6 steps with semantic constraints (its run folder)."""
    return train_tiny_cli(tmp_path_factory.mktemp("semantic"), TINY_SEMANTIC)


@pytest.fixture(scope="session")
def tiny_semantic_toml() -> str:
    """The tiny semantic Grammar VAE's config text."""
    return TINY_SEMANTIC


#: a tiny ORGAN run (seconds on one thread): test_organ_train's sizes, lambda 0.5 with QED
TINY_ORGAN = {
    "seed": 3, "torch_threads": 1, "checkpoint_every": 4,
    "generator": {"embedding_size": 16, "hidden_size": 48, "num_layers": 1, "max_len": 60},
    "discriminator": {"preset": "custom", "filter_widths": [1, 3, 5], "filter_counts": [8, 8, 8], "embedding_size": 8},
    "mle": {"steps": 6, "batch_size": 32, "lr": 0.01, "eval_every": 100},
    "dpretrain": {"steps": 2, "n_samples": 64},
    "adversarial": {"steps": 3, "batch_size": 16, "rollouts": 2, "d_samples": 32},
    "reward": {"lam": 0.5},
    "objectives": [{"name": "qed"}],
}


def organ_dict(base: dict, **overrides) -> dict:
    """A deep copy of ``base`` with ``overrides`` applied in order: a dotted key with ``__`` for the
    dot (``mle__lr=0.5``, ``reward={"mode": "seqgan"}`` replaces the whole table); ``None`` removes
    the key or table (TOML has no null: absent means the config's default)."""
    import copy

    cfg = copy.deepcopy(base)
    for key, value in overrides.items():
        *tables, name = key.split("__")
        table = cfg
        for t in tables:
            table = table.setdefault(t, {})
        if value is None:
            table.pop(name, None)
        else:
            table[name] = copy.deepcopy(value)
    return cfg


#: the smallest ORGAN run (8-wide embeddings, two 4-filter convolutions, one rollout, the SeqGAN
#: reward, no objectives, 3 MLE steps and 1 of each other stage), for tests that need any run at all
MINI_ORGAN = organ_dict(
    TINY_ORGAN, checkpoint_every=None, objectives=None,
    generator__embedding_size=8, generator__hidden_size=16,
    discriminator__filter_widths=[1, 3], discriminator__filter_counts=[4, 4], discriminator__embedding_size=4,
    mle__steps=3, mle__batch_size=16,
    dpretrain__steps=1, dpretrain__n_samples=16,
    adversarial__steps=1, adversarial__batch_size=8, adversarial__rollouts=1, adversarial__d_samples=16,
    reward={"mode": "seqgan"})

ORGAN_BASES = {"tiny": TINY_ORGAN, "mini": MINI_ORGAN}


def _organ_toml(path: Path, base: str = "tiny", **overrides) -> Path:
    from molgen.config import to_toml

    if base not in ORGAN_BASES:
        raise KeyError(f"organ_toml: base {base!r} is not one of {sorted(ORGAN_BASES)}")
    path.write_text(to_toml(organ_dict(ORGAN_BASES[base], **overrides)))
    return path


@pytest.fixture(scope="session")
def organ_toml():
    """``organ_toml(path, base="tiny", **overrides) -> path``: the one tiny ORGAN config of the suite,
    written to ``path`` as TOML: :data:`TINY_ORGAN` (``"tiny"``) or :data:`MINI_ORGAN` (``"mini"``)
    with ``__``-dotted overrides, ``None`` dropping a key or table (see :func:`organ_dict`)."""
    return _organ_toml
