"""Hostile input to runs, checkpoints and the values the CLI takes (issue 18, "Bad input and faults"
3, 4, 5, 8, 10, 11, 12): each case ends in one clear line and a non-zero exit, or in the documented
behaviour, never a traceback, a hang, a silent loss or a run folder left behind by a failed start.
Concurrency and spinning cases run in subprocesses bounded by a timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from molgen.checkpoint import load_checkpoint, save_checkpoint
from molgen.cli import main
from molgen.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[2]

@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, one_thread):
    """Each case in its own folder with its own cache (encoded sets never reach the user's home)."""
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def cli(capsys, *argv: str) -> tuple[int, str]:
    """Exit code and stderr of ``molgen ARGV`` (no traceback may reach stderr)."""
    code = main([*argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def error_line(err: str) -> str:
    """The ``molgen …: error: …`` line of stderr (exactly one)."""
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 1, err
    return lines[0]


def smi_file(path: Path, smiles: list[str]) -> Path:
    path.write_text("\n".join(smiles) + "\n")
    return path


def train_vae(capsys, data: Path, config: Path, out: Path, *extra: str) -> tuple[int, str]:
    return cli(capsys, "train", "gvae", "--data", str(data), "--config", str(config), "--out", str(out),
               "--device", "cpu", "--no-progress", *extra)


@pytest.fixture
def organ_config(tmp_path, organ_toml):
    """``organ_config(**overrides) -> tmp_path / "organ.toml"``: the smallest ORGAN run cut to 2 MLE
    steps (no discriminator or adversarial steps, a checkpoint every 2), with ``organ_toml`` overrides."""

    def write(**overrides) -> Path:
        return organ_toml(tmp_path / "organ.toml", "mini", seed=0, checkpoint_every=2, mle__steps=2, mle__lr=None,
                          dpretrain={"steps": 0}, adversarial={"steps": 0}, **overrides)

    return write


# --------------------------------------------------------------- 3: unencodable training molecules
def test_gvae_trains_and_reports_molecules_longer_than_max_len(tmp_path, capsys, train_smiles, tiny_vae_inputs):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:120], steps=2)
    config.write_text(config.read_text() + "max_len = 100\n")  # [train] is the last table: some MOSES molecules need more rules
    code, err = train_vae(capsys, data, config, tmp_path / "run")
    assert code == 0, err
    extra = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["extra"]
    assert extra["data"]["n_molecules"] == 120
    assert 0 < extra["data"]["n_failed"] < 120
    assert extra["data"]["n_encoded"] + extra["data"]["n_failed"] == 120


def test_gvae_that_can_encode_nothing_is_one_clear_error_and_no_run(tmp_path, capsys, train_smiles, tiny_vae_inputs):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:50], steps=2)
    config.write_text(config.read_text() + "max_len = 3\n")
    code, err = train_vae(capsys, data, config, tmp_path / "run")
    assert code == 1 and "0 of 50 molecules can be encoded" in error_line(err)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------ 4: --resume on other data
def test_resume_on_other_data_is_refused_then_allowed(tmp_path, capsys, train_smiles, tiny_vae_inputs):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:200], steps=6)
    run = tmp_path / "run"
    monkey_stop = tmp_path / "c3.toml"  # a first leg of 3 steps, then resume to 6
    monkey_stop.write_text(config.read_text().replace("max_steps = 6", "max_steps = 3"))
    assert train_vae(capsys, data, monkey_stop, run)[0] == 0
    other = smi_file(tmp_path / "small.smi", train_smiles[:40])
    code, err = train_vae(capsys, other, config, run, "--resume")
    line = error_line(err)
    assert code == 2 and "is not the data the run" in line and "--allow-data-change" in line
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 3  # nothing was trained


def test_resume_on_smaller_data_with_allow_data_change_finishes(tmp_path, train_smiles, tiny_vae_inputs):
    """The case that spun at 100 % CPU: a resumed epoch position beyond the smaller data's batches."""
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:400], steps=12)
    first = tmp_path / "first.toml"
    first.write_text(config.read_text().replace("max_steps = 12", "max_steps = 9"))
    other = smi_file(tmp_path / "small.smi", train_smiles[:200])  # 6 batches an epoch; the run stopped at batch 9
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "molgen.cli", "train", "gvae", "--out", str(tmp_path / "run"), "--device", "cpu", "--no-progress"]
    subprocess.run([*base, "--data", str(data), "--config", str(first)], env=env, timeout=120, check=True, capture_output=True)
    done = subprocess.run([*base, "--data", str(other), "--config", str(config), "--resume", "--allow-data-change"],
                          env=env, timeout=120, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "continuing on it (--allow-data-change)" in done.stderr
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 12 and ckpt["extra"]["data"]["path"] == str(other)


# ------------------------------------------------------------------------- 5: damaged checkpoints
@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_models_dir) -> Path:
    import shutil

    dest = tmp_path / "tiny" / "model.pt"
    dest.parent.mkdir()
    shutil.copy(tiny_models_dir / "tiny-gvae" / "model.pt", dest)
    return dest


def test_bit_flipped_weights_are_refused(tiny_checkpoint, capsys):
    with zipfile.ZipFile(tiny_checkpoint) as zf:
        member = max(zf.infolist(), key=lambda i: i.file_size)  # the largest weight tensor
    raw = bytearray(tiny_checkpoint.read_bytes())
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    raw[start + member.file_size // 2] ^= 0x10
    tiny_checkpoint.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="CRC mismatch"):
        load_checkpoint(tiny_checkpoint)
    code, err = cli(capsys, "sample", "--model", str(tiny_checkpoint), "-n", "2", "--out", "x.smi", "--device", "cpu")
    assert code == 1 and "damaged checkpoint" in error_line(err)
    assert not Path("x.smi").exists()


def test_nan_weights_are_refused_naming_the_tensor(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    name = next(iter(ckpt["model"]))
    ckpt["model"][name] = torch.full_like(ckpt["model"][name], float("nan"))
    save_checkpoint(tiny_checkpoint, ckpt)
    with pytest.raises(CheckpointError, match=f"{name}.*NaN"):
        load_checkpoint(tiny_checkpoint)


# ------------------------------------------------------------------- 8: values validated at the edge
@pytest.mark.parametrize("argv, message", [
    (["evaluate", "x.smi", "--temperature", "nan"], "expected a finite number"),
    (["decode", "--model", "gvae", "z.npy", "-o", "o.csv", "--temperature", "inf"], "expected a finite number"),
    (["evaluate", "x.smi", "--seed", "-1"], "must be >= 0"),
    (["train", "gvae", "--data", "x.smi", "--out", "run", "--seed", "-1"], "must be >= 0"),
    (["score", "x.smi", "--config", "c.toml", "-o", "o.csv", "-j", "0"], "must be >= 1"),
    (["sample", "--model", "gvae", "-n", "5", "--temperature", "nan"], "expected a finite number"),
    (["sample", "--model", "gvae", "-n", "5", "--seed", "-1"], "must be >= 0"),
    (["sample", "--model", "gvae", "-n", "-3"], "must be >= 0"),
    (["props", "x.smi", "-o", "o.csv", "-j", "0"], "must be >= 1"),
    (["filter", "x.smi", "-o", "o.csv", "--range", "qed=nan:"], "bounds must be finite numbers"),
])
def test_bad_command_line_values_are_usage_errors(argv, message, capsys):
    code, err = cli(capsys, *argv)
    assert code == 2 and message in error_line(err)
    assert not Path("run").exists()


def test_jobs_beyond_the_cores_are_capped_with_a_warning(caplog):
    from molgen.cli import build_parser

    args = build_parser().parse_args(["evaluate", "x.smi", "-j", "1000"])
    assert args.jobs == os.cpu_count() and f"-j 1000: this machine has {os.cpu_count()} cores" in caplog.text


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("seed = 0", "seed = -5"), "seed: -5 must be >= 0"),
    (lambda t: t.replace("lr = 3e-3", "lr = inf"), "expected a finite number"),
    (lambda t: t.replace('grammar = "smiles"', 'grammar = "nope"'), "unknown grammar"),
    (lambda t: t.replace("latent_size = 8", "latent_size = 10000000"), "must be <= 8192"),
])
def test_bad_config_values_fail_at_start_and_leave_no_run(edit, message, tmp_path, capsys, train_smiles, tiny_vae_inputs):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:40], steps=2)
    config.write_text(edit(config.read_text()))
    code, err = train_vae(capsys, data, config, tmp_path / "run")
    assert code == 2 and message in error_line(err)
    assert not (tmp_path / "run").exists()


def test_failed_start_in_an_existing_folder_removes_only_what_it_wrote(tmp_path, capsys, train_smiles, tiny_vae_inputs):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:40], steps=2)
    config.write_text(config.read_text() + "max_len = 3\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert train_vae(capsys, data, config, run)[0] == 1
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_organ_max_len_shorter_than_every_molecule(tmp_path, capsys, train_smiles, organ_config):
    data = smi_file(tmp_path / "train.smi", train_smiles[:60])
    config = organ_config(generator__max_len=5, discriminator__filter_widths=[1, 2])
    code, err = cli(capsys, "train", "organ", "--data", str(data), "--config", str(config), "--out", "run", "--no-progress")
    assert code == 1 and "0 of 60 training molecules fit generator.max_len = 5" in error_line(err)
    assert not Path("run").exists()


def test_unknown_device_is_blamed_not_the_checkpoint(capsys):
    code, err = cli(capsys, "evaluate", "--model", "gvae", "-n", "2", "--device", "nonsense", "--no-fcd")
    assert code == 2 and "unknown device 'nonsense'" in error_line(err)


def test_train_out_pointing_at_a_file(tmp_path, capsys, train_smiles, tiny_vae_inputs):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:40], steps=2)
    (tmp_path / "afile").write_text("x")
    code, err = train_vae(capsys, data, config, tmp_path / "afile")
    assert code == 2 and "exists and is not a folder" in error_line(err)
    assert (tmp_path / "afile").read_text() == "x"


# ---------------------------------------------------------- 10: a checkpoint cannot steer the loader
def test_checkpoint_sizes_are_bounded_before_allocation(tiny_checkpoint, capsys):
    ckpt = load_checkpoint(tiny_checkpoint)
    ckpt["config"]["model"]["latent_size"] = 10**7
    save_checkpoint(tiny_checkpoint, ckpt)
    code, err = cli(capsys, "sample", "--model", str(tiny_checkpoint), "-n", "2", "--out", "x.smi", "--device", "cpu")
    line = error_line(err)
    assert code == 1 and str(tiny_checkpoint) in line and "latent_size: 10000000 must be <= 8192" in line


def test_an_organ_checkpoint_cannot_ask_for_a_huge_generator_length(tmp_path, capsys, train_smiles, organ_config):
    """``[generator] max_len`` is bounded like every size (a duplicated field once dropped the bound,
    so a checkpoint could ask the sampler for a (n, 10**9) buffer)."""
    data = smi_file(tmp_path / "train.smi", train_smiles[:80])
    config = organ_config()
    assert cli(capsys, "train", "organ", "--data", str(data), "--config", str(config), "--out", "run", "--no-progress")[0] == 0
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(last)
    ckpt["config"]["generator"]["max_len"] = 10**9
    save_checkpoint(last, ckpt)
    code, err = cli(capsys, "sample", "--model", str(last), "-n", "2", "--out", "x.smi", "--device", "cpu")
    assert code == 1 and "max_len: 1000000000 must be <=" in error_line(err)


def test_resumed_checkpoint_cannot_import_an_objective_the_user_did_not_name(tmp_path, capsys, train_smiles, monkeypatch,
                                                                           organ_config):
    marker = tmp_path / "imported"
    (tmp_path / "evil_objective.py").write_text(textwrap.dedent(f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("imported")
        def score(batch):
            return [1.0] * len(batch.smiles)
        score.chemistry = False
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    data = smi_file(tmp_path / "train.smi", train_smiles[:80])
    config = organ_config(reward={"lam": 0.5}, objectives=[{"name": "validity"}])
    assert cli(capsys, "train", "organ", "--data", str(data), "--config", str(config), "--out", "run", "--no-progress")[0] == 0
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(last)
    ckpt["config"]["objectives"] = [{"name": "evil_objective:score", "weight": 1.0}]
    ckpt["stage"], ckpt["stage_step"] = "mle", 0  # something left to train
    save_checkpoint(last, ckpt)
    code, err = cli(capsys, "train", "organ", "--data", str(data), "--out", "run", "--resume", "--no-progress")
    assert code == 2 and "resolve against the registry only" in error_line(err)
    assert not marker.exists()


# ------------------------------------------------------------------ 11: lock and a torn log.csv tail
def test_a_second_training_into_a_locked_run_folder_is_refused(tmp_path, capsys, train_smiles, tiny_vae_inputs):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:40], steps=2)
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from molgen.training.rundir import RunDir; "
         f"run = RunDir({str(run)!r}); run.acquire(); print('locked', flush=True); time.sleep(60)"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, err = train_vae(capsys, data, config, run)
        assert code == 2 and f"in use by another training (pid {holder.pid})" in error_line(err)
        assert not (run / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert train_vae(capsys, data, config, run)[0] == 0  # the lock died with its process


@pytest.mark.parametrize("damage", ["torn", "nul"])
def test_a_torn_log_tail_is_repaired_on_resume(damage, tmp_path, capsys, train_smiles, tiny_vae_inputs):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:200], steps=6)
    first = tmp_path / "first.toml"
    first.write_text(config.read_text().replace("max_steps = 6", "max_steps = 4"))
    run = tmp_path / "run"
    assert train_vae(capsys, data, first, run)[0] == 0
    log_csv = run / "log.csv"
    clean = log_csv.read_text()
    # a row cut mid-write (once kept as a bogus row of blanks), or a block of NULs a crash left at the end
    # (once a ValueError traceback)
    tail = "4,0,0.0" if damage == "torn" else "\0" * 64
    log_csv.write_text(clean + tail)
    code, err = train_vae(capsys, data, config, run, "--resume")
    assert code == 0, err
    rows = log_csv.read_text().splitlines()
    assert "\0" not in log_csv.read_text() and rows[: len(clean.splitlines())] == clean.splitlines()
    steps = [int(r.split(",")[0]) for r in rows[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == 6


def test_nul_bytes_inside_the_log_are_refused_clearly(tmp_path, capsys, train_smiles, tiny_vae_inputs):
    data, config = tiny_vae_inputs(tmp_path, train_smiles[:200], steps=6)
    first = tmp_path / "first.toml"
    first.write_text(config.read_text().replace("max_steps = 6", "max_steps = 4"))
    run = tmp_path / "run"
    assert train_vae(capsys, data, first, run)[0] == 0
    lines = (run / "log.csv").read_text().splitlines(keepends=True)
    lines[1] = "\0" * len(lines[1])
    (run / "log.csv").write_text("".join(lines))
    code, err = train_vae(capsys, data, config, run, "--resume")
    assert code == 1 and "log.csv, line 2: NUL bytes inside the log" in error_line(err)


# -------------------------------------------------------------- 12: a shipped name and a local folder
def test_shipped_name_shadowing_a_folder_says_which_is_used(tmp_path, tiny_checkpoint, caplog):
    from molgen.api import resolve_model_path, shipped_models

    (tmp_path / "gvae").mkdir()
    (tmp_path / "gvae" / "model.pt").write_bytes(tiny_checkpoint.read_bytes())
    assert resolve_model_path("gvae") == shipped_models()["gvae"]
    assert "both a shipped model" in caplog.text and "./gvae" in caplog.text
    assert resolve_model_path("./gvae") == Path("gvae") / "model.pt"
