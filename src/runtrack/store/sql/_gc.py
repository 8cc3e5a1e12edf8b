"""gc rounds in SQL: the table ``gc_rounds`` that garbage collection and the writers of
artifact versions coordinate through. The protocol and why it is safe:
``runtrack.store.gc``.

A round is a row ``(id, started_at, expires_at, finished_at)``. It is *live* while
``finished_at`` is NULL and ``expires_at`` lies ahead by the store's clock; a gc that
died leaves a round that ends at ``expires_at`` (its lease), a slow one renews it.

Ids must be given out in commit order, so that "every round with an id below N was over
when N was read" can be decided from the ids alone (a *mark*): on PostgreSQL the insert
of a round holds ``LOCK TABLE gc_rounds IN EXCLUSIVE MODE`` (readers are not blocked), on
SQLite write transactions are serial anyway. Rows of rounds over for a day are pruned,
never the newest row (SQLite would then give its id out again).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import Connection

from ...errors import ConflictError, ValidationError
from .schema import artifact_files, gc_rounds

Read = Callable[[str, Callable[[Connection], Any]], Any]

PRUNE_AFTER = 86_400.0  # seconds a round's row is kept once it is over


def _check_lease(lease: float) -> float:
    if isinstance(lease, bool) or not isinstance(lease, int | float) or not 0 < lease <= 86_400:
        raise ValidationError(f"a gc round's lease is 0 to 86400 seconds, not {lease!r}")
    return float(lease)


def _live(now: float):  # type: ignore[no-untyped-def]
    r = gc_rounds.c
    return (r.finished_at.is_(None)) & (r.expires_at > now)


def begin(conn: Connection, now: float, lease: float) -> int:
    """Insert a live round ending at ``now + lease``; its id."""
    lease = _check_lease(lease)
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE gc_rounds IN EXCLUSIVE MODE"))
    r = gc_rounds.c
    newest = conn.execute(select(func.max(r.id))).scalar()
    if newest is not None:
        over = (r.finished_at < now - PRUNE_AFTER) | (r.expires_at < now - PRUNE_AFTER)
        conn.execute(delete(gc_rounds).where(r.id < newest, over))
    return int(
        conn.execute(
            insert(gc_rounds).values(started_at=now, expires_at=now + lease).returning(r.id)
        ).scalar_one()
    )


def renew(conn: Connection, round_id: int, now: float, lease: float) -> None:
    """Move a live round's end to ``now + lease``; ``ConflictError`` if it is over."""
    lease = _check_lease(lease)
    r = gc_rounds.c
    done = conn.execute(
        update(gc_rounds).where(r.id == round_id, _live(now)).values(expires_at=now + lease)
    ).rowcount
    if not done:
        raise ConflictError(
            f"gc round {round_id} is over (finished, or its lease expired): writers no "
            "longer wait for it, so it must not delete anything more"
        )


def finish(conn: Connection, round_id: int, now: float) -> None:
    r = gc_rounds.c
    conn.execute(
        update(gc_rounds).where(r.id == round_id, r.finished_at.is_(None)).values(finished_at=now)
    )


def mark(conn: Connection, now: float) -> int:
    """Every round whose id is below the answer is over now: the smallest id of a live
    round, else one more than the largest id."""
    r = gc_rounds.c
    live = conn.execute(select(func.min(r.id)).where(_live(now))).scalar()
    if live is not None:
        return int(live)
    newest = conn.execute(select(func.max(r.id))).scalar()
    return int(newest or 0) + 1


def live_rounds(conn: Connection, now: float, among: list[int] | None = None) -> list[int]:
    """Ids of the live rounds (of ``among``, if given)."""
    r = gc_rounds.c
    query = select(r.id).where(_live(now))
    if among is not None:
        query = query.where(r.id.in_(among))
    return [int(i) for i in conn.execute(query.order_by(r.id)).scalars()]


def any_since(conn: Connection, since: int) -> bool:
    """Whether a round with an id of ``since`` or more exists (live or over)."""
    r = gc_rounds.c
    return conn.execute(select(r.id).where(r.id >= since).limit(1)).first() is not None


def wait(read: Read, clock: Callable[[], float], since: int | None) -> bool:
    """Poll until the rounds live now are over; whether a round exists since ``since``
    (True if ``since`` is None). ``read(what, fn)`` runs ``fn`` in a read transaction."""

    def first(conn: Connection) -> tuple[list[int], bool]:
        now = clock()
        return live_rounds(conn, now), since is None or any_since(conn, since)

    def still_live(waiting: list[int]) -> Callable[[Connection], list[int]]:
        return lambda conn: live_rounds(conn, clock(), waiting)

    pending, overlapped = read("reading gc rounds", first)
    delay = 0.02
    while pending:
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
        pending = read("waiting for gc rounds", still_live(list(pending)))
    return bool(overlapped)


def referenced_among(conn: Connection, digests: Iterable[str]) -> set[str]:
    """The digests among ``digests`` that some manifest references (indexed lookups)."""
    wanted = sorted(set(digests))
    f = artifact_files.c
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(conn.execute(select(f.digest).distinct().where(f.digest.in_(chunk))).scalars())
    return found
