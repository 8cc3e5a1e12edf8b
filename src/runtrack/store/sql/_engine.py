"""Engines for SQLite and PostgreSQL, transactions, and the translation of driver errors.

SQLite: WAL journal, ``synchronous=NORMAL``, foreign keys on, case-sensitive ``LIKE``,
a busy timeout, and write transactions opened with ``BEGIN IMMEDIATE`` so that two
processes never deadlock upgrading a read lock to a write lock (the cause of most
"database is locked" errors). PostgreSQL: psycopg 3, a small pool with pre-ping.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, create_engine, event, exc, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from ...errors import StoreError, StoreUnavailableError, ValidationError

log = logging.getLogger("runtrack")
T = TypeVar("T")

_BUSY_TIMEOUT_MS = 60_000


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` (psycopg 3 driver) and ``sqlite:///``."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        parsed = make_url(url)
    except exc.ArgumentError as e:
        raise ValidationError(f"database URL {url!r} is not valid: {e}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValidationError(
            f"database URL {url!r}: runtrack stores runs in SQLite (sqlite:///path) or "
            "PostgreSQL (postgresql://user@host/db)"
        )
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            poolclass=NullPool if not db or db == ":memory:" else None,
            connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    # JIT compilation pays off only for analytic queries; on run searches it adds 30-100 ms.
    # No pre-ping (a round trip per transaction): every transaction runs in with_retries,
    # and a connection found dead is discarded with the pool and retried on a new one.
    return create_engine(
        url,
        pool_size=5,
        max_overflow=10,
        connect_args={"options": "-c jit=off"},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        # after a checkpoint, shrink the write-ahead log back to 4 MiB instead of leaving
        # it at its largest size (a 1M-point run left ~10 MB behind until exit)
        cur.execute("PRAGMA journal_size_limit = 4194304")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA case_sensitive_like = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Map driver errors to runtrack's tree, once, at the store boundary."""
    try:
        yield
    except exc.OperationalError as e:
        raise StoreUnavailableError(f"{what}: the database is unavailable ({_short(e)})") from e
    except exc.InterfaceError as e:
        raise StoreUnavailableError(f"{what}: lost the database connection ({_short(e)})") from e
    except exc.DBAPIError as e:
        raise StoreError(f"{what}: the database refused the operation ({_short(e)})") from e
    except exc.SQLAlchemyError as e:
        raise StoreError(f"{what}: {_short(e)}") from e


def _short(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def _transient(e: BaseException) -> bool:
    if isinstance(e, exc.OperationalError | exc.InterfaceError):
        return True
    if isinstance(e, exc.DBAPIError):
        code = getattr(getattr(e, "orig", None), "sqlstate", None)
        return code in ("40001", "40P01")  # serialization failure, deadlock
    return False


def with_retries(fn: Callable[[], T], *, what: str, attempts: int = 8) -> T:
    """Run a whole transaction function, retrying transient database errors with
    jittered exponential backoff; then translate."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return fn()
        except exc.SQLAlchemyError as e:
            if attempt == attempts - 1 or not _transient(e):
                with translate_errors(what):
                    raise
            log.debug("retrying %s after %s", what, _short(e))
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")  # pragma: no cover


class DatabaseClock:
    """The database server's clock, as seen from here: the local clock plus an offset
    measured against ``now()`` and refreshed every ``refresh`` seconds. Several server
    processes on machines whose clocks disagree then judge heartbeats alike."""

    def __init__(self, engine: Engine, refresh: float = 60.0) -> None:
        self._engine = engine
        self._refresh = refresh
        self._offset = 0.0
        self._measured = float("-inf")

    def __call__(self) -> float:
        local = time.time()
        if time.monotonic() - self._measured > self._refresh:
            self._measure()
        return local + self._offset

    def _measure(self) -> None:
        from sqlalchemy import text

        try:
            with self._engine.connect() as conn:
                before = time.time()
                db = float(
                    conn.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one()
                )
                after = time.time()
            self._offset = db - (before + after) / 2
        except exc.SQLAlchemyError:
            log.debug("could not read the database clock; keeping the last offset")
        self._measured = time.monotonic()


def insert_if_absent(
    conn: Connection, table: Table, values: Mapping[str, Any], keys: Sequence[str]
) -> int:
    """The ``id`` of the row of ``table`` whose ``keys`` columns hold ``values``' values,
    inserting it first if there is none. Safe when several processes do it at once (a
    new project's first runs through two servers): the insert yields to a concurrent one
    (``ON CONFLICT DO NOTHING`` on the unique ``keys``) and the row is read back."""
    from sqlalchemy.dialects import postgresql, sqlite

    where = [table.c[k] == values[k] for k in keys]
    found = conn.execute(select(table.c.id).where(*where)).scalar()
    if found is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(**values)
        conn.execute(statement.on_conflict_do_nothing(index_elements=keys))
        found = conn.execute(select(table.c.id).where(*where)).scalar_one()
    return int(found)
