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
import os
import sys
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


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``: unknown keys, wrong types and bounds are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
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


def load_config(cls: type[T], path: str | os.PathLike | None, overrides: dict[str, Any] | None = None) -> T:
    """Dataclass ``cls`` from a TOML file (or defaults when ``path`` is None), errors prefixed by the file."""
    data: dict[str, Any] = load_toml(path) if path is not None else {}
    if overrides:
        data = {**data, **overrides}
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
