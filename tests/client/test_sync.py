"""``runtrack sync`` of many offline runs: small journals go many per request."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import runtrack
from runtrack import settings as settings_mod
from runtrack.client._state import STATE
from runtrack.client._sync import find_journals, sync_all
from runtrack.entities import RunSpec
from runtrack.store.base import TrackingStore


@pytest.fixture(autouse=True)
def _sdk(sdk: None) -> None:
    """Every test here uses the quiet SDK fixture of conftest."""


class Counting:
    """A store that counts the calls made to it (and forwards them)."""

    def __init__(self, inner: TrackingStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        self.calls[name] += 1
        return getattr(self.inner, name)


def offline_runs(n: int, *, points: int = 20) -> list[str]:
    ids = []
    for i in range(n):
        run = runtrack.init(project="off", mode="offline", config={"i": i}, tags={"k": "v"})
        for step in range(points):
            run.log({"loss": 1.0 / (step + 1), "acc": step / points}, step=step)
        run.summary["best"] = i
        run.finish()
        ids.append(run.id)
    return ids


def killed_offline_run() -> str:
    """A process that logs offline and dies without finishing its run."""
    code = (
        "import os, runtrack\n"
        "run = runtrack.init(project='off', mode='offline')\n"
        "for step in range(20): run.log({'loss': 1.0 / (step + 1)}, step=step)\n"
        "run.flush()\n"
        "print(run.id, flush=True)\n"
        "os._exit(9)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 9, out.stderr
    return out.stdout.strip()


RECORDS = 20 + 4  # the points, the summary, the final status, and two provenance ops of init


def store_and_journals() -> tuple[TrackingStore, list[Path]]:
    s = settings_mod.load()
    return STATE.store(s), find_journals(s.journal_dir)


def test_many_small_offline_runs_go_in_one_request_each_exactly_once() -> None:
    ids = offline_runs(30)
    store, journals = store_and_journals()
    assert len(journals) == 30
    counting = Counting(store)
    results = sync_all(journals, counting)  # type: ignore[arg-type]
    assert counting.calls["create_runs"] == 1
    assert counting.calls["create_run"] == counting.calls["write"] == 0
    assert sorted(r.run_id for r in results if r.run_id) == sorted(ids)
    assert {(r.status, r.skipped, r.crashed) for r in results} == {("synced", 0, False)}
    assert {r.records for r in results} == {RECORDS}
    for i, rid in enumerate(ids):
        run = runtrack.Api().run(rid)
        assert run.status == "finished" and run.config == {"i": i}
        assert run.metrics["loss"].count == 20 and run.summary["best"] == i
    assert find_journals(settings_mod.load().journal_dir) == []
    assert sync_all(find_journals(settings_mod.load().journal_dir), store) == []


def test_a_dead_process_s_journal_ends_crashed_in_the_bulk() -> None:
    ids = [killed_offline_run() for _ in range(3)]
    store, journals = store_and_journals()
    results = sync_all(journals, store)
    assert all(r.status == "synced" and r.crashed for r in results)
    for rid in ids:
        r = runtrack.Api().run(rid)
        assert r.status == "crashed" and r.metrics["loss"].count == 20


def test_a_run_the_store_partly_has_is_continued() -> None:
    from runtrack.client._journal import JournalReader
    from runtrack.entities import RunBatch

    (rid,) = offline_runs(1, points=500)
    store, (journal,) = store_and_journals()
    reader = JournalReader(journal)
    records = [r for b in reader.read_all() for r in b]
    assert reader.header is not None
    store.create_run(RunSpec.from_json(reader.header["run"]))
    store.write(RunBatch(rid, str(reader.header["stream"]), tuple(records[:200])))
    (res,) = sync_all([journal], store)
    assert (res.status, res.skipped, res.records) == ("synced", 200, len(records) - 200)
    assert runtrack.Api().run(rid).history(["loss"])["loss"]["step"] == list(range(500))


def test_one_refused_journal_does_not_hold_back_the_others() -> None:
    ids = offline_runs(4)
    store, journals = store_and_journals()
    # the store already has one of these ids in another project
    from runtrack.client._journal import JournalReader

    reader = JournalReader(journals[1])
    reader.read(1)
    assert reader.header is not None
    spec = RunSpec.from_json(reader.header["run"])
    store.create_run(RunSpec(spec.id, "elsewhere", "x", "u", "h", spec.start_time))
    results = sync_all(journals, store)
    by_id = {r.run_id: r for r in results}
    failed = [r for r in results if r.status != "synced"]
    assert len(failed) == 1 and "exists" in failed[0].message
    assert os.path.exists(failed[0].path)  # kept, nothing lost
    for rid in ids:
        if rid != spec.id:
            assert by_id[rid].status == "synced"
            assert runtrack.Api().run(rid).status == "finished"
