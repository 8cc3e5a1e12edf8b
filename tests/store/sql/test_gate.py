"""The SQLite writer gate: writers of several processes queue on a lock file instead of
SQLite's sleeping busy handler, and the gate never decides anything SQLite would not."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from pathlib import Path

import pytest

from runtrack.entities import RunSpec
from runtrack.store.sql._gate import WriterGate
from runtrack.store.sql.store import SqlStore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")


def _spec(i: int, who: str) -> RunSpec:
    return RunSpec(
        id=f"{who}{i:012d}"[-16:].rjust(16, "0"),
        project="gate",
        name=f"r{i}",
        user="u",
        host="h",
        start_time=1.7e9,
        config={"i": i},
    )


def _writer(url: str, who: str, n: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    store = SqlStore(url)
    try:
        for i in range(n):
            store.create_run(_spec(i, who))
        out.put(("ok", who))
    except BaseException as exc:  # reported to the parent
        out.put(("error", repr(exc)))
    finally:
        store.close()


def test_processes_writing_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rt.db'}"
    SqlStore(url, auto_upgrade=True).close()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, w, 40, q)) for w in ("aaaa", "bbbb", "cccc")]
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert sorted(got) == [("ok", "aaaa"), ("ok", "bbbb"), ("ok", "cccc")]
    store = SqlStore(url)
    assert store.count_runs("gate", None) == 120
    store.close()
    assert (tmp_path / "rt.db.writer-lock").exists()


def test_the_gate_queues_holders_and_is_reentrant(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    a, b = WriterGate(path, timeout=30), WriterGate(path, timeout=30)  # two "processes"
    order: list[str] = []
    with a:
        with a:  # re-entrant in a thread
            order.append("a-in")

        def other() -> None:
            with b:
                order.append("b-in")

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.1)
        assert order == ["a-in"]  # b waits while a holds the file lock
        order.append("a-out")
    t.join(10)
    assert order == ["a-in", "a-out", "b-in"]


def test_a_stuck_holder_does_not_block_past_the_timeout(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    holder, waiter = WriterGate(path, timeout=60), WriterGate(path, timeout=0.2)
    with holder:
        t0 = time.monotonic()
        with waiter:  # gives up on the gate; SQLite's busy timeout would judge
            waited = time.monotonic() - t0
    assert 0.15 < waited < 5


def test_without_a_writable_directory_the_store_still_writes(tmp_path: Path) -> None:
    gate = WriterGate(str(tmp_path / "missing-dir" / "x.db"), timeout=1)
    with gate:  # the lock file cannot be created: no gate, no error
        pass
    assert not (tmp_path / "missing-dir").exists()
    with WriterGate(None, timeout=1):  # in-memory: no file at all
        pass


def test_a_failed_transaction_releases_the_gate(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    a, b = WriterGate(path, timeout=30), WriterGate(path, timeout=0.5)
    with pytest.raises(RuntimeError), a:
        raise RuntimeError("boom")
    t0 = time.monotonic()
    with b:
        pass
    assert time.monotonic() - t0 < 0.4  # b got it at once: a released it
