"""``Run``: the live handle a training script holds.

A ``Run`` validates every write, appends it to the run's journal and returns; the
background shipper moves it to the store. ``log()`` costs a few microseconds and never
waits for the store. The handle is safe to use from several threads.
"""

from __future__ import annotations

import logging
import struct
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..entities import (
    ArtifactOp,
    ArtifactSpec,
    ArtifactVersion,
    ConfigOp,
    ConsoleOp,
    DatasetInput,
    InputOp,
    NotesOp,
    Op,
    ProvenanceOp,
    StatusOp,
    SummaryOp,
    TagsOp,
)
from ..errors import (
    RunFinishedError,
    RunNotFoundError,
    StoreUnavailableError,
    TrialPruned,
    ValidationError,
)
from ..validation import check_key, check_metric_value, check_notes, check_step, check_tags
from . import _hooks
from ._journal import values_struct
from ._sink import NullSink
from ._views import RunConfig, RunSummary

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..store.base import TrackingStore
    from ._artifact_use import ArtifactHandle
    from ._trial import TrialLink

log = logging.getLogger("runtrack")

_CLOSE_TIMEOUT = 120.0


class Run:
    """A run being recorded. Create it with ``runtrack.init()``."""

    def __init__(
        self,
        *,
        id: str,
        name: str,
        project: str,
        config: Mapping[str, Any],
        tags: Mapping[str, str],
        notes: str | None,
        group: str | None,
        parent_id: str | None,
        mode: str,
        sink: NullSink,
        store: TrackingStore | None = None,
        artifacts: ArtifactStore | None = None,
        spool: ArtifactStore | None = None,
        cache_dir: Path | None = None,
        first_step: int = 0,
        summary: Mapping[str, Any] | None = None,
        on_finish: Callable[[Run], None] | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.project = project
        self.group = group
        self.parent_id = parent_id
        self.mode = mode
        self._sink = sink
        self._store = store
        self._artifacts = artifacts
        self._spool = spool  # local blobs of artifacts logged while a server was away
        self._cache_dir = cache_dir
        self._tags = dict(tags)
        self._notes = notes
        self._step = first_step
        self._keysets: dict[tuple[str, ...], int] = {}
        self._last: dict[int, tuple[int, tuple[str, ...], bytes]] = {}
        self._provenance: dict[str, Any] = {}
        self._status = "running"
        self._on_finish = on_finish
        self._finishers: list[Callable[[], None]] = []
        self._ending: str | None = None  # the status finish() is ending the run with
        self._trial: TrialLink | None = None  # set when the run is a sweep trial
        self.config = RunConfig(config, lambda new: self._op(ConfigOp(new)))
        self.summary = RunSummary(self._last_values, lambda v: self._op(SummaryOp(v)), summary)

    def __repr__(self) -> str:
        return f"<runtrack.Run {self.id} {self.name!r} project={self.project!r} {self._status}>"

    # -- logging: the hot path -----------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Record metric values at ``step`` (default: one more than the last step).

        Values are numbers (NaN and infinities kept); nested dicts are flattened with
        ``/`` (``{"train": {"loss": x}}`` -> ``train/loss``). Returns at once: the values
        are in the crash-safe journal and reach the store in the background.
        """
        if self._status != "running":
            raise RunFinishedError(
                f"run {self.id} is {self._status}; start or resume a run to log more"
            )
        if step is None:
            step = self._step
        elif type(step) is not int or step < 0:
            step = check_step(step)
        try:
            keys = tuple(data)
            values = values_struct(len(keys)).pack(*data.values())
        except (TypeError, AttributeError, OverflowError, struct.error):
            keys, values = _slow_metrics(data)
        if not keys:
            return
        ks = self._keysets.get(keys)
        if ks is None:
            ks = self._new_keyset(keys)
        seq = self._sink.metrics(ks, step, values)
        self._step = step + 1
        self._last[ks] = (seq, keys, values)

    def _new_keyset(self, keys: tuple[str, ...]) -> int:
        for k in keys:
            check_key(k)
        ks = self._sink.keyset(keys)
        self._keysets[keys] = ks
        return ks

    def _last_values(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for _, keys, values in sorted(self._last.values(), key=lambda e: e[0]):
            out.update(zip(keys, values_struct(len(keys)).unpack(values), strict=True))
        return {k: v for k, v in out.items() if not k.startswith("system/")}

    def _log_system(self, values: Mapping[str, float], step: int) -> None:
        """System metrics (``system/*``) keep their own step: the sample number."""
        if self._status != "running" or not values:
            return
        keys = tuple(values)
        ks = self._keysets.get(keys) or self._new_keyset(keys)
        self._sink.metrics(ks, step, values_struct(len(keys)).pack(*values.values()))

    def _op(self, op: Op) -> None:
        if self._status != "running":
            if isinstance(op, ConsoleOp):
                return  # output printed after the end is not part of the run
            raise RunFinishedError(f"run {self.id} is {self._status}; cannot record more")
        self._sink.op(op)

    # -- metadata ------------------------------------------------------------------------
    @property
    def tags(self) -> dict[str, str]:
        return dict(self._tags)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set (or overwrite) tags: strings by key. Numbers and bools become strings."""
        clean = check_tags(tags)
        if clean:
            self._op(TagsOp(clean))
            self._tags.update(clean)

    @property
    def notes(self) -> str | None:
        return self._notes

    @notes.setter
    def notes(self, text: str) -> None:
        self.set_notes(text)

    def set_notes(self, text: str) -> None:
        clean = check_notes(text)
        self._op(NotesOp(clean or ""))
        self._notes = clean

    @property
    def status(self) -> str:
        return self._status

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` will use."""
        return self._step

    # -- sweeps --------------------------------------------------------------------------
    @property
    def sweep_id(self) -> str | None:
        """The sweep this run is a trial of, or None."""
        return None if self._trial is None else self._trial.sweep_id

    def should_prune(self) -> bool:
        """In a sweep trial: report the latest value of the sweep's objective (log it
        first with ``log``) to the sweep's pruner and say whether to stop. Stop by
        raising ``runtrack.TrialPruned`` (or returning): the trial is then recorded as
        pruned. Outside a sweep, or without a pruner, always False."""
        from ._trial import should_prune

        return should_prune(self)

    def _record_provenance(self, section: str, data: Any) -> None:
        self._provenance[section] = data
        self._op(ProvenanceOp({section: data}))

    # -- inputs and outputs --------------------------------------------------------------
    def use_dataset(self, path: str | Path, name: str | None = None) -> DatasetInput:
        """Record a dataset this run reads: content hash (sha256; cached by size and
        mtime), size, file count and the DVC md5 where DVC tracks it."""
        from .provenance.datasets import hash_dataset

        cache = self._cache_dir or Path.home() / ".runtrack" / "cache"
        dataset = hash_dataset(path, cache_dir=cache, name=name)
        self._op(InputOp(dataset))
        return dataset

    def log_artifact(
        self,
        path: str | Path,
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> ArtifactVersion | None:
        """Store a file or directory as a version of artifact ``name`` (default: the
        file's name) produced by this run. Identical content returns the existing
        version. Blobs are content-addressed: each distinct file is stored once.

        Returns the recorded version; None in disabled mode and when the version will be
        recorded later (offline mode, or the store is unreachable)."""
        from ..artifacts.manifest import build_manifest
        from ..store.gc import gc_mark
        from ._artifact_log import hash_cache
        from ._config import normalize_config

        if self._status != "running":
            raise RunFinishedError(f"run {self.id} is {self._status}; cannot log an artifact")
        if isinstance(path, str) and "://" in path:
            return self._log_reference(path, name, type, aliases, metadata)
        p = Path(path)
        if not p.exists():
            raise ValidationError(f"artifact path '{path}' does not exist")
        if self._artifacts is None:  # disabled mode
            return None

        def manifest(store: ArtifactStore) -> ArtifactSpec:
            with hash_cache(self._cache_dir) as cache:
                return build_manifest(
                    p,
                    store,
                    name=name or _default_artifact_name(p),
                    type=type or ("directory" if p.is_dir() else "file"),
                    metadata=normalize_config(metadata or {}),
                    aliases=list(aliases),
                    hash_cache=cache,
                )

        since = gc_mark(self._store) if self._store is not None else None  # before any put
        try:
            spec = manifest(self._artifacts)
        except StoreUnavailableError:
            if self._spool is None:
                raise
            log.warning(
                "server unreachable: artifact %s is kept locally and will be uploaded "
                "when it is back",
                name or p.name,
            )
            self._op(ArtifactOp(manifest(self._spool)))
            return None
        return self._record_artifact(spec, source=p, since=since)

    def _record_artifact(
        self, spec: ArtifactSpec, *, source: Path | None = None, since: int | None = None
    ) -> ArtifactVersion | None:
        """``source``: the logged path of a version whose blobs this run put, to put again
        any that a concurrent gc deleted (``since``: the gc mark from before the puts)."""
        from ._artifact_log import protect_journaled, record_version

        if self._store is not None:
            try:
                # a run may be created by its first shipment: have it created first
                self._sink.ensure_created()
                if source is None or self._artifacts is None:
                    return self._store.log_artifact(self.id, spec)
                return record_version(
                    self._store, self._artifacts, self.id, spec, source, since=since
                )
            except StoreUnavailableError:
                log.warning(
                    "store unreachable: artifact %s will be recorded when it is back", spec.name
                )
            except RunNotFoundError:  # still not created: recorded with the run, shipped
                pass
        self._op(ArtifactOp(spec))
        if source is not None and self._store is not None and self._artifacts is not None:
            try:
                protect_journaled(self._store, self._artifacts, spec, source, since=since)
            except StoreUnavailableError:  # then only gc's grace period protects its blobs
                log.debug("could not wait for gc rounds", exc_info=True)
        return None

    def _log_reference(
        self,
        uri: str,
        name: str | None,
        type: str | None,
        aliases: Sequence[str],
        metadata: Mapping[str, Any] | None,
    ) -> ArtifactVersion | None:
        """A reference artifact: the objects stay at ``uri``; this process reads and
        hashes them (the server never fetches a URI a client supplied)."""
        from ..artifacts.manifest import (
            REFERENCE_SCHEMES,
            _json_copy,
            manifest_digest,
            validate_alias,
            validate_artifact_name,
            validate_artifact_type,
        )
        from ._artifact_use import hash_reference
        from ._config import normalize_config

        scheme = uri.partition("://")[0]
        if scheme not in REFERENCE_SCHEMES:
            raise ValidationError(
                f"cannot reference {uri!r}: use one of {', '.join(REFERENCE_SCHEMES)}"
            )
        default_name = uri.rstrip("/").rsplit("/", 1)[-1] or "reference"
        art_name = validate_artifact_name(name or _default_artifact_name(Path(default_name)))
        art_type = validate_artifact_type(type or "reference")
        if isinstance(aliases, str):
            raise ValidationError(f"aliases must be a list of strings, not {aliases!r}")
        alias_list = tuple(dict.fromkeys(validate_alias(a) for a in aliases))
        frozen = _json_copy(normalize_config(metadata or {}))
        if self._artifacts is None:  # disabled mode
            return None
        files = tuple(sorted(hash_reference(uri), key=lambda f: f.path))
        spec = ArtifactSpec(
            name=art_name,
            type=art_type,
            files=files,
            digest=manifest_digest(files),
            metadata=frozen,
            aliases=alias_list,
        )
        return self._record_artifact(spec)

    def log_predictions(
        self,
        name: str,
        y_true: Any,
        y_pred: Any = None,
        y_score: Any = None,
        ids: Any = None,
        slices: Mapping[str, Any] | None = None,
        task: str | None = None,
    ) -> ArtifactVersion | None:
        """Record per-example evaluation results (``y_pred`` labels or values and/or
        ``y_score`` scores: ``(n,)`` for the positive class, ``(n, k)`` per class) as a
        content-hashed Parquet artifact ``predictions-<name>``. ``ids`` name the examples
        (default: their positions); runs scored on the same ids and ``y_true`` share an
        evaluation set, so ``runtrack compare`` pairs them. ``slices``: per-example group
        labels (e.g. ``{"country": [...]}``) for worst-slice analysis. ``task``: binary,
        multiclass or regression (inferred)."""
        from ._predictions import log_predictions

        if self._status != "running":
            raise RunFinishedError(f"run {self.id} is {self._status}; cannot log predictions")
        return log_predictions(self, name, y_true, y_pred, y_score, ids, slices, task)

    def log_model(self, obj: Any, name: str, **options: Any) -> ArtifactVersion | None:
        """``runtrack.log_model(obj, name, run=self, ...)``: see there."""
        from ._models import log_model

        return log_model(obj, name, run=self, **options)

    def use_artifact(self, ref: str, *, type: str | None = None) -> ArtifactHandle:
        """Record that this run uses an artifact version and return a handle to it.

        ``ref``: ``name:alias`` / ``name:vN`` / ``name`` (latest) in this run's project,
        or ``project/name:alias`` for another project's. ``handle.download()`` returns a
        local directory with its files, from a cache shared by every run on this machine
        and verified against the content hashes. ``type``, when given, must match the
        artifact's type. The edge version -> run is part of the lineage graph."""
        from ._artifact_use import ArtifactHandle
        from ._reproduction import pinned_ref

        if self._status != "running":
            raise RunFinishedError(f"run {self.id} is {self._status}; cannot use an artifact")
        if not isinstance(ref, str) or not ref:
            raise ValidationError(f"artifact reference {ref!r} must be 'name:alias' or 'name:vN'")
        ref = pinned_ref(ref, self.project)  # RUNTRACK_PIN_ARTIFACTS (runtrack reproduce)
        project, sep, rest = ref.partition("/")
        if not sep:
            project, rest = self.project, ref
        if self._store is not None:
            self._sink.ensure_created()
            version = self._store.use_artifact(self.id, ref)
            store = self._store
        else:  # offline or disabled: resolve from the configured store, record nothing
            from .api import Api

            store = Api().store
            version = store.get_artifact_version(project, rest)
            log.warning(
                "run %s is %s: it uses %s, but the input is not recorded in its lineage",
                self.id,
                self.mode,
                version.full_ref,
            )
        if type is not None and version.type != type:
            raise ValidationError(
                f"artifact {version.full_ref} has type {version.type!r}, not {type!r}"
            )
        files = store.get_artifact_files(version.project, version.ref)

        def blobs() -> ArtifactStore:
            if version.project == self.project and self._artifacts is not None:
                return self._artifacts
            from .. import settings as settings_mod
            from ._state import STATE

            s = settings_mod.load()
            return STATE.artifact_store(s, version.project if s.url else None)

        cache = self._cache_dir or Path.home() / ".runtrack" / "cache"
        return ArtifactHandle(version, files, blobs, cache)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the store holds everything logged so far; False on timeout. Not
        needed for safety (``log`` is crash-safe once it returns), only to read your
        own writes back at once from another process or from ``runtrack.Api``."""
        return self._sink.flush(timeout)

    # -- end -----------------------------------------------------------------------------
    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """End the run: ``finished`` (default), ``failed`` or ``killed``. Waits until the
        store has everything that was logged (a progress note is shown if that takes
        long). Calling it again does nothing."""
        if self._status != "running":
            return
        if status not in ("finished", "failed", "killed", "crashed"):
            raise ValidationError(f"finish status {status!r} must be finished, failed or killed")
        self._ending = status
        for stop in self._finishers:
            try:
                stop()
            except Exception:  # pragma: no cover - never lose the finish over a helper
                log.exception("runtrack: stopping a run helper failed")
        self._sink.op(StatusOp(status, time.time(), error))  # type: ignore[arg-type]
        self._status = status
        complete = self._sink.close(timeout=_CLOSE_TIMEOUT)
        if not complete and self._sink.journal_path is not None and self.mode == "online":
            log.warning(
                "runtrack: run %s is saved locally but not all of it reached the "
                "store; run `runtrack sync` to send the rest",
                self.id,
            )
        if self._on_finish is not None:
            self._on_finish(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, TrialPruned):
            from ._trial import end_pruned

            end_pruned(self)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("killed", "interrupted (KeyboardInterrupt)")
        elif issubclass(exc_type, _hooks.Terminated):
            self.finish("killed", _hooks.TERMINATED)
        elif isinstance(exc, SystemExit) and exc.code in (0, None):
            self.finish()
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            self.finish("failed", text)


def _default_artifact_name(p: Path) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9._-]", "-", p.resolve().name).lstrip(".-_") or "artifact"
    return name[:128]


def _slow_metrics(data: object) -> tuple[tuple[str, ...], bytes]:
    """The careful path of ``log()``: nested dicts, numpy/torch scalars, and clear errors."""
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"log() takes a dict of metric names to numbers, got {type(data).__name__}"
        )
    flat: dict[str, float] = {}
    stack: list[tuple[str, Mapping[Any, Any]]] = [("", data)]
    while stack:
        prefix, node = stack.pop()
        for k, v in node.items():
            check_key(k)
            key = prefix + k
            if isinstance(v, Mapping):
                if len(prefix) > 1000:
                    raise ValidationError("metric dict is nested too deeply")
                stack.append((key + "/", v))
                continue
            check_key(key)
            if key in flat:
                raise ValidationError(f"metric {key!r} is given twice")
            flat[key] = check_metric_value(key, v)
    return tuple(flat), values_struct(len(flat)).pack(*flat.values())
