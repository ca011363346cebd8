"""Two run settings the seed-methods comparison stands on: a wall-clock budget (``max_minutes``) and
starting from another run's generator (``mle.init_checkpoint``) with more MLE steps or none, a
LeakGAN taking a plain generator's embedding and LSTM."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
import torch

from molgen.checkpoint import load_checkpoint
from molgen.organ import trainer


def stages(run: Path) -> list[str]:
    with open(run / "log.csv", newline="") as fh:
        return [r["stage"] for r in csv.DictReader(fh)]


class Clock:
    """A stand-in for the trainer's ``time`` module: every reading is one second after the last, so
    each step (two readings) takes exactly 1 s and the budget is a step count."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now


MLE_ONLY = {"base": "mini", "mle__steps": 6, "dpretrain__steps": 0, "adversarial__steps": 0}


def test_the_run_ends_when_its_minutes_are_spent_and_resumes_to_the_uninterrupted_result(
        tmp_path, tiny_organ, monkeypatch, caplog):
    monkeypatch.setattr(trainer, "time", Clock())
    assert trainer.train_from_options(tiny_organ("a", **MLE_ONLY)) == 0
    with caplog.at_level(logging.WARNING, logger="molgen.organ.trainer"):
        assert trainer.train_from_options(tiny_organ("b", **MLE_ONLY, max_minutes=4 / 60)) == 0  # not an error
    assert "max_minutes = 0.0666667 spent" in caplog.text and "at mle step 4" in caplog.text
    cut = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert (cut["stage"], cut["step"], cut["extra"]["train_seconds"]) == ("mle", 4, 4.0)
    assert stages(tmp_path / "b") == ["mle"] * 4
    # spent: a resume with the same budget starts no step, and ends before it reads the data
    def no_reading(*args, **kwargs):
        raise AssertionError("a resume whose budget is spent read its data")

    with monkeypatch.context() as m, caplog.at_level(logging.WARNING, logger="molgen.organ.trainer"):
        m.setattr(trainer, "read_training_smiles", no_reading)
        caplog.clear()
        assert trainer.train_from_options(tiny_organ("b", resume=True, **MLE_ONLY, max_minutes=4 / 60)) == 0
    assert "max_minutes = 0.0666667 spent (0.1 min of steps) at mle step 4 (step 4 in all)" in caplog.text
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["step"] == 4
    # a larger budget goes on to the end, to the weights of the uninterrupted run
    assert trainer.train_from_options(tiny_organ("b", resume=True, **MLE_ONLY, max_minutes=1.0)) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert b["stage"] == "done" and b["extra"]["train_seconds"] == 6.0
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name


def test_the_budget_stops_between_stages_too(tmp_path, tiny_organ, monkeypatch):
    """Spent exactly at the end of MLE: D pretraining starts no step, the checkpoint says where."""
    monkeypatch.setattr(trainer, "time", Clock())
    assert trainer.train_from_options(tiny_organ("run", base="mini", max_minutes=3 / 60)) == 0  # 3 MLE steps
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert (ckpt["stage"], ckpt["stage_step"], ckpt["step"]) == ("dpretrain", 0, 3)
    assert torch.equal(ckpt["rollout"]["head.weight"], ckpt["model"]["head.weight"])  # MLE's end synced the policy


def test_max_minutes_from_the_command_line_for_a_new_run_and_on_resume(tmp_path, tiny_organ, monkeypatch, caplog):
    """``molgen train --max-minutes``: a budget for a run whose config has none, recorded in its
    config; ``--resume --max-minutes`` raises it and the run ends where the uninterrupted one does."""
    from molgen.cli import main

    monkeypatch.setattr(trainer, "time", Clock())
    opts = tiny_organ("run", **MLE_ONLY)  # writes the config (no max_minutes) and the training file

    def train(*extra: str) -> int:
        return main(["train", "organ", "--data", str(opts.data), "--out", str(opts.out), "--no-progress", *extra])

    with caplog.at_level(logging.WARNING, logger="molgen.organ.trainer"):
        assert train("--config", str(opts.config), "--max-minutes", str(2 / 60)) == 0
    assert "spent (0.0 min of steps) at mle step 2" in caplog.text
    assert "max_minutes = 0.0333333" in (opts.out / "config.toml").read_text()
    assert load_checkpoint(opts.out / "checkpoints" / "last.pt")["step"] == 2
    assert train("--resume", "--max-minutes", "5") == 0
    done = load_checkpoint(opts.out / "checkpoints" / "last.pt")
    assert (done["stage"], done["step"], done["config"]["max_minutes"]) == ("done", 6, 5.0)
    assert train("--resume", "--max-minutes", "-1") == 2  # argparse: "-1.0 must be >= 0.0"


def test_init_checkpoint_then_zero_or_more_mle_steps(tmp_path, tiny_organ):
    assert trainer.train_from_options(tiny_organ("src", **{**MLE_ONLY, "mle__steps": 8, "mle__lr": 0.02})) == 0
    source = tmp_path / "src" / "checkpoints" / "last.pt"
    src = load_checkpoint(source)

    assert trainer.train_from_options(tiny_organ("same", **{**MLE_ONLY, "mle__steps": 0}, mle__init_checkpoint=str(source))) == 0
    got = load_checkpoint(tmp_path / "same" / "checkpoints" / "last.pt")
    assert all(torch.equal(t, got["model"][k]) for k, t in src["model"].items())
    assert got["extra"]["init_checkpoint"] == {"path": str(source), "step": 8, "taken": "generator"}

    three = {**MLE_ONLY, "mle__steps": 3}
    assert trainer.train_from_options(tiny_organ("more", **three, mle__init_checkpoint=str(source))) == 0
    assert trainer.train_from_options(tiny_organ("fresh", **three)) == 0
    assert stages(tmp_path / "more") == ["mle"] * 3  # the MLE steps run from the source's weights

    def first_loss(run: Path) -> float:
        with open(run / "log.csv", newline="") as fh:
            return float(next(csv.DictReader(fh))["mle_loss"])

    assert first_loss(tmp_path / "more") < first_loss(tmp_path / "fresh") - 0.5
    moved = load_checkpoint(tmp_path / "more" / "checkpoints" / "last.pt")["model"]
    assert not torch.equal(moved["head.weight"], src["model"]["head.weight"])


LEAK = {"goal_size": 4, "manager_hidden_size": 16, "horizon": 3, "mle_every": 2}


def test_leakgan_takes_a_plain_generators_embedding_and_lstm(tmp_path, tiny_organ, caplog):
    plain = {**MLE_ONLY, "generator__cell": "lstm"}
    assert trainer.train_from_options(tiny_organ("src", **plain)) == 0
    source = tmp_path / "src" / "checkpoints" / "last.pt"
    src = load_checkpoint(source)["model"]
    leak = {**plain, "generator__architecture": "leakgan", "leakgan": LEAK, "mle__steps": 0}
    with caplog.at_level(logging.INFO, logger="molgen.organ.trainer"):
        assert trainer.train_from_options(tiny_organ("leak", **leak, mle__init_checkpoint=str(source))) == 0
    assert "its head and manager start fresh" in caplog.text and "untrained" in caplog.text
    got = load_checkpoint(tmp_path / "leak" / "checkpoints" / "last.pt")
    trunk = [k for k in src if k.startswith(("embed.", "rnn."))]
    assert trunk and all(torch.equal(src[k], got["model"][k]) for k in trunk)
    assert got["model"]["head.weight"].shape != src["head.weight"].shape and any(k.startswith("manager.") for k in got["model"])
    assert got["extra"]["init_checkpoint"]["taken"] == "embedding and LSTM"
    # a plain generator of another size still does not fit
    with pytest.raises(trainer.UsageError, match="differs from the run's"):
        trainer.train_from_options(tiny_organ("other", **leak, generator__hidden_size=24, mle__init_checkpoint=str(source)))
