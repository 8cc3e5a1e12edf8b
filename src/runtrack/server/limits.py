"""The published limits of the server (``docs/server.md`` prints this table; a test keeps
them in sync). Every one is enforced before the request body is buffered beyond it, and
every rejection is a 4xx with a stable code."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Limits:
    json_body_bytes: int = 1 << 20  # a JSON request (run spec, search, token...)
    batch_body_bytes: int = 64 << 20  # one msgpack batch of records
    batch_records: int = 200_000  # records in one batch
    bulk_runs: int = 1_000  # runs created by one bulk request
    part_bytes: int = 64 << 20  # one part of a blob upload
    filter_chars: int = 10_000  # a run filter (the query language's own limit)
    page_limit: int = 100_000  # runs returned by one search
    history_keys: int = 1_000  # metric keys in one history request
    search_columns: int = 1_000  # columns named by one run search
    key_chars: int = 250  # a metric, tag or config key
    tag_value_chars: int = 5_000
    name_chars: int = 250  # a run name, a group
    notes_chars: int = 1_000_000

    def table(self) -> list[tuple[str, int]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


DESCRIPTIONS = {
    "json_body_bytes": "bytes in one JSON request body",
    "batch_body_bytes": "bytes in one batch of records (msgpack)",
    "batch_records": "records in one batch (in all the runs of a bulk creation)",
    "bulk_runs": "runs created by one bulk request (POST /api/v1/runs/bulk)",
    "part_bytes": "bytes in one part of a blob upload",
    "filter_chars": "characters in a run filter",
    "page_limit": "runs returned by one search",
    "history_keys": "metric keys in one history request",
    "search_columns": "columns (field names) named by one run search",
    "key_chars": "characters in a metric, tag or config key",
    "tag_value_chars": "characters in a tag value",
    "name_chars": "characters in a run name or group",
    "notes_chars": "characters in a run's notes",
}
