"""Many askers on one sweep through the database alone (embedded agents on one machine,
or servers sharing PostgreSQL): each process keeps its own in-memory study and catches up
from the change numbers, so trials are never handed out twice and the budget is exact."""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path
from typing import Any

import pytest

from runtrack.store.sql.store import SqlStore
from runtrack.testing.sweep_contract import loss, quad_spec

BUDGET = 40


def _worker(url: str, sweep_id: str, out: Any) -> None:
    store = SqlStore(url)
    got = []
    while (t := store.sweep_ask(sweep_id, user="w", host="h")) is not None:
        assert t.run_id is not None
        got.append((t.number, t.run_id, tuple(sorted(t.params.items()))))
        store.sweep_tell(sweep_id, t.run_id, values=[loss(dict(t.params))])
    store.close()
    out.put(got)


def _check(store: SqlStore, sweep_id: str, got: list[tuple[Any, ...]]) -> None:
    numbers = sorted(g[0] for g in got)
    assert numbers == list(range(BUDGET))
    assert len({g[1] for g in got}) == BUDGET
    assert len({g[2] for g in got}) == BUDGET  # no parameter set suggested twice
    sw = store.get_sweep(sweep_id)
    assert sw.status == "finished" and sw.budget_used == BUDGET
    assert sw.counts == {"complete": BUDGET}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def test_processes(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    url = (
        f"sqlite:///{tmp_path / 'rt.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    store = SqlStore(url, auto_upgrade=True)
    sw = store.create_sweep("p", quad_spec(budget={"trials": BUDGET}), actor="a")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, sw.id, q)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [item for _ in procs for item in q.get(timeout=240)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    _check(store, sw.id, got)
    store.close()


GP_SPEC = {
    "method": "gp",  # suggested outside the sweep's lock (slow sampler): reserve, then record
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "x": {"distribution": "uniform", "min": -2.0, "max": 2.0},
        "model.depth": {"distribution": "int", "min": 1, "max": 3},
    },
    "seed": 3,
}


@pytest.mark.parametrize("gp", [False, True])
def test_threads_of_one_process(tmp_path: Path, gp: bool) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'rt.db'}", auto_upgrade=True)
    spec = dict(GP_SPEC, budget={"trials": BUDGET}) if gp else quad_spec(budget={"trials": BUDGET})
    sw = store.create_sweep("p", spec, actor="a")
    got: list[tuple[Any, ...]] = []
    lock = threading.Lock()

    def work() -> None:
        while (t := store.sweep_ask(sw.id, user="w", host="h")) is not None:
            assert t.run_id is not None
            with lock:
                got.append((t.number, t.run_id, tuple(sorted(t.params.items()))))
            store.sweep_tell(sw.id, t.run_id, values=[loss(dict(t.params))])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=240)
    _check(store, sw.id, got)
    store.close()
