"""The run folder every family writes, and how a run starts or resumes in it.

A run directory looks like::

    RUN_DIR/
      config.toml        the validated config that ran (written atomically at start)
      log.csv            one row per logged step (all metrics)
      checkpoints/last.pt, checkpoints/best.pt
      report.json        written by ``molgen evaluate --model RUN_DIR --report-dir RUN_DIR``
      tensorboard/       when the tensorboard package is installed
      .lock              held (``flock``) by the training that runs in the folder, with its pid

:meth:`RunDir.session` is how a trainer opens its folder: one training at a time (a second one is
refused clearly), and a start that fails before its first checkpoint leaves no run folder behind.

:func:`resolve_config` is the one rule for ``--config`` and ``--seed`` on a fresh run and on
``--resume``, the same for every family.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Sequence, TypeVar

from molgen.atomic import atomic_open
from molgen.checkpoint import load_checkpoint, save_checkpoint
from molgen.config import load_config, override, to_dict, to_toml
from molgen.errors import UsageError

log = logging.getLogger(__name__)

C = TypeVar("C")


class RunDir:
    """A training run's folder: its config, log and checkpoints."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock: Any = None

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    def acquire(self) -> bool:
        """Create the folder if needed and lock it against a second training; True when this created it.

        The lock is an ``flock`` on ``.lock`` (released by the OS if the process dies, so a killed run
        never leaves a stale lock); a folder locked by another process is a :class:`UsageError` naming its pid.
        """
        import fcntl

        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"--out {self.path}: exists and is not a folder; choose a run folder")
        created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fh = open(self.lock_file, "a+")
        except OSError as exc:
            raise UsageError(f"--out {self.path}: cannot create the run folder there ({exc.strerror})") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise UsageError(f"{self.path} is in use by another training (pid {holder}); wait for it to finish "
                             "or choose another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._lock = fh
        return created

    def release(self) -> None:
        """Unlock the folder (the ``.lock`` file stays: removing it would let two processes lock two files)."""
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the flock
            self._lock = None

    @contextlib.contextmanager
    def session(self, main: bool = True) -> Iterator["RunDir"]:
        """Hold the folder's lock for a training; if it fails before its first checkpoint, remove what
        this start wrote (the whole folder when it created it), so a failed start leaves no run behind.

        ``main=False`` (ranks other than 0 of a torchrun launch, which write nothing): no lock, no clean-up."""
        if not main:
            yield self
            return
        before = {p.name for p in self.path.iterdir()} if self.path.is_dir() else set()
        created = self.acquire()
        try:
            yield self
        except BaseException:  # any failure or interrupt before the first checkpoint: clean up, then re-raise
            if not self.holds_run():
                self.release()
                if created:
                    shutil.rmtree(self.path, ignore_errors=True)
                else:
                    for p in self.path.iterdir():
                        if p.name in before:
                            continue
                        if p.is_dir():
                            shutil.rmtree(p, ignore_errors=True)
                        else:
                            p.unlink(missing_ok=True)
            raise
        finally:
            self.release()

    @property
    def last(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    @property
    def log_csv(self) -> Path:
        return self.path / "log.csv"

    def holds_run(self) -> bool:
        return self.last.exists()

    def check_new(self) -> None:
        """Refuse to start a new run over an existing one."""
        if self.holds_run():
            raise UsageError(f"{self.path} already holds a run (checkpoints/last.pt); use --resume to continue it "
                             "or choose another --out")

    def load_last(self, kind: str, map_location: str = "cpu") -> dict[str, Any]:
        """The checkpoint to resume from (a clear error when there is none)."""
        if not self.holds_run():
            raise UsageError(f"{self.path}: nothing to resume (no checkpoints/last.pt); start the run without --resume")
        return load_checkpoint(self.last, kind=kind, map_location=map_location)

    def write_config(self, config: Any) -> Path:
        """Create the folder and write ``config.toml`` (what ran) atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.path / "config.toml"
        with atomic_open(path) as fh:
            fh.write(to_toml(to_dict(config)))
        return path

    def save(self, name: str, payload: dict[str, Any]) -> Path:
        """Write ``checkpoints/<name>.pt`` atomically."""
        return save_checkpoint(self.path / "checkpoints" / f"{name}.pt", payload)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


#: extendable keys that only decide where a run stops (any value on ``--resume``, 0 = no budget)
STOP_RULES = ("max_minutes",)


def resolve_config(
    cls: type[C], *, config_path: str | os.PathLike | None, seed: int | None, stored: C | None,
    extendable: Sequence[str] = (), where: str | os.PathLike = "the run", precision: str | None = None,
    max_minutes: float | None = None,
) -> C:
    """The config a run uses, the same rule for every family.

    - New run (``stored`` is None): ``config_path`` (or the defaults), ``seed`` and ``precision``
      (``--seed``, ``--precision``) overriding its keys.
    - ``--resume``: the run's stored config. A ``config_path`` given too may differ from it only
      in the ``extendable`` keys (training longer), and only upwards, except the :data:`STOP_RULES`
      among them (a wall-clock budget only decides where the run stops, never what it computes: it
      may be set on a run that had none, raised, lowered or lifted); a ``seed`` or ``precision``
      must equal the run's. Anything else is a clear error, never silently ignored.
    - ``max_minutes`` (``--max-minutes``) sets the wall-clock budget of a new or a resumed run.
    """
    cfg = _resolve(cls, config_path, seed, stored, extendable, where, precision)
    if max_minutes is not None and max_minutes != cfg.max_minutes:
        if stored is not None:
            log.info("--max-minutes %g: the run's budget was %g (0: none)", max_minutes, cfg.max_minutes)
        cfg = dataclasses.replace(cfg)  # never change the stored config object in place
        override(cfg, "max_minutes", max_minutes, "--max-minutes")
    return cfg


def _resolve(cls: type[C], config_path: str | os.PathLike | None, seed: int | None, stored: C | None,
             extendable: Sequence[str], where: str | os.PathLike, precision: str | None) -> C:
    """:func:`resolve_config` before ``--max-minutes``: the config file, the flags and the stored config."""
    flags = {"seed": seed, "precision": precision}
    if stored is None:
        cfg = load_config(cls, config_path)
        for key, value in flags.items():
            if value is not None:
                override(cfg, key, value, f"--{key}")
        return cfg
    if config_path is None:
        for key, value in flags.items():
            if value is not None and value != getattr(stored, key):
                raise UsageError(f"--{key} {value} differs from the resumed run's {key} {getattr(stored, key)}")
        return stored
    given = load_config(cls, config_path)
    for key, value in flags.items():
        if value is not None:
            override(given, key, value, f"--{key}")
    a, b = _flat(to_dict(stored)), _flat(to_dict(given))
    changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if not changed:
        return stored
    if not set(changed) <= set(extendable):
        allowed = ", ".join(extendable) or "nothing"
        raise UsageError(f"{config_path} differs from the config of {where} in {', '.join(changed)}; "
                         f"on --resume only {allowed} may change (or resume without --config)")
    shrunk = [k for k in changed if k not in STOP_RULES and b[k] and (not a[k] or b[k] < a[k])]
    if shrunk:
        raise UsageError(f"{config_path}: on --resume {', '.join(shrunk)} may only grow (0 means no limit)")
    log.info("extending the run: %s", ", ".join(f"{k} {a[k]} -> {b[k]}" for k in changed))
    return given

