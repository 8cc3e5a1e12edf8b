"""``runtrack admin``: users, API tokens and project roles of a team server.

For an operator on the server host: these commands work on the server's database
directly (no server needs to run), and give it the schema if it has none yet. A token's
text is printed once, when it is created; the database keeps only its hash.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from ._common import emit_json, handle_errors, json_option, local_time

if TYPE_CHECKING:
    from ..server.users import Member, SqlAuthenticator, Token, User

db_option = click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="The server's database URL (default: RUNTRACK_DB or the embedded store).",
)
_ONCE = "This token will not be shown again: store it now (e.g. as RUNTRACK_TOKEN)."


@contextlib.contextmanager
def _users(db_url: str | None) -> Iterator[SqlAuthenticator]:
    """The database's users; an empty database is given the schema, an outdated SQLite
    one is upgraded, an outdated PostgreSQL one refused (`runtrack db upgrade`)."""
    from .. import settings as settings_mod
    from ..server.users import SqlAuthenticator
    from ..store.sql._engine import is_sqlite, make_engine

    url = db_url or settings_mod.load().db_url
    engine = make_engine(url)
    try:
        yield SqlAuthenticator(url, engine=engine, auto_upgrade=is_sqlite(engine))
    finally:
        engine.dispose()


def _read_password() -> str:
    from ..errors import ValidationError

    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise ValidationError("--password-stdin: the first line of stdin is the password")
    return password


def _record(value: User | Token | Member) -> dict[str, Any]:
    doc = asdict(value)
    if "role" in doc:
        doc["role"] = doc["role"].name.lower()
    return doc


def _show_token(token_id: int, token: str, as_json: bool, **extra: Any) -> None:
    if as_json:
        emit_json({**extra, "token_id": token_id, "token": token})
        return
    click.echo(f"API token (id {token_id}): {token}")
    click.echo(_ONCE)


@click.group()
def admin() -> None:
    """Manage the team server's users, API tokens and project roles (on its database).

    Every command takes --db URL (default: the embedded store) and --json.
    """


@admin.command("create-user")
@click.argument("name")
@click.option("--admin", "is_admin", is_flag=True, help="A server administrator.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read a password for web sign-in from the first line of stdin.",
)
@db_option
@json_option
@handle_errors
def create_user(
    name: str, is_admin: bool, password_stdin: bool, db_url: str | None, as_json: bool
) -> None:
    """Create a user and print their first API token (once)."""
    password = _read_password() if password_stdin else None
    with _users(db_url) as users:
        user = users.create_user(name, admin=is_admin, password=password)
        token_id, token = users.create_token(name, "first token")
    if not as_json:
        click.echo(f"created user {name}" + (" (server administrator)" if is_admin else ""))
    _show_token(token_id, token, as_json, user=_record(user))


@admin.command("create-token")
@click.argument("user")
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
@click.option(
    "--expires-in",
    type=click.FloatRange(min=0, min_open=True),
    metavar="DAYS",
    help="Days until the token expires (default: never; revoke it instead).",
)
@db_option
@json_option
@handle_errors
def create_token(
    user: str, label: str, expires_in: float | None, db_url: str | None, as_json: bool
) -> None:
    """Create an API token of USER and print it (once)."""
    with _users(db_url) as users:
        seconds = None if expires_in is None else expires_in * 86400
        token_id, token = users.create_token(user, label, seconds)
        record = users.get_token(token_id)
    if not as_json and record.expires_at is not None:
        click.echo(f"expires {local_time(record.expires_at)}")
    _show_token(token_id, token, as_json, **{k: v for k, v in _record(record).items() if k != "id"})


@admin.command("list-tokens")
@click.argument("user")
@db_option
@json_option
@handle_errors
def list_tokens(user: str, db_url: str | None, as_json: bool) -> None:
    """List USER's tokens (ids, labels, first characters; never the tokens)."""
    with _users(db_url) as users:
        tokens = users.list_tokens(user)
    if as_json:
        emit_json([_record(t) for t in tokens])
        return
    for t in tokens:
        state = (
            f"revoked {local_time(t.revoked_at)}"
            if t.revoked_at
            else f"expires {local_time(t.expires_at)}"
            if t.expires_at
            else "active"
        )
        click.echo(
            f"{t.id:>6}  {t.prefix}...  {t.label:<20}  last used {local_time(t.last_used_at)}"
            f"  {state}"
        )


@admin.command("revoke-token")
@click.argument("token_id", type=int)
@db_option
@json_option
@handle_errors
def revoke_token(token_id: int, db_url: str | None, as_json: bool) -> None:
    """Revoke a token by its id (see list-tokens); it stops working at once."""
    with _users(db_url) as users:
        token = users.revoke_token(token_id, by=None)
    if as_json:
        emit_json(_record(token))
    else:
        click.echo(f"revoked token {token.id} of {token.user} ({token.label!r})")


@admin.command("list-users")
@db_option
@json_option
@handle_errors
def list_users(db_url: str | None, as_json: bool) -> None:
    """List the users."""
    with _users(db_url) as users:
        found = users.list_users()
    if as_json:
        emit_json([_record(u) for u in found])
        return
    for u in found:
        notes = [
            n
            for n, on in (
                ("admin", u.admin),
                ("disabled", u.disabled),
                ("password", u.has_password),
            )
            if on
        ]
        click.echo(f"{u.name:<24} created {local_time(u.created_at)}  {' '.join(notes)}".rstrip())


@admin.command("disable-user")
@click.argument("name")
@db_option
@json_option
@handle_errors
def disable_user(name: str, db_url: str | None, as_json: bool) -> None:
    """Disable a user: their tokens stop working at once (enable-user undoes it)."""
    with _users(db_url) as users:
        user = users.disable_user(name)
    if as_json:
        emit_json(_record(user))
    else:
        click.echo(f"disabled user {name}")


@admin.command("enable-user")
@click.argument("name")
@db_option
@json_option
@handle_errors
def enable_user(name: str, db_url: str | None, as_json: bool) -> None:
    """Enable a disabled user again (their unrevoked tokens work again)."""
    with _users(db_url) as users:
        user = users.enable_user(name)
    if as_json:
        emit_json(_record(user))
    else:
        click.echo(f"enabled user {name}")


@admin.command("set-password")
@click.argument("name")
@click.option("--clear", is_flag=True, help="Remove the password: no sign-in with one.")
@db_option
@json_option
@handle_errors
def set_password(name: str, clear: bool, db_url: str | None, as_json: bool) -> None:
    """Set a user's password from the first line of stdin (or remove it with --clear)."""
    password = None if clear else _read_password()
    with _users(db_url) as users:
        user = users.set_password(name, password)
    if as_json:
        emit_json(_record(user))
    else:
        click.echo(f"{'removed the password of' if clear else 'set the password of'} {name}")


@admin.command()
@click.argument("user")
@click.argument("project")
@click.argument("role", type=click.Choice(["viewer", "editor", "admin"]))
@db_option
@json_option
@handle_errors
def grant(user: str, project: str, role: str, db_url: str | None, as_json: bool) -> None:
    """Give USER a ROLE in PROJECT (viewer reads, editor writes runs, admin manages)."""
    with _users(db_url) as users:
        member = users.grant(user, project, role, by=None)
    if as_json:
        emit_json(_record(member))
    else:
        click.echo(f"{user} is {role} of project {project!r}")


@admin.command()
@click.argument("user")
@click.argument("project")
@db_option
@json_option
@handle_errors
def revoke(user: str, project: str, db_url: str | None, as_json: bool) -> None:
    """Remove USER from PROJECT (a server administrator keeps access to every project)."""
    with _users(db_url) as users:
        users.revoke_membership(user, project)
    if as_json:
        emit_json({"user": user, "project": project, "removed": True})
    else:
        click.echo(f"{user} is no longer a member of project {project!r}")
