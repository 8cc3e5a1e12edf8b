"""Frozen records: what stores return and what the writer ships.

Records out, handles in: a store hands back these immutable values; users hold live
handles (``runtrack.Run``) or query views (``runtrack.Api``). Mapping fields of a record
are read-only views (``types.MappingProxyType`` or ``FrozenMap``); never mutate them.

Nothing here imports anything beyond the standard library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal, NamedTuple, TypeAlias

RunStatus: TypeAlias = Literal["running", "finished", "failed", "killed", "crashed"]
RUN_STATUSES: Final[tuple[RunStatus, ...]] = ("running", "finished", "failed", "killed", "crashed")
TERMINAL_STATUSES: Final[frozenset[str]] = frozenset({"finished", "failed", "killed", "crashed"})

JSONValue: TypeAlias = Any  # a value that json.dumps accepts (NaN/inf allowed for metrics)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def utc_from_timestamp(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class FrozenMap(Mapping[str, Any]):
    """A read-only, nested view of JSON-like data (config, provenance, summaries).

    Nested dicts come back as ``FrozenMap``, lists as tuples. Equality with a plain dict
    compares contents, so ``record.config == {"lr": 0.1}`` works.

    ``FrozenMap(load=fn)`` defers building the data until it is first read (a store
    listing 100,000 runs keeps their documents as text until someone looks).
    """

    __slots__ = ("_d", "_load")

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        load: Callable[[], Mapping[str, Any]] | None = None,
        text: str | None = None,
    ) -> None:
        self._load: Callable[[], Mapping[str, Any]] | str | None = load or text
        self._d: Mapping[str, Any] | None = data if data is not None or self._load else {}

    @property
    def _data(self) -> Mapping[str, Any]:
        d = self._d
        if d is None:
            load = self._load
            assert load is not None
            d = self._d = self._expand(load)
            self._load = None
        return d

    @_data.setter
    def _data(self, value: Mapping[str, Any]) -> None:
        self._d, self._load = value, None

    def _expand(self, load: Callable[[], Mapping[str, Any]] | str) -> Mapping[str, Any]:
        """Build the data from ``load`` (a subclass may decode differently)."""
        if isinstance(load, str):
            data: Mapping[str, Any] = json.loads(load)
            return data
        return load()

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))

    def __getitem__(self, key: str) -> Any:
        return _freeze(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return _json_equal(self._data, other._data)
        if isinstance(other, Mapping):
            return _json_equal(self._data, other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def get_path(self, dotted: str, default: Any = None) -> Any:
        """``config.get_path("model.depth")``: follow a dotted key through nested maps."""
        node: Any = self._data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return _freeze(node)

    def to_dict(self) -> dict[str, Any]:
        """A deep, mutable copy."""
        return _thaw(self._data)  # type: ignore[no-any-return]


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, FrozenMap):
        return FrozenMap(value)
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenMap):
        value = value._data
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, FrozenMap):
        a = a._data
    if isinstance(b, FrozenMap):
        b = b._data
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


# --------------------------------------------------------------------------------------
# Projects and runs
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Project:
    name: str
    created_at: datetime
    run_count: int = 0


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """Per-key summary kept beside the series: what search and sort use.

    ``min``/``max`` ignore NaN; ``last`` is the last logged value (NaN included).
    """

    last: float
    min: float | None
    max: float | None
    count: int
    last_step: int


class MetricsMap(Mapping[str, MetricSummary]):
    """Per-key summaries kept as the compact ``[last, min, max, count, last_step]`` lists a
    store reads; a ``MetricSummary`` is built when a key is looked up, and with
    ``load=fn`` the lists themselves are read on first use (listing 100,000 runs does not
    pay for summaries nobody reads)."""

    __slots__ = ("_load", "_r")

    def __init__(
        self,
        raw: Mapping[str, Sequence[Any]] | None = None,
        *,
        load: Any = None,
    ) -> None:
        self._r = raw if raw is not None or load is not None else {}
        self._load = load

    @property
    def _raw(self) -> Mapping[str, Sequence[Any]]:
        r = self._r
        if r is None:
            r = self._r = self._expand(self._load)
            self._load = None
        return r

    def _expand(self, load: Any) -> Mapping[str, Sequence[Any]]:
        """Build the lists from ``load`` (a callable here; a subclass may decode bytes)."""
        return load()  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, ...]:
        return (MetricsMap, (dict(self._raw),))

    def __getitem__(self, key: str) -> MetricSummary:
        last, lo, hi, count, step = self._raw[key]
        # NaN is never a min or max (they ignore NaN): a NaN there means "no finite value"
        return MetricSummary(
            last=last,
            min=None if lo is None or lo != lo else lo,
            max=None if hi is None or hi != hi else hi,
            count=count,
            last_step=step,
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __repr__(self) -> str:
        return f"MetricsMap({dict(self)!r})"


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset recorded by ``run.use_dataset``: its content hash and where it was."""

    path: str
    digest: str  # sha256 hex over the content (see runtrack.client.provenance.datasets)
    size: int
    file_count: int
    kind: Literal["file", "directory"]
    name: str | None = None
    dvc_md5: str | None = None
    dvc_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "digest": self.digest,
            "size": self.size,
            "file_count": self.file_count,
            "kind": self.kind,
            "name": self.name,
            "dvc_md5": self.dvc_md5,
            "dvc_source": self.dvc_source,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DatasetInput:
        return cls(
            path=d["path"],
            digest=d["digest"],
            size=int(d["size"]),
            file_count=int(d["file_count"]),
            kind=d["kind"],
            name=d.get("name"),
            dvc_md5=d.get("dvc_md5"),
            dvc_source=d.get("dvc_source"),
        )


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """One entry of an artifact manifest. ``path`` is relative, POSIX, never ``..``.

    A *reference* file (``ref`` set, e.g. ``s3://bucket/key``) stays where it is: the
    client read and hashed it, the artifact store holds no blob for it, and ``etag`` is
    what its own store reported for it (kept to tell a rewritten object at once)."""

    path: str
    digest: str  # sha256 hex of the content; the blob's key in the ArtifactStore
    size: int
    ref: str | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class ArtifactSpec:
    """What a client asks a store to record as a new artifact version."""

    name: str
    type: str
    files: tuple[ArtifactFile, ...]
    digest: str  # manifest digest (see runtrack.artifacts.manifest)
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    aliases: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True, slots=True)
class ArtifactVersion:
    """A recorded version of a named artifact: a manifest of content hashes."""

    project: str
    name: str
    type: str
    version: str  # "v0", "v1", ...
    index: int
    digest: str
    size: int
    file_count: int
    created_by: str | None  # run id
    created_at: datetime
    aliases: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def full_ref(self) -> str:
        """``project/name:vN``: names the version from any project."""
        return f"{self.project}/{self.name}:{self.version}"


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """A named artifact of a project: its versions and where its aliases point."""

    project: str
    name: str
    type: str
    created_at: datetime
    version_count: int
    latest: str | None  # "vN" of the newest version
    aliases: Mapping[str, str]  # alias -> "vN"
    size: int  # bytes over all versions (files shared between versions counted each time)


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One change of an alias, as the append-only audit log keeps it.

    For an artifact, versions are ``"vN"``; for a registered model, version numbers.
    ``from_version`` None: the alias was not set; ``to_version`` None: it was removed."""

    subject: str  # the artifact's or the registered model's name
    alias: str
    from_version: str | int | None
    to_version: str | int | None
    actor: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A version of a registered model: one artifact version and the run that made it."""

    model: str
    version: int  # 1, 2, 3, ...
    artifact: ArtifactVersion
    run_id: str | None
    tags: Mapping[str, str]
    description: str | None
    created_by: str
    created_at: datetime
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model: a name (unique on the server) owning numbered versions."""

    name: str
    project: str  # the project that owns it (its first version's)
    description: str | None
    created_by: str
    created_at: datetime
    latest_version: int | None
    version_count: int
    aliases: Mapping[str, int]  # alias -> version number
    gates: tuple[Mapping[str, Any], ...] = ()


LineageKind: TypeAlias = Literal["run", "artifact", "dataset"]


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A run, an artifact version or a dataset in a lineage graph.

    ``id`` is ``run:<run id>``, ``artifact:<project>/<name>:vN`` or ``dataset:<digest>``;
    ``data`` holds what a reader needs to show it (status, type, digest, path...)."""

    id: str
    kind: LineageKind
    label: str
    project: str | None
    depth: int  # edges from the root
    data: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """Data flows from ``source`` to ``target``: artifact -> run (the run used it),
    dataset -> run (the run read it), run -> artifact (the run produced it)."""

    source: str
    target: str
    kind: Literal["used", "produced", "read"]


@dataclass(frozen=True, slots=True)
class Lineage:
    """The graph reached from ``root`` going ``up`` (where it came from) or ``down``
    (what came of it), ``depth`` edges at most (None: all)."""

    root: str
    direction: Literal["up", "down"]
    depth: int | None
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]
    truncated: bool = False  # the node limit was reached

    def node(self, node_id: str) -> LineageNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)


@dataclass(frozen=True, slots=True)
class ModelDetail:
    """Everything about a model version in one answer: the version, its run (config,
    provenance, metrics) and the data lineage upstream of its artifact."""

    version: ModelVersion
    run: RunRecord | None  # None: the run was deleted
    lineage: Lineage
    alias: str | None = None  # the alias the reference named, if any


TrialState: TypeAlias = Literal["waiting", "running", "complete", "pruned", "failed"]
TRIAL_STATES: Final[tuple[TrialState, ...]] = ("waiting", "running", "complete", "pruned", "failed")
SweepStatus: TypeAlias = Literal["running", "finished", "stopped"]


@dataclass(frozen=True, slots=True)
class SweepTrial:
    """One trial of a sweep: the parameters the search suggested, the run that evaluated
    them (a child run of the sweep's run) and the objective values it reported.

    ``params`` holds the searched parameters that were active for this trial (a
    conditional parameter is absent when its condition did not hold); the run's config
    also has the sweep's fixed values. ``intermediate``: (step, value) pairs reported for
    pruning. ``warm``: a completed run of the project seeded into the sweep."""

    sweep_id: str
    number: int
    run_id: str | None
    state: TrialState
    params: Mapping[str, Any]
    values: tuple[float, ...] | None
    intermediate: tuple[tuple[int, float], ...]
    sampler: str | None
    started_at: datetime | None
    ended_at: datetime | None
    warm: bool = False
    error: str | None = None
    retry_of: int | None = None  # the failed trial this one repeats
    retried: bool = False  # failed, and run again as a later trial

    @property
    def value(self) -> float | None:
        """The (first) objective value; None until the trial completes."""
        return None if not self.values else self.values[0]

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class Sweep:
    """A hyperparameter search: its normalised spec, where it stands and its best trial
    (the Pareto front for several objectives). Its id is the id of the sweep's own run,
    whose child runs are the trials."""

    id: str
    project: str
    name: str
    spec: FrozenMap
    status: SweepStatus
    user: str
    created_at: datetime
    ended_at: datetime | None
    counts: Mapping[str, int]  # trials by state (warm-started ones under "warm")
    budget_used: int  # trials that count against budget.trials
    best: SweepTrial | None
    pareto: tuple[SweepTrial, ...] = ()
    stop_reason: str | None = None

    @property
    def metric(self) -> str:
        return str(self.spec["metrics"][0]["name"])

    @property
    def goal(self) -> str:
        return str(self.spec["metrics"][0]["goal"])


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything needed to create a run; also the header of a run's journal."""

    id: str
    project: str
    name: str
    user: str
    host: str
    start_time: float
    config: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    notes: str | None = None
    group: str | None = None
    parent_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "user": self.user,
            "host": self.host,
            "start_time": self.start_time,
            "config": dict(self.config),
            "tags": dict(self.tags),
            "notes": self.notes,
            "group": self.group,
            "parent_id": self.parent_id,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunSpec:
        return cls(
            id=d["id"],
            project=d["project"],
            name=d["name"],
            user=d["user"],
            host=d["host"],
            start_time=float(d["start_time"]),
            config=d.get("config") or {},
            tags=d.get("tags") or {},
            notes=d.get("notes"),
            group=d.get("group"),
            parent_id=d.get("parent_id"),
        )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run as the store holds it. Times are UTC-aware datetimes."""

    id: str
    project: str
    name: str
    status: RunStatus
    user: str
    host: str
    start_time: datetime
    end_time: datetime | None
    heartbeat_time: datetime | None
    parent_id: str | None
    group: str | None
    notes: str | None
    error: str | None
    tags: Mapping[str, str]
    config: FrozenMap
    metrics: Mapping[str, MetricSummary]
    summary: FrozenMap  # metric last values overridden by values set with run.summary[...]
    provenance: FrozenMap | None  # None: not loaded (search results); get_run loads it
    inputs: tuple[DatasetInput, ...] = ()
    outputs: tuple[ArtifactVersion, ...] = ()
    used: tuple[ArtifactVersion, ...] = ()  # artifact versions the run used as inputs

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or to the last heartbeat while running)."""
        end = self.end_time or self.heartbeat_time
        return None if end is None else (end - self.start_time).total_seconds()

    @property
    def last_step(self) -> int | None:
        steps = [m.last_step for k, m in self.metrics.items() if not k.startswith("system/")]
        return max(steps) if steps else None


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """All points of one metric key, in logged order. ``time`` is epoch seconds.

    Columns are compact sequences: ``value``/``time`` are ``array('d')``, ``step`` a
    ``range`` when steps are regular, else a list or ``array('q')``.
    """

    key: str
    step: Sequence[int]
    value: Sequence[float]
    time: Sequence[float]

    def __len__(self) -> int:
        return len(self.value)

    def to_dict(self) -> dict[str, list[Any]]:
        """Plain lists (one Python object per point)."""

        def as_list(col: Sequence[Any]) -> list[Any]:
            tolist = getattr(col, "tolist", None)
            return tolist() if tolist is not None else list(col)

        return {
            "step": as_list(self.step),
            "value": as_list(self.value),
            "time": as_list(self.time),
        }


# --------------------------------------------------------------------------------------
# Writes: what the background writer ships to a store
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConfigOp:
    """Add config keys (nested). Changing an already recorded value is refused."""

    KIND: ClassVar[str] = "config"
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SummaryOp:
    """Set final values (``run.summary[k] = v``); they override metric last values."""

    KIND: ClassVar[str] = "summary"
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TagsOp:
    KIND: ClassVar[str] = "tags"
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class NotesOp:
    KIND: ClassVar[str] = "notes"
    text: str


@dataclass(frozen=True, slots=True)
class StatusOp:
    """Status change. ``time`` is the client's clock (end time); liveness uses the store's."""

    KIND: ClassVar[str] = "status"
    status: RunStatus
    time: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ProvenanceOp:
    """Merge ``data`` into the run's provenance under top-level ``section`` keys."""

    KIND: ClassVar[str] = "provenance"
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class InputOp:
    KIND: ClassVar[str] = "input"
    dataset: DatasetInput


@dataclass(frozen=True, slots=True)
class ConsoleOp:
    """Captured stdout/stderr text, appended to the run's log (capped by the store)."""

    KIND: ClassVar[str] = "console"
    text: str


@dataclass(frozen=True, slots=True)
class ArtifactOp:
    """Record an artifact version produced by the run (blobs are already stored)."""

    KIND: ClassVar[str] = "artifact"
    spec: ArtifactSpec


Op: TypeAlias = (
    ConfigOp
    | SummaryOp
    | TagsOp
    | NotesOp
    | StatusOp
    | ProvenanceOp
    | InputOp
    | ConsoleOp
    | ArtifactOp
)


class MetricsRecord(NamedTuple):
    """One ``run.log`` call: values[i] belongs to keys[i]. ``seq`` orders the stream.

    A named tuple (immutable, and ~5x cheaper to build than a frozen dataclass: a journal
    replay builds millions of them).
    """

    seq: int
    step: int
    time: float
    keys: tuple[str, ...]
    values: Sequence[float]


@dataclass(frozen=True, slots=True)
class OpRecord:
    seq: int
    op: Op


Record: TypeAlias = MetricsRecord | OpRecord


@dataclass(frozen=True, slots=True)
class RunBatch:
    """Records of one stream (one process's journal of one run), in ``seq`` order.

    A store applies a batch atomically and skips records whose ``seq`` is not above the
    stream's position, so a batch retried or replayed from the journal is stored once.
    """

    run_id: str
    stream: str
    records: tuple[Record, ...]

    @property
    def last_seq(self) -> int:
        return self.records[-1].seq if self.records else 0


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run to create together with its first records (``TrackingStore.create_runs``):
    one request and one transaction instead of a create and a write. ``batch.run_id``
    must be ``spec.id``."""

    spec: RunSpec
    batch: RunBatch | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    applied: int
    skipped: int
    position: int  # the stream's last applied seq after the write
