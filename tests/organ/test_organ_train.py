"""End-to-end ORGAN training on real SMILES: stages, reward moving, checkpoints, resume, sampling API."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from molgen.api import Generator as GeneratorProtocol
from molgen.api import load_model
from molgen.checkpoint import load_checkpoint
from molgen.errors import UsageError
from molgen.organ import trainer

TINY = """
seed = 3
torch_threads = 1
checkpoint_every = 4
[generator]
embedding_size = 16
hidden_size = 48
num_layers = 1
max_len = 60
[discriminator]
preset = "custom"
filter_widths = [1, 3, 5]
filter_counts = [8, 8, 8]
embedding_size = 8
[mle]
steps = {mle_steps}
batch_size = 32
lr = 0.01
eval_every = 100
[dpretrain]
steps = 2
n_samples = 64
[adversarial]
steps = {adv_steps}
batch_size = 16
rollouts = 2
d_samples = 32
g_lr = {g_lr}
[reward]
{reward}
"""


def short(batch) -> list[float]:
    """Test objective defined on raw strings (invalid ones too): shorter is better."""
    return [max(0.0, 1.0 - len(s) / 40) for s in batch.smiles]


short.chemistry = False


def write_config(tmp_path: Path, name: str = "c.toml", mle_steps: int = 6, adv_steps: int = 3, g_lr: float = 1e-3,
                 reward: str = 'lam = 0.5\n[[objectives]]\nname = "qed"\n[[objectives]]\nname = "validity"') -> Path:
    path = tmp_path / name
    text = TINY.format(mle_steps=mle_steps, adv_steps=adv_steps, g_lr=g_lr, reward="")
    # objectives must be a top-level key, so put [[objectives]] after the tables and the reward keys in [reward]
    head, _, objs = reward.partition("[[objectives]]")
    path.write_text(text.replace("[reward]\n", "[reward]\n" + head) + ("\n[[objectives]]" + objs if objs else ""))
    return path


def test_naive_rl_run_moves_the_reward(tmp_path, data_file, organ_opts, read_log):
    cfg = write_config(tmp_path, mle_steps=30, adv_steps=12, g_lr=0.02,
                       reward=f'mode = "naive_rl"\ndivide_by_count = false\n[[objectives]]\nname = "{__name__}:short"')
    assert trainer.train_from_options(organ_opts(data_file, cfg, tmp_path / "run")) == 0
    rows = [r for r in read_log(tmp_path / "run" / "log.csv") if r["stage"] == "adversarial"]
    assert len(rows) == 12
    rewards = [float(r["reward"]) for r in rows]
    lengths = [float(r["mean_length"]) for r in rows]
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 0.05, rewards
    assert sum(lengths[-3:]) < sum(lengths[:3]), lengths


def test_full_run_checkpoint_and_sampling(tmp_path, data_file, organ_opts, read_log):
    out = tmp_path / "run"
    assert trainer.train_from_options(organ_opts(data_file, write_config(tmp_path), out)) == 0
    rows = read_log(out / "log.csv")
    assert [r["stage"] for r in rows] == ["mle"] * 6 + ["dpretrain"] * 2 + ["adversarial"] * 3
    adv = rows[-1]
    for key in ("reward", "d_reward", "obj_qed", "obj_validity", "d_acc", "validity", "uniqueness", "int_div", "mean_length"):
        assert adv[key] != "", key
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt", kind="organ")  # weights_only=True inside
    assert ckpt["stage"] == "done" and ckpt["step"] == 11 and ckpt["command"] == "test"
    assert {"discriminator", "rollout", "optimizer", "vocab", "versions"} <= set(ckpt)
    assert set(ckpt["extra"]["rng"]) == {"python", "numpy", "torch"}
    model = load_model(out)
    assert isinstance(model, GeneratorProtocol) and model.kind == "organ"
    a = model.sample(20, seed=5, batch_size=7)
    assert len(a) == 20 and all(isinstance(s, str) for s in a)
    assert a == model.sample(20, seed=5, batch_size=7)
    assert a != model.sample(20, seed=6, batch_size=7)
    with pytest.raises(UsageError, match="--resume"):
        trainer.train_from_options(organ_opts(data_file, write_config(tmp_path), out))



MEMORY = 'lam = 0.5\nmemory = {kind = "molecule", bucket_size = 1, min_score = 0.0}\n[[objectives]]\nname = "qed"'


@pytest.mark.parametrize("stop_at, reward", [
    (5, 'lam = 0.5\n[[objectives]]\nname = "qed"'),  # inside MLE
    (10, 'lam = 0.5\n[[objectives]]\nname = "qed"'),  # inside the adversarial stage
    (10, MEMORY),  # the diversity memory is part of the state
])
def test_resume_equals_uninterrupted(tmp_path, data_file, monkeypatch, stop_at, reward, interrupt_at, organ_opts, read_log):
    cfg = write_config(tmp_path, reward=reward)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert trainer.train_from_options(organ_opts(data_file, cfg, whole)) == 0
    with monkeypatch.context() as m:
        m.setattr(trainer, "GracefulInterrupt", lambda: interrupt_at(stop_at))
        assert trainer.train_from_options(organ_opts(data_file, cfg, parts)) == 130
    stopped = load_checkpoint(parts / "checkpoints" / "last.pt", kind="organ")
    assert stopped["step"] == stop_at - 1 and stopped["stage"] != "done"
    assert trainer.train_from_options(organ_opts(data_file, cfg, parts, resume=True)) == 0
    a = load_checkpoint(whole / "checkpoints" / "last.pt")
    b = load_checkpoint(parts / "checkpoints" / "last.pt")
    for key in ("model", "discriminator", "rollout"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    assert a["extra"]["baseline"] == b["extra"]["baseline"]
    assert a["extra"].get("memory") == b["extra"].get("memory")
    timing = {"seconds", "t_policy", "t_reward"}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]  # noqa: E731
    assert strip(read_log(whole / "log.csv")) == strip(read_log(parts / "log.csv"))


def test_out_of_vocabulary_tokens_are_reported_not_fatal(caplog):
    from molgen.organ.symbols import TokenSymbols
    from molgen.vocab import Vocabulary

    vocab = Vocabulary.build(["CCO", "c1ccccc1"])
    with caplog.at_level("WARNING"):
        ids = TokenSymbols(vocab, max_len=12).encode(["CCO", "CCCl", "C" * 30])
    assert ids.shape == (2, 12)  # the over-long one is skipped, the OOV one kept with <unk>
    assert vocab.unk in ids[1].tolist()
    text = caplog.text
    assert "1 of 3 molecules contain tokens outside the vocabulary" in text and "Cl" in text
    assert "longer than generator.max_len" in text


def test_mle_cosine_schedule_runs_from_lr_to_lr_min():
    from molgen.organ.config import MLEConfig
    from molgen.organ.trainer import mle_lr

    c = MLEConfig(steps=101, lr=1e-3, lr_schedule="cosine", lr_min=1e-5)
    lrs = [mle_lr(c, s) for s in range(c.steps)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-5)
    assert lrs[50] == pytest.approx((1e-3 + 1e-5) / 2)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert {mle_lr(MLEConfig(steps=10, lr=2e-3), s) for s in range(10)} == {2e-3}  # constant by default


def test_resume_of_a_log_without_the_lr_column_goes_on(tmp_path, data_file, monkeypatch, caplog, interrupt_at, organ_opts, read_log):
    """A run started by an older molgen (log.csv without 'lr') resumes; its log keeps its columns."""
    cfg = write_config(tmp_path)
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(trainer, "GracefulInterrupt", lambda: interrupt_at(5))
        assert trainer.train_from_options(organ_opts(data_file, cfg, out)) == 130
    log_path = out / "log.csv"
    rows = read_log(log_path)
    old_columns = [c for c in rows[0] if c != "lr"]
    with open(log_path, "w", newline="") as fh:  # the same log as an older molgen wrote it
        writer = csv.DictWriter(fh, fieldnames=old_columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with caplog.at_level("WARNING"):
        assert trainer.train_from_options(organ_opts(data_file, cfg, out, resume=True)) == 0
    assert "no column(s) lr" in caplog.text
    resumed = read_log(log_path)
    assert list(resumed[0]) == old_columns and len(resumed) > len(rows)


def test_memory_penalises_molecules_seen_in_earlier_steps(tmp_path, organ_opts, read_log):
    # short chains: a tiny generator learns to write valid ones within a few dozen steps
    chains = [a + "C" * n + b for n in range(1, 7) for a in ("", "O", "N") for b in ("", "O", "N", "C(C)C")]
    data = tmp_path / "chains.smi"
    data.write_text("\n".join(chains) + "\n")
    out = tmp_path / "run"
    cfg = write_config(tmp_path, mle_steps=40, adv_steps=4, reward=MEMORY)
    assert trainer.train_from_options(organ_opts(data, cfg, out)) == 0
    rows = [r for r in read_log(out / "log.csv") if r["stage"] == "adversarial"]
    counts = load_checkpoint(out / "checkpoints" / "last.pt")["extra"]["memory"]
    assert sum(counts.values()) > 16 and all(isinstance(v, int) for v in counts.values())  # >1 batch of valid ones
    assert float(rows[0]["memory_penalised"]) == 0.0  # nothing is remembered before the first step
    assert [int(r["memory_full"]) for r in rows][-1] == len(counts)  # bucket_size 1: every bucket is full
    assert int(rows[0]["memory_full"]) < int(rows[-1]["memory_full"])
