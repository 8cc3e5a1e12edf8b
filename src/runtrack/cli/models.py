"""``runtrack models``: the model registry (list, show, register, aliases, history, gates)."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ._common import (
    STATUS_STYLE,
    clean_json,
    emit_json,
    fmt_value,
    handle_errors,
    json_option,
    local_time,
    open_api,
)
from ._registry import (
    add_row,
    aliases_text,
    cell,
    console,
    event_json,
    human_size,
    iso,
    lineage_json,
    model_version_json,
    registered_model_json,
    styled,
    table,
    version_json,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def models() -> None:
    """The model registry: named models whose numbered versions are artifact versions.

    REF is NAME@ALIAS, NAME/VERSION or NAME (its newest version). Model names are unique
    on a store. Every subcommand takes --json for machine output.
    """


def _version_number(version: str) -> int:
    from ..errors import ValidationError

    m = re.fullmatch(r"v?([0-9]+)", version)
    if m is None:
        raise ValidationError(f"model version {version!r} must be a number, e.g. 3")
    return int(m.group(1))


@models.command("ls")
@click.option("--project", "-p", metavar="PROJECT", help="Only models owned by this project.")
@json_option
@handle_errors
def ls(project: str | None, as_json: bool) -> None:
    """List registered models: owning project, versions, aliases, gates."""
    api = open_api()
    items = api.models(project)
    if as_json:
        emit_json([registered_model_json(m) for m in items])
        return
    con = console()
    if not items:
        con.print("no registered models (register one with `runtrack models register`)")
        return
    t = table("name", "project", "versions", "latest", "aliases", "gates", "created")
    for m in items:
        add_row(
            t,
            m.name,
            m.project,
            str(m.version_count),
            fmt_value(m.latest_version),
            aliases_text(m.aliases),
            str(len(m.gates)) if m.gates else "-",
            local_time(m.created_at),
        )
    con.print(t)


@models.command("versions")
@click.argument("name")
@json_option
@handle_errors
def versions(name: str, as_json: bool) -> None:
    """List the versions of model NAME: artifact, run, aliases, tags."""
    api = open_api()
    items = api.model_versions(name)
    if as_json:
        emit_json([model_version_json(v) for v in items])
        return
    t = table("version", "aliases", "artifact", "run", "tags", "registered")
    for v in items:
        add_row(
            t,
            str(v.version),
            aliases_text(v.aliases),
            v.artifact.full_ref,
            v.run_id or "-",
            ", ".join(f"{k}={val}" for k, val in v.tags.items()),
            f"{local_time(v.created_at)} by {v.created_by}",
        )
    console().print(t)


def detail_json(view: Any) -> dict[str, Any]:
    """``models show --json``: the ModelView's attributes."""
    run = view.detail.run
    return {
        "model": view.name,
        "version": view.version,
        "ref": view.model_version.ref,
        "alias": view.alias,
        "aliases": list(view.aliases),
        "tags": dict(view.tags),
        "description": view.model_version.description,
        "created_by": view.model_version.created_by,
        "created_at": iso(view.model_version.created_at),
        "artifact": version_json(view.artifact),
        "run": None
        if run is None
        else {
            "id": run.id,
            "name": run.name,
            "project": run.project,
            "status": run.status,
            "user": run.user,
            "start_time": iso(run.start_time),
            "end_time": iso(run.end_time),
        },
        "config": view.config.to_dict(),
        "commit": view.commit,
        "metrics": view.metrics.to_dict(),
        "datasets": view.datasets,
        "lineage": lineage_json(view.lineage),
    }


@models.command("show")
@click.argument("ref")
@json_option
@handle_errors
def show(ref: str, as_json: bool) -> None:
    """Show a model version: artifact, aliases, the run that made it (config, commit,
    metrics) and the datasets and artifacts upstream of it."""
    api = open_api()
    view = api.model(ref)
    if as_json:
        emit_json(detail_json(view))
        return
    from rich.markup import escape

    from ..configdoc import flatten

    mv = view.model_version
    a = view.artifact
    con = console()
    at = f"  @{view.alias}" if view.alias else ""
    con.print(f"[bold]{view.name}/{view.version}[/]{at}")
    t = table("what", "value")
    t.show_header = False
    add_row(t, "aliases", aliases_text(view.aliases))
    add_row(
        t, "artifact", f"{a.full_ref}  ({a.type}, {human_size(a.size)}, sha256 {a.digest[:12]})"
    )
    if view.tags:
        add_row(t, "tags", ", ".join(f"{k}={v}" for k, v in view.tags.items()))
    if mv.description:
        add_row(t, "description", mv.description)
    add_row(t, "registered", f"{local_time(mv.created_at)} by {mv.created_by}")
    run = view.detail.run
    if run is None:
        add_row(t, "run", "(deleted)" if mv.run_id else "-")
    else:
        style = STATUS_STYLE.get(run.status, "")
        add_row(
            t,
            "run",
            styled(
                f"{escape(run.name)}  {run.id}  [{style}]{run.status}[/]  project {run.project}"
            ),
        )
    add_row(t, "commit", view.commit or "-")
    con.print(t)
    cfg = flatten(view.config.to_dict())
    if cfg:
        ct = table("key", "value", title="config")
        for k, v in cfg.items():
            add_row(ct, k, cell(v))
        con.print(ct)
    metrics = {k: v for k, v in view.metrics.items() if not k.startswith("system/")}
    if metrics:
        mt = table("key", "value", title="metrics")
        for k in sorted(metrics):
            add_row(mt, k, fmt_value(metrics[k]))
        con.print(mt)
    upstream = view.datasets
    if upstream:
        ut = table("kind", "what", "sha256", "details", title="trained on")
        for d in upstream:
            if d["kind"] == "dataset":
                add_row(ut, "dataset", str(d.get("path") or d["label"]), str(d["digest"])[:12], "")
            else:
                ref_ = d["id"].removeprefix("artifact:")
                add_row(
                    ut,
                    "artifact",
                    ref_,
                    str(d.get("digest", ""))[:12],
                    f"{d.get('type', '')}  {aliases_text(d.get('aliases') or ())}",
                )
        con.print(ut)


def _tags(values: tuple[str, ...]) -> dict[str, str]:
    from ..errors import ValidationError

    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"--tag {item!r} must be KEY=VALUE")
        out[key] = value
    return out


@models.command("register")
@click.argument("artifact_ref")
@click.argument("name")
@click.option("--project", "-p", metavar="PROJECT", help="Project of the artifact.")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="Repeatable.")
@click.option("--description", metavar="TEXT", help="What this version is.")
@json_option
@handle_errors
def register(
    artifact_ref: str,
    name: str,
    project: str | None,
    tags: tuple[str, ...],
    description: str | None,
    as_json: bool,
) -> None:
    """Register artifact version ARTIFACT_REF as a new version of model NAME (created on
    first use; registering the same artifact version again gives the same version)."""
    api = open_api()
    mv = api.register_model(
        artifact_ref, name, project=project, tags=_tags(tags), description=description
    )
    if as_json:
        emit_json(model_version_json(mv))
        return
    click.echo(f"{mv.ref}  <- {mv.artifact.full_ref}")


def _refusal(exc: Any, as_json: bool) -> None:
    """A promotion gate said no: every unmet requirement on its own line, exit code 1."""
    head, sep, rest = exc.message.partition(": ")
    reasons = [r.strip() for r in rest.split("; ") if r.strip()] if sep else [exc.message]
    if as_json:
        error = clean_json(exc.to_dict())
        error["reasons"] = reasons
        click.echo(json.dumps({"error": error}))
    else:
        click.echo(f"refused: {head if sep else 'a promotion gate is not met'}", err=True)
        for r in reasons:
            click.echo(f"  - {r}", err=True)
        click.echo("nothing was changed (see `runtrack models gates`)", err=True)
    sys.exit(1)


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--reason", "-r", required=True, metavar="TEXT", help="Why (kept in the audit log).")
@click.option("--remove", is_flag=True, help="Remove ALIAS instead of moving it.")
@json_option
@handle_errors
def alias(
    name: str, alias: str, version: str | None, reason: str, remove: bool, as_json: bool
) -> None:
    """Point NAME@ALIAS at VERSION, or --remove it. The model's promotion gates are
    checked first: a refusal lists what is missing and changes nothing."""
    from ..errors import PromotionRefusedError, ValidationError

    if remove == (version is not None):
        raise ValidationError("give VERSION to move the alias, or --remove (not both)")
    api = open_api()
    number = None if version is None else _version_number(version)
    try:
        result = api.set_alias(name, alias, number, reason=reason)
    except PromotionRefusedError as exc:
        _refusal(exc, as_json)
        return
    if as_json:
        emit_json(
            {
                "model": name,
                "alias": alias,
                "version": None if result is None else result.version,
                "model_version": None if result is None else model_version_json(result),
            }
        )
        return
    if result is None:
        click.echo(f"removed {name}@{alias}")
    else:
        click.echo(f"{name}@{alias} -> version {result.version} ({result.artifact.full_ref})")


def _parse_time(text: str) -> datetime:
    from ..errors import ValidationError

    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"--at {text!r} must be an ISO time, e.g. 2024-06-01T12:00 (local time) or "
            "2024-06-01T10:00Z"
        ) from None


@models.command("history")
@click.argument("name")
@click.option("--alias", "-a", "alias_", metavar="ALIAS", help="Only changes of this alias.")
@click.option(
    "--at",
    metavar="ISO-TIME",
    help="Which version --alias named at this time (no zone: local time).",
)
@json_option
@handle_errors
def history(name: str, alias_: str | None, at: str | None, as_json: bool) -> None:
    """Who moved the aliases of model NAME, when, from which version to which, and why;
    with --at, the version an alias named at that moment."""
    api = open_api()
    if at is not None:
        from ..errors import ValidationError

        if alias_ is None:
            raise ValidationError("--at needs --alias: which alias to look up")
        when = _parse_time(at)
        found = api.model_history(name, alias=alias_, at=when)
        if as_json:
            emit_json(
                {
                    "model": name,
                    "alias": alias_,
                    "at": iso(when.astimezone()),
                    "version": None if found is None else found.version,
                    "model_version": None if found is None else model_version_json(found),
                }
            )
            return
        shown = local_time(when.astimezone())
        if found is None:
            click.echo(f"{name}@{alias_} named no version at {shown}")
        else:
            click.echo(
                f"{name}@{alias_} named version {found.version} ({found.artifact.full_ref}) "
                f"at {shown}"
            )
        return
    events = api.model_history(name, alias=alias_)
    assert isinstance(events, list)
    if as_json:
        emit_json([event_json(e) for e in events])
        return
    from .artifacts import print_events

    print_events(events, f"no alias changes recorded for model {name}")


@models.command("gates")
@click.argument("name")
@click.option("--set", "set_", metavar="JSON", help="Gates as JSON, e.g. '[{\"aliases\": ...}]'.")
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Gates from a YAML or JSON file.",
)
@click.option("--clear", is_flag=True, help="Remove every gate.")
@json_option
@handle_errors
def gates(name: str, set_: str | None, file_: Path | None, clear: bool, as_json: bool) -> None:
    """Show or set the promotion gates of model NAME: requirements a version must meet
    before an alias may point at it. A gate is {"aliases": [...] (default: all),
    "tags": {KEY: VALUE or null}, "metrics": {KEY: ">= 0.85"}, "audit_score": 80} (the
    least `runtrack audit` score of the version's run)."""
    from ..errors import ValidationError

    if sum(x is not None and x is not False for x in (set_, file_, clear)) > 1:
        raise ValidationError("give one of --set, --file, --clear")
    api = open_api()
    if set_ is not None or file_ is not None or clear:
        spec: Any
        if clear:
            spec = []
        elif set_ is not None:
            try:
                spec = json.loads(set_)
            except ValueError as exc:
                raise ValidationError(f"--set is not valid JSON: {exc}") from None
        else:
            assert file_ is not None
            spec = _load_file(file_)
        if isinstance(spec, dict) and "gates" in spec:
            spec = spec["gates"]
        model = api.set_gates(name, spec)
    else:
        model = api.registered_model(name)
    if as_json:
        emit_json({"model": model.name, "gates": registered_model_json(model)["gates"]})
        return
    con = console()
    if not model.gates:
        con.print(f"model {model.name} has no promotion gates: any version may take any alias")
        return
    t = table("gate", "aliases", "tags", "metrics", title=f"promotion gates of {model.name}")
    for i, g in enumerate(model.gates, 1):
        tags_ = g.get("tags") or {}
        add_row(
            t,
            str(i),
            ", ".join(g.get("aliases") or ()) or "(all)",
            ", ".join(k if v is None else f"{k}={v}" for k, v in tags_.items()) or "-",
            ", ".join(
                [f"{k} {c}" for k, c in (g.get("metrics") or {}).items()]
                + ([f"audit.score >= {g['audit_score']}"] if "audit_score" in g else [])
            )
            or "-",
        )
    con.print(t)


def _load_file(path: Path) -> Any:
    from ..errors import ValidationError

    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"{path} is not valid JSON: {exc}") from None
    from .. import _yaml

    try:
        return _yaml.safe_load(text)
    except _yaml.YAMLError as exc:
        raise ValidationError(f"{path} is not valid YAML: {exc}") from None
