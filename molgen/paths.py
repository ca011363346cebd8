"""Where molgen's files are: the repository's data, apps and shipped models, and the cache root.

One module instead of a path computed in every file. ``MOLGEN_MODELS_DIR`` moves the shipped
models folder; ``MOLGEN_CACHE_DIR`` is the **root** of every cache molgen writes (encoded
training sets under ``encoded/``, metric reference statistics under ``metrics/``), default
``~/.cache/molgen``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository (or source tree) root: the folder holding ``molgen/``, ``data/`` and ``apps/``.
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
#: The shipped MOSES sample (train/test/test_scaffolds .csv.gz).
MOSES_DIR = DATA_DIR / "moses"
APPS_DIR = ROOT / "apps"
#: Shipped checkpoints: ``<name>/model.pt`` (override with ``MOLGEN_MODELS_DIR``).
MODELS_DIR = Path(os.environ.get("MOLGEN_MODELS_DIR") or DATA_DIR / "models")


def cache_dir(*parts: str) -> Path:
    """``$MOLGEN_CACHE_DIR/<parts>`` (default root ``~/.cache/molgen``), read at call time so tests can redirect it."""
    root = Path(os.environ.get("MOLGEN_CACHE_DIR") or Path.home() / ".cache" / "molgen")
    return root.joinpath(*parts)
