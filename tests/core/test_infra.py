"""Shared infrastructure: configs, run logs, atomic writes, checkpoints, vocabulary, CLI plumbing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
import torch

from molgen.atomic import atomic_open
from molgen.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from molgen.cli import main
from molgen.config import from_dict, load_config, to_dict
from molgen.errors import ConfigError
from molgen.runtime import command_line
from molgen.training.rng import set_seed
from molgen.training.runlog import CSVLogger, GracefulInterrupt
from molgen.vocab import Vocabulary


@dataclass
class _Inner:
    width: int = field(default=8, metadata={"ge": 1})


@dataclass
class _Cfg:
    lr: float = field(default=1e-3, metadata={"gt": 0})
    layers: tuple[int, ...] = (2, 2)
    optimizer: str = field(default="adam", metadata={"choices": ("adam", "sgd")})
    inner: _Inner = field(default_factory=_Inner)
    name: str | None = None


def test_config_accepts_valid_values_and_coerces(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('lr = 1\nlayers = [3, 4]\n[inner]\nwidth = 16\n')
    cfg = load_config(_Cfg, path)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.layers == (3, 4) and cfg.inner.width == 16
    assert to_dict(cfg)["layers"] == [3, 4]


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr = -1", "lr: -1.0 must be > 0"),
        ("lrr = 0.1", "unknown key 'lrr' (did you mean 'lr'?)"),
        ('optimizer = "adamw"', "'adamw' is not one of 'adam', 'sgd'"),
        ('layers = "3"', "expected a list"),
        ("[inner]\nwidth = 0", "inner.width: 0 must be >= 1"),
        ("lr = ", "invalid TOML"),
        ("name = 3", "expected a string"),
    ],
)
def test_config_errors_name_file_key_and_reason(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(_Cfg, path)
    assert message in str(err.value)
    assert "bad.toml" in str(err.value)


def test_config_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(_Cfg, tmp_path / "nope.toml")


def test_bool_is_not_an_int():
    @dataclass
    class C:
        n: int = 1

    with pytest.raises(ConfigError, match="expected an integer"):
        from_dict(C, {"n": True})


def test_atomic_open_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("partial")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_open(target) as fh:
        fh.write("new")
    assert target.read_text() == "new"


def test_atomic_output_gets_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "new.txt") as fh:
            fh.write("x")
        assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.txt"
        kept.write_text("old")
        kept.chmod(0o640)
        with atomic_open(kept) as fh:
            fh.write("new")
        assert kept.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_csv_logger_resume_drops_rows_after_checkpoint(tmp_path):
    path = tmp_path / "log.csv"
    log = CSVLogger(path)
    for step in range(1, 6):
        log.log({"step": step, "loss": 1.0 / step})
    resumed = CSVLogger(path, resume_step=3)
    resumed.log({"step": 4, "loss": 0.3})
    lines = path.read_text().splitlines()
    assert lines[0] == "step,loss"
    assert [ln.split(",")[0] for ln in lines[1:]] == ["1", "2", "3", "4"]
    assert lines[-1] == "4,0.3"
    with pytest.raises(KeyError, match="not in the first logged row"):
        resumed.log({"step": 5, "loss": 0.1, "extra": 1})
    CSVLogger(path)  # a fresh (non-resumed) run starts a new log
    assert not path.exists()


def test_graceful_interrupt_sets_flag_then_aborts():
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a background job, default_int_handler in a terminal
    with GracefulInterrupt() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested and stop.signal_name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def _payload(kind="gvae"):
    return {"kind": kind, "config": {"a": 1}, "model": {"w": torch.arange(3.0)}, "step": 7}


def test_checkpoint_round_trip_and_kind_check(tmp_path):
    path = save_checkpoint(tmp_path / "ck" / "m.pt", _payload())
    ck = load_checkpoint(path, kind="gvae")
    assert ck["step"] == 7 and torch.equal(ck["model"]["w"], torch.arange(3.0))
    with pytest.raises(CheckpointError, match="is a 'gvae' model, expected 'organ'"):
        load_checkpoint(path, kind="organ")


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01not a zip")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_checkpoint(garbage)
    truncated = tmp_path / "truncated.pt"
    data = save_checkpoint(tmp_path / "ok.pt", _payload()).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(truncated.name)):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a molgen checkpoint"):
        load_checkpoint(foreign)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "molgen-checkpoint", "kind": "gvae", "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)


def test_vocabulary_round_trip_and_oov(train_smiles):
    vocab = Vocabulary.build(train_smiles[:500])
    assert "Cl" in vocab.index and "l" not in vocab.index
    ids, keep, report = vocab.encode_batch(train_smiles[:50], max_len=120)
    assert keep.all() and report.n_with_oov == 0
    for row, s in zip(ids, train_smiles[:50]):
        assert vocab.decode(row) == s
    ids, keep, report = vocab.encode_batch(["C[Se]C", "CC" * 100, "C%%C"], max_len=20)
    assert keep.tolist() == [True, False, False]
    assert report.n_with_oov == 1 and report.tokens["[Se]"] == 1 and report.n_untokenizable == 1
    assert "1 of" in report.summary()
    assert Vocabulary.from_dict(vocab.to_dict()).tokens == vocab.tokens
    bad = vocab.to_dict()
    bad["hash"] = "0" * 16
    with pytest.raises(ValueError, match="hash"):
        Vocabulary.from_dict(bad)


def test_set_seed_makes_torch_reproducible():
    set_seed(123)
    a = torch.rand(3)
    set_seed(123)
    assert torch.equal(a, torch.rand(3))


def test_cli_without_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_python_m_molgen_is_the_molgen_command():
    out = subprocess.run([sys.executable, "-m", "molgen", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("molgen ")


def test_command_line_is_shell_quoted():
    assert command_line(["train", "gvae", "--out", "my run"]) == "molgen train gvae --out 'my run'"


def test_command_line_of_python_m_molgen_cli_is_recorded_as_molgen(monkeypatch):
    """``python -m molgen`` and ``python -m molgen.cli`` run the molgen command: a checkpoint records
    it as one to rerun."""
    import molgen.__main__
    import molgen.cli

    for entry in (molgen.cli.__file__, molgen.__main__.__file__):
        monkeypatch.setattr(sys, "argv", [entry, "train", "organ", "--out", "r"])
        assert command_line() == "molgen train organ --out r"
    monkeypatch.setattr(sys, "argv", ["/usr/bin/other.py", "x"])
    assert command_line() == "other.py x"


def test_versions_are_plain_strings_that_checkpoints_can_hold(tmp_path):
    from molgen.runtime import versions

    v = versions()
    assert all(type(x) is str for x in v.values())
    path = save_checkpoint(tmp_path / "v.pt", {**_payload(), "versions": v})
    assert load_checkpoint(path)["versions"] == v
