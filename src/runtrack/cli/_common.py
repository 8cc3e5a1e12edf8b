"""What every command shares: the store from the environment, JSON output, errors that
say what to do next (never a stack trace), times in the viewer's zone."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from ..errors import QueryError, RuntrackError

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def clean_json(value: Any) -> Any:
    """Strict JSON: non-finite floats become the strings "NaN", "Infinity", "-Infinity";
    datetimes ISO-8601 (UTC)."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    click.echo(json.dumps(clean_json(value), indent=2, allow_nan=False, ensure_ascii=False))


def handle_errors(fn: F) -> F:
    """Turn runtrack errors into a clear message and exit code 1 (2 for bad usage)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return fn(*args, **kwargs)
        except RuntrackError as exc:
            if as_json:
                click.echo(json.dumps({"error": clean_json(exc.to_dict())}))
            else:
                click.echo(f"error: {exc.message}", err=True)
                hint = _hint(exc)
                if hint:
                    click.echo(hint, err=True)
            sys.exit(2 if isinstance(exc, QueryError) else 1)

    return wrapper  # type: ignore[return-value]


def _hint(exc: RuntrackError) -> str:
    code = exc.code
    if code == "run_not_found":
        return "hint: `runtrack ls` lists runs; ids can be shortened to a unique prefix."
    if code == "invalid_query":
        return (
            "hint: fields are config.<key>, metrics.<key>, tags.<key>, run.<attr>; "
            "see docs/query.md"
        )
    if code == "schema_version":
        return "hint: back up the database, then run `runtrack db upgrade`."
    if code == "store_unavailable":
        return "hint: check that the database/server is reachable, then retry."
    return ""


def local_time(dt: datetime | None) -> str:
    if dt is None:
        return "-"
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


STATUS_STYLE = {
    "running": "cyan",
    "finished": "green",
    "failed": "red",
    "killed": "yellow",
    "crashed": "magenta",
}


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return f"{v:.6g}"
    if v is None:
        return "-"
    return str(v)


def open_api() -> Any:
    from ..client.api import Api

    return Api()


def resolve_run(api: Any, ref: str) -> Any:
    """A run by id, unique id prefix, or ``latest``."""
    import re

    from ..errors import RunNotFoundError, ValidationError

    if ref in ("latest", "last"):
        runs = api.runs(limit=1)
        if not runs:
            raise RunNotFoundError("no runs recorded yet")
        return api.run(runs[0].id)
    if not re.fullmatch(r"[0-9a-z]{1,32}", ref):
        raise ValidationError(
            f"run reference {ref!r} must be a run id, a unique prefix of one, or 'latest'"
        )
    if len(ref) >= 4:
        try:
            return api.run(ref)
        except RunNotFoundError:
            pass
    found = api.runs(filter=f"run.id like '{ref}%'", limit=2)
    if len(found) == 1:
        return api.run(found[0].id)
    if not found:
        raise RunNotFoundError(f"no run id starts with {ref!r}")
    raise ValidationError(f"run prefix {ref!r} is ambiguous: {found[0].id}, {found[1].id}, ...")
