"""Every ORGAN test on one intra-op torch thread (the root conftest's ``one_thread``), and the small
helpers the ORGAN test modules share: a training file, quiet run options, a run's log rows."""

from __future__ import annotations

import csv
from pathlib import Path

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


#: log columns that measure time, which a resumed run cannot reproduce
TIMING_COLUMNS = {"seconds", "t_policy", "t_reward"}


@pytest.fixture
def whole_and_resumed(tmp_path, tiny_organ, monkeypatch, read_log):
    """``whole_and_resumed(at, **settings)``: the tiny run of ``settings`` uninterrupted (in ``whole``),
    and stopped at its ``at``-th poll (exit 130) then resumed (in ``parts``). Returns their last
    checkpoints (``.whole``, ``.resumed``), their logs without the timing columns (``.whole_log``,
    ``.resumed_log``) and the checkpoint the interrupted run left (``.stopped``)."""
    from types import SimpleNamespace

    from molgen.checkpoint import load_checkpoint
    from molgen.organ import trainer

    def last(out: str) -> dict:
        return load_checkpoint(tmp_path / out / "checkpoints" / "last.pt")

    def log(out: str) -> list[dict[str, str]]:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in read_log(tmp_path / out / "log.csv")]

    def run(at: int, **settings) -> SimpleNamespace:
        assert trainer.train_from_options(tiny_organ("whole", **settings)) == 0
        with monkeypatch.context() as m:
            m.setattr(trainer, "GracefulInterrupt", lambda: StopAt(at))
            assert trainer.train_from_options(tiny_organ("parts", **settings)) == 130
        stopped = last("parts")
        assert trainer.train_from_options(tiny_organ("parts", resume=True, **settings)) == 0
        return SimpleNamespace(whole=last("whole"), resumed=last("parts"), whole_log=log("whole"),
                               resumed_log=log("parts"), stopped=stopped)

    return run


@pytest.fixture
def tiny_organ(tmp_path, train_smiles, organ_toml):
    """``tiny_organ(out, resume=False, **settings) -> TrainOptions``: a tiny ORGAN run on 300 MOSES
    training SMILES, in ``tmp_path / out``; ``settings`` override the root conftest's ``TINY_ORGAN``
    by dotted key with ``__`` for the dot (``professor__enabled=True``, ``generator__symbols="rules"``)."""
    from molgen.training import TrainOptions

    data = tmp_path / "train.smi"
    data.write_text("\n".join(train_smiles[:300]) + "\n")

    def make(out: str, resume: bool = False, **settings) -> TrainOptions:
        path = organ_toml(tmp_path / f"{out}.toml", **settings)
        return TrainOptions(kind="organ", data=data, out=tmp_path / out, config=path, resume=resume, command="test",
                            progress=False)

    return make


@pytest.fixture(scope="session")
def tiny_organ_config(organ_toml):
    """``tiny_organ_config(path, precision="fp32", symbols="tokens") -> path``: the root conftest's
    ``TINY_ORGAN`` (6 MLE, 2 discriminator and 3 adversarial steps, lambda 0.5 with QED) with the
    generator evaluated every 3 MLE steps, written to ``path`` as TOML."""

    def write(path, precision: str = "fp32", symbols: str = "tokens"):
        return organ_toml(path, precision=precision, generator__symbols=symbols, mle__eval_every=3)

    return write


@pytest.fixture
def data_file(tmp_path, train_smiles, request) -> Path:
    """``tmp_path / "train.smi"``: the first ``TRAIN_MOLECULES`` (a module's constant, else 300) MOSES
    training SMILES, one per line."""
    path = tmp_path / "train.smi"
    path.write_text("\n".join(train_smiles[: getattr(request.module, "TRAIN_MOLECULES", 300)]) + "\n")
    return path


@pytest.fixture(scope="session")
def organ_opts():
    """``organ_opts(data, config, out, resume=False, precision=None) -> TrainOptions``: a quiet ORGAN run
    (no progress bar, command "test")."""
    from molgen.training import TrainOptions

    def make(data: Path, config: Path, out: Path, resume: bool = False, precision: str | None = None) -> TrainOptions:
        return TrainOptions(kind="organ", data=data, out=out, config=config, resume=resume, command="test",
                            progress=False, precision=precision)

    return make


@pytest.fixture(scope="session")
def read_log():
    """``read_log(path) -> rows``: a run's ``log.csv`` as one dict per row (values as text)."""

    def read(path: Path) -> list[dict[str, str]]:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))

    return read
