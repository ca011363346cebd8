"""What every training run shares: the CSV step log, optional TensorBoard, and Ctrl-C/SIGTERM handling.

A run directory looks like::

    RUN_DIR/
      config.toml        the validated config that ran
      log.csv            one row per logged step (all metrics)
      checkpoints/last.pt, checkpoints/best.pt
      report.json/.md    evaluation (optional): molgen evaluate --model RUN_DIR --report-dir RUN_DIR
"""

from __future__ import annotations

import csv
import logging
import math
import os
import signal
import threading
from pathlib import Path
from typing import Any, Mapping

from molgen.atomic import atomic_open

log = logging.getLogger(__name__)


class CSVLogger:
    """Append-only CSV of per-step metrics. On resume, rows past the resumed step are dropped
    so a resumed run's log equals an uninterrupted one's."""

    def __init__(self, path: str | os.PathLike, resume_step: int | None = None, step_key: str = "step") -> None:
        self.path = Path(path)
        self.step_key = step_key
        self.fieldnames: list[str] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            if self.path.exists():
                self.path.unlink()
        elif self.path.exists():
            with open(self.path, newline="") as fh:
                reader = csv.DictReader(fh)
                self.fieldnames = list(reader.fieldnames or [])
                rows = [r for r in reader if r.get(step_key) not in (None, "") and int(float(r[step_key])) <= resume_step]
            with atomic_open(self.path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=self.fieldnames)
                writer.writeheader()
                writer.writerows(rows)

    def log(self, row: Mapping[str, Any]) -> None:
        """Write one row; new keys after the first row are an error (fixed schema per run)."""
        row = {k: (float(v) if hasattr(v, "item") else v) for k, v in row.items()}
        new_file = not self.path.exists() or self.path.stat().st_size == 0
        if self.fieldnames is None:
            self.fieldnames = list(row)
        missing = [k for k in row if k not in self.fieldnames]
        if missing:
            raise KeyError(f"{self.path}: columns {missing} were not in the first logged row")
        with open(self.path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.fieldnames)
            if new_file:
                writer.writeheader()
            writer.writerow(row)


class TensorBoardLogger:
    """Mirror of the CSV log to TensorBoard when the ``tensorboard`` package is installed; else a no-op
    that says so once at start."""

    def __init__(self, log_dir: str | os.PathLike, enabled: bool = True) -> None:
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.info("tensorboard not installed: logging to CSV only (pip install tensorboard to enable)")
            return
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, row: Mapping[str, Any], step: int) -> None:
        if self.writer is None:
            return
        for k, v in row.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class GracefulInterrupt:
    """Turn the first SIGINT/SIGTERM into a flag the training loop polls (then it checkpoints and
    exits); a second one interrupts at once. Only installs handlers in the main thread."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint and stopping (press Ctrl-C again to abort now)", self.signal_name)

    def __enter__(self) -> "GracefulInterrupt":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
