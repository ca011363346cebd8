"""Atomic file output: write to a temporary file beside the target, then ``os.replace``.

A crash or Ctrl-C mid-write leaves the previous file intact, never a truncated one, and the
temporary is removed on any exception (the CLI turns SIGTERM into one, so it is removed then too).
Every writer goes through here, so the operating system's refusals become one line each
(:class:`~molgen.errors.OutputError`): a directory where a file is wanted, a folder without write
permission or on a read-only file system, a full disk (also when a library reports it as something
else, such as torch's "unexpected pos"). :func:`check_output_path` asks the same before the work.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from molgen.errors import MolgenError, OutputError

# errno -> what the user is told; anything else is not a refusal to write and passes through
_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "a parent in the path is a file, not a folder",
    errno.EIO: "input/output error",
    errno.ENAMETOOLONG: "file name too long",
}
_DISK_FULL_BYTES = 1 << 20  # below this much free space an unexplained write failure is a full disk


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _output_error(target: Path, exc: OSError) -> OutputError:
    reason = _WRITE_ERRORS.get(exc.errno) or exc.strerror or str(exc)
    return OutputError(f"{target}: cannot write: {reason}")


def _disk_full(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < _DISK_FULL_BYTES


def _refuse_special(target: Path) -> None:
    """A directory, device, pipe or socket at ``target`` would be replaced by a plain file (a
    device node too, when run as root): refuse it."""
    if target.is_dir():
        raise OutputError(f"{target}: is a directory; give a file name to write")
    if target.exists() and not target.is_file():
        raise OutputError(f"{target}: is not a regular file (a device, pipe or socket); give a file name to write")


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail with one line, before any work, when ``path`` cannot be written as a file.

    Catches an existing directory (or device, pipe, socket) at ``path``, a parent that is a file, and a folder where no
    file can be created (permissions, read-only file system: probed with a real temporary file).
    Missing parent folders are fine (they are created on writing) if the nearest existing one is
    writable.
    """
    target = Path(path)
    _refuse_special(target)
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{target}: cannot write: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _output_error(target, exc) from None
    os.close(fd)
    os.unlink(probe)
    return target


def _make_temp(target: Path) -> Path:
    """An empty hidden temporary beside ``target`` (``.name.XXXX.tmp``)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    An OS refusal to write (see :data:`_WRITE_ERRORS`) anywhere in the block, or any failure
    while the disk is full, becomes an :class:`~molgen.errors.OutputError` naming ``path``.
    """
    target = Path(path)
    _refuse_special(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = _make_temp(target)
    except OSError as exc:
        raise _output_error(target, exc) from None
    try:
        yield tmp_path
        # mkstemp makes 0600 files: give the result the mode a plain open() would (or keep the old file's)
        os.chmod(tmp_path, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except OSError as exc:
        # an error on another file (an input read inside the block) is not ours to rename
        if exc.errno in _WRITE_ERRORS and exc.filename in (None, str(tmp_path), str(target)):
            raise _output_error(target, exc) from exc
        raise
    except MolgenError:
        raise
    except Exception as exc:
        if _disk_full(target.parent):  # torch's zip writer says "unexpected pos N" for ENOSPC
            raise OutputError(f"{target}: cannot write: no space left on device ({exc})") from exc
        raise
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open`` that writes atomically (modes ``w``/``wb``/``wt``)."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open supports write modes only, got {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
