"""``runtrack rerun RUN --set key=value``: how a changed config value reaches the script.

1. A Hydra run: a Hydra override on the command line (``key=value`` replacing the recorded
   one, ``++key=value`` for a key the composed config does not have).
2. A key given as an option on the recorded command line (``--lr 0.1``, ``--lr=0.1``;
   ``--batch-size`` for ``batch_size``): the value is replaced there, and the script
   parses it as it did the first time.
3. Otherwise: ``RUNTRACK_CONFIG_OVERRIDES``: ``runtrack.init`` sets the value in the config
   object it is given (a dict, an ``argparse.Namespace``, a mutable dataclass: in place, so
   the script uses it) and records it. What the script read from its config before
   calling ``init`` keeps the old value: give such values on the command line.

Values are parsed as JSON where they can be (``0.1``, ``true``, ``null``, ``[1, 2]``),
else taken as strings, then given the type of the recorded value (``--set lr=1`` stays a
float when the recorded ``lr`` is one; a recorded string stays a string).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import configdoc
from ..errors import ValidationError

__all__ = ["ConfigChange", "parse_sets", "plan_changes"]

_MISSING = object()


@dataclass
class ConfigChange:
    """The command line to run and the overrides for the SDK, with how each key went."""

    script_args: list[str]
    sdk_overrides: dict[str, Any] = field(default_factory=dict)
    how: dict[str, dict[str, Any]] = field(default_factory=dict)


def parse_sets(items: Sequence[str]) -> dict[str, str]:
    """``["lr=0.1", "model.depth=3"]`` -> ``{"lr": "0.1", "model.depth": "3"}`` (raw
    text; typed later against the recorded config). Raises ``ValidationError``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or key.startswith(("-", "+")):
            raise ValidationError(f"--set {item!r} must be key=value (e.g. --set lr=0.01)")
        if key in out:
            raise ValidationError(f"--set gives {key!r} twice")
        out[key] = value
    return out


def typed(raw: str, recorded: Any = _MISSING) -> Any:
    """``raw`` as a JSON value if it is one, else the string; with the recorded type."""
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    if recorded is _MISSING or recorded is None:
        return value
    if isinstance(recorded, bool):
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        return value
    if isinstance(recorded, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(recorded, str) and not isinstance(value, str):
        return raw
    return value


def plan_changes(
    sets: Mapping[str, str],
    script_args: Sequence[str],
    config: Mapping[str, Any],
    hydra: Mapping[str, Any] | None,
    carried: Mapping[str, Any],
) -> ConfigChange:
    """Where each ``--set`` goes (see the module docstring). ``carried``: overrides the
    SDK applied when the original run was made (a rerun being reproduced): kept unless
    ``sets`` changes them."""
    flat = configdoc.flatten(dict(config))
    args = list(script_args)
    change = ConfigChange(script_args=args, sdk_overrides=dict(carried))
    for key, raw in sets.items():
        recorded = flat.get(key, _MISSING)
        value = typed(raw, recorded)
        entry: dict[str, Any] = {
            "requested": value,
            "original": None if recorded is _MISSING else recorded,
        }
        if hydra is not None:
            _hydra_override(args, key, raw, known=recorded is not _MISSING)
            entry["via"] = "hydra override"
        elif _replace_option(args, key, raw):
            entry["via"] = "command line"
        else:
            change.sdk_overrides[key] = value
            entry["via"] = "RUNTRACK_CONFIG_OVERRIDES"
        change.how[key] = entry
    return change


def _hydra_override(args: list[str], key: str, raw: str, *, known: bool) -> None:
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            continue
        name, sep, _ = arg.partition("=")
        if sep and name.lstrip("+~") == key:
            prefix = name[: len(name) - len(name.lstrip("+~"))]
            args[i] = f"{'' if prefix == '~' else prefix}{key}={raw}"
            return
    args.append(f"{key}={raw}" if known else f"++{key}={raw}")


def _replace_option(args: list[str], key: str, raw: str) -> bool:
    """Replace the value of ``--key`` / ``--key-with-dashes`` in ``args``; False if the
    option is not there with a value."""
    names = {f"--{key}", f"--{key.replace('_', '-')}"}
    for i, arg in enumerate(args):
        if arg == "--":
            return False
        name, sep, _ = arg.partition("=")
        if sep and name in names:
            args[i] = f"{name}={raw}"
            return True
        if arg in names and i + 1 < len(args) and not _is_option(args[i + 1]):
            args[i + 1] = raw
            return True
    return False


def _is_option(arg: str) -> bool:
    if not arg.startswith("-") or arg == "-":
        return False
    try:  # a negative number is a value
        float(arg)
    except ValueError:
        return True
    return False


def multirun_args(script_args: Sequence[str], task_overrides: Sequence[str]) -> list[str]:
    """A job of a Hydra multirun: the sweep's command line without ``-m`` and its
    overrides, plus this job's own overrides."""
    kept = [
        a
        for a in script_args
        if a not in ("-m", "--multirun") and ("=" not in a or a.startswith("-"))
    ]
    return [*kept, *task_overrides]
