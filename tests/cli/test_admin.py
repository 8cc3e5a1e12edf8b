"""``runtrack admin``: an operator manages users, tokens and roles on the database."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from runtrack.cli import cli
from runtrack.server.auth import Principal, Role
from runtrack.server.users import SqlAuthenticator
from runtrack.store.sql._engine import make_engine
from runtrack.store.sql._migrate import current_revision, upgrade
from runtrack.store.sql.schema import SCHEMA_REVISION

DATA = Path(__file__).resolve().parents[1] / "store" / "data"


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["admin", *args], input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"


@pytest.fixture
def users(db: str) -> Iterator[SqlAuthenticator]:
    """The same database, as the server sees it."""
    auth = SqlAuthenticator(db)
    yield auth
    auth.close()


def _token(out: str) -> str:
    line = next(x for x in out.splitlines() if x.startswith("API token"))
    return line.rsplit(" ", 1)[1]


def test_create_user_prints_a_first_token_once(db: str, users: SqlAuthenticator) -> None:
    code, out, err = invoke("create-user", "alice", "--admin", "--db", db)
    assert code == 0, err
    assert "created user alice (server administrator)" in out
    assert "will not be shown again" in out
    token = _token(out)
    assert token.startswith("rt_")
    principal = users.authenticate(token)
    assert principal is not None and principal.name == "alice" and principal.admin
    code, out, _ = invoke("list-tokens", "alice", "--db", db)
    assert code == 0 and token[:8] in out and token not in out and "first token" in out


def test_the_default_database_is_the_embedded_store() -> None:
    code, out, err = invoke("create-user", "bob", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["user"]["name"] == "bob" and doc["user"]["admin"] is False
    assert doc["token"].startswith("rt_") and isinstance(doc["token_id"], int)
    db = Path(os.environ["RUNTRACK_DIR"]) / "runtrack.db"
    assert db.exists()
    code, out, _ = invoke("list-users", "--json")
    assert [u["name"] for u in json.loads(out)] == ["bob"]


def test_a_password_comes_from_stdin_and_is_never_printed(db: str, users: SqlAuthenticator) -> None:
    code, out, err = invoke(
        "create-user", "carol", "--password-stdin", "--db", db, stdin="correct horse\n"
    )
    assert code == 0, err
    assert "correct horse" not in out + err
    assert users.login("carol", "correct horse") == Principal("carol")
    code, _, err = invoke("set-password", "carol", "--db", db, stdin="battery staple\n")
    assert code == 0, err
    assert users.login("carol", "battery staple") is not None
    assert users.login("carol", "correct horse") is None
    code, _, err = invoke("set-password", "carol", "--db", db, stdin="short\n")
    assert code == 1 and "8 to 1024" in err
    code, _, err = invoke("set-password", "carol", "--db", db, stdin="")
    assert code == 1 and "first line of stdin" in err
    assert invoke("set-password", "carol", "--clear", "--db", db)[0] == 0
    assert users.login("carol", "battery staple") is None


def test_tokens_are_created_listed_and_revoked(db: str, users: SqlAuthenticator) -> None:
    invoke("create-user", "dave", "--db", db)
    code, out, err = invoke(
        "create-token", "dave", "--label", "ci", "--expires-in", "7", "--db", db, "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["label"] == "ci" and doc["user"] == "dave" and doc["expires_at"] is not None
    assert users.authenticate(doc["token"]) is not None
    code, out, _ = invoke("create-token", "dave", "--expires-in", "1.5", "--db", db)
    assert code == 0 and "expires " in out and "will not be shown again" in out
    code, out, _ = invoke("list-tokens", "dave", "--db", db, "--json")
    listed = json.loads(out)
    assert [t["label"] for t in listed] == ["first token", "ci", "cli"]
    assert all("token" not in t and doc["token"] not in json.dumps(t) for t in listed)
    code, out, _ = invoke("revoke-token", str(doc["token_id"]), "--db", db)
    assert code == 0 and f"revoked token {doc['token_id']} of dave ('ci')" in out
    assert users.authenticate(doc["token"]) is None
    code, _, err = invoke("revoke-token", "9999", "--db", db)
    assert code == 1 and "token 9999 does not exist" in err
    assert invoke("create-token", "dave", "--expires-in", "0", "--db", db)[0] == 2
    assert invoke("revoke-token", "abc", "--db", db)[0] == 2


def test_list_users_shows_who_is_admin_and_disabled(db: str) -> None:
    invoke("create-user", "erin", "--admin", "--db", db)
    invoke("create-user", "frank", "--db", db)
    code, out, _ = invoke("disable-user", "frank", "--db", db)
    assert code == 0 and "disabled user frank" in out
    code, out, _ = invoke("list-users", "--db", db)
    lines = out.splitlines()
    assert lines[0].startswith("erin") and lines[0].endswith("admin")
    assert lines[1].startswith("frank") and lines[1].endswith("disabled")
    code, out, _ = invoke("create-token", "frank", "--db", db)
    assert code == 1
    assert invoke("enable-user", "frank", "--db", db)[0] == 0
    assert invoke("create-token", "frank", "--db", db)[0] == 0


def test_grant_and_revoke_roles(db: str, users: SqlAuthenticator) -> None:
    invoke("create-user", "gina", "--db", db)
    code, out, _ = invoke("grant", "gina", "vision", "editor", "--db", db)
    assert code == 0 and "gina is editor of project 'vision'" in out
    assert users.role(Principal("gina"), "vision") is Role.EDITOR
    code, out, _ = invoke("grant", "gina", "vision", "viewer", "--db", db, "--json")
    assert json.loads(out)["role"] == "viewer" and json.loads(out)["granted_by"] is None
    code, out, _ = invoke("revoke", "gina", "vision", "--db", db)
    assert code == 0 and "no longer a member" in out
    assert users.role(Principal("gina"), "vision") is None
    code, _, err = invoke("revoke", "gina", "vision", "--db", db)
    assert code == 1 and "not a member" in err
    assert invoke("grant", "gina", "vision", "owner", "--db", db)[0] == 2


@pytest.mark.parametrize(
    "args,needle",
    [
        (("create-user", "Not A Name"), "user name"),
        (("create-token", "ghost"), "user 'ghost' does not exist"),
        (("grant", "ghost", "p", "viewer"), "user 'ghost' does not exist"),
        (("grant", "ghost", "../p", "viewer"), "project name"),
        (("create-user", "x", "--db", "mysql://h/db"), "SQLite"),
    ],
)
def test_bad_input_gets_a_clear_error(args: tuple[str, ...], needle: str) -> None:
    code, out, err = invoke(*args)
    assert code == 1 and needle in err and "Traceback" not in out + err
    code, out, _ = invoke(*args, "--json")
    assert code == 1 and needle in json.loads(out)["error"]["message"]


def test_a_user_is_created_once(db: str) -> None:
    assert invoke("create-user", "hank", "--db", db)[0] == 0
    code, _, err = invoke("create-user", "hank", "--db", db)
    assert code == 1 and "already exists" in err


def test_an_outdated_sqlite_database_is_upgraded(tmp_path: Path) -> None:
    copy = tmp_path / "schema_0001.db"
    shutil.copy(DATA / "schema_0001.db", copy)
    url = f"sqlite:///{copy}"
    code, _, err = invoke("create-user", "ivy", "--db", url)
    assert code == 0, err
    engine = make_engine(url)
    assert current_revision(engine) == SCHEMA_REVISION
    engine.dispose()


@pytest.mark.postgres
def test_an_outdated_postgres_database_is_refused_with_the_upgrade_hint(pg_url: str) -> None:
    engine = make_engine(pg_url)
    upgrade(engine, "0001")
    code, _, err = invoke("create-user", "jack", "--db", pg_url)
    assert code == 1 and "runtrack db upgrade" in err
    assert current_revision(engine) == "0001"
    engine.dispose()


@pytest.mark.postgres
def test_an_empty_postgres_database_gets_the_schema(pg_url: str) -> None:
    code, out, err = invoke("create-user", "kim", "--admin", "--db", pg_url, "--json")
    assert code == 0, err
    auth = SqlAuthenticator(pg_url)
    assert auth.authenticate(json.loads(out)["token"]) == Principal(
        "kim", admin=True, token_id=json.loads(out)["token_id"]
    )
    auth.close()


def test_admin_is_listed_and_every_command_has_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "admin" in result.stdout
    for sub in (
        "create-user",
        "create-token",
        "list-tokens",
        "revoke-token",
        "list-users",
        "disable-user",
        "enable-user",
        "set-password",
        "grant",
        "revoke",
    ):
        result = CliRunner().invoke(cli, ["admin", sub, "--help"])
        assert result.exit_code == 0 and "--db" in result.stdout, sub
