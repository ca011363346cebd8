"""Domain exceptions. The CLI turns them into one clear line and an exit code."""

from __future__ import annotations


class MolgenError(Exception):
    """A failure the user can act on (bad file, bad config, …): message shown as is, exit 1."""

    exit_code = 1


class UsageError(MolgenError):
    """Wrong command-line usage (bad option value, unknown name): exit 2."""

    exit_code = 2


class InputError(MolgenError):
    """Unreadable or malformed input file. Message names the file (and line when known)."""


class ConfigError(UsageError):
    """An invalid TOML config: message names the file, the key and the allowed values."""


class CheckpointError(MolgenError):
    """A file that is not a readable molgen checkpoint of the expected kind (names file and reason)."""


class OutputError(MolgenError):
    """An output that cannot be written (directory, permissions, disk full): names the path and reason."""


class ClusterError(MolgenError):
    """A Dask cluster that cannot be reached or lost a task for good: names the scheduler or the partition."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that ``finally`` blocks run (workers ended, temp files removed); exit 143."""
