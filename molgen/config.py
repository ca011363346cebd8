"""TOML run configs validated where they enter, into dataclasses.

A typo or an out-of-range value fails at start with the file, the key and what is
allowed, not after an hour of training. Bounds and choices live in field metadata::

    @dataclass
    class TrainConfig:
        lr: float = field(default=1e-3, metadata={"gt": 0})
        optimizer: str = field(default="adam", metadata={"choices": ("adam", "adamw")})
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
import os
import sys
import contextlib
import contextvars
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from molgen.errors import ConfigError

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Set by :func:`quiet_renames`: old keys read from a checkpoint are migrated without a warning
#: (the user cannot edit a checkpoint; the warning is for their TOML files).
_QUIET_RENAMES: contextvars.ContextVar[bool] = contextvars.ContextVar("quiet_renames", default=False)


@contextlib.contextmanager
def quiet_renames() -> typing.Iterator[None]:
    """Within the block, deprecated config keys are migrated at debug level instead of warned about."""
    token = _QUIET_RENAMES.set(True)
    try:
        yield
    finally:
        _QUIET_RENAMES.reset(token)


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML file; a syntax error becomes a :class:`ConfigError` naming file and line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        with open(p, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a UTF-8 text file ({exc.reason})") from exc


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        kt, vt = args or (Any, Any)
        return {_coerce(k, kt, where): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table [{where}], got {type(value).__name__}")
        return from_dict(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):  # TOML allows nan and inf; no setting means them
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def _check_bounds(value: Any, meta: typing.Mapping, where: str) -> None:
    if value is None:
        return
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, meta['choices']))}")
    for key, op, text in (("ge", float.__ge__, ">="), ("gt", float.__gt__, ">"), ("le", float.__le__, "<="), ("lt", float.__lt__, "<")):
        if key in meta and isinstance(value, (int, float)) and not op(float(value), float(meta[key])):
            raise ConfigError(f"{where}: {value!r} must be {text} {meta[key]}")


#: bounds of every run seed (config files and command lines alike): what NumPy, torch and the
#: sampling streams all accept
SEED_BOUNDS: dict[str, int] = {"ge": 0, "le": 2**32 - 1}


def check_value(value: Any, meta: typing.Mapping, where: str) -> Any:
    """``value`` checked against field-style bounds (``ge``/``gt``/``le``/``lt``/``choices``), non-finite
    numbers refused: the one check for config keys and command-line values (:class:`ConfigError`)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    _check_bounds(value, meta, where)
    return value


def override(cfg: Any, key: str, value: Any, where: str) -> None:
    """Set top-level field ``key`` of dataclass ``cfg`` (e.g. ``--seed``) after the checks its field declares."""
    field = next(f for f in dataclasses.fields(cfg) if f.name == key)
    setattr(cfg, key, check_value(_coerce(value, typing.get_type_hints(type(cfg))[key], where), field.metadata, where))


def migrate(data: dict[str, Any], renamed: typing.Mapping[str, str], where: str = "config") -> dict[str, Any]:
    """``data`` with deprecated keys moved to their new dotted paths (``{"model.gru_size": "model.hidden_size"}``).

    Old TOML files and checkpoints keep loading; each old key found is reported once with a
    deprecation warning naming the new key. Giving both the old and the new key is an error,
    never a silent choice.
    """
    out = json.loads(json.dumps(data, default=str)) if renamed else data  # deep copy of plain data
    for old, new in renamed.items():
        *old_parents, old_key = old.split(".")
        table = out
        for part in old_parents:
            table = table.get(part) if isinstance(table, dict) else None
        if not isinstance(table, dict) or old_key not in table:
            continue
        value = table.pop(old_key)
        *new_parents, new_key = new.split(".")
        target = out
        for part in new_parents:
            target = target.setdefault(part, {})
        if new_key in target:
            raise ConfigError(f"{where}: both {old!r} (deprecated) and {new!r} are given; keep only {new!r}")
        target[new_key] = value
        level = logging.DEBUG if _QUIET_RENAMES.get() else logging.WARNING
        log.log(level, "%s: config key %r is deprecated, read as %r (rename it)", where, old, new)
    return out


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``: unknown keys, wrong types and bounds are errors.

    A class with a ``RENAMED`` mapping (old dotted key -> new dotted key) reads its old keys
    too (see :func:`migrate`).
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    data = migrate(data, getattr(cls, "RENAMED", {}), where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(fields)})"
        raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    kwargs = {}
    for name, value in data.items():
        sub = f"{where}.{name}"
        coerced = _coerce(value, hints[name], sub)
        _check_bounds(coerced, fields[name].metadata, sub)
        kwargs[name] = coerced
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return obj


def load_config(cls: type[T], path: str | os.PathLike | None) -> T:
    """Dataclass ``cls`` from a TOML file (or defaults when ``path`` is None), errors prefixed by the file."""
    data: dict[str, Any] = load_toml(path) if path is not None else {}
    try:
        return from_dict(cls, data, where=Path(path).name if path is not None else "config")
    except ConfigError as exc:
        if path is not None and not str(exc).startswith(str(path)):
            raise ConfigError(f"{path}: {exc}") from exc
        raise


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain dict (tuples as lists) for checkpoints and logs."""
    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(dataclasses.asdict(cfg))


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    raise TypeError(f"cannot write {v!r} to TOML")


def to_toml(data: typing.Mapping[str, Any]) -> str:
    """TOML text of a config dict (``to_dict`` output): scalars first, then one ``[table]`` per
    sub-config (nested as ``[a.b]``); ``None`` values are left out (they mean "unset").

    This is what ran, written to ``RUN_DIR/config.toml``; :func:`load_config` reads it back to
    the same config.
    """
    def table(d: typing.Mapping[str, Any], name: str) -> list[str]:
        lines = [f"{k} = {_toml_value(v)}" for k, v in d.items()
                 if v is not None and not (isinstance(v, dict) and v)]
        if name and (lines or not d):
            lines = ["", f"[{name}]", *lines]
        for k, v in d.items():
            if isinstance(v, dict) and v:
                lines += table(v, f"{name}.{k}" if name else k)
        return lines

    return "\n".join(table(data, "")).lstrip("\n") + "\n"
