"""Operations on a recorded config document (nested JSON), shared by the SDK and stores.

* :func:`flatten` turns ``{"model": {"depth": 6}}`` into ``{"model.depth": 6}``; the
  flattened keys are what the query language's ``config.<dotted.key>`` names.
* :func:`merge` adds keys to a recorded config and refuses to change a recorded value:
  a run's config is a record of what produced it, not a mutable variable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaves by dotted key; lists and empty dicts are leaves. Raises ``ConfigError``
    when two spellings collide (``{"a.b": 1, "a": {"b": 2}}``)."""
    out: dict[str, Any] = {}
    stack: list[tuple[str, Mapping[str, Any]]] = [(prefix, config)]
    while stack:
        pre, node = stack.pop()
        for key, value in node.items():
            dotted = f"{pre}{key}"
            if isinstance(value, Mapping) and value:
                stack.append((dotted + ".", value))
                continue
            if dotted in out:
                raise ConfigError(
                    f"config key {dotted!r} is given twice (as a dotted key and as a nested key)"
                )
            out[dotted] = value
    return out


def same_value(a: Any, b: Any) -> bool:
    """JSON equality where NaN equals NaN and 1 == 1.0 but True != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def merge(
    recorded: Mapping[str, Any], update: Mapping[str, Any], _path: str = ""
) -> dict[str, Any]:
    """The recorded config with ``update``'s new keys added (at any depth).

    Setting a recorded key to the same value is fine; to a different value raises
    ``ConfigError`` and nothing changes.
    """
    out = dict(recorded)
    for key, value in update.items():
        path = f"{_path}{key}"
        if key not in out:
            out[key] = value
            continue
        old = out[key]
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = merge(old, value, path + ".")
        elif not same_value(old, value):
            raise ConfigError(
                f"config key {path!r} is already recorded as {old!r}; recorded values cannot "
                f"change (got {value!r})"
            )
    return out
