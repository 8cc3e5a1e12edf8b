"""Group commit: concurrent creations share a transaction, each keeps its own answer."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from runtrack.entities import NewRun, RunSpec, WriteResult
from runtrack.errors import RunExistsError, ValidationError
from runtrack.server._group import GroupCommit


def new(i: int, project: str = "p") -> NewRun:
    return NewRun(RunSpec(f"run{i:08d}", project, "r", "u", "h", 1.7e9))


class Store:
    """Records each call (one call is one transaction); refuses runs named in ``bad``."""

    def __init__(self, delay: float = 0.02) -> None:
        self.calls: list[list[str]] = []
        self.bad: set[str] = set()
        self.delay = delay
        self.lock = threading.Lock()

    def create_runs(self, items: Sequence[NewRun]) -> list[WriteResult]:
        ids = [i.spec.id for i in items]
        with self.lock:
            self.calls.append(ids)
        time.sleep(self.delay)  # the transaction takes a while: others queue meanwhile
        if self.bad & set(ids):
            raise RunExistsError(f"run {sorted(self.bad & set(ids))[0]!r} is taken")
        return [WriteResult(int(i[3:]), 0, 0) for i in ids]


async def submit_all(group: GroupCommit, batches: list[list[NewRun]]) -> list[object]:
    return await asyncio.gather(*(group.submit(b) for b in batches), return_exceptions=True)


def test_concurrent_requests_share_transactions_and_get_their_own_results() -> None:
    store = Store()
    group = GroupCommit(store.create_runs, max_runs=1000, max_records=10**6)
    batches = [[new(i)] for i in range(20)] + [[new(100 + i) for i in range(5)]]
    results = asyncio.run(submit_all(group, batches))
    for b, res in zip(batches, results, strict=True):
        assert isinstance(res, list)
        assert [r.applied for r in res] == [int(i.spec.id[3:]) for i in b]
    assert len(store.calls) == group.transactions < 5  # the first alone, then the rest
    assert sorted(i for call in store.calls for i in call) == sorted(
        i.spec.id for b in batches for i in b
    )


def test_a_lone_request_is_not_delayed() -> None:
    store = Store(delay=0)
    group = GroupCommit(store.create_runs, max_runs=1000, max_records=10**6)

    async def one_at_a_time() -> None:
        for i in range(5):
            t = time.perf_counter()
            (res,) = await group.submit([new(i)])
            assert res.applied == i and time.perf_counter() - t < 0.5

    asyncio.run(one_at_a_time())
    assert store.calls == [[f"run{i:08d}"] for i in range(5)]


def test_a_refused_request_fails_alone() -> None:
    store = Store()
    store.bad = {"run00000007"}
    group = GroupCommit(store.create_runs, max_runs=1000, max_records=10**6)
    results = asyncio.run(submit_all(group, [[new(i)] for i in range(12)]))
    for i, res in enumerate(results):
        if i == 7:
            assert isinstance(res, RunExistsError)
        else:
            assert isinstance(res, list) and res[0].applied == i


def test_groups_respect_the_limits_and_never_merge_a_run_twice() -> None:
    store = Store()
    group = GroupCommit(store.create_runs, max_runs=4, max_records=10**6)
    same = new(1)
    batches = [[new(10 + i), new(20 + i)] for i in range(6)] + [[same], [same]]
    results = asyncio.run(submit_all(group, batches))
    assert all(isinstance(r, list) for r in results)
    assert max(len(c) for c in store.calls) <= 4
    assert not any(c.count(same.spec.id) > 1 for c in store.calls)


def test_a_bug_reaches_every_waiter() -> None:
    def broken(items: Sequence[NewRun]) -> list[WriteResult]:
        time.sleep(0.01)
        raise ValueError("bug")

    group = GroupCommit(broken, max_runs=1000, max_records=10**6)
    results = asyncio.run(submit_all(group, [[new(i)] for i in range(6)]))
    assert all(isinstance(r, ValueError) for r in results)


@pytest.mark.parametrize("exc", [ValidationError("bad"), RunExistsError("taken")])
def test_the_store_s_refusal_is_the_answer_of_a_lone_request(exc: Exception) -> None:
    def refuse(items: Sequence[NewRun]) -> list[WriteResult]:
        raise exc

    group = GroupCommit(refuse, max_runs=1000, max_records=10**6)
    (res,) = asyncio.run(submit_all(group, [[new(1)]]))
    assert res is exc


@pytest.mark.parametrize(("requests", "peak"), [(30, 1), (150, 2)])
def test_a_second_transaction_only_for_a_backlog(requests: int, peak: int) -> None:
    """Up to ``concurrency`` transactions at once, the second only when many runs wait."""
    inflight, seen = 0, 0
    lock = threading.Lock()

    def slow(items: Sequence[NewRun]) -> list[WriteResult]:
        nonlocal inflight, seen
        with lock:
            inflight += 1
            seen = max(seen, inflight)
        time.sleep(0.005)
        with lock:
            inflight -= 1
        return [WriteResult(1, 0, 1) for _ in items]

    group = GroupCommit(slow, max_runs=10, max_records=10**6, concurrency=2)
    results = asyncio.run(submit_all(group, [[new(i)] for i in range(requests)]))
    assert all(isinstance(r, list) and len(r) == 1 for r in results)
    assert seen == peak
