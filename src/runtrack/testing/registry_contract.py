"""The artifact catalogue, lineage and model registry part of the ``TrackingStore``
contract (mixed into ``TrackingStoreContract``: every backend runs it).

Versions here are made of *reference* files (``ArtifactFile.ref``), which a store records
without holding their blobs: the contract is about records, and this way it needs no
artifact store behind the REST backends.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from typing import Any

import pytest

from ..artifacts.manifest import manifest_digest
from ..entities import (
    ArtifactFile,
    ArtifactSpec,
    ArtifactVersion,
    DatasetInput,
    InputOp,
    OpRecord,
    RunBatch,
    RunSpec,
    SummaryOp,
    TagsOp,
)
from ..errors import (
    ArtifactNotFoundError,
    ConflictError,
    ModelNotFoundError,
    PromotionRefusedError,
    RunNotFoundError,
    ValidationError,
)
from ..store.base import TrackingStore


def ref_spec(name: str, content: bytes, *, type: str = "model", aliases: tuple[str, ...] = ()
             ) -> ArtifactSpec:  # fmt: skip
    digest = hashlib.sha256(content).hexdigest()
    files = (ArtifactFile("model.bin", digest, len(content), f"s3://bucket/{digest}", "etag-1"),)
    return ArtifactSpec(
        name=name, type=type, files=files, digest=manifest_digest(files), aliases=aliases
    )


def _run(store: TrackingStore, project: str = "reg", **ops: Any) -> str:
    from .store_contract import make_spec

    spec: RunSpec = make_spec(project)
    store.create_run(spec)
    records: list[OpRecord] = []
    if "summary" in ops:
        records.append(OpRecord(len(records) + 1, SummaryOp(ops["summary"])))
    if "tags" in ops:
        records.append(OpRecord(len(records) + 1, TagsOp(ops["tags"])))
    if "dataset" in ops:
        records.append(OpRecord(len(records) + 1, InputOp(ops["dataset"])))
    if records:
        store.write(RunBatch(spec.id, "s1", tuple(records)))
    return spec.id


def _dataset(content: bytes) -> DatasetInput:
    return DatasetInput(
        path="/data/train.csv",
        digest=hashlib.sha256(content).hexdigest(),
        size=len(content),
        file_count=1,
        kind="file",
        name="train",
    )


class RegistryContract:
    """Artifact versions and aliases, run inputs, lineage, the registry, deletion."""

    def test_versions_dedup_and_aliases(self, store: TrackingStore) -> None:
        r1, r2 = _run(store), _run(store)
        v0 = store.log_artifact(r1, ref_spec("clf", b"a", aliases=("candidate",)))
        again = store.log_artifact(r2, ref_spec("clf", b"a"))
        assert (v0.version, again.version, again.digest) == ("v0", "v0", v0.digest)
        v1 = store.log_artifact(r2, ref_spec("clf", b"b", aliases=("candidate",)))
        assert v1.version == "v1" and set(v1.aliases) == {"latest", "candidate"}
        versions = store.list_artifact_versions("reg", "clf")
        assert [(v.version, set(v.aliases)) for v in versions] == [
            ("v0", set()),
            ("v1", {"latest", "candidate"}),
        ]
        # a custom alias points at exactly one version; moving it is audited
        moved = store.set_artifact_alias(
            "reg", "clf", "candidate", "v0", actor="alice", reason="rollback"
        )
        assert moved is not None and moved.version == "v0"
        assert store.get_artifact_version("reg", "clf:candidate").version == "v0"
        assert store.get_artifact_version("reg", "clf").version == "v1"
        history = store.artifact_alias_history("reg", "clf", "candidate")
        assert [(e.from_version, e.to_version) for e in history] == [
            (None, "v0"),
            ("v0", "v1"),
            ("v1", "v0"),
        ]
        assert (history[-1].actor, history[-1].reason) == ("alice", "rollback")
        assert store.set_artifact_alias("reg", "clf", "candidate", None, actor="bob") is None
        with pytest.raises(ArtifactNotFoundError):
            store.get_artifact_version("reg", "clf:candidate")
        [info] = store.list_artifacts("reg")
        assert (info.name, info.type, info.version_count, info.latest) == ("clf", "model", 2, "v1")
        assert store.list_artifacts("reg", type="dataset") == []
        assert store.list_artifacts("no-such-project") == []
        files = store.get_artifact_files("reg", "clf:v1")
        assert files[0].ref is not None and files[0].ref.startswith("s3://bucket/")
        assert files[0].etag == "etag-1"

    @pytest.mark.parametrize(
        "call",
        [
            lambda s: s.set_artifact_alias("reg", "clf", "latest", "v0", actor="a"),
            lambda s: s.set_artifact_alias("reg", "clf", "v1", "v0", actor="a"),
            lambda s: s.set_artifact_alias("reg", "clf", "prod", "v0", actor=""),
            lambda s: s.set_artifact_alias("reg", "clf", "bad alias", "v0", actor="a"),
            lambda s: s.use_artifact("nosuchrun0000", ""),
            lambda s: s.lineage("clf:v0", project="reg", direction="sideways"),
            lambda s: s.lineage("clf:v0", project="reg", depth=-1),
            lambda s: s.register_model("bad name!", "reg", "clf:v0", actor="a"),
            lambda s: s.set_model_gates("m", [{"metrics": {"auc": "about 0.9"}}]),
            lambda s: s.set_model_gates("m", [{"unknown": 1}]),
            lambda s: s.set_model_gates("m", [{1: 2, "unknown": 1}]),  # keys of two types
            lambda s: s.set_model_alias("m", "latest", 1, actor="a"),
            lambda s: s.set_model_alias("m", "prod", 0, actor="a"),
            lambda s: s.get_model_version("m@"),
        ],
    )
    def test_bad_input_is_refused(self, store: TrackingStore, call: Any) -> None:
        run = _run(store)
        store.log_artifact(run, ref_spec("clf", b"a"))
        store.register_model("m", "reg", "clf:v0", actor="a")
        before = store.model_alias_history("m")
        with pytest.raises((ValidationError, RunNotFoundError)):
            call(store)
        assert store.model_alias_history("m") == before
        assert store.get_artifact_version("reg", "clf").version == "v0"

    def test_use_artifact_records_inputs(self, store: TrackingStore) -> None:
        producer, consumer = _run(store), _run(store, "other")
        store.log_artifact(producer, ref_spec("data", b"d", type="dataset"))
        used = store.use_artifact(consumer, "reg/data:latest")
        assert (used.project, used.version) == ("reg", "v0")
        store.use_artifact(consumer, "reg/data:v0")  # once per run and version
        assert [v.full_ref for v in store.get_run(consumer).used] == ["reg/data:v0"]
        with pytest.raises(ArtifactNotFoundError):
            store.use_artifact(consumer, "data:latest")  # not in the run's own project
        with pytest.raises(ArtifactNotFoundError):
            store.use_artifact(consumer, "reg/data:v7")
        with pytest.raises(RunNotFoundError):
            store.use_artifact("nosuchrun0000", "reg/data:v0")

    def _chain(self, store: TrackingStore) -> dict[str, Any]:
        """prep (reads a dataset) -> data:v0 -> train -> model:v0 -> evaluate -> report:v0"""
        ds = _dataset(b"raw rows")
        prep = _run(store, dataset=ds)
        store.log_artifact(prep, ref_spec("data", b"d0", type="dataset"))
        train = _run(store, summary={"auc": 0.91}, tags={"reviewed": "yes"})
        store.use_artifact(train, "data:latest")
        model = store.log_artifact(train, ref_spec("model", b"m0"))
        evaluate = _run(store)
        store.use_artifact(evaluate, "model:v0")
        store.log_artifact(evaluate, ref_spec("report", b"r0", type="report"))
        return {"ds": ds, "prep": prep, "train": train, "eval": evaluate, "model": model}

    def test_lineage_both_ways_any_depth(self, store: TrackingStore) -> None:
        c = self._chain(store)
        up = store.lineage("report:v0", project="reg", direction="up")
        ids = {n.id for n in up.nodes}
        assert ids == {
            "artifact:reg/report:v0",
            f"run:{c['eval']}",
            "artifact:reg/model:v0",
            f"run:{c['train']}",
            "artifact:reg/data:v0",
            f"run:{c['prep']}",
            f"dataset:{c['ds'].digest}",
        }
        assert up.root == "artifact:reg/report:v0" and not up.truncated
        assert up.node(f"dataset:{c['ds'].digest}").depth == 6
        edges = {(e.source, e.target, e.kind) for e in up.edges}
        assert ("artifact:reg/model:v0", f"run:{c['eval']}", "used") in edges
        assert (f"run:{c['train']}", "artifact:reg/model:v0", "produced") in edges
        assert (f"dataset:{c['ds'].digest}", f"run:{c['prep']}", "read") in edges
        one = store.lineage("report:v0", project="reg", direction="up", depth=1)
        assert {n.id for n in one.nodes} == {"artifact:reg/report:v0", f"run:{c['eval']}"}
        down = store.lineage(f"dataset:{c['ds'].digest}", direction="down")
        assert "artifact:reg/report:v0" in {n.id for n in down.nodes}
        from_run = store.lineage(c["train"], direction="down", depth=2)
        assert {n.id for n in from_run.nodes} == {
            f"run:{c['train']}",
            "artifact:reg/model:v0",
            f"run:{c['eval']}",
        }
        with pytest.raises(ArtifactNotFoundError):
            store.lineage("nothing:v0", project="reg")

    def test_registry_aliases_history_and_time_travel(self, store: TrackingStore) -> None:
        c = self._chain(store)
        other = _run(store, summary={"auc": 0.95})
        store.log_artifact(other, ref_spec("model", b"m1"))
        mv1 = store.register_model("churn", "reg", "model:v0", actor="alice", tags={"k": "v"})
        assert store.register_model("churn", "reg", "model:v0", actor="bob") == mv1  # same
        mv2 = store.register_model("churn", "reg", "model:latest", actor="alice")
        assert (mv1.version, mv2.version, mv1.run_id, mv2.run_id) == (1, 2, c["train"], other)
        assert mv1.artifact.ref == "model:v0" and mv1.tags == {"k": "v"}
        assert store.get_model_version("churn").version == 2
        assert store.get_model_version("churn/1").version == 1
        assert store.set_model_alias("churn", "production", 1, actor="alice", reason="first")
        time.sleep(0.02)
        store.set_model_alias("churn", "production", 2, actor="bob", reason="better auc")
        time.sleep(0.02)
        store.set_model_alias("churn", "production", 2, actor="bob", reason="no-op")
        store.set_model_alias("churn", "production", None, actor="carol", reason="incident")
        time.sleep(0.02)
        store.set_model_alias("churn", "production", 1, actor="carol", reason="rollback")
        events = store.model_alias_history("churn", alias="production")
        assert [(e.from_version, e.to_version, e.actor, e.reason) for e in events] == [
            (None, 1, "alice", "first"),
            (1, 2, "bob", "better auc"),
            (2, None, "carol", "incident"),
            (None, 1, "carol", "rollback"),
        ]
        times = [e.at.timestamp() for e in events]
        assert times == sorted(times)

        def at(t: float) -> int | None:
            v = store.model_version_at("churn", "production", t)
            return None if v is None else v.version

        assert at(times[0] - 1) is None
        assert at(times[0]) == 1
        assert at((times[0] + times[1]) / 2) == 1
        assert at((times[1] + times[2]) / 2) == 2
        assert at((times[2] + times[3]) / 2) is None
        assert at(times[3] + 3600) == 1
        assert store.get_model_version("churn@production").version == 1
        model = store.get_model("churn")
        assert (model.project, model.latest_version, model.version_count) == ("reg", 2, 2)
        assert dict(model.aliases) == {"production": 1}
        assert [m.name for m in store.list_models()] == ["churn"]
        assert store.list_models("other-project") == []
        with pytest.raises(ModelNotFoundError):
            store.get_model("nope")
        with pytest.raises(ModelNotFoundError):
            store.get_model_version("churn@staging")
        with pytest.raises(ModelNotFoundError):
            store.set_model_alias("churn", "production", 9, actor="a")

    def test_model_detail_in_one_call(self, store: TrackingStore) -> None:
        c = self._chain(store)
        store.register_model("churn", "reg", "model:v0", actor="alice")
        store.set_model_alias("churn", "production", 1, actor="alice", reason="go")
        detail = store.model_detail("churn@production")
        assert detail.alias == "production" and detail.version.version == 1
        assert detail.run is not None and detail.run.id == c["train"]
        assert detail.run.summary["auc"] == 0.91
        assert detail.run.provenance is not None  # loaded, as get_run does
        assert f"dataset:{c['ds'].digest}" in {n.id for n in detail.lineage.nodes}
        assert detail.lineage.root == "artifact:reg/model:v0"

    def test_promotion_gates(self, store: TrackingStore) -> None:
        weak = _run(store, summary={"auc": 0.8})
        store.log_artifact(weak, ref_spec("model", b"w"))
        strong = _run(store, summary={"auc": 0.93}, tags={"reviewed": "yes"})
        store.log_artifact(strong, ref_spec("model", b"s"))
        store.register_model("churn", "reg", "model:v0", actor="a")
        store.register_model("churn", "reg", "model:v1", actor="a")
        model = store.set_model_gates(
            "churn",
            [{"aliases": ["production"], "metrics": {"auc": ">= 0.9"}, "tags": ["reviewed"]}],
        )
        assert len(model.gates) == 1
        store.set_model_alias("churn", "production", 2, actor="a", reason="passes")
        with pytest.raises(PromotionRefusedError) as refused:
            store.set_model_alias("churn", "production", 1, actor="a", reason="try")
        assert "auc" in str(refused.value) and "reviewed" in str(refused.value)
        assert store.get_model_version("churn@production").version == 2
        assert len(store.model_alias_history("churn")) == 1  # nothing appended
        store.set_model_alias("churn", "staging", 1, actor="a")  # gate is for production
        store.set_model_version_tags("churn", 1, {"reviewed": "yes"})
        with pytest.raises(PromotionRefusedError):
            store.set_model_alias("churn", "production", 1, actor="a")  # auc still fails
        store.set_model_gates("churn", [])
        store.set_model_alias("churn", "production", 1, actor="a", reason="gates lifted")
        assert store.get_model_version("churn@production").version == 1

    def test_audit_score_gate(self, store: TrackingStore) -> None:
        unaudited = _run(store)
        store.log_artifact(unaudited, ref_spec("model", b"u"))
        low = _run(store, summary={"audit.score": 60.0})
        store.log_artifact(low, ref_spec("model", b"l"))
        store.register_model("churn", "reg", "model:v0", actor="a")
        store.register_model("churn", "reg", "model:v1", actor="a")
        for bad in (True, "80", -1, 101, float("nan")):
            with pytest.raises(ValidationError, match="audit_score"):
                store.set_model_gates("churn", [{"audit_score": bad}])
        model = store.set_model_gates("churn", [{"aliases": ["production"], "audit_score": 80}])
        assert model.gates[0]["audit_score"] == 80
        with pytest.raises(PromotionRefusedError, match="has no audit score") as refused:
            store.set_model_alias("churn", "production", 1, actor="a")
        assert f"runtrack audit {unaudited}" in str(refused.value)
        with pytest.raises(PromotionRefusedError, match="audit score 60 < 80"):
            store.set_model_alias("churn", "production", 2, actor="a")
        assert store.model_alias_history("churn") == []
        # a later audit (a new seq on the run's "audit" stream) overrides the score
        store.write(RunBatch(low, "audit", (OpRecord(1, SummaryOp({"audit.score": 85.0})),)))
        store.set_model_alias("churn", "production", 2, actor="a", reason="audited")
        assert store.get_model_version("churn@production").version == 2

    def test_deletion_is_guarded(self, store: TrackingStore) -> None:
        run = _run(store)
        v0: ArtifactVersion = store.log_artifact(run, ref_spec("model", b"0"))
        store.log_artifact(run, ref_spec("model", b"1", aliases=("candidate",)))
        store.log_artifact(run, ref_spec("model", b"2"))
        store.register_model("churn", "reg", "model:v0", actor="a")
        with pytest.raises(ConflictError):
            store.delete_artifact_version("reg", "model:v0", actor="a")
        with pytest.raises(ConflictError):
            store.delete_artifact_version("reg", "model:candidate", actor="a")
        deleted = store.delete_artifact_version("reg", "model:v2", actor="a")  # plain latest
        assert deleted.version == "v2"
        assert store.get_artifact_version("reg", "model:latest").version == "v1"
        store.log_artifact(run, ref_spec("model", b"3"))
        assert store.get_artifact_version("reg", "model").version == "v3"  # never reused
        with pytest.raises(ConflictError):
            store.delete_run(run)  # it made a registered model version
        store.set_model_alias("churn", "production", 1, actor="a")
        store.delete_artifact_version("reg", "model:v0", force=True, actor="a")
        with pytest.raises(ArtifactNotFoundError):
            store.get_artifact_version("reg", f"model:{v0.version}")
        assert store.list_model_versions("churn") == []
        assert store.model_alias_history("churn")[-1].to_version is None  # removal audited
        store.delete_run(run)
        with pytest.raises(RunNotFoundError):
            store.get_run(run)
        assert store.get_artifact_version("reg", "model:v1").created_by == run  # kept
        with pytest.raises(RunNotFoundError):
            store.delete_run(run)

    def test_model_history_times_are_aware(self, store: TrackingStore) -> None:
        run = _run(store)
        store.log_artifact(run, ref_spec("model", b"x"))
        store.register_model("m", "reg", "model:v0", actor="a")
        store.set_model_alias("m", "prod", 1, actor="a")
        [event] = store.model_alias_history("m")
        assert isinstance(event.at, datetime) and event.at.tzinfo is not None
