"""``runtrack artifacts``: the artifact catalogue (list, show, download, aliases, delete)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from ._common import emit_json, fmt_value, handle_errors, json_option, local_time, open_api
from ._registry import (
    add_row,
    aliases_text,
    cell,
    confirm,
    console,
    event_json,
    human_size,
    info_json,
    project_option,
    table,
    version_json,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def artifacts() -> None:
    """Artifacts: versioned, content-addressed files of runs.

    REF is NAME (its latest version), NAME:vN, NAME:ALIAS or PROJECT/NAME:ALIAS. Every
    subcommand takes --json for machine output.
    """


def _version_arg(version: str) -> str:
    """``3`` -> ``v3``; ``v3`` and aliases as given."""
    return f"v{version}" if re.fullmatch(r"[0-9]+", version) else version


@artifacts.command("ls")
@project_option
@click.option("--type", "-t", "type_", metavar="TYPE", help="Only artifacts of this type.")
@json_option
@handle_errors
def ls(project: str | None, type_: str | None, as_json: bool) -> None:
    """List the artifacts of a project: type, versions, latest version, aliases, size."""
    api = open_api()
    items = api.artifacts(project, type_)
    if as_json:
        emit_json([info_json(a) for a in items])
        return
    con = console()
    if not items:
        if project is None:
            from ..settings import load

            project = load().project
        kind = f" of type {type_}" if type_ else ""
        con.print(f"no artifacts{kind} in project {project} (log one with run.log_artifact())")
        return
    t = table("name", "type", "versions", "latest", "aliases", "size", "created")
    for a in items:
        custom = {k: v for k, v in a.aliases.items() if k != "latest"}
        add_row(
            t,
            a.name,
            a.type,
            str(a.version_count),
            a.latest or "-",
            aliases_text(custom),
            human_size(a.size),
            local_time(a.created_at),
        )
    con.print(t)


@artifacts.command("versions")
@click.argument("name")
@project_option
@json_option
@handle_errors
def versions(name: str, project: str | None, as_json: bool) -> None:
    """List the versions of artifact NAME, newest first."""
    api = open_api()
    items = api.artifact_versions(name, project)
    if as_json:
        emit_json([version_json(v) for v in items])
        return
    t = table("version", "aliases", "size", "files", "digest", "created by run", "created")
    for v in items:
        add_row(
            t,
            v.version,
            aliases_text(v.aliases),
            human_size(v.size),
            str(v.file_count),
            v.digest[:12],
            v.created_by or "-",
            local_time(v.created_at),
        )
    console().print(t)


@artifacts.command("show")
@click.argument("ref")
@project_option
@json_option
@handle_errors
def show(ref: str, project: str | None, as_json: bool) -> None:
    """Show an artifact version: aliases, digest, size, the run that made it, metadata and
    its files (reference files with the URI they live at)."""
    api = open_api()
    v = api.artifact(ref, project)
    files = api.artifact_files(v.full_ref)
    if as_json:
        doc = version_json(v)
        doc["files"] = [
            {"path": f.path, "size": f.size, "digest": f.digest, "ref": f.ref} for f in files
        ]
        emit_json(doc)
        return
    from rich.markup import escape

    con = console()
    con.print(f"[bold]{v.name}:{v.version}[/]  type {escape(v.type)}  project [bold]{v.project}[/]")
    t = table("what", "value")
    t.show_header = False
    add_row(t, "aliases", aliases_text(v.aliases))
    add_row(t, "digest", v.digest)
    add_row(t, "size", f"{human_size(v.size)} ({v.size:,} bytes) in {v.file_count} file(s)")
    add_row(t, "created by run", v.created_by or "-")
    add_row(t, "created", local_time(v.created_at))
    con.print(t)
    if v.metadata:
        from ..configdoc import flatten
        from ._registry import thaw

        m = table("key", "value", title="metadata")
        for k, val in flatten(thaw(v.metadata)).items():
            add_row(m, k, cell(val))
        con.print(m)
    ft = table("path", "size", "sha256", "reference", title="files")
    for f in files:
        add_row(ft, f.path, human_size(f.size), f.digest[:12], f.ref or "")
    con.print(ft)


@artifacts.command("get")
@click.argument("ref")
@project_option
@click.option(
    "--dest",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the files into (default: ./NAME).",
)
@json_option
@handle_errors
def get(ref: str, project: str | None, dest: Path | None, as_json: bool) -> None:
    """Download an artifact version; every file is verified against its content hash."""
    from ..errors import ValidationError

    api = open_api()
    handle = api.artifact_handle(ref, project)
    target = dest if dest is not None else Path.cwd() / handle.name
    if target.exists() and not target.is_dir():
        raise ValidationError(f"{target} exists and is not a directory: give --dest DIR")
    try:
        out = handle.download(target).resolve()
    except OSError as exc:
        raise ValidationError(
            f"cannot write {handle.full_ref} to {target}: {exc.strerror or exc}"
        ) from None
    if as_json:
        doc = version_json(handle.record)
        doc["path"] = str(out)
        doc["files"] = [f.path for f in handle.files]
        emit_json(doc)
        return
    click.echo(
        f"{handle.full_ref}: {handle.file_count} file(s), {human_size(handle.size)}, "
        f"verified -> {out}"
    )


@artifacts.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@project_option
@click.option("--reason", "-r", metavar="TEXT", help="Why (kept in the alias history).")
@click.option("--remove", is_flag=True, help="Remove ALIAS instead of moving it.")
@json_option
@handle_errors
def alias(
    name: str,
    alias: str,
    version: str | None,
    project: str | None,
    reason: str | None,
    remove: bool,
    as_json: bool,
) -> None:
    """Point ALIAS of artifact NAME at VERSION (vN, N or another alias), or --remove it.
    Every change is recorded with who and why (see `artifacts history`)."""
    from ..errors import ValidationError

    if remove == (version is not None):
        raise ValidationError("give VERSION to move the alias, or --remove (not both)")
    api = open_api()
    result = api.set_artifact_alias(
        name,
        alias,
        None if version is None else _version_arg(version),
        project=project,
        reason=reason,
    )
    if as_json:
        emit_json(
            {
                "name": name,
                "alias": alias,
                "version": None if result is None else result.version,
                "artifact": None if result is None else version_json(result),
            }
        )
        return
    if result is None:
        click.echo(f"removed alias {alias} of {name}")
    else:
        click.echo(f"{result.project}/{result.name}:{alias} -> {result.version}")


@artifacts.command("history")
@click.argument("name")
@project_option
@click.option("--alias", "-a", "alias_", metavar="ALIAS", help="Only changes of this alias.")
@json_option
@handle_errors
def history(name: str, project: str | None, alias_: str | None, as_json: bool) -> None:
    """The audit log of the aliases of artifact NAME, oldest first."""
    api = open_api()
    events = api.artifact_alias_history(name, alias_, project=project)
    if as_json:
        emit_json([event_json(e) for e in events])
        return
    print_events(events, f"no alias changes recorded for {name}")


def print_events(events: list[Any], empty: str) -> None:
    con = console()
    if not events:
        con.print(empty)
        return
    t = table("when", "alias", "from", "to", "who", "reason")
    for e in events:
        add_row(
            t,
            local_time(e.at),
            e.alias,
            fmt_value(e.from_version),
            fmt_value(e.to_version) if e.to_version is not None else "(removed)",
            e.actor,
            e.reason or "",
        )
    con.print(t)


@artifacts.command("rm")
@click.argument("ref")
@project_option
@click.option(
    "--force",
    is_flag=True,
    help="Delete even if an alias or a registered model version points at it.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@handle_errors
def rm(ref: str, project: str | None, force: bool, yes: bool, as_json: bool) -> None:
    """Delete an artifact version (NAME:vN). Its blobs are freed by `runtrack gc`."""
    from ..errors import ValidationError

    api = open_api()
    if ":" not in ref.rpartition("/")[2]:
        raise ValidationError(f"name the version to delete, e.g. {ref}:v3")
    v = api.artifact(ref, project)
    confirm(f"delete artifact version {v.full_ref}?", yes=yes, as_json=as_json)
    deleted = api.delete_artifact(v.full_ref, force=force)
    if as_json:
        emit_json({"deleted": version_json(deleted)})
        return
    click.echo(f"deleted {deleted.full_ref} (run `runtrack gc` to free its blobs)")
