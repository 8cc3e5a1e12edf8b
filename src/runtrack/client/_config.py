"""Run config normalisation: whatever the user passes becomes plain, typed JSON data.

A run's config is recorded once and never changes, so it must be data that every store,
the query language and ``runtrack reproduce`` read back exactly as it was given:

* accepted containers: ``None`` (empty), any ``Mapping``, ``argparse.Namespace``, dataclass
  instances (recursively), OmegaConf ``DictConfig``/``ListConfig`` (interpolations resolved),
  lists, tuples, sets and frozensets (sets are sorted so the record is deterministic);
* accepted leaves: ``str``, ``int``, ``float`` (NaN and infinities included), ``bool``,
  ``None``; converted leaves: numpy/torch scalars (``.item()``), numpy/torch arrays of at
  most :data:`MAX_ARRAY_SIZE` elements (``.tolist()``), ``pathlib.PurePath`` (``str``),
  ``enum.Enum`` (its value, normalised again), ``datetime``/``date``/``time`` (ISO 8601);
* keys must be non-empty ``str`` of at most :data:`MAX_KEY_LENGTH` characters without control
  characters. A key may contain ``.``, unless its dotted name collides with another key once
  the config is flattened (``{"a.b": 1, "a": {"b": 2}}``);
* nesting deeper than :data:`MAX_DEPTH` and self-referencing containers are refused.

Anything else raises :class:`~runtrack.errors.ConfigError` naming the dotted path of the
value. Subclasses of ``str``/``int``/``float`` become the plain builtin type, so what is
recorded is exactly what is read back. Nothing here imports numpy, torch or omegaconf:
their values are recognised by duck typing and omegaconf is imported only to resolve a
``DictConfig`` that was actually passed.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any, Final

from .. import configdoc
from ..errors import ConfigError

__all__ = [
    "MAX_ARRAY_SIZE",
    "MAX_DEPTH",
    "MAX_KEY_LENGTH",
    "flatten_config",
    "merge_config",
    "normalize_config",
]

MAX_DEPTH: Final = 50
"""Containers nested more deeply than this are refused (``a.b.c...`` with > 50 parts)."""
MAX_KEY_LENGTH: Final = 250
MAX_ARRAY_SIZE: Final = 1000
"""numpy/torch arrays with more elements are refused: log them as an artifact instead."""

_ACCEPTED = "use a str, number, bool, None, list or dict"
_ARRAY_MODULES: Final = frozenset({"numpy", "torch", "jax", "jaxlib", "cupy"})


def normalize_config(obj: object) -> dict[str, Any]:
    """Turn a user's config into plain nested JSON-compatible data with types kept.

    Returns a new ``dict``; the input is never modified. Raises ``ConfigError`` naming the
    dotted path, the offending type and what is accepted.
    """
    if obj is None:
        return {}
    top = _as_mapping(obj, "")
    if top is None:
        raise ConfigError(
            f"config has type {_type_name(obj)}, which cannot be recorded; pass a dict, "
            "argparse.Namespace, dataclass instance or OmegaConf DictConfig"
        )
    out = _normalize_mapping(top, id(obj), "", 0, set())
    _check_collisions(out)
    return out


def flatten_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys -> leaf values: ``{"model": {"depth": 6}}`` -> ``{"model.depth": 6}``.

    Lists are leaves (returned as lists), an empty mapping is a leaf ``{}``; see
    :func:`runtrack.configdoc.flatten`.
    """
    return configdoc.flatten(normalize_config(config))


def merge_config(recorded: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``recorded`` with the keys of ``update`` (normalised first) added at any depth.

    Re-setting a value is fine (NaN equals NaN, ``1`` equals ``1.0``, never ``True``);
    changing one, or replacing a section by a leaf or back, raises ``ConfigError``, as do
    dotted keys that collide once expanded. Neither argument is modified.
    """
    merged = configdoc.merge(normalize_config(recorded), normalize_config(update))
    _check_collisions(merged)
    return merged


# --------------------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------------------
def _normalize_mapping(
    mapping: Mapping[Any, Any], marker: int, path: str, depth: int, stack: set[int]
) -> dict[str, Any]:
    """``marker`` is the id of the user's object (a dataclass, not its field view)."""
    if depth >= MAX_DEPTH:
        raise ConfigError(
            f"config value at {_where(path)} is nested more than {MAX_DEPTH} levels deep"
        )
    if marker in stack:
        raise ConfigError(f"config value at {_where(path)} contains itself (a reference cycle)")
    stack.add(marker)
    try:
        out: dict[str, Any] = {}
        for key, value in mapping.items():
            name = _check_key(key, path)
            child = f"{path}.{name}" if path else name
            out[name] = _normalize_value(value, child, depth + 1, stack)
        return out
    finally:
        stack.discard(marker)


def _normalize_sequence(items: Any, path: str, depth: int, stack: set[int]) -> list[Any]:
    if depth >= MAX_DEPTH:
        raise ConfigError(
            f"config value at {_where(path)} is nested more than {MAX_DEPTH} levels deep"
        )
    marker = id(items)
    if marker in stack:
        raise ConfigError(f"config value at {_where(path)} contains itself (a reference cycle)")
    stack.add(marker)
    try:
        return [_normalize_value(v, f"{path}[{i}]", depth + 1, stack) for i, v in enumerate(items)]
    finally:
        stack.discard(marker)


def _normalize_value(value: Any, path: str, depth: int, stack: set[int]) -> Any:
    # Exact builtin leaves first: by far the common case.
    kind = type(value)
    if kind is int or (isinstance(value, int) and not isinstance(value, bool)):
        value = int.__index__(value)
        if not -(2**63) <= value < 2**64:
            raise ConfigError(
                f"config value at {_where(path)} is an integer beyond 64 bits ({len(str(value))} "
                "digits), which the tracking server cannot carry; record it as a string"
            )
        return value
    if value is None or kind is str or kind is bool or kind is float:
        return value
    if isinstance(value, enum.Enum):
        return _normalize_value(value.value, path, depth, stack)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, list | tuple):
        return _normalize_sequence(value, path, depth, stack)
    if isinstance(value, set | frozenset):
        return _sorted(_normalize_sequence(list(value), path, depth, stack))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if _is_array_like(value):
        return _normalize_array(value, path, depth, stack)
    if _is_omegaconf(value) and type(value).__name__ == "ListConfig":
        return _normalize_sequence(_omegaconf_container(value, path), path, depth, stack)
    mapping = _as_mapping(value, path)
    if mapping is not None:
        return _normalize_mapping(mapping, id(value), path, depth, stack)
    raise ConfigError(
        f"config value at {_where(path)} has type {_type_name(value)}, which cannot be "
        f"recorded; {_ACCEPTED}"
    )


def _as_mapping(value: Any, path: str) -> Mapping[Any, Any] | None:
    """The mapping view of a dict-like config object, or None when it is not one."""
    if isinstance(value, Mapping) and not _is_omegaconf(value):
        return value
    if isinstance(value, argparse.Namespace):
        return vars(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _DataclassView(value)
    if _is_omegaconf(value) and type(value).__name__ == "DictConfig":
        container = _omegaconf_container(value, path)
        return container if isinstance(container, Mapping) else None
    return None


class _DataclassView(Mapping[str, Any]):
    """The fields of a dataclass instance, read lazily (no ``asdict`` deep copy)."""

    def __init__(self, obj: Any) -> None:
        self._obj = obj
        self._names = [f.name for f in dataclasses.fields(obj)]

    def __getitem__(self, key: str) -> Any:
        return getattr(self._obj, key)

    def __iter__(self) -> Any:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _is_omegaconf(value: Any) -> bool:
    return type(value).__module__.startswith("omegaconf")


def _omegaconf_container(value: Any, path: str) -> Any:
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(value, resolve=True)
    except Exception as exc:  # omegaconf raises its own error types for bad interpolations
        raise ConfigError(
            f"config value at {_where(path)} could not be resolved by OmegaConf: {exc}"
        ) from exc


def _is_array_like(value: Any) -> bool:
    root = type(value).__module__.partition(".")[0]
    return root in _ARRAY_MODULES and hasattr(value, "item") and hasattr(value, "tolist")


def _normalize_array(value: Any, path: str, depth: int, stack: set[int]) -> Any:
    size = _array_size(value)
    if size is None:
        raise ConfigError(
            f"config value at {_where(path)} has type {_type_name(value)}, which cannot be "
            f"recorded; {_ACCEPTED}"
        )
    ndim = getattr(value, "ndim", None)
    if ndim is None and hasattr(value, "dim"):
        ndim = value.dim()
    if ndim == 0:
        try:
            item = value.item()
        except Exception as exc:
            raise ConfigError(
                f"config value at {_where(path)} ({_type_name(value)}) could not be converted "
                f"to a Python scalar: {exc}"
            ) from exc
        return _normalize_value(item, path, depth, stack)
    if size > MAX_ARRAY_SIZE:
        raise ConfigError(
            f"config value at {_where(path)} is an array of {size:,} elements, which is too "
            f"large to record (at most {MAX_ARRAY_SIZE:,}); log it as an artifact instead"
        )
    try:
        data = value.tolist()
    except Exception as exc:
        raise ConfigError(
            f"config value at {_where(path)} ({_type_name(value)}) could not be converted to "
            f"a list: {exc}"
        ) from exc
    return _normalize_value(data, path, depth, stack)


def _array_size(value: Any) -> int | None:
    size = getattr(value, "size", None)
    if callable(size):  # torch: .size() is the shape; .numel() is the element count
        numel = getattr(value, "numel", None)
        size = numel() if callable(numel) else None
    return size if isinstance(size, int) else None


def _check_key(key: Any, path: str) -> str:
    if isinstance(key, enum.Enum) and isinstance(key, str):
        key = key.value
    if not isinstance(key, str):
        raise ConfigError(
            f"config key {key!r} at {_where(path)} has type {_type_name(key)}; "
            "config keys must be str"
        )
    name: str = str.__str__(key)
    if not name:
        raise ConfigError(f"config key at {_where(path)} is empty; config keys must be non-empty")
    if len(name) > MAX_KEY_LENGTH:
        raise ConfigError(
            f"config key {name[:40]!r}... at {_where(path)} is {len(name)} characters long; "
            f"config keys are at most {MAX_KEY_LENGTH}"
        )
    if any(ch < " " or ch == "\x7f" for ch in name):
        raise ConfigError(
            f"config key {name!r} at {_where(path)} contains a control character; "
            "config keys must be printable"
        )
    return name


def _check_collisions(config: Mapping[str, Any]) -> None:
    """Refuse a config whose flattened dotted names are ambiguous.

    ``{"a.b": 1, "a": {"b": 2}}`` names ``a.b`` twice; ``{"a.b": 1, "a": {"b": {"c": 2}}}``
    makes ``a.b`` both a value and a section. Only keys containing ``.`` can cause either.
    """
    if not _has_dotted_key(config):
        return
    seen: dict[str, None] = {}
    for name in _flat_names(config, ""):
        if name in seen:
            raise ConfigError(
                f"config key {name!r} is given twice once dotted keys are expanded; "
                "use either nested dicts or a dotted key, not both"
            )
        seen[name] = None
    for name in seen:
        parts = name.split(".")
        for end in range(1, len(parts)):
            prefix = ".".join(parts[:end])
            if prefix in seen:
                raise ConfigError(
                    f"config key {prefix!r} is both a value and a section ({name!r}) once "
                    "dotted keys are expanded; use either nested dicts or a dotted key, not both"
                )


def _has_dotted_key(config: Mapping[str, Any]) -> bool:
    for key, value in config.items():
        if "." in key:
            return True
        if isinstance(value, Mapping) and _has_dotted_key(value):
            return True
    return False


def _flat_names(config: Mapping[str, Any], prefix: str) -> Any:
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            yield from _flat_names(value, name)
        else:
            yield name


def _sorted(items: list[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:  # mixed types: still deterministic, grouped by type
        return sorted(items, key=lambda v: (type(v).__name__, repr(v)))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _where(path: str) -> str:
    return repr(path) if path else "the top level"


def _type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__
    if module in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{module}.{kind.__qualname__}"
