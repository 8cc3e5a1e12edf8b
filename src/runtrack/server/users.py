"""Users, API tokens and project roles in the server's SQL database.

:class:`SqlAuthenticator` is the team server's :class:`~runtrack.server.auth.Authenticator`
(``create_app`` opens it when auth is on) and the management interface that the
``/auth``, ``/admin`` and ``/projects/{project}/members`` routes and ``runtrack admin``
use. Thread-safe: every method runs its own transaction; the only shared state in
memory is the time each token's last use was last written.

Secrets:

* An API token is ``rt_`` and 32 random bytes in base64url (43 characters), shown once
  when it is created. Only its SHA-256 is stored (a fast hash suffices for 256 random
  bits: there is nothing to guess by brute force), with its first 8 characters so that
  listings can tell tokens apart. A token is looked up by its hash, and the stored hash is
  compared to the computed one in constant time.
* A password is stored as an scrypt hash (``_passwords``). No user has a password unless
  one is set, and no default password exists.

No cache: a token is checked against the database on every request (one indexed read,
~0.2 ms on SQLite), so revoking a token, disabling a user or changing a role takes effect
on the very next request, in every server process sharing the database.
``last_used_at`` is written at most once a minute per token, not on every request.

Records returned are frozen. Errors: ``ValidationError`` (a malformed name, role, label,
password or lifetime), ``UserNotFoundError``, ``UserExistsError``, ``TokenNotFoundError``,
``NotFoundError`` (a membership that does not exist), ``ConflictError`` (a token for a
disabled user), ``StoreError`` (the database failed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, Row, Select, and_, bindparam, delete, insert, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from ..entities import utc_from_timestamp
from ..errors import (
    ConflictError,
    NotFoundError,
    StoreError,
    TokenNotFoundError,
    UserExistsError,
    UserNotFoundError,
    ValidationError,
)
from ..store.sql._engine import is_sqlite, make_engine, translate_errors, with_retries
from ..store.sql._migrate import ensure_schema
from ..store.sql.schema import api_tokens, project_members, users
from ..validation import check_project
from . import _passwords
from .auth import Authenticator, Principal, Role

log = logging.getLogger("runtrack.server")
T = TypeVar("T")

TOKEN_PREFIX = "rt_"
_TOKEN = re.compile(r"rt_[A-Za-z0-9_-]{43}")
_USER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
LABEL_CHARS = 100
MAX_LIFETIME = 10 * 365 * 86400.0  # seconds; a longer-lived token should not expire at all
TOUCH_INTERVAL = 60.0  # seconds between writes of a token's last_used_at


@dataclass(frozen=True, slots=True)
class User:
    name: str
    admin: bool
    disabled: bool
    has_password: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Token:
    """An API token's metadata; never its secret."""

    id: int
    user: str
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Member:
    project: str
    user: str
    role: Role
    granted_by: str | None
    granted_at: datetime


def new_token() -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def check_user_name(name: object) -> str:
    if not isinstance(name, str) or not _USER.fullmatch(name):
        shown = repr(name) if len(repr(name)) <= 70 else repr(name)[:67] + "..."
        raise ValidationError(
            f"user name {shown} is invalid: use 1-64 lowercase letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return name


def parse_role(role: Role | str) -> Role:
    if isinstance(role, Role):
        return role
    try:
        if not isinstance(role, str):
            raise ValueError(f"role {role!r} must be viewer, editor or admin")
        return Role.parse(role)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _check_label(label: object) -> str:
    if not isinstance(label, str) or not 1 <= len(label) <= LABEL_CHARS or not label.isprintable():
        raise ValidationError(
            f"a token label must be 1-{LABEL_CHARS} printable characters, e.g. 'laptop'"
        )
    return label


def _check_lifetime(expires_in: object) -> float | None:
    if expires_in is None:
        return None
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or not 0 < expires_in <= MAX_LIFETIME
    ):
        raise ValidationError(
            f"expires_in is a number of seconds, > 0 and at most {MAX_LIFETIME:.0f} "
            "(ten years); omit it for a token that does not expire"
        )
    return float(expires_in)


# built once: the two statements of every authenticated request
_BY_HASH = (
    select(
        api_tokens.c.id,
        api_tokens.c.token_hash,
        api_tokens.c.expires_at,
        api_tokens.c.revoked_at,
        api_tokens.c.last_used_at,
        users.c.name,
        users.c.admin,
        users.c.disabled,
    )
    .join(users, users.c.id == api_tokens.c.user_id)
    .where(api_tokens.c.token_hash == bindparam("digest"))
)
_ROLE = (
    select(project_members.c.role)
    .join(users, users.c.id == project_members.c.user_id)
    .where(users.c.name == bindparam("user"), project_members.c.project == bindparam("project"))
)


class SqlAuthenticator(Authenticator):
    """Principals, roles and their management, stored beside the runs (see module doc).

    ``auto_upgrade``: migrate an outdated schema on open (an empty database is always
    given the schema). ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        db_url: str,
        *,
        auto_upgrade: bool = False,
        engine: Engine | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        with translate_errors(f"opening {db_url}"):
            self.engine = engine or make_engine(db_url)
            if engine is None:
                weakref.finalize(self, self.engine.dispose)
            ensure_schema(self.engine, auto_upgrade=auto_upgrade)
        self._sqlite = is_sqlite(self.engine)
        self._clock = clock
        self._lock = threading.Lock()
        self._touched: dict[int, float] = {}  # token id -> when its last use was written

    def __repr__(self) -> str:
        return f"SqlAuthenticator({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions ------------------------------------------------------------------
    def _write(self, what: str, fn: Callable[[Connection], T], attempts: int = 8) -> T:
        def tx() -> T:
            with self.engine.connect() as conn:
                if self._sqlite:
                    conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    return fn(conn)

        return with_retries(tx, what=what, attempts=attempts)

    def _read(self, what: str, fn: Callable[[Connection], T]) -> T:
        def tx() -> T:
            with self.engine.connect() as conn, conn.begin():
                return fn(conn)

        return with_retries(tx, what=what)

    # -- the Authenticator interface -----------------------------------------------------
    def authenticate(self, token: str | None) -> Principal | None:
        if token is None or not _TOKEN.fullmatch(token):
            return None
        digest = hash_token(token)
        row = self._read(
            "checking a token", lambda conn: conn.execute(_BY_HASH, {"digest": digest}).first()
        )
        now = self._clock()
        if (
            row is None
            or not hmac.compare_digest(row.token_hash, digest)
            or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= now)
            or row.disabled
        ):
            return None
        self._touch(row.id, row.last_used_at, now)
        return Principal(row.name, admin=bool(row.admin), token_id=row.id)

    def _touch(self, token_id: int, last_used: float | None, now: float) -> None:
        """Record a token's use, at most once per ``TOUCH_INTERVAL`` (by the database's
        value, shared by every server process, and this process's own memory)."""
        if last_used is not None and now - last_used < TOUCH_INTERVAL:
            return
        with self._lock:
            if now - self._touched.get(token_id, float("-inf")) < TOUCH_INTERVAL:
                return
            if len(self._touched) > 100_000:
                self._touched.clear()
            self._touched[token_id] = now
        stmt = update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
        try:
            # best effort, not retried: the next use of the token tries again
            self._write("recording a token's use", lambda conn: conn.execute(stmt), attempts=1)
        except StoreError as exc:  # the request goes on; the next use tries again
            log.warning("could not record the use of token %d: %s", token_id, exc.message)
            with self._lock:
                self._touched.pop(token_id, None)

    def role(self, principal: Principal, project: str) -> Role | None:
        args = {"user": principal.name, "project": project}
        value = self._read("reading a role", lambda conn: conn.execute(_ROLE, args).scalar())
        return None if value is None else Role.parse(value)

    def readable_projects(self, principal: Principal) -> list[str] | None:
        if principal.admin:
            return None
        return [m.project for m in self.memberships(principal.name)]

    def project_created(self, principal: Principal, project: str) -> None:
        """The creator becomes the project's admin, unless another user already is (a
        server administrator designated one in advance, or another user created the same
        project at the same moment): creating a project never takes it over."""
        if principal.admin:
            return

        def go(conn: Connection) -> None:
            self._lock_project(conn, project)
            uid = self._user_id(conn, principal.name)
            others = conn.execute(
                select(project_members.c.user_id).where(
                    project_members.c.project == project,
                    project_members.c.role == Role.ADMIN.name.lower(),
                    project_members.c.user_id != uid,
                )
            ).first()
            if others is None:
                self._upsert_member(conn, project, uid, Role.ADMIN, principal.name)

        self._write("granting the creator of a project its admin role", go)

    # -- sign-in -------------------------------------------------------------------------
    def login(self, name: str, password: str) -> Principal | None:
        """The user whose password this is; None otherwise, in about the same time
        whether or not the user exists, is disabled or has a password."""
        row = None
        if isinstance(name, str) and _USER.fullmatch(name):
            row = self._read(
                "reading a user",
                lambda conn: conn.execute(select(users).where(users.c.name == name)).first(),
            )
        if row is None or row.disabled or row.password_hash is None:
            _passwords.verify_nothing(password)
            return None
        if not _passwords.verify_password(password, row.password_hash):
            return None
        return Principal(row.name, admin=bool(row.admin))

    # -- users ---------------------------------------------------------------------------
    def create_user(self, name: str, admin: bool = False, password: str | None = None) -> User:
        check_user_name(name)
        hashed = None if password is None else _passwords.hash_password(password)
        now = self._clock()
        row = {
            "name": name,
            "admin": bool(admin),
            "password_hash": hashed,
            "created_at": now,
            "disabled": False,
        }

        def go(conn: Connection) -> None:
            if conn.execute(select(users.c.id).where(users.c.name == name)).first():
                raise UserExistsError(f"user {name!r} already exists")
            conn.execute(insert(users).values(**row))

        try:
            self._write("creating a user", go)
        except StoreError as exc:  # a concurrent creation of the same name
            if isinstance(exc.__cause__, sa_exc.IntegrityError):
                raise UserExistsError(f"user {name!r} already exists") from None
            raise
        return self.get_user(name)

    def get_user(self, name: str) -> User:
        check_user_name(name)

        def go(conn: Connection) -> User:
            row = conn.execute(select(users).where(users.c.name == name)).first()
            if row is None:
                raise UserNotFoundError(f"user {name!r} does not exist")
            return _user(row)

        return self._read("reading a user", go)

    def list_users(self) -> list[User]:
        def go(conn: Connection) -> list[User]:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]

        return self._read("listing users", go)

    def set_password(self, name: str, password: str | None) -> User:
        """Set (or, with None, remove) a user's password. Their tokens stay valid."""
        hashed = None if password is None else _passwords.hash_password(password)
        self._update_user(name, "setting a password", password_hash=hashed)
        return self.get_user(name)

    def disable_user(self, name: str) -> User:
        """The user's tokens stop working at once; their memberships are kept."""
        self._update_user(name, "disabling a user", disabled=True)
        return self.get_user(name)

    def enable_user(self, name: str) -> User:
        self._update_user(name, "enabling a user", disabled=False)
        return self.get_user(name)

    def _update_user(self, name: str, what: str, **values: Any) -> None:
        check_user_name(name)

        def go(conn: Connection) -> None:
            done = conn.execute(update(users).where(users.c.name == name).values(**values))
            if done.rowcount == 0:
                raise UserNotFoundError(f"user {name!r} does not exist")

        self._write(what, go)

    @staticmethod
    def _user_id(conn: Connection, name: str) -> int:
        check_user_name(name)
        uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
        if uid is None:
            raise UserNotFoundError(f"user {name!r} does not exist")
        return int(uid)

    # -- tokens --------------------------------------------------------------------------
    def create_token(
        self, user: str, label: str, expires_in: float | None = None
    ) -> tuple[int, str]:
        """A new token of ``user`` (valid for ``expires_in`` seconds, or until revoked):
        its id and its text, which is not stored and cannot be shown again."""
        check_user_name(user)
        _check_label(label)
        lifetime = _check_lifetime(expires_in)
        token = new_token()
        now = self._clock()

        def go(conn: Connection) -> int:
            row = conn.execute(select(users.c.id, users.c.disabled).where(users.c.name == user))
            found = row.first()
            if found is None:
                raise UserNotFoundError(f"user {user!r} does not exist")
            if found.disabled:
                raise ConflictError(f"user {user!r} is disabled; enable them first")
            stmt = (
                insert(api_tokens)
                .values(
                    user_id=found.id,
                    label=label,
                    token_hash=hash_token(token),
                    prefix=token[:8],
                    created_at=now,
                    expires_at=None if lifetime is None else now + lifetime,
                )
                .returning(api_tokens.c.id)
            )
            return int(conn.execute(stmt).scalar_one())

        return self._write("creating a token", go), token

    def list_tokens(self, user: str) -> list[Token]:
        """Every token of ``user``, revoked and expired ones included, oldest first."""

        def go(conn: Connection) -> list[Token]:
            uid = self._user_id(conn, user)
            rows = conn.execute(
                _token_query().where(api_tokens.c.user_id == uid).order_by(api_tokens.c.id)
            )
            return [_token(r) for r in rows]

        return self._read("listing tokens", go)

    def get_token(self, token_id: int) -> Token:
        def go(conn: Connection) -> Token:
            row = conn.execute(_token_query().where(api_tokens.c.id == token_id)).first()
            if row is None:
                raise TokenNotFoundError(f"token {token_id} does not exist")
            return _token(row)

        return self._read("reading a token", go)

    def revoke_token(self, token_id: int, by: Principal | None) -> Token:
        """Revoke a token at once (revoking it again changes nothing). ``by``: who asks;
        a non-administrator may revoke only their own tokens, and another's token is
        reported as not found. None: an operator on the server host."""

        def go(conn: Connection) -> Token:
            row = conn.execute(_token_query().where(api_tokens.c.id == token_id)).first()
            if row is None or (by is not None and not by.admin and row.user != by.name):
                raise TokenNotFoundError(
                    f"token {token_id} does not exist"
                    + ("" if by is None else f" or is not {by.name}'s")
                )
            if row.revoked_at is None:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id == token_id)
                    .values(revoked_at=self._clock())
                )
            return _token(conn.execute(_token_query().where(api_tokens.c.id == token_id)).one())

        return self._write("revoking a token", go)

    # -- project members -----------------------------------------------------------------
    def grant(self, user: str, project: str, role: Role | str, by: str | None) -> Member:
        """Give ``user`` ``role`` in ``project`` (replacing the role they had). ``by``:
        the granting user's name; None for an operator on the server host."""
        check_project(project)
        parsed = parse_role(role)

        def go(conn: Connection) -> None:
            self._lock_project(conn, project)
            self._upsert_member(conn, project, self._user_id(conn, user), parsed, by)

        self._write("granting a role", go)
        return next(m for m in self.members(project) if m.user == user)

    def _lock_project(self, conn: Connection, project: str) -> None:
        """Serialise changes to one project's members until the transaction ends (SQLite
        write transactions are serialised already)."""
        if not self._sqlite:
            key = int.from_bytes(hashlib.sha256(project.encode()).digest()[:8], "big", signed=True)
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def _upsert_member(
        self, conn: Connection, project: str, uid: int, role: Role, by: str | None
    ) -> None:
        values = {"role": role.name.lower(), "granted_by": by, "granted_at": self._clock()}
        key = and_(project_members.c.project == project, project_members.c.user_id == uid)
        if conn.execute(update(project_members).where(key).values(**values)).rowcount == 0:
            conn.execute(insert(project_members).values(project=project, user_id=uid, **values))

    def revoke_membership(self, user: str, project: str) -> None:
        check_project(project)

        def go(conn: Connection) -> None:
            uid = self._user_id(conn, user)
            key = and_(project_members.c.project == project, project_members.c.user_id == uid)
            if conn.execute(delete(project_members).where(key)).rowcount == 0:
                raise NotFoundError(f"user {user!r} is not a member of project {project!r}")

        self._write("revoking a role", go)

    def members(self, project: str) -> list[Member]:
        """The members of a project, by user name."""
        check_project(project)
        query = _member_query().where(project_members.c.project == project)
        return self._read(
            "listing members",
            lambda conn: [_member(r) for r in conn.execute(query.order_by(users.c.name))],
        )

    def memberships(self, user: str) -> list[Member]:
        """The projects a user is a member of, by project name."""
        check_user_name(user)
        query = _member_query().where(users.c.name == user)
        return self._read(
            "listing memberships",
            lambda conn: [
                _member(r) for r in conn.execute(query.order_by(project_members.c.project))
            ],
        )


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _user(row: Row[Any]) -> User:
    return User(
        row.name,
        bool(row.admin),
        bool(row.disabled),
        row.password_hash is not None,
        _utc(row.created_at),
    )


def _token_query() -> Select[Any]:
    return select(
        api_tokens.c.id,
        users.c.name.label("user"),
        api_tokens.c.label,
        api_tokens.c.prefix,
        api_tokens.c.created_at,
        api_tokens.c.last_used_at,
        api_tokens.c.expires_at,
        api_tokens.c.revoked_at,
    ).join(users, users.c.id == api_tokens.c.user_id)


def _token(row: Row[Any]) -> Token:
    return Token(
        row.id,
        row.user,
        row.label,
        row.prefix,
        _utc(row.created_at),
        utc_from_timestamp(row.last_used_at),
        utc_from_timestamp(row.expires_at),
        utc_from_timestamp(row.revoked_at),
    )


def _member_query() -> Select[Any]:
    return select(
        project_members.c.project,
        users.c.name.label("user"),
        project_members.c.role,
        project_members.c.granted_by,
        project_members.c.granted_at,
    ).join(users, users.c.id == project_members.c.user_id)


def _member(row: Row[Any]) -> Member:
    return Member(
        row.project,
        row.user,
        Role.parse(row.role),
        row.granted_by,
        _utc(row.granted_at),
    )
