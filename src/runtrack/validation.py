"""Input rules shared by the SDK (which checks before anything is journaled) and every
store (which checks again, because a store may face an untrusted client).

Each function returns the normalised value or raises ``ValidationError`` naming what was
wrong and the rule. Standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from .entities import RUN_STATUSES
from .errors import RunNotFoundError, SweepNotFoundError, ValidationError

MAX_KEY_LEN = 250
MAX_TAG_VALUE_LEN = 5000
MAX_NOTES_LEN = 1_000_000
MAX_NAME_LEN = 250
MAX_STEP = 2**63 - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_RUN_ID = re.compile(r"^[0-9a-z]{4,32}\Z")
_STREAM = re.compile(r"^[0-9A-Za-z_-]{1,64}\Z")


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: what no store keeps as text: a NUL (PostgreSQL refuses it) or a lone surrogate (no UTF-8)
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as text (a NUL, which PostgreSQL refuses, or a lone
    surrogate, which is no UTF-8), or None."""
    m = UNSTORABLE_TEXT.search(text)
    if m is None:
        return None
    if m.group() == "\x00":
        return f"contains a NUL character at position {m.start()}"
    code = ord(m.group())
    return f"contains a lone surrogate ({code:#06x}) at position {m.start()}, which is not text"


def check_text(value: object, what: str, limit: int) -> str:
    """A free-text field: a string of at most ``limit`` characters that can be stored."""
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(f"{what} must be a string of at most {limit:,} characters")
    why = unstorable(value)
    if why:
        raise ValidationError(f"{what} {why}")
    return value


def check_key(key: object, what: str = "metric key") -> str:
    if not isinstance(key, str):
        raise ValidationError(f"{what} {_show(key)} is a {type(key).__name__}; keys are strings")
    if not key:
        raise ValidationError(f"{what} is empty")
    if len(key) > MAX_KEY_LEN:
        raise ValidationError(
            f"{what} {_show(key)} is {len(key)} characters long; the limit is {MAX_KEY_LEN}"
        )
    if _CONTROL.search(key):
        raise ValidationError(f"{what} {_show(key)} contains a control character")
    return key


def check_metric_value(key: str, value: object) -> float:
    """Floats, ints and bools (stored as floats), and anything with ``__float__`` that is
    not a string (numpy and torch scalars). NaN and infinities are kept as they are."""
    if type(value) is float:
        return value
    if isinstance(value, str | bytes | bytearray) or value is None:
        raise ValidationError(
            f"metric {key!r} has value {_show(value)} ({type(value).__name__}); "
            "metric values must be numbers"
        )
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(
            f"metric {key!r} has value {_show(value)} ({type(value).__name__}); "
            "metric values must be numbers (int, float, bool or a scalar array/tensor)"
        ) from None


def check_step(step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        if hasattr(step, "__index__") and not isinstance(step, bool):
            step = step.__index__()
        else:
            raise ValidationError(f"step {_show(step)} must be an integer >= 0")
    assert isinstance(step, int)
    if step < 0 or step > MAX_STEP:
        raise ValidationError(f"step {step} must be an integer between 0 and 2**63-1")
    return step


MAX_TIMESTAMP = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last second a datetime holds


def check_timestamp(value: object, what: str) -> float:
    """A POSIX time (seconds) a datetime can hold: finite, from 1970 to the year 9999."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} {_show(value)} must be a POSIX time in seconds")
    t = float(value)
    if not math.isfinite(t) or not 0.0 <= t <= MAX_TIMESTAMP:
        raise ValidationError(
            f"{what} {_show(value)} must be a POSIX time in seconds between 0 (1970) and "
            f"{MAX_TIMESTAMP:.0f} (year 9999)"
        )
    return t


def check_tags(tags: object) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ValidationError(f"tags must be a dict of str to str, got {type(tags).__name__}")
    out: dict[str, str] = {}
    for k, v in tags.items():
        check_key(k, "tag key")
        if isinstance(v, bool | int | float) and not (isinstance(v, float) and math.isnan(v)):
            v = str(v).lower() if isinstance(v, bool) else str(v)
        if not isinstance(v, str):
            raise ValidationError(
                f"tag {k!r} has value {_show(v)} ({type(v).__name__}); tag values are strings"
            )
        if len(v) > MAX_TAG_VALUE_LEN:
            raise ValidationError(
                f"tag {k!r} value is {len(v)} characters long; the limit is {MAX_TAG_VALUE_LEN}"
            )
        if "\x00" in v:
            raise ValidationError(f"tag {k!r} value contains a NUL character")
        out[k] = v
    return out


def check_project(name: object) -> str:
    if not isinstance(name, str) or not _PROJECT.match(name):
        raise ValidationError(
            f"project name {_show(name)} is invalid: use 1-100 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )
    return name


def check_run_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"run name {_show(name)} must be a non-empty string")
    if len(name) > MAX_NAME_LEN or _CONTROL.search(name):
        raise ValidationError(
            f"run name {_show(name)} must be at most {MAX_NAME_LEN} characters without "
            "control characters"
        )
    return name


def check_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ValidationError(
            f"run id {_show(run_id)} is malformed: run ids are 4-32 lowercase letters and digits"
        )
    return run_id


def check_existing_run_id(run_id: object) -> str:
    """For calls on a run that must exist: an id of the wrong shape names no run, so it is
    ``RunNotFoundError`` (with the rule), not a validation error; a non-string is one."""
    if not isinstance(run_id, str):
        raise ValidationError(f"run id must be a string, got {type(run_id).__name__}")
    if not _RUN_ID.match(run_id):
        raise RunNotFoundError(
            f"run {_show(run_id)} does not exist (run ids are 4-32 lowercase letters and "
            "digits, e.g. 1m8bf8w3j8zwqrh5)"
        )
    return run_id


def check_sweep_id(sweep_id: object) -> str:
    """For calls on a sweep: an id of the wrong shape (or not a string) names no sweep, so
    it is ``SweepNotFoundError``, with the rule."""
    if not isinstance(sweep_id, str) or not _RUN_ID.match(sweep_id):
        raise SweepNotFoundError(
            f"sweep {_show(sweep_id)} does not exist (sweep ids are 4-32 lowercase letters "
            "and digits, as `runtrack sweep ls` prints them)"
        )
    return sweep_id


def check_stream(stream: object) -> str:
    if not isinstance(stream, str) or not _STREAM.match(stream):
        raise ValidationError(f"stream id {_show(stream)} is malformed")
    return stream


def check_notes(notes: object) -> str | None:
    if notes is None:
        return None
    if not isinstance(notes, str):
        raise ValidationError(f"notes must be a string, got {type(notes).__name__}")
    if len(notes) > MAX_NOTES_LEN or "\x00" in notes:
        raise ValidationError(
            f"notes must be at most {MAX_NOTES_LEN} characters without NUL characters"
        )
    return notes


def check_group(group: object) -> str | None:
    if group is None:
        return None
    if not isinstance(group, str) or not group or len(group) > MAX_NAME_LEN:
        raise ValidationError(f"group {_show(group)} must be a string of 1-{MAX_NAME_LEN} chars")
    if _CONTROL.search(group):
        raise ValidationError(f"group {_show(group)} contains a control character")
    return group


def check_status(status: object) -> str:
    if status not in RUN_STATUSES:
        raise ValidationError(f"status {_show(status)} is not one of {', '.join(RUN_STATUSES)}")
    return status


def check_summary(values: object) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ValidationError(f"summary values must be a dict, got {type(values).__name__}")
    for k in values:
        check_key(k, "summary key")
    return dict(values)


def check_json(value: object, what: str) -> None:
    """``value`` must be JSON data (NaN and infinities allowed)."""
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(f"{what} cannot be recorded: {exc}") from None


class Extent(NamedTuple):
    """What ``extent`` measured: ``values`` (at most ``limit + 1``) and whether the value
    nests deeper than ``depth`` levels (a structure that contains itself does)."""

    values: int
    deep: bool


def extent(value: object, limit: int, depth: int = 100) -> Extent:
    """How many values ``value`` holds (itself, each key, each item, nested), counting a
    part shared by several references once per reference, as JSON would write it out
    (``limit + 1`` as soon as it is more than ``limit``), and whether it nests deeper than
    ``depth`` levels. A YAML alias bomb (nine references to a list of nine references to
    ..., a few hundred bytes) loads as a small graph but walks as millions of values; this
    measures it in time linear in its distinct parts. Parts deeper than ``depth`` are not
    walked (each counts as one value), so a structure that contains itself ends too."""
    memo: dict[int, int] = {}
    too_big = limit + 1
    deep = False

    def size(v: object, level: int) -> int:
        nonlocal deep
        if isinstance(v, Mapping):
            children: Any = v.values()
            keys = len(v)
        elif isinstance(v, list | tuple):
            children, keys = v, 0
        else:
            return 1
        if level >= depth:
            deep = True
            return 1
        known = memo.get(id(v))
        if known is not None:
            return known
        total = 1 + keys
        for child in children:
            total += size(child, level + 1)
            if total > limit:
                total = too_big
                break
        memo[id(v)] = total
        return total

    return Extent(size(value, 0), deep)
