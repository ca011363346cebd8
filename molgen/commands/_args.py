"""Argument types shared by the commands: command-line values pass the same checks as config keys
(:func:`molgen.config.check_value`), so ``--temperature nan`` or ``--seed -1`` fail at parse time with
one clear line (and ``-j 1000`` is capped to the cores), as ``temperature = nan`` or ``seed = -5`` in a TOML file do.

Use them as ``type=`` of ``add_argument``: ``p.add_argument("--seed", type=seed)``.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any, Callable

from molgen.config import SEED_BOUNDS, check_value
from molgen.errors import ConfigError
from molgen.precision import PRECISIONS

log = logging.getLogger("molgen")


def _checked(kind: type, meta: dict[str, Any], what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            return check_value(value, meta, "value")
        except ConfigError as exc:  # argparse names the option: "argument --seed: -1 must be >= 0"
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None

    parse.__name__ = what  # argparse names the type in its messages
    return parse


#: a run or sampling seed (0 .. 2**32 - 1, the config's ``seed`` bounds)
seed = _checked(int, SEED_BOUNDS, "a seed")
#: a finite number > 0 (temperatures, scales)
positive_float = _checked(float, {"gt": 0.0}, "a positive number")
#: a finite number >= 0 (budgets, where 0 means none)
non_negative_float = _checked(float, {"ge": 0.0}, "a non-negative number")
#: an integer >= 1 (counts, batch sizes)
positive_int = _checked(int, {"ge": 1}, "a positive integer")
#: an integer >= 0
count = _checked(int, {"ge": 0}, "a non-negative integer")
#: a numeric precision (fp32, bf16 or auto; :mod:`molgen.precision`), as the configs' ``precision`` key
precision = _checked(str, {"choices": PRECISIONS}, "a precision")


def jobs(text: str) -> int:
    """Worker processes: at least 1; more than the machine's cores is capped to them with a warning
    (``-j 1000`` once forked 1,000 workers; extra processes only oversubscribe the CPUs)."""
    n = positive_int(text)
    cores = os.cpu_count() or 1
    if n > cores:
        log.warning("-j %d: this machine has %d cores; using %d worker processes", n, cores, cores)
    return min(n, cores)


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def byte_size(text: str) -> int:
    """A size in bytes, with an optional K/M/G suffix (binary: 64M = 64 MiB): at least 1 byte."""
    body = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = body[-1:] if body[-1:] in ("k", "m", "g") else ""
    try:
        value = float(body[: len(body) - len(unit)]) * _SIZE_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 65536, 512K or 64M, got {text!r}") from None
    if not 1 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"a size must be at least 1 byte, got {text!r}")
    return int(value)
