"""Runs as table rows: ``POST /runs/search`` with ``columns`` answers only what a table
shows (the web UI's run table asks for its columns; a window of 100 full records is ~10x
larger and costs the server more to encode than to find)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..configdoc import flatten
from ..entities import RunRecord
from ..errors import ConfigError, ValidationError
from ..protocol import run_attributes_to_wire
from ..query import RUN_ATTRIBUTES
from ..validation import check_key

#: a column's prefix -> the part of a run it names (as in the query language)
_KINDS = {"config": "config", "params": "config", "metrics": "metrics", "tags": "tags"}
_HELP = "run.<attribute>, config.<key>, params.<key>, metrics.<key>, audit.<key> or tags.<key>"
_ABSENT = object()


@dataclass(frozen=True, slots=True)
class Columns:
    """The keys a table shows (run attributes are always in a row)."""

    config: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_columns(value: object, limit: int) -> Columns | None:
    """The ``columns`` of a search: None (full records) or a list of field names of the
    query language. Raises ``ValidationError`` naming the first bad entry."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValidationError(f"columns must be a list of field names ({_HELP}) or null")
    if len(value) > limit:
        raise ValidationError(f"columns names {len(value)} fields; the limit is {limit}")
    kinds: dict[str, dict[str, None]] = {"config": {}, "metrics": {}, "tags": {}}
    for i, col in enumerate(value):
        if not isinstance(col, str):
            raise ValidationError(
                f"columns[{i}] is a {type(col).__name__}; field names are strings ({_HELP})"
            )
        prefix, dot, key = col.partition(".")
        prefix = prefix.lower()
        if not dot or not key:
            raise ValidationError(f"columns[{i}] {_show(col)} is not a field name ({_HELP})")
        if prefix == "run":
            if key.lower() not in RUN_ATTRIBUTES:
                raise ValidationError(
                    f"columns[{i}] {_show(col)}: unknown run attribute; expected one of "
                    + ", ".join(RUN_ATTRIBUTES)
                )
            continue  # a row always holds the run's attributes
        if prefix == "audit":  # audit.score is metrics.audit.score
            prefix, key = "metrics", f"audit.{key}"
        kind = _KINDS.get(prefix)
        if kind is None:
            raise ValidationError(
                f"columns[{i}] {_show(col)}: unknown field prefix {_show(prefix)}; expected {_HELP}"
            )
        check_key(key, f"columns[{i}]: {kind} key")
        kinds[kind][key] = None
    return Columns(tuple(kinds["config"]), tuple(kinds["metrics"]), tuple(kinds["tags"]))


def _plain(value: Any) -> Any:
    """A value read from a ``FrozenMap`` as plain JSON data (dicts and lists)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def run_row_to_wire(r: RunRecord, cols: Columns) -> dict[str, Any]:
    """A run as a table row: the attributes of ``run_to_wire``, and of its config
    (flattened: ``{"model.depth": 6}``), metrics, summary and tags only the keys named;
    keys the run lacks are left out; no provenance, inputs, outputs or used."""
    config: dict[str, Any] = {}
    flat: dict[str, Any] | None = None
    for key in cols.config:
        value = r.config.get_path(key, _ABSENT)
        if value is _ABSENT or (isinstance(value, Mapping) and value):
            # not a nested path (a key holding dots), or a section rather than a leaf:
            # look it up as the query language's config.<dotted.key> does
            if flat is None:
                try:
                    flat = flatten(r.config.to_dict())
                except ConfigError:  # two spellings of one key: the query finds neither
                    flat = {}
            value = flat.get(key, _ABSENT)
            if value is _ABSENT:
                continue
        config[key] = _plain(value)
    metrics: dict[str, list[Any]] = {}
    summary: dict[str, Any] = {}
    for key in cols.metrics:
        m = r.metrics.get(key)
        if m is not None:
            metrics[key] = [m.last, m.min, m.max, m.count, m.last_step]
        value = r.summary.get(key, _ABSENT)
        if value is not _ABSENT:
            summary[key] = _plain(value)
    tags = r.tags
    return {
        **run_attributes_to_wire(r),
        "tags": {k: tags[k] for k in cols.tags if k in tags},
        "config": config,
        "metrics": metrics,
        "summary": summary,
    }
