"""Every example of every ``--help`` and every ``$ molgen`` command of the README runs.

The fast tests parse each one and check that the README needs no file that a fresh clone lacks
(inputs exist in the repository or are written by an earlier README command). The slow tests
execute them, in order, in a scratch folder holding links to ``data/`` and ``configs/``, with
sizes reduced (``-n``, budgets; training on a tiny config; the shipped MOSES files and the
reference sets replaced by copies of a few hundred of their molecules) and, for ``--help`` examples only, tiny real inputs made for the files they name as
the user's own (``library.smi``, ``samples.smi`` …). ``molgen dashboard`` examples are parsed,
never started.
"""

from __future__ import annotations

import gzip
import re
import shlex
from pathlib import Path

import pytest

from molgen.cli import _command_modules, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
#: commands whose examples run first (they write what the later ones read)
ORDER = ("train", "sample", "encode", "decode")
INPUT_KEYS = ("input", "generated", "latents", "data", "config", "seeds", "train", "test", "test_scaffolds")
OUTPUT_KEYS = ("out", "output", "report_dir", "trajectory")

TINY = {
    "gvae": """seed = 0
max_molecules = 200
[model]
latent_size = 8
encoder = "gru"
encoder_size = 16
dense_size = 16
decoder_input_size = 8
hidden_size = 16
embedding_size = 8
[train]
batch_size = 32
epochs = 1
max_steps = 2
val_every = 2
val_max = 16
val_decode = 8
tensorboard = false
""",
}
TINY["cvae"] = TINY["gvae"].replace('encoder = "gru"\n', "")
#: ``organ_toml`` overrides of the smallest ORGAN run for the examples' ``molgen train organ``
TINY_ORGAN_OVERRIDES = {"seed": 0, "max_molecules": 200, "generator__max_len": None, "mle__steps": 2, "mle__lr": None,
                        "mle__eval_every": None, "adversarial__batch_size": 4, "adversarial__d_samples": 8}
REDUCED = {"-n": "8", "--n-samples": "8", "--n-stochastic": "1", "--budget": "4", "--n-init": "8"}


def help_examples() -> list[tuple[str, str]]:
    """``(command, line)`` of every example in every command's ``--help``, in running order."""
    out = []
    for mod in _command_modules():
        text = getattr(mod, "DESCRIPTION", "")
        for line in text.split("examples:")[1].splitlines() if "examples:" in text else []:
            if line.strip().startswith("molgen "):
                out.append((mod.NAME, line.strip()))
    return sorted(out, key=lambda e: ORDER.index(e[0]) if e[0] in ORDER else len(ORDER))


def readme_commands() -> list[tuple[str, bool]]:
    """``(line, fails)`` of every ``$ molgen`` command in the README's console blocks; ``fails`` when the
    README shows it ending in an error."""
    lines = (ROOT / "README.md").read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith("$ molgen "):
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            out.append((line[2:], bool(re.match(r"molgen \w+: error:", nxt))))
    return out


#: where a shell command line leaves molgen: a pipe, a list operator or a redirection
SHELL_OPERATOR = re.compile(r"^(\||\|\||&&|;|\d*[<>].*)$")


def argv(line: str) -> list[str]:
    """molgen's arguments in an example, up to the first pipe, list operator or redirection."""
    words = shlex.split(line, comments=True)[1:]
    cut = next((i for i, w in enumerate(words) if SHELL_OPERATOR.match(w)), len(words))
    return words[:cut]


def paths_of(args, keys) -> list[str]:
    found = []
    for key in keys:
        value = getattr(args, key, None)
        for v in value if isinstance(value, list) else [value]:
            if v is not None and str(v).lower() != "none":
                found.append(str(v))
    return found


def models_of(args) -> list[str]:
    value = getattr(args, "model", None)
    return value if isinstance(value, list) else [value] if value else []


@pytest.mark.parametrize("command, line", help_examples(), ids=lambda v: v if " " not in v else None)
def test_help_examples_parse(command, line):
    args = build_parser().parse_args(argv(line))
    assert args.command == command


def test_readme_commands_parse_and_need_nothing_a_fresh_clone_lacks():
    from molgen.api import shipped_models

    made: set[str] = set()
    commands = readme_commands()
    assert len(commands) >= 10
    for line, _ in commands:
        args = build_parser().parse_args(argv(line))
        for path in paths_of(args, INPUT_KEYS):
            assert (ROOT / path).exists() or path in made, f"README: {line!r} reads {path}, which a fresh clone lacks"
        for model in models_of(args):
            assert model in shipped_models() or model in made, f"README: {line!r} uses model {model}, never made"
        made.update(paths_of(args, OUTPUT_KEYS))
    text = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in text and ".venv/bin/molgen" in text


# ------------------------------------------------------------------------------- running them
def _moses(name: str, n: int) -> list[str]:
    with gzip.open(ROOT / "data" / "moses" / name, "rt") as fh:
        next(fh)
        return [next(fh).split(",")[0].strip() for _ in range(n)]


def _make_input(path: Path) -> None:
    """A tiny real input for a file an example names as the user's own."""
    smiles = _moses("test.csv.gz", 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    if name.endswith(".toml"):
        path.write_text((ROOT / "configs" / "scoring-qed.toml").read_text())
    elif name.endswith(".sdf"):
        from rdkit import Chem

        writer = Chem.SDWriter(str(path))
        for s in smiles:
            writer.write(Chem.MolFromSmiles(s))
        writer.close()
    elif ".csv" in name:
        path.write_text("id,smiles\n" + "\n".join(f"m{i},{s}" for i, s in enumerate(smiles)) + "\n")
    else:
        path.write_text("\n".join(smiles) + "\n")


def _reduced(line: str, workdir: Path, organ_toml) -> list[str]:
    """The command line with its sizes cut down (see the module docstring); ``organ_toml`` is the root
    conftest's fixture, which writes the tiny ORGAN config."""
    words = [f"refs/{w.split('/')[-1]}" if w.startswith("data/moses/") else w for w in argv(line)]
    out = []
    it = iter(range(len(words)))
    for i in it:
        w = words[i]
        if w in REDUCED and i + 1 < len(words):
            out += [w, REDUCED[w]]
            next(it)
        elif w == "--config" and words[0] == "train":
            next(it)
        else:
            out.append(w)
    if words[0] == "train":
        cfg = workdir / f"tiny-{words[1]}.toml"
        if words[1] == "organ":
            organ_toml(cfg, "mini", **TINY_ORGAN_OVERRIDES)
        else:
            cfg.write_text(TINY[words[1]])
        out += ["--config", str(cfg), "--no-progress"]
    if words[0] == "optimize":
        out += ["--batch-size", "2", "--no-progress"]
    if words[0] in ("evaluate", "cache"):
        if "--train" not in words:
            out += ["--train", "refs/train.smi"]
        if "--test" not in words:
            out += ["--test", "refs/test.smi"]
        if "--test-scaffolds" not in words:
            out += ["--test-scaffolds", "none"]
        out += ["--no-fcd", "--no-progress"]
        if words[0] == "evaluate" and "--model" in words:
            out += ["--n-recon", "4"]
    return out


def make_scratch(folder: Path) -> None:
    """Links to ``data/`` and ``configs/``, and ``refs/``: small copies of the MOSES files examples read."""
    for name in ("data", "configs"):
        (folder / name).symlink_to(ROOT / name)
    (folder / "refs").mkdir()
    (folder / "refs" / "train.smi").write_text("\n".join(_moses("train.csv.gz", 300)) + "\n")
    (folder / "refs" / "test.smi").write_text("\n".join(_moses("test.csv.gz", 200)) + "\n")
    for name in ("train.csv.gz", "test.csv.gz", "test_scaffolds.csv.gz"):
        with gzip.open(folder / "refs" / name, "wt") as fh:
            fh.write("SMILES\n" + "\n".join(_moses(name, 300)) + "\n")


@pytest.fixture
def scratch(tmp_path, monkeypatch, one_thread) -> Path:
    make_scratch(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOLGEN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.slow
def test_help_examples_run(scratch, capsys, organ_toml):
    for command, line in help_examples():
        args = build_parser().parse_args(argv(line))
        if command == "dashboard":
            continue  # starts a server: parsed above, started by tests/cli/test_dashboard_command.py
        for path in paths_of(args, INPUT_KEYS):
            if not Path(path).exists():
                _make_input(Path(path))
        code = main(_reduced(line, scratch, organ_toml))
        err = capsys.readouterr().err
        assert code == 0, f"{line!r} exited {code}: {err[-2000:]}"
        assert "Traceback" not in err


@pytest.mark.slow
def test_readme_commands_run(scratch, capsys, organ_toml):
    for line, fails in readme_commands():
        code = main(_reduced(line, scratch, organ_toml))
        err = capsys.readouterr().err
        assert (code != 0) == fails, f"README: {line!r} exited {code}: {err[-2000:]}"
        assert "Traceback" not in err
