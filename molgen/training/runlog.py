"""The run log every family writes: the CSV step log, optional TensorBoard, and Ctrl-C/SIGTERM handling.

The run folder's layout is described in :mod:`molgen.training.rundir`.
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
            self.fieldnames, rows = self._read_for_resume(resume_step)
            if self.fieldnames is None:  # nothing readable: start the log afresh
                self.path.unlink()
                return
            with atomic_open(self.path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=self.fieldnames)
                writer.writeheader()
                writer.writerows(rows)

    def _read_for_resume(self, resume_step: int) -> tuple[list[str] | None, list[dict[str, str]]]:
        """Header and rows up to ``resume_step``. A torn last line (the process died mid-write) and NUL
        padding at the end (a crash on some file systems) are repaired with a warning; damage anywhere
        else is an :class:`InputError` naming the line, never a bogus row."""
        from molgen.errors import InputError

        raw = self.path.read_bytes()
        text = raw.rstrip(b"\0")
        if len(text) < len(raw):
            log.warning("%s: removed %d NUL bytes from the end of the log", self.path, len(raw) - len(text))
        if text and not text.endswith(b"\n"):
            cut = text.rfind(b"\n") + 1
            log.warning("%s: dropped a torn last line %r (the run stopped while writing it)", self.path, text[cut:][:60])
            text = text[:cut]
        if b"\0" in text:
            line = text[: text.index(b"\0")].count(b"\n") + 1
            raise InputError(f"{self.path}, line {line}: NUL bytes inside the log; the log is damaged "
                             "(move it away to resume; the checkpoint is intact)")
        try:
            lines = text.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.path}: the log is not UTF-8 text ({exc.reason}); move it away to resume") from None
        if not lines:
            return None, []
        parsed = list(csv.reader(lines))
        header, rows = parsed[0], []
        for lineno, fields in enumerate(parsed[1:], start=2):
            row = dict(zip(header, fields))
            try:
                if len(fields) != len(header):
                    raise ValueError(f"{len(fields)} fields, the header has {len(header)}")
                step = int(float(row[self.step_key])) if row.get(self.step_key) not in (None, "") else None
            except ValueError as exc:
                raise InputError(f"{self.path}, line {lineno}: damaged log row ({exc}); "
                                 "move the log away to resume (the checkpoint is intact)") from None
            if step is not None and step <= resume_step:
                rows.append(row)
        return header, rows

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
