"""``runtrack server``: the team server (FastAPI on Uvicorn)."""

from __future__ import annotations

import os

import click

from ._common import emit_json, handle_errors, json_option


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 for every interface).",
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL (default: the embedded SQLite store under RUNTRACK_DIR).",
)
@click.option(
    "--artifacts",
    metavar="URL",
    help="Artifact store: a directory or s3://bucket/prefix (default: RUNTRACK_DIR/artifacts).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (they share the database and the artifact store).",
)
@click.option(
    "--auth/--no-auth",
    default=None,
    help="Require API tokens (default: on, except when listening on loopback).",
)
@click.option(
    "--insecure-no-auth", is_flag=True, help="Serve a non-loopback address without authentication."
)
@click.option(
    "--allow-origin",
    multiple=True,
    metavar="ORIGIN",
    help="An origin (https://host) whose pages may call the API (repeatable).",
)
@click.option(
    "--allowed-host",
    multiple=True,
    metavar="NAME",
    help="A Host name clients use to reach the server (repeatable).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@json_option
@handle_errors
def server(
    host: str,
    port: int,
    db_url: str | None,
    artifacts: str | None,
    workers: int,
    auth: bool | None,
    insecure_no_auth: bool,
    allow_origin: tuple[str, ...],
    allowed_host: tuple[str, ...],
    log_level: str,
    as_json: bool,
) -> None:
    """Run the team server: the REST API over a database and an artifact store.

    With no options it serves the embedded store on 127.0.0.1:8765. A team uses
    PostgreSQL and S3 (--db postgresql://... --artifacts s3://bucket/prefix); any number
    of server processes, on any machines, can then serve the same database and bucket.
    """
    import uvicorn

    from .. import settings as settings_mod
    from ..server.main import CONFIG_ENV, build_config, config_to_env

    s = settings_mod.load()
    config = build_config(
        host=host,
        db_url=db_url or s.db_url,
        artifacts=artifacts or str(s.artifacts_dir),
        auth=auth,
        insecure_no_auth=insecure_no_auth,
        allow_origins=allow_origin,
        allowed_hosts=allowed_host,
        crash_after=s.crash_after,
        console_max_bytes=s.console_max_bytes,
    )
    _check_database(config.db_url, config.auto_upgrade)
    info = {
        "url": f"http://{host}:{port}",
        "database": _safe(config.db_url),
        "artifacts": config.artifacts,
        "auth": config.auth,
        "workers": workers,
    }
    if as_json:
        emit_json(info)
    else:
        click.echo(
            f"runtrack server on {info['url']}  (database {info['database']}, "
            f"artifacts {config.artifacts}, auth {'on' if config.auth else 'off'}, "
            f"{workers} worker{'s' if workers > 1 else ''})",
            err=True,
        )
        if not config.auth:
            click.echo(
                "  no authentication: anyone who can reach this address can read and "
                "change every run",
                err=True,
            )
    os.environ[CONFIG_ENV] = config_to_env(config)
    uvicorn.run(
        "runtrack.server.main:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        timeout_graceful_shutdown=30,
        proxy_headers=False,
        server_header=False,
        access_log=False,
    )


def _check_database(url: str, auto_upgrade: bool) -> None:
    """Fail at start (not at the first request) if the schema is outdated."""
    from ..store.sql._engine import make_engine, translate_errors
    from ..store.sql._migrate import ensure_schema

    engine = make_engine(url)
    try:
        with translate_errors(f"opening {_safe(url)}"):
            ensure_schema(engine, auto_upgrade=auto_upgrade)
    finally:
        engine.dispose()


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
