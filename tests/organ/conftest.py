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


#: a tiny ORGAN run (seconds on one thread): the sizes of test_organ_train's config, as a dict
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


@pytest.fixture
def tiny_organ(tmp_path, train_smiles):
    """``tiny_organ(out, resume=False, **settings) -> TrainOptions``: a tiny ORGAN run on 300 MOSES
    training SMILES, in ``tmp_path / out``; ``settings`` override :data:`TINY_ORGAN` by dotted key
    with ``__`` for the dot (``professor__enabled=True``, ``generator__symbols="rules"``)."""
    import copy

    from molgen.config import to_toml
    from molgen.training import TrainOptions

    data = tmp_path / "train.smi"
    data.write_text("\n".join(train_smiles[:300]) + "\n")

    def make(out: str, resume: bool = False, **settings) -> TrainOptions:
        cfg = copy.deepcopy(TINY_ORGAN)
        for key, value in settings.items():
            *tables, name = key.split("__")
            table = cfg
            for t in tables:
                table = table.setdefault(t, {})
            table[name] = value
        path = tmp_path / f"{out}.toml"
        path.write_text(to_toml(cfg))
        return TrainOptions(kind="organ", data=data, out=tmp_path / out, config=path, resume=resume, command="test",
                            progress=False)

    return make


@pytest.fixture(scope="session")
def tiny_organ_config():
    """``tiny_organ_config(path, precision="fp32", symbols="tokens") -> path``: the tiny ORGAN run of
    :data:`TINY_ORGAN` (6 MLE, 2 discriminator and 3 adversarial steps, lambda 0.5 with QED, the
    generator evaluated every 3 MLE steps) written to ``path`` as TOML."""
    import copy

    from molgen.config import to_toml

    def write(path, precision: str = "fp32", symbols: str = "tokens"):
        cfg = copy.deepcopy(TINY_ORGAN)
        cfg["precision"] = precision
        cfg["generator"]["symbols"] = symbols
        cfg["mle"]["eval_every"] = 3
        path.write_text(to_toml(cfg))
        return path

    return write
