"""The ``TrackingStore`` contract suite, written only against the interface.

A backend's test module provides a fixture ``store_factory``: a callable taking keyword
options (at least ``crash_after``) and returning a fresh, empty store, then subclasses
``TrackingStoreContract``::

    class TestSqlite(TrackingStoreContract):
        @pytest.fixture
        def store_factory(self, tmp_path): ...

Every backend (SQLite, PostgreSQL, REST in front of either) must pass it unchanged.
"""

from __future__ import annotations

import math
import random
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..entities import (
    ConfigOp,
    ConsoleOp,
    DatasetInput,
    InputOp,
    MetricsRecord,
    NewRun,
    NotesOp,
    OpRecord,
    ProvenanceOp,
    Record,
    RunBatch,
    RunSpec,
    StatusOp,
    SummaryOp,
    TagsOp,
)
from ..errors import (
    ConfigError,
    ProjectNotFoundError,
    QueryError,
    RunExistsError,
    RunNotFoundError,
    ValidationError,
)
from ..store.base import TrackingStore
from .registry_contract import RegistryContract
from .sweep_contract import SweepContract

StoreFactory = Callable[..., TrackingStore]
_counter = iter(range(10**9))


def make_spec(project: str = "proj", **kw: Any) -> RunSpec:
    n = next(_counter)
    base: dict[str, Any] = {
        "id": f"run{n:08d}{random.randrange(36**4):04x}",
        "project": project,
        "name": f"run-{n}",
        "user": "tester",
        "host": "box",
        "start_time": time.time(),
    }
    base.update(kw)
    return RunSpec(**base)


def metrics(seq: int, step: int, **values: float) -> MetricsRecord:
    return MetricsRecord(
        seq, step, 1_700_000_000.0 + step, tuple(values), array("d", values.values())
    )


def op(seq: int, o: Any) -> OpRecord:
    return OpRecord(seq, o)


class TrackingStoreContract(RegistryContract, SweepContract):
    """Behaviour every ``TrackingStore`` must have."""

    @pytest.fixture
    def store(self, store_factory: StoreFactory) -> Iterator[TrackingStore]:
        s = store_factory()
        yield s
        s.close()

    def write(self, store: TrackingStore, run_id: str, *records: Record, stream: str = "s1") -> Any:
        return store.write(RunBatch(run_id, stream, tuple(records)))

    # -- runs ----------------------------------------------------------------------------
    def test_create_and_get_run(self, store: TrackingStore) -> None:
        spec = make_spec(
            config={
                "lr": 0.001,
                "model": {"depth": 6, "act": "relu"},
                "layers": [1, 2],
                "flag": True,
                "none": None,
            },
            tags={"stage": "dev"},
            notes="first",
            group="g1",
        )
        rec = store.create_run(spec)
        got = store.get_run(spec.id)
        assert rec == got
        assert got.id == spec.id and got.project == "proj" and got.name == spec.name
        assert got.status == "running" and got.end_time is None
        assert got.config == {
            "lr": 0.001,
            "model": {"depth": 6, "act": "relu"},
            "layers": [1, 2],
            "flag": True,
            "none": None,
        }
        assert isinstance(got.config["model"]["depth"], int)
        assert got.config["flag"] is True
        assert dict(got.tags) == {"stage": "dev"}
        assert got.notes == "first" and got.group == "g1"
        assert got.start_time.tzinfo is not None
        assert abs(got.start_time.timestamp() - spec.start_time) < 1e-3
        assert got.heartbeat_time is not None

    def test_create_duplicate_and_missing_parent(self, store: TrackingStore) -> None:
        spec = make_spec()
        store.create_run(spec)
        with pytest.raises(RunExistsError):
            store.create_run(spec)
        with pytest.raises(RunNotFoundError):
            store.create_run(make_spec(parent_id="zzzzzzzzzzzz"))
        child = store.create_run(make_spec(parent_id=spec.id))
        assert child.parent_id == spec.id

    @pytest.mark.parametrize(
        "bad",
        [
            {"project": "bad project!"},
            {"project": ""},
            {"name": ""},
            {"name": "x" * 300},
            {"id": "UPPER"},
            {"id": "../../etc"},
            {"tags": {"k\x00": "v"}},
            {"tags": {"k": "v" * 6000}},
            {"config": {"fn": object()}},
            {"start_time": -2.2e52},
            {"start_time": math.inf},
            {"start_time": 1e20},
        ],
    )
    def test_create_run_rejects_bad_input(self, store: TrackingStore, bad: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            store.create_run(make_spec(**bad))
        assert store.search_runs() == []

    def test_unknown_run(self, store: TrackingStore) -> None:
        for call in (
            lambda: store.get_run("nosuchrun0"),
            lambda: store.get_history("nosuchrun0"),
            lambda: store.heartbeat("nosuchrun0"),
            lambda: store.get_console("nosuchrun0"),
            lambda: store.stream_position("nosuchrun0", "s1"),
            lambda: self.write(store, "nosuchrun0", metrics(1, 0, a=1.0)),
        ):
            with pytest.raises(RunNotFoundError):
                call()
        with pytest.raises(RunNotFoundError, match="run ids are"):
            store.get_run("'; drop table runs; --")

    def test_projects(self, store: TrackingStore) -> None:
        store.create_run(make_spec(project="alpha"))
        store.create_run(make_spec(project="alpha"))
        store.create_run(make_spec(project="beta"))
        names = [(p.name, p.run_count) for p in store.list_projects()]
        assert names == [("alpha", 2), ("beta", 1)]
        assert store.get_project("beta").run_count == 1
        with pytest.raises(ProjectNotFoundError):
            store.get_project("gamma")

    # -- metrics -------------------------------------------------------------------------
    def test_metrics_round_trip_with_special_floats(self, store: TrackingStore) -> None:
        spec = make_spec()
        store.create_run(spec)
        vals = [0.5, math.nan, math.inf, -math.inf, -0.0, 1e-308, 5e-324, 1.7976931348623157e308]
        recs = [metrics(i + 1, i * 10, loss=v, acc=float(i)) for i, v in enumerate(vals)]
        res = self.write(store, spec.id, *recs)
        assert res.applied == len(vals) and res.position == len(vals)
        h = store.get_history(spec.id, ["loss"])
        got = list(h["loss"].value)
        assert len(got) == len(vals)
        for a, b in zip(got, vals, strict=True):
            assert (math.isnan(a) and math.isnan(b)) or (
                a == b and math.copysign(1, a) == math.copysign(1, b)
            )
        assert list(h["loss"].step) == [i * 10 for i in range(len(vals))]
        assert list(h["loss"].time) == [1_700_000_000.0 + i * 10 for i in range(len(vals))]
        s = store.get_run(spec.id).metrics["loss"]
        assert s.count == len(vals) and s.last == vals[-1] and s.last_step == 70
        assert s.min == -math.inf and s.max == math.inf  # NaN ignored
        assert set(store.get_history(spec.id)) == {"loss", "acc"}
        assert store.get_history(spec.id, ["nope"]) == {}

    def test_nan_first_does_not_poison_min_max(self, store: TrackingStore) -> None:
        spec = make_spec()
        store.create_run(spec)
        self.write(
            store, spec.id, metrics(1, 0, x=math.nan), metrics(2, 1, x=3.0), metrics(3, 2, x=-1.0)
        )
        s = store.get_run(spec.id).metrics["x"]
        assert (s.min, s.max, s.last, s.count) == (-1.0, 3.0, -1.0, 3)
        only_nan = make_spec()
        store.create_run(only_nan)
        self.write(store, only_nan.id, metrics(1, 0, y=math.nan))
        s = store.get_run(only_nan.id).metrics["y"]
        assert s.min is None and s.max is None and math.isnan(s.last)

    def test_long_series_in_uneven_batches(self, store: TrackingStore) -> None:
        """Chunking and merging must never reorder, drop or duplicate a point."""
        spec = make_spec()
        store.create_run(spec)
        rng = random.Random(7)
        seq, expected_a, expected_b = 0, [], []
        sizes = [1, 1, 2, 3, 700, 1, 5000, 9000, 17, 1, 1, 20000, 3, 8192, 8191, 1]
        for size in sizes:
            recs: list[Record] = []
            for _ in range(size):
                seq += 1
                a, b = rng.random(), rng.gauss(0, 1)
                if seq % 3:
                    recs.append(metrics(seq, seq, a=a, b=b))
                    expected_b.append(b)
                else:
                    recs.append(metrics(seq, seq, a=a))
                expected_a.append(a)
            self.write(store, spec.id, *recs)
        h = store.get_history(spec.id)
        assert list(h["a"].value) == expected_a
        assert list(h["b"].value) == expected_b
        assert list(h["a"].step) == list(range(1, seq + 1))
        assert store.get_run(spec.id).metrics["a"].count == len(expected_a)

    def test_irregular_steps_and_repeated_steps(self, store: TrackingStore) -> None:
        spec = make_spec()
        store.create_run(spec)
        steps = [0, 0, 5, 3, 3, 1000, 10**15, 2]
        self.write(store, spec.id, *[metrics(i + 1, s, v=float(i)) for i, s in enumerate(steps)])
        assert list(store.get_history(spec.id)["v"].step) == steps

    # -- idempotency and atomicity --------------------------------------------------------
    def test_replayed_and_overlapping_batches_are_stored_once(self, store: TrackingStore) -> None:
        spec = make_spec()
        store.create_run(spec)
        recs = [metrics(i, i, x=float(i)) for i in range(1, 101)]
        assert self.write(store, spec.id, *recs[:60]).applied == 60
        again = self.write(store, spec.id, *recs[:60])
        assert (again.applied, again.skipped, again.position) == (0, 60, 60)
        overlap = self.write(store, spec.id, *recs[40:])
        assert (overlap.applied, overlap.skipped, overlap.position) == (40, 20, 100)
        assert list(store.get_history(spec.id)["x"].value) == [float(i) for i in range(1, 101)]
        assert store.stream_position(spec.id, "s1") == 100
        other = self.write(store, spec.id, metrics(1, 500, x=-1.0), stream="s2")
        assert other.applied == 1 and store.stream_position(spec.id, "s2") == 1
        assert store.stream_position(spec.id, "never") == 0
        assert store.get_run(spec.id).metrics["x"].count == 101

    @pytest.mark.parametrize(
        "bad",
        [
            lambda: MetricsRecord(2, 0, 1.0, ("ok",), ["str"]),  # type: ignore[list-item]
            lambda: MetricsRecord(2, -1, 1.0, ("ok",), array("d", [1.0])),
            lambda: MetricsRecord(2, 0, 1.0, ("k\x01",), array("d", [1.0])),
            lambda: MetricsRecord(2, 0, 1.0, ("x" * 300,), array("d", [1.0])),
            lambda: MetricsRecord(2, 0, 1.0, ("a", "a"), array("d", [1.0, 2.0])),
            lambda: MetricsRecord(2, 0, 1.0, ("a", "b"), array("d", [1.0])),
            lambda: MetricsRecord(2, 0, math.nan, ("a",), array("d", [1.0])),
            lambda: OpRecord(2, TagsOp({"k": object()})),  # type: ignore[dict-item]
            lambda: OpRecord(2, StatusOp("exploded", 1.0)),  # type: ignore[arg-type]
            lambda: OpRecord(2, StatusOp("finished", 1e300)),  # no datetime holds it
            lambda: OpRecord(2, ConfigOp({"lr": 0.5})),  # changes a recorded value
        ],
    )
    def test_bad_batch_writes_nothing(
        self, store: TrackingStore, bad: Callable[[], Record]
    ) -> None:
        spec = make_spec(config={"lr": 0.1})
        store.create_run(spec)
        with pytest.raises(ValidationError):
            self.write(store, spec.id, metrics(1, 0, good=1.0), bad(), metrics(3, 1, good=2.0))
        assert store.get_history(spec.id) == {}
        assert store.stream_position(spec.id, "s1") == 0
        assert store.get_run(spec.id).config == {"lr": 0.1}

    def test_seq_must_increase(self, store: TrackingStore) -> None:
        spec = make_spec()
        store.create_run(spec)
        with pytest.raises(ValidationError):
            self.write(store, spec.id, metrics(2, 0, a=1.0), metrics(2, 1, a=1.0))

    # -- ops -----------------------------------------------------------------------------
    def test_ops(self, store: TrackingStore) -> None:
        spec = make_spec(config={"lr": 0.1, "model": {"depth": 3}}, tags={"a": "1"})
        store.create_run(spec)
        ds = DatasetInput("data/train.csv", "ab" * 32, 123, 1, "file", "train")
        self.write(
            store,
            spec.id,
            op(1, ConfigOp({"epochs": 10, "model": {"width": 64}, "lr": 0.1})),
            op(2, TagsOp({"b": "2", "a": "one"})),
            op(3, NotesOp("some notes")),
            op(4, ProvenanceOp({"git": {"commit": "abc"}})),
            op(5, ProvenanceOp({"seeds": {"python": 1}})),
            op(6, InputOp(ds)),
            op(7, InputOp(ds)),
            metrics(8, 0, loss=2.0),
            metrics(9, 1, loss=1.0),
            op(10, SummaryOp({"loss": 0.5, "best_epoch": 3, "note": "x"})),
            op(11, ConsoleOp("hello\n")),
            op(12, ConsoleOp("world\n")),
            op(13, StatusOp("finished", 1_800_000_000.0)),
        )
        r = store.get_run(spec.id)
        assert r.config == {"lr": 0.1, "epochs": 10, "model": {"depth": 3, "width": 64}}
        assert dict(r.tags) == {"a": "one", "b": "2"}
        assert r.notes == "some notes"
        assert r.provenance == {"git": {"commit": "abc"}, "seeds": {"python": 1}}
        listed = store.search_runs("proj", filter=f"run.id = '{spec.id}'")
        assert listed[0].provenance is None  # listings leave the heavy part out
        self.write(store, spec.id, op(14, ProvenanceOp({"seeds": {"python": 2}})))
        assert store.get_run(spec.id).provenance == {
            "git": {"commit": "abc"},
            "seeds": {"python": 2},
        }
        assert r.inputs == (ds,)
        assert r.summary["loss"] == 0.5 and r.summary["best_epoch"] == 3
        assert r.metrics["loss"].last == 1.0
        assert r.status == "finished" and r.end_time is not None
        assert r.end_time.timestamp() == 1_800_000_000.0
        assert store.get_console(spec.id) == "hello\nworld\n"
        # resume: running again, end time cleared
        self.write(store, spec.id, op(1, StatusOp("running", 1_800_000_100.0)), stream="s2")
        assert store.get_run(spec.id).status == "running"
        assert store.get_run(spec.id).end_time is None

    def test_late_crash_report_does_not_override_final_status(self, store: TrackingStore) -> None:
        spec = make_spec()
        store.create_run(spec)
        self.write(store, spec.id, op(1, StatusOp("failed", 1.0, "boom")))
        self.write(store, spec.id, op(2, StatusOp("crashed", 2.0, "late")))
        r = store.get_run(spec.id)
        assert (r.status, r.error) == ("failed", "boom")

    def test_config_change_refused(self, store: TrackingStore) -> None:
        spec = make_spec(config={"lr": 0.1, "m": {"d": 1}})
        store.create_run(spec)
        with pytest.raises(ConfigError):
            self.write(store, spec.id, op(1, ConfigOp({"m": {"d": 2}})))
        assert store.get_run(spec.id).config == {"lr": 0.1, "m": {"d": 1}}

    # -- liveness --------------------------------------------------------------------------
    def test_stale_run_is_crashed_by_store_clock(self, store_factory: StoreFactory) -> None:
        # "alive" beats again before each read that must find it running: on a slow
        # machine (REST over PostgreSQL, 2 busy cores) a few reads can outlast crash_after
        store = store_factory(crash_after=1.0)
        try:
            dead, alive, done = make_spec(), make_spec(), make_spec()
            for s in (dead, alive, done):
                store.create_run(s)
            self.write(store, done.id, op(1, StatusOp("finished", time.time())))
            time.sleep(0.6)
            store.heartbeat(alive.id)
            time.sleep(0.6)
            assert store.get_run(dead.id).status == "crashed"
            assert store.get_run(dead.id).error
            store.heartbeat(alive.id)
            assert store.get_run(alive.id).status == "running"
            assert store.get_run(done.id).status == "finished"
            store.heartbeat(alive.id)
            assert {r.id for r in store.search_runs(filter="run.status = 'crashed'")} == {dead.id}
            store.heartbeat(dead.id)  # it was alive after all
            assert store.get_run(dead.id).status == "running"
        finally:
            store.close()

    # -- search --------------------------------------------------------------------------
    def test_search_basics(self, store: TrackingStore) -> None:
        ids = []
        for i in range(6):
            spec = make_spec(
                project="p" if i < 5 else "q",
                config={"lr": 10.0**-i, "i": i},
                tags={"parity": "even" if i % 2 == 0 else "odd"},
                start_time=1_700_000_000.0 + i,
            )
            store.create_run(spec)
            if i != 3:
                self.write(store, spec.id, metrics(1, 0, auc=i / 10))
            ids.append(spec.id)
        newest_first = [r.id for r in store.search_runs("p")]
        assert newest_first == ids[4::-1]
        got = store.search_runs(
            "p", filter="metrics.auc > 0.1 and config.lr < 0.05", order_by=["metrics.auc desc"]
        )
        assert [r.id for r in got] == [ids[4], ids[2]]
        desc = [r.id for r in store.search_runs("p", order_by=["metrics.auc desc"])]
        assert desc[-1] == ids[3]  # missing values last
        asc = [r.id for r in store.search_runs("p", order_by=["metrics.auc asc"])]
        assert asc[-1] == ids[3]
        page = store.search_runs("p", order_by=["config.i"], limit=2, offset=2)
        assert [r.id for r in page] == ids[2:4]
        assert store.count_runs("p") == 5 and store.count_runs() == 6
        assert store.count_runs("p", "tags.parity = 'even'") == 3
        assert store.search_runs("nosuchproject") == []
        with pytest.raises(QueryError) as err:
            store.search_runs("p", filter="metrics.auc >")
        assert err.value.position is not None
        with pytest.raises(ValidationError):
            store.search_runs("p", limit=-1)
        both = store.search_runs(["p", "q", "nosuchproject"], order_by=["config.i"])
        assert [r.id for r in both] == ids
        assert store.count_runs(["q"]) == 1 and store.search_runs([]) == []
        assert store.run_project(ids[5]) == "q"
        with pytest.raises(RunNotFoundError):
            store.run_project("nosuchrun00")

    # -- creating runs with their records ----------------------------------------------------
    def _rich_records(self, seq0: int = 0, n_points: int = 9000) -> list[Record]:
        ds = DatasetInput("data/train.csv", "cd" * 32, 123, 1, "file", "train")
        recs: list[Record] = [
            op(1, ConfigOp({"epochs": 10, "model": {"width": 64}})),
            op(2, TagsOp({"b": "2", "a": "one"})),
            op(3, NotesOp("some notes")),
            op(4, ProvenanceOp({"git": {"commit": "abc"}, "seeds": {"python": 1}})),
            op(5, InputOp(ds)),
            op(6, InputOp(ds)),
            op(7, ConsoleOp("hello\n")),
        ]
        rng = random.Random(3)
        for i in range(n_points):
            vals = {"loss": rng.random(), "acc": float("nan") if i == 0 else rng.random()}
            if i % 2:
                vals["lr"] = 0.1
            recs.append(metrics(len(recs) + 1, i, **vals))
        recs.append(op(len(recs) + 1, SummaryOp({"loss": 0.5, "best": 3})))
        recs.append(op(len(recs) + 1, StatusOp("finished", 1_800_000_000.0)))
        return recs

    def test_create_runs_equals_create_then_write(self, store: TrackingStore) -> None:
        """A run created with its records in one call is the run create_run + write make."""
        cfg = {"lr": 0.1, "model": {"depth": 3}}
        a = make_spec(config=cfg, tags={"a": "1"}, notes="n", group="g")
        b = make_spec(config=cfg, tags={"a": "1"}, notes="n", group="g")
        recs = self._rich_records()
        store.create_run(a)
        ra = self.write(store, a.id, *recs)
        (rb,) = store.create_runs([NewRun(b, RunBatch(b.id, "s1", tuple(recs)))])
        assert (rb.applied, rb.skipped, rb.position) == (ra.applied, ra.skipped, ra.position)
        for x, y in ((a, b), (b, a)):  # more points after either path merge the same way
            more: list[Record] = [
                metrics(len(recs) + i + 1, 9000 + i, loss=float(i)) for i in range(300)
            ]
            self.write(store, x.id, *more)
            self.write(store, y.id, *more)
            recs = recs + more
        ga, gb = store.get_run(a.id), store.get_run(b.id)
        for f in ("project", "status", "user", "host", "start_time", "end_time", "group"):
            assert getattr(ga, f) == getattr(gb, f) or f == "start_time"
        assert (ga.config, dict(ga.tags), ga.notes) == (gb.config, dict(gb.tags), gb.notes)
        assert ga.provenance == gb.provenance and ga.inputs == gb.inputs
        assert dict(ga.summary) == dict(gb.summary)
        assert {k: repr(v) for k, v in ga.metrics.items()} == {
            k: repr(v) for k, v in gb.metrics.items()
        }
        ha, hb = store.get_history(a.id), store.get_history(b.id)
        assert set(ha) == set(hb) == {"loss", "acc", "lr"}
        for k in ha:
            assert list(ha[k].step) == list(hb[k].step)
            assert repr(list(ha[k].value)) == repr(list(hb[k].value))
        assert store.get_console(a.id) == store.get_console(b.id) == "hello\n"
        assert store.stream_position(b.id, "s1") == len(recs)
        found = store.search_runs(
            "proj", filter="metrics.lr = 0.1 and config.model.width = 64 and tags.b = '2'"
        )
        assert {r.id for r in found} == {a.id, b.id}

    def test_create_runs_many_and_retried(self, store: TrackingStore) -> None:
        items = []
        for i in range(120):
            spec = make_spec(project=f"bulk{i % 3}", config={"i": i}, tags={"k": str(i % 2)})
            recs = (metrics(1, 0, auc=i / 100), op(2, StatusOp("finished", 1_800_000_000.0)))
            items.append(NewRun(spec, RunBatch(spec.id, "s1", recs)))
        items.append(NewRun(make_spec(project="bulk0")))  # no records at all
        out = store.create_runs(items)
        assert [(r.applied, r.skipped) for r in out] == [(2, 0)] * 120 + [(0, 0)]
        assert store.count_runs("bulk1", "metrics.auc >= 0.5 and run.status = 'finished'") == 23
        assert store.get_run(items[-1].spec.id).status == "running"
        # the answer was lost and the client sends the call again: stored once
        again = store.create_runs(items)
        assert [(r.applied, r.skipped, r.position) for r in again][:120] == [(0, 2, 2)] * 120
        assert store.count_runs(["bulk0", "bulk1", "bulk2"]) == 121
        assert store.get_run(items[7].spec.id).metrics["auc"].count == 1
        assert store.create_runs([]) == []

    def test_create_runs_continues_a_run_partly_stored(self, store: TrackingStore) -> None:
        spec = make_spec()
        recs = [metrics(i + 1, i, v=float(i)) for i in range(100)]
        store.create_run(spec)
        self.write(store, spec.id, *recs[:60])
        (res,) = store.create_runs([NewRun(spec, RunBatch(spec.id, "s1", tuple(recs)))])
        assert (res.applied, res.skipped, res.position) == (40, 60, 100)
        assert list(store.get_history(spec.id)["v"].value) == [float(i) for i in range(100)]

    def test_create_runs_parents(self, store: TrackingStore) -> None:
        parent = make_spec()
        child = make_spec(parent_id=parent.id)
        store.create_runs([NewRun(child), NewRun(parent)])  # order within the call is free
        assert store.get_run(child.id).parent_id == parent.id
        orphan = make_spec(parent_id="nosuchparent000")
        with pytest.raises(RunNotFoundError):
            store.create_runs([NewRun(orphan)])
        with pytest.raises(RunNotFoundError):
            store.get_run(orphan.id)

    @pytest.mark.parametrize(
        "case",
        ["bad_spec", "bad_record", "config_change", "other_project", "twice", "wrong_run"],
    )
    def test_create_runs_is_all_or_nothing(self, store: TrackingStore, case: str) -> None:
        taken = make_spec(project="elsewhere")
        store.create_run(taken)
        good = make_spec(config={"lr": 0.1})
        items = [NewRun(good, RunBatch(good.id, "s1", (metrics(1, 0, v=1.0),)))]
        bad = make_spec(config={"m": 1})
        if case == "bad_spec":
            items.append(NewRun(make_spec(name="x" * 10_000)))
        elif case == "bad_record":
            items.append(NewRun(bad, RunBatch(bad.id, "s1", (metrics(1, -5, v=1.0),))))
        elif case == "config_change":
            items.append(NewRun(bad, RunBatch(bad.id, "s1", (op(1, ConfigOp({"m": 2})),))))
        elif case == "other_project":
            items.append(NewRun(make_spec(id=taken.id)))
        elif case == "twice":
            items.append(NewRun(good))
        else:
            items.append(NewRun(bad, RunBatch(good.id, "s1", (metrics(1, 0, v=1.0),))))
        with pytest.raises((ValidationError, ConfigError, RunExistsError)):
            store.create_runs(items)
        for spec in (good, bad):
            with pytest.raises(RunNotFoundError):
                store.get_run(spec.id)
        assert store.get_run(taken.id).project == "elsewhere"

    # -- concurrency -----------------------------------------------------------------------
    def test_concurrent_writers(self, store: TrackingStore) -> None:
        specs = [make_spec() for _ in range(4)]
        for s in specs:
            store.create_run(s)
        errors: list[BaseException] = []

        def work(run_id: str) -> None:
            try:
                for b in range(20):
                    self.write(
                        store,
                        run_id,
                        *[metrics(b * 50 + i + 1, b * 50 + i, v=1.0) for i in range(50)],
                    )
                    store.heartbeat(run_id)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s.id,)) for s in specs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for s in specs:
            assert store.get_run(s.id).metrics["v"].count == 1000
