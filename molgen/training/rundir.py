"""The run folder every family writes, and how a run starts or resumes in it.

A run directory looks like::

    RUN_DIR/
      config.toml        the validated config that ran (written atomically at start)
      log.csv            one row per logged step (all metrics)
      checkpoints/last.pt, checkpoints/best.pt
      report.json        written by ``molgen evaluate --model RUN_DIR --report-dir RUN_DIR``
      tensorboard/       when the tensorboard package is installed

:func:`resolve_config` is the one rule for ``--config`` and ``--seed`` on a fresh run and on
``--resume``, the same for every family.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence, TypeVar

from molgen.atomic import atomic_open
from molgen.checkpoint import load_checkpoint, save_checkpoint
from molgen.config import load_config, to_dict, to_toml
from molgen.errors import UsageError

log = logging.getLogger(__name__)

C = TypeVar("C")


class RunDir:
    """A training run's folder: its config, log and checkpoints."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

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


def resolve_config(
    cls: type[C], *, config_path: str | os.PathLike | None, seed: int | None, stored: C | None,
    extendable: Sequence[str] = (), where: str | os.PathLike = "the run",
) -> C:
    """The config a run uses, the same rule for every family.

    - New run (``stored`` is None): ``config_path`` (or the defaults), ``seed`` overriding its seed.
    - ``--resume``: the run's stored config. A ``config_path`` given too may differ from it only
      in the ``extendable`` keys (training longer), and only upwards; a ``seed`` must equal the
      run's. Anything else is a clear error, never silently ignored.
    """
    if stored is None:
        cfg = load_config(cls, config_path)
        if seed is not None:
            cfg.seed = seed  # type: ignore[attr-defined]
        return cfg
    if config_path is None:
        if seed is not None and seed != stored.seed:  # type: ignore[attr-defined]
            raise UsageError(f"--seed {seed} differs from the resumed run's seed {stored.seed}")  # type: ignore[attr-defined]
        return stored
    given = load_config(cls, config_path)
    if seed is not None:
        given.seed = seed  # type: ignore[attr-defined]
    a, b = _flat(to_dict(stored)), _flat(to_dict(given))
    changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if not changed:
        return stored
    if not set(changed) <= set(extendable):
        allowed = ", ".join(extendable) or "nothing"
        raise UsageError(f"{config_path} differs from the config of {where} in {', '.join(changed)}; "
                         f"on --resume only {allowed} may change (or resume without --config)")
    if any(b[k] and (not a[k] or b[k] < a[k]) for k in changed):
        raise UsageError(f"{config_path}: on --resume {', '.join(changed)} may only grow")
    log.info("extending the run: %s", ", ".join(f"{k} {a[k]} -> {b[k]}" for k in changed))
    return given

