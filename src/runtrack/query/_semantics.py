"""What the fields of the query language are, and how literals are read for them.

Shared by the parser (validation) and the backends (compilation), so both agree.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final, Literal, TypeAlias

from .ast import Field

FieldType: TypeAlias = Literal["config", "number", "string", "status", "time"]

#: ``run.<attribute>`` -> the type of its values.
RUN_ATTRIBUTES: Final[dict[str, FieldType]] = {
    "id": "string",
    "name": "string",
    "status": "status",
    "user": "string",
    "host": "string",
    "group": "string",
    "parent": "string",
    "start_time": "time",
    "end_time": "time",
    "duration": "number",
}

#: prefixes a field may start with -> the normalised kind.
PREFIXES: Final[dict[str, str]] = {
    "config": "config",
    "params": "config",
    "metrics": "metrics",
    "tags": "tags",
    "run": "run",
    "audit": "audit",
}

#: prefixes that name summary keys of their own: ``audit.score`` is
#: ``metrics.audit.score`` (what ``runtrack audit`` records).
METRIC_ALIASES: Final[frozenset[str]] = frozenset({"audit"})


def field_type(f: Field) -> FieldType:
    if f.kind == "config":
        return "config"
    if f.kind == "metrics":
        return "number"
    if f.kind == "tags":
        return "string"
    return RUN_ATTRIBUTES[f.key]


def canonical_string(value: int | float) -> str:
    """How a number literal reads when compared with a string field (tags, names):
    ``5`` -> ``'5'``, ``0.5`` -> ``'0.5'``, ``1e-3`` -> ``'0.001'`` (Python's ``repr``)."""
    return str(value) if isinstance(value, int) else repr(value)


def parse_timestamp(text: str) -> float:
    """An ISO-8601 date or date-time -> epoch seconds; naive means UTC.

    ``'2026-11-01'``, ``'2026-11-01T10:00:00Z'``, ``'2026-11-01 10:00+02:00'``.
    Raises ``ValueError``.
    """
    s = text.strip()
    if not s or len(s) > 64:
        raise ValueError(text)
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ts = dt.timestamp()
    if not math.isfinite(ts):  # pragma: no cover - fromisoformat bounds the year
        raise ValueError(text)
    return ts


LikeSegment: TypeAlias = tuple[Literal["text", "any", "one"], str]


def like_segments(pattern: str) -> list[LikeSegment]:
    """Split a LIKE pattern into literal text, ``%`` (any run) and ``_`` (one character).

    A backslash makes the next character literal. Raises ``ValueError`` (with the offset
    of the problem as its argument) if the pattern ends with a lone backslash.
    """
    out: list[LikeSegment] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError(i)
            out.append(("text", pattern[i + 1]))
            i += 2
        elif c == "%":
            out.append(("any", c))
            i += 1
        elif c == "_":
            out.append(("one", c))
            i += 1
        else:
            out.append(("text", c))
            i += 1
    return out


def escape_like(segments: list[LikeSegment]) -> str:
    """Render segments as a pattern for ``LIKE ... ESCAPE '\\'`` that escapes exactly the
    three characters that need it (so every database reads it the same way)."""
    parts: list[str] = []
    for kind, c in segments:
        if kind == "text" and c in "\\%_":
            parts.append("\\" + c)
        else:
            parts.append(c)
    return "".join(parts)
