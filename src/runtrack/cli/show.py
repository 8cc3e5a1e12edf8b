"""``runtrack show RUN``: everything recorded about one run."""

from __future__ import annotations

import math
from typing import Any

import click

from ._common import (
    STATUS_STYLE,
    duration,
    emit_json,
    fmt_value,
    handle_errors,
    json_option,
    local_time,
    open_api,
    resolve_run,
)

_SPARK = "▁▂▃▄▅▆▇█"


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--console", "with_console", is_flag=True, help="Also print the captured output.")
@json_option
@handle_errors
def show(run_ref: str, with_console: bool, as_json: bool) -> None:
    """Show RUN (an id, a unique id prefix, or 'latest'): status, config, metrics with a
    sparkline of each curve, provenance, inputs and outputs."""
    from .ls import run_json

    api = open_api()
    view = resolve_run(api, run_ref)
    r = view.record
    if as_json:
        doc = run_json(r)
        doc.update(
            error=r.error,
            provenance=view.provenance.to_dict(),
            inputs=[d.to_json() for d in r.inputs],
            outputs=[
                {
                    "name": v.name,
                    "version": v.version,
                    "type": v.type,
                    "digest": v.digest,
                    "size": v.size,
                    "files": v.file_count,
                    "aliases": list(v.aliases),
                }
                for v in r.outputs
            ],
        )
        if with_console:
            doc["console"] = view.console()
        emit_json(doc)
        return
    _print(view, with_console)


def sparkline(values: list[float], width: int = 40) -> str:
    finite = [v for v in values if not (math.isnan(v) or math.isinf(v))]
    if not finite:
        return ""
    if len(values) > width:  # bucket means, keeping the shape
        size = len(values) / width
        buckets = [
            values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
            for i in range(width)
        ]
        values = [
            sum(b2) / len(b2) if (b2 := [v for v in b if math.isfinite(v)]) else math.nan
            for b in buckets
        ]
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    return "".join(
        " " if not math.isfinite(v) else _SPARK[int((v - lo) / span * 7)] for v in values
    )


def _print(view: Any, with_console: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    r = view.record
    import sys

    con = Console(width=None if sys.stdout.isatty() else 160)
    style = STATUS_STYLE.get(r.status, "")
    con.print(f"[bold]{r.name}[/]  {r.id}  project [bold]{r.project}[/]  [{style}]{r.status}[/]")
    con.print(
        f"started {local_time(r.start_time)}  duration {duration(r.duration)}  "
        f"by {r.user}@{r.host}"
        + (f"  group {r.group}" if r.group else "")
        + (f"  parent {r.parent_id}" if r.parent_id else "")
    )
    if r.tags:
        con.print("tags: " + ", ".join(f"{k}={v}" for k, v in r.tags.items()))
    if r.notes:
        con.print(f"notes: {r.notes}")
    if r.error:
        con.print(f"[red]error:[/] {r.error.strip().splitlines()[-1]}")

    from ..configdoc import flatten

    cfg = flatten(r.config.to_dict())
    if cfg:
        t = Table(title="config", box=None, title_justify="left", header_style="bold")
        t.add_column("key")
        t.add_column("value")
        for k, v in cfg.items():
            t.add_row(k, fmt_value(v))
        con.print(t)

    keys = [k for k in r.metrics if not k.startswith("system/")]
    if keys or r.summary:
        hist = view.history(keys) if keys else {}
        t = Table(title="metrics", box=None, title_justify="left", header_style="bold")
        for col in ("key", "summary", "min", "max", "points", "curve"):
            t.add_column(col, justify="left" if col in ("key", "curve") else "right")
        for k in sorted(set(keys) | {k for k in r.summary if not k.startswith("system/")}):
            m = r.metrics.get(k)
            curve = sparkline(list(hist[k]["value"])) if k in hist else ""
            t.add_row(
                k,
                fmt_value(r.summary.get(k)),
                fmt_value(m.min if m else None),
                fmt_value(m.max if m else None),
                str(m.count if m else "-"),
                curve,
            )
        con.print(t)

    p = view.provenance
    t = Table(
        title="provenance", box=None, title_justify="left", header_style="bold", show_header=False
    )
    t.add_column("what")
    t.add_column("value")
    git = p.get("git")
    if git:
        dirty = " (uncommitted changes recorded)" if git.get("dirty") else ""
        t.add_row("git", f"{git.get('commit') or '-'} on {git.get('branch') or '-'}{dirty}")
        if git.get("remote"):
            t.add_row("remote", str(git["remote"]))
    cmd = p.get("command")
    if cmd:
        t.add_row("command", " ".join(str(a) for a in cmd.get("argv") or []))
        t.add_row("cwd", str(cmd.get("cwd", "-")))
    env = p.get("environment")
    if env:
        py = env.get("python") or {}
        t.add_row("python", f"{py.get('version', '?')} ({py.get('executable', '?')})")
        t.add_row("packages", f"{len(env.get('packages') or {})} recorded")
        os_ = env.get("os") or {}
        t.add_row("os", str(os_.get("platform", "-")))
        gpus = env.get("gpu") or env.get("gpus") or []
        if gpus:
            t.add_row("gpu", ", ".join(str(g.get("name", g)) for g in gpus))
    seeds = p.get("seeds")
    if seeds:
        t.add_row("seeds", ", ".join(f"{k}={v}" for k, v in seeds.items()))
    if p.get("hydra"):
        t.add_row("hydra overrides", " ".join(p["hydra"].get("overrides") or []))
    if t.row_count:
        con.print(t)
    if r.inputs:
        t = Table(title="inputs", box=None, title_justify="left", header_style="bold")
        for col in ("path", "sha256", "size", "files", "dvc md5"):
            t.add_column(col)
        for d in r.inputs:
            t.add_row(d.path, d.digest[:16], f"{d.size:,}", str(d.file_count), d.dvc_md5 or "-")
        con.print(t)
    if r.outputs:
        t = Table(title="artifacts", box=None, title_justify="left", header_style="bold")
        for col in ("name", "version", "type", "files", "size", "aliases"):
            t.add_column(col)
        for v in r.outputs:
            t.add_row(
                v.name, v.version, v.type, str(v.file_count), f"{v.size:,}", ", ".join(v.aliases)
            )
        con.print(t)
    if with_console:
        con.rule("console")
        con.print(view.console(), markup=False, highlight=False)
