"""SqlAuthenticator on SQLite and PostgreSQL: users, passwords, tokens, memberships."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from runtrack.errors import (
    ConflictError,
    NotFoundError,
    TokenNotFoundError,
    UserExistsError,
    UserNotFoundError,
    ValidationError,
)
from runtrack.server import _passwords
from runtrack.server.auth import Principal, Role
from runtrack.server.users import SqlAuthenticator
from runtrack.store.sql.schema import api_tokens, users


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'auth.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def auth(db_url: str, clock: Clock) -> Iterator[SqlAuthenticator]:
    a = SqlAuthenticator(db_url, clock=clock)
    yield a
    a.close()


def _last_used(auth: SqlAuthenticator, token_id: int) -> float | None:
    with auth.engine.connect() as conn:
        q = select(api_tokens.c.last_used_at).where(api_tokens.c.id == token_id)
        value: float | None = conn.execute(q).scalar()
        return value


# -- users and passwords ------------------------------------------------------------------
def test_user_names_are_checked(auth: SqlAuthenticator) -> None:
    for name in ("", "Ana", "-ana", ".ana", "ana smith", "a" * 65, "ana\n", "ана", "a/..", 3):
        with pytest.raises(ValidationError, match="user name"):
            auth.create_user(name)  # type: ignore[arg-type]
    assert auth.list_users() == []


def test_users_are_created_once_and_listed(auth: SqlAuthenticator) -> None:
    ana = auth.create_user("ana")
    assert (ana.name, ana.admin, ana.disabled, ana.has_password) == ("ana", False, False, False)
    auth.create_user("0.root_x-y", admin=True)
    with pytest.raises(UserExistsError, match="already exists"):
        auth.create_user("ana", admin=True)
    assert [(u.name, u.admin) for u in auth.list_users()] == [("0.root_x-y", True), ("ana", False)]
    with pytest.raises(UserNotFoundError):
        auth.get_user("ghost")


def test_passwords_are_scrypt_hashes_and_no_user_has_one_by_default(
    auth: SqlAuthenticator,
) -> None:
    auth.create_user("ana")
    assert auth.login("ana", "") is None and auth.login("ana", "password") is None
    with pytest.raises(ValidationError, match="8 to 1024"):
        auth.set_password("ana", "short")
    assert auth.set_password("ana", "correct horse").has_password
    with auth.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("scrypt$32768$8$1$") and "correct horse" not in stored
    assert auth.login("ana", "correct horse") == Principal("ana")
    assert auth.login("ana", "correct horsE") is None
    assert auth.login("ghost", "correct horse") is None
    assert auth.set_password("ana", None).has_password is False
    assert auth.login("ana", "correct horse") is None


def test_two_hashes_of_one_password_differ_and_both_verify() -> None:
    a, b = _passwords.hash_password("same password"), _passwords.hash_password("same password")
    assert a != b
    assert _passwords.verify_password("same password", a)
    assert _passwords.verify_password("same password", b)
    for broken in ("", "scrypt$1$2", "bcrypt$1$1$1$AA==$AA==", "scrypt$x$8$1$AA==$AA=="):
        assert not _passwords.verify_password("same password", broken)
    assert not _passwords.verify_password("x" * 2000, a)


# -- tokens -------------------------------------------------------------------------------
def test_a_token_authenticates_its_user_until_revoked(auth: SqlAuthenticator) -> None:
    auth.create_user("ana", admin=True)
    token_id, token = auth.create_token("ana", "laptop")
    assert auth.authenticate(token) == Principal("ana", admin=True, token_id=token_id)
    assert auth.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert auth.authenticate(None) is None and auth.authenticate("") is None
    revoked = auth.revoke_token(token_id, by=None)
    assert revoked.revoked_at is not None
    assert auth.authenticate(token) is None
    assert auth.revoke_token(token_id, by=None).revoked_at == revoked.revoked_at
    with pytest.raises(TokenNotFoundError):
        auth.revoke_token(424242, by=None)


def test_tokens_expire(auth: SqlAuthenticator, clock: Clock) -> None:
    auth.create_user("ana")
    token_id, token = auth.create_token("ana", "ci", expires_in=60)
    assert auth.get_token(token_id).expires_at is not None
    clock.now += 59
    assert auth.authenticate(token) is not None
    clock.now += 1
    assert auth.authenticate(token) is None


def test_last_use_is_written_at_most_once_a_minute(auth: SqlAuthenticator, clock: Clock) -> None:
    auth.create_user("ana")
    token_id, token = auth.create_token("ana", "ci")
    assert _last_used(auth, token_id) is None
    auth.authenticate(token)
    first = clock.now
    assert _last_used(auth, token_id) == first
    clock.now += 30
    auth.authenticate(token)
    assert _last_used(auth, token_id) == first
    clock.now += 31
    auth.authenticate(token)
    assert _last_used(auth, token_id) == clock.now
    assert auth.list_tokens("ana")[0].last_used_at is not None


def test_a_disabled_user_has_no_working_token_and_gets_no_new_one(auth: SqlAuthenticator) -> None:
    auth.create_user("ana", password="correct horse")
    _, token = auth.create_token("ana", "ci")
    assert auth.disable_user("ana").disabled
    assert auth.authenticate(token) is None
    assert auth.login("ana", "correct horse") is None
    with pytest.raises(ConflictError, match="disabled"):
        auth.create_token("ana", "again")
    auth.enable_user("ana")
    assert auth.authenticate(token) is not None
    with pytest.raises(UserNotFoundError):
        auth.disable_user("ghost")
    with pytest.raises(UserNotFoundError):
        auth.create_token("ghost", "x")


def test_a_user_revokes_only_their_own_tokens(auth: SqlAuthenticator) -> None:
    for name in ("ana", "bob"):
        auth.create_user(name)
    token_id, _ = auth.create_token("ana", "laptop")
    with pytest.raises(TokenNotFoundError, match="is not bob's"):
        auth.revoke_token(token_id, by=Principal("bob"))
    assert auth.revoke_token(token_id, by=Principal("root", admin=True)).revoked_at
    assert [t.label for t in auth.list_tokens("ana")] == ["laptop"]
    assert auth.list_tokens("bob") == []


# -- roles --------------------------------------------------------------------------------
def test_grants_set_replace_and_revoke_roles(auth: SqlAuthenticator) -> None:
    for name in ("ana", "bob"):
        auth.create_user(name)
    ana = Principal("ana")
    assert auth.role(ana, "p") is None and auth.readable_projects(ana) == []
    assert auth.grant("ana", "p", "viewer", "root").role is Role.VIEWER
    assert auth.grant("ana", "p", Role.EDITOR, None).granted_by is None
    auth.grant("ana", "a-first", "admin", "root")
    auth.grant("bob", "p", "viewer", "ana")
    assert auth.role(ana, "p") is Role.EDITOR
    assert auth.readable_projects(ana) == ["a-first", "p"]
    assert auth.readable_projects(Principal("x", admin=True)) is None
    assert [(m.user, m.role) for m in auth.members("p")] == [
        ("ana", Role.EDITOR),
        ("bob", Role.VIEWER),
    ]
    auth.revoke_membership("ana", "p")
    assert auth.role(ana, "p") is None
    with pytest.raises(NotFoundError, match="not a member"):
        auth.revoke_membership("ana", "p")
    with pytest.raises(ValidationError, match="viewer, editor or admin"):
        auth.grant("ana", "p", "owner", None)
    with pytest.raises(ValidationError, match="project name"):
        auth.grant("ana", "../p", "viewer", None)
    with pytest.raises(UserNotFoundError):
        auth.grant("ghost", "p", "viewer", None)


def test_the_creator_of_a_project_becomes_its_admin_without_taking_one_over(
    auth: SqlAuthenticator,
) -> None:
    for name in ("ana", "bob", "eve"):
        auth.create_user(name)
    auth.project_created(Principal("ana"), "p")
    assert auth.role(Principal("ana"), "p") is Role.ADMIN
    auth.project_created(Principal("bob"), "p")  # a concurrent creator of the same project
    assert auth.role(Principal("bob"), "p") is None
    auth.grant("eve", "q", "viewer", "root")  # designated before the project exists
    auth.project_created(Principal("eve"), "q")
    assert auth.role(Principal("eve"), "q") is Role.ADMIN
    auth.project_created(Principal("root", admin=True), "r")
    assert auth.members("r") == []


def test_of_two_simultaneous_creators_of_a_project_one_becomes_admin(
    auth: SqlAuthenticator,
) -> None:
    names = [f"u{i}" for i in range(4)]
    for name in names:
        auth.create_user(name)
    for round_ in range(5):
        project = f"race{round_}"
        start = threading.Barrier(len(names))

        def create(name: str, project: str = project, start: threading.Barrier = start) -> None:
            start.wait()
            auth.project_created(Principal(name), project)

        threads = [threading.Thread(target=create, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [m.role for m in auth.members(project)] == [Role.ADMIN]


def test_it_is_thread_safe(auth: SqlAuthenticator, clock: Clock) -> None:
    auth.create_user("ana")
    tokens = [auth.create_token("ana", f"t{i}")[1] for i in range(4)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(25):
                assert auth.authenticate(tokens[(i + j) % 4]) is not None
                auth.grant("ana", f"p{i}", "editor" if j % 2 else "viewer", None)
                assert auth.role(Principal("ana"), f"p{i}") is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(auth.readable_projects(Principal("ana")) or []) == 6


def test_checking_a_token_is_cheap_enough_not_to_cache(tmp_path: Path) -> None:
    """One request's checks (token, then role) cost well under a millisecond on SQLite, so
    nothing is cached and a revocation takes effect on the next request."""
    auth = SqlAuthenticator(f"sqlite:///{tmp_path / 'auth.db'}")
    auth.create_user("ana")
    _, token = auth.create_token("ana", "bench")
    auth.grant("ana", "p", "viewer", None)
    principal = auth.authenticate(token)
    assert principal is not None
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(200):
            auth.authenticate(token)
            auth.role(principal, "p")
        best = min(best, (time.perf_counter() - start) / 200)
    auth.close()
    assert best < 0.005  # measured ~0.3 ms; the bound leaves room for slow CI machines


def test_an_empty_database_gets_the_schema(tmp_path: Path) -> None:
    open_: Callable[[], SqlAuthenticator] = lambda: SqlAuthenticator(  # noqa: E731
        f"sqlite:///{tmp_path / 'new.db'}"
    )
    first = open_()
    first.create_user("ana")
    first.close()
    second = open_()
    assert [u.name for u in second.list_users()] == ["ana"]
    second.close()
