"""The ``TrackingStore`` contract: what every backend (SQLite, PostgreSQL, REST) provides.

Contract
--------
* **Thread and process safety.** Every method may be called from several threads of one
  process at once, and several processes (or servers) may use one database at once.
* **Records out.** Every returned value is a frozen record (``runtrack.entities``) or a
  fresh container of them; callers may keep them, stores never change them afterwards.
* **Atomic, idempotent writes.** :meth:`TrackingStore.write` applies a batch entirely or
  not at all. Each run has any number of *streams* (one per process that logs to it);
  a stream's records carry increasing ``seq`` numbers, the store keeps each stream's
  position (the last applied ``seq``) in the same transaction as the data and skips
  records at or below it. Replaying a journal, or retrying a batch whose answer was lost,
  therefore stores every record exactly once.
* **Validation.** Bad input raises ``runtrack.errors.ValidationError`` (or a subclass)
  naming what was wrong, before anything is written.
* **Errors.** Unknown ids raise the matching ``NotFoundError`` subclass; a store that
  cannot be reached or is busy beyond its retries raises ``StoreUnavailableError``
  (transient, retry later); a schema that does not match this version of runtrack raises
  ``SchemaVersionError``. Third-party exceptions never escape.
* **Clock.** Heartbeats and crash detection use the store's clock, never the client's:
  a run whose last heartbeat is older than the store's ``crash_after`` seconds is
  ``crashed`` as seen by every read (:meth:`mark_stale_runs_crashed` persists it).
* **Metric values** are floats; NaN, +inf and -inf are stored and returned as they are.
  Summaries (``min``/``max``) ignore NaN.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..entities import (
    AliasEvent,
    ArtifactFile,
    ArtifactInfo,
    ArtifactSpec,
    ArtifactVersion,
    Lineage,
    MetricSeries,
    ModelDetail,
    ModelVersion,
    NewRun,
    Project,
    RegisteredModel,
    RunBatch,
    RunRecord,
    RunSpec,
    Sweep,
    SweepTrial,
    WriteResult,
)
from ..errors import ValidationError
from .downsample import DownsampledSeries, XAxis

MAX_NEW_RUNS = 1000  # runs in one create_runs call
_NO_ROUNDS = (
    "gc needs direct access to the database (runtrack gc --db URL --artifacts URL) or, "
    "against a team server, its admin route (runtrack gc with RUNTRACK_URL set)"
)


class TrackingStore(abc.ABC):
    """Runs, their metrics and their artifact records. See the module docstring."""

    # -- projects ----------------------------------------------------------------------
    @abc.abstractmethod
    def list_projects(self) -> list[Project]:
        """Every project, by name."""

    @abc.abstractmethod
    def get_project(self, name: str) -> Project:
        """Raises ``ProjectNotFoundError``."""

    # -- runs: writes ------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(self, spec: RunSpec) -> RunRecord:
        """Create a run (and its project if new) with status ``running``.

        Raises ``RunExistsError`` if ``spec.id`` exists, ``RunNotFoundError`` if
        ``spec.parent_id`` names no run, ``ValidationError`` for a bad spec.
        """

    @abc.abstractmethod
    def write(self, batch: RunBatch) -> WriteResult:
        """Apply a batch of one stream atomically, skipping records already applied.

        Raises ``RunNotFoundError``; ``ValidationError`` if a record is malformed (nothing
        of the batch is then applied); ``ConfigError`` if a config op would change a
        recorded value.
        """

    def create_runs(self, runs: Sequence[NewRun]) -> list[WriteResult]:
        """Create runs with their first records: for each item, create the run unless a
        run with its id exists in the same project (a retried call: it is this run), then
        apply its batch as ``write`` does, so every record is stored once. One result per
        item. SQL stores do the whole call in one transaction (nothing is written if any
        item is refused) and the REST store in one request.

        Raises ``RunExistsError`` if an id belongs to a run of another project, and what
        ``create_run`` and ``write`` raise.
        """
        from ..errors import RunExistsError
        from .sql._create import check_new_runs

        check_new_runs(runs)
        out: list[WriteResult] = []
        for item in runs:
            try:
                self.create_run(item.spec)
            except RunExistsError:
                if self.run_project(item.spec.id) != item.spec.project:
                    raise RunExistsError(
                        f"run {item.spec.id!r} already exists in another project"
                    ) from None
            out.append(self.write(item.batch) if item.batch else WriteResult(0, 0, 0))
        return out

    @abc.abstractmethod
    def stream_position(self, run_id: str, stream: str) -> int:
        """The last ``seq`` applied for this stream of the run; 0 if none."""

    @abc.abstractmethod
    def heartbeat(self, run_id: str) -> None:
        """Record that the run is alive, by the store's clock. A ``crashed`` run that
        beats again is ``running`` again. Raises ``RunNotFoundError``."""

    @abc.abstractmethod
    def mark_stale_runs_crashed(self) -> list[str]:
        """Persist ``crashed`` for running runs whose heartbeat is older than
        ``crash_after`` by the store's clock; return their ids."""

    # -- runs: reads -------------------------------------------------------------------
    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """Raises ``RunNotFoundError``."""

    @abc.abstractmethod
    def run_project(self, run_id: str) -> str:
        """The project a run belongs to (cheap; a run never changes project). Raises
        ``RunNotFoundError``."""

    @abc.abstractmethod
    def search_runs(
        self,
        project: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs of ``project`` (all projects if None; a sequence: any of those) matching the
        run query language.

        Records carry ``provenance=None`` (not loaded: it can weigh megabytes per run);
        ``get_run`` returns it. Default order: newest first. Missing values sort last
        whatever the direction.
        Raises ``QueryError`` (with the position of the problem) for a malformed filter or
        order_by, ``ValidationError`` for a negative limit/offset. An unknown project
        gives an empty list.
        """

    @abc.abstractmethod
    def count_runs(
        self, project: str | Sequence[str] | None = None, filter: str | None = None
    ) -> int:
        """How many runs ``search_runs`` would return without limit/offset."""

    @abc.abstractmethod
    def get_history(
        self, run_id: str, keys: Sequence[str] | None = None
    ) -> dict[str, MetricSeries]:
        """Every point of the given metric keys (all keys if None), in logged order.

        Unknown keys are absent from the answer. Raises ``RunNotFoundError``.
        """

    @abc.abstractmethod
    def get_console(self, run_id: str) -> str:
        """The captured stdout/stderr of the run (capped). Raises ``RunNotFoundError``."""

    def get_history_downsampled(
        self,
        run_id: str,
        keys: Sequence[str],
        points: int = 2000,
        x: XAxis = "step",
        start: float | None = None,
        end: float | None = None,
    ) -> dict[str, DownsampledSeries]:
        """About ``points`` points of each key for a chart, each bucket's minimum and
        maximum kept, and the first and last points (``runtrack.store.downsample``);
        ``start``/``end`` bound the steps. The default reads the whole history; a store
        may answer from summaries of its chunks. Raises ``RunNotFoundError``."""
        from .downsample import check_points, downsample, in_range

        check_points(points)
        out: dict[str, DownsampledSeries] = {}
        for key, s in self.get_history(run_id, list(keys)).items():
            steps = list(s.step)
            i, j = in_range(steps, start, end)
            xs = steps[i:j] if x == "step" else list(s.time[i:j])
            out[key] = downsample(key, xs, list(s.value[i:j]), points)
        return out

    # -- artifacts ---------------------------------------------------------------------
    @abc.abstractmethod
    def log_artifact(self, run_id: str, spec: ArtifactSpec) -> ArtifactVersion:
        """Record an artifact version produced by the run; blobs must already be in the
        artifact store. Identical content (same manifest digest) returns the existing
        version. ``latest`` moves to the returned version; each alias in ``spec.aliases``
        moves to it too. Raises ``RunNotFoundError``, ``ValidationError``."""

    @abc.abstractmethod
    def get_artifact_version(self, project: str, ref: str) -> ArtifactVersion:
        """``ref`` is ``name``, ``name:vN`` or ``name:alias`` (``latest`` by default).
        Raises ``ArtifactNotFoundError``."""

    @abc.abstractmethod
    def get_artifact_files(self, project: str, ref: str) -> tuple[ArtifactFile, ...]:
        """The manifest of an artifact version. Raises ``ArtifactNotFoundError``."""

    # -- artifacts: inputs, catalogue, aliases, deletion -------------------------------
    @abc.abstractmethod
    def use_artifact(self, run_id: str, ref: str) -> ArtifactVersion:
        """Record that the run used the version ``ref`` names (``name:alias``,
        ``name:vN``, or ``project/name:...`` for another project's) and return it.
        Recorded once per run and version. Raises ``RunNotFoundError``,
        ``ArtifactNotFoundError``, ``ValidationError``."""

    @abc.abstractmethod
    def list_artifacts(self, project: str, type: str | None = None) -> list[ArtifactInfo]:
        """The project's artifacts by name (of one type if given); [] for an unknown
        project."""

    @abc.abstractmethod
    def list_artifact_versions(self, project: str, name: str) -> list[ArtifactVersion]:
        """Every version of an artifact, oldest first. Raises ``ArtifactNotFoundError``."""

    @abc.abstractmethod
    def set_artifact_alias(
        self,
        project: str,
        name: str,
        alias: str,
        version: str | None,
        *,
        actor: str,
        reason: str | None = None,
    ) -> ArtifactVersion | None:
        """Point a custom alias at ``version`` (``vN`` or another alias; None removes
        it), appending the change to the artifact's alias log. ``latest`` cannot be set."""

    @abc.abstractmethod
    def artifact_alias_history(
        self, project: str, name: str, alias: str | None = None
    ) -> list[AliasEvent]:
        """Every change of the artifact's custom aliases (or of one), oldest first."""

    @abc.abstractmethod
    def delete_artifact_version(
        self, project: str, ref: str, *, force: bool = False, actor: str
    ) -> ArtifactVersion:
        """Delete a version (blobs stay until ``gc``). Raises ``ConflictError`` while a
        custom alias or a registered model version points at it, unless ``force``:
        then the aliases are removed (audited) and those model versions deleted."""

    @abc.abstractmethod
    def delete_run(self, run_id: str, *, force: bool = False) -> None:
        """Delete a run and everything recorded for it; the artifact versions it produced
        stay (their ``created_by`` keeps its id). Raises ``ConflictError`` while a
        registered model version was made by the run, unless ``force``."""

    # -- lineage -----------------------------------------------------------------------
    @abc.abstractmethod
    def lineage(
        self,
        root: str,
        *,
        project: str | None = None,
        direction: str = "up",
        depth: int | None = None,
    ) -> Lineage:
        """The graph from ``root`` upstream (``up``) or downstream (``down``), at most
        ``depth`` edges away (None: all). ``root``: a run id (or ``run:<id>``), an artifact
        reference (in ``project`` unless it names its own), ``dataset:<sha256>``, or a
        registered model reference (``name@alias``, ``name/3``)."""

    # -- model registry ----------------------------------------------------------------
    @abc.abstractmethod
    def register_model(
        self,
        name: str,
        project: str,
        ref: str,
        *,
        actor: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """A new version of registered model ``name`` (created, owned by ``project``, on
        first use) for the artifact version ``ref`` names in ``project``. Registering the
        same artifact version again returns its existing model version."""

    @abc.abstractmethod
    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        """Registered models by name (those owned by ``project`` if given)."""

    @abc.abstractmethod
    def get_model(self, name: str) -> RegisteredModel:
        """Raises ``ModelNotFoundError``."""

    def model_project(self, name: str) -> str:
        """The project owning a registered model (a server's permission checks ask it
        before every registry call: stores answer it cheaply)."""
        return self.get_model(name).project

    @abc.abstractmethod
    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a registered model, oldest first."""

    @abc.abstractmethod
    def get_model_version(self, ref: str) -> ModelVersion:
        """``name@alias``, ``name/3`` (or ``name@3``), ``name`` (the newest version)."""

    @abc.abstractmethod
    def model_detail(self, ref: str) -> ModelDetail:
        """In one call: the model version, its run (config, provenance, metrics) and the
        lineage upstream of its artifact version."""

    @abc.abstractmethod
    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        reason: str | None = None,
    ) -> ModelVersion | None:
        """Point ``alias`` at ``version`` (None removes it) once the model's promotion
        gates pass, and append the change to the audit log. Raises
        ``PromotionRefusedError`` (nothing changed) naming every unmet requirement."""

    @abc.abstractmethod
    def model_alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """The audit log of the model's aliases (or of one), oldest first. Append-only:
        no call edits or deletes it."""

    @abc.abstractmethod
    def model_version_at(self, name: str, alias: str, at: float) -> ModelVersion | None:
        """The version ``alias`` pointed at at time ``at`` (epoch seconds); None if it
        was not set then (or that version has since been deleted)."""

    @abc.abstractmethod
    def set_model_gates(self, name: str, gates: Sequence[Mapping[str, Any]]) -> RegisteredModel:
        """Replace the promotion gates of a registered model (``[]`` removes them)."""

    @abc.abstractmethod
    def set_model_version_tags(
        self, name: str, version: int, tags: Mapping[str, str]
    ) -> ModelVersion:
        """Merge tags into a model version's tags."""

    # -- sweeps (the search runs store-side: runtrack.sweeps.engine) -------------------
    @abc.abstractmethod
    def create_sweep(
        self, project: str, spec: Mapping[str, Any], *, actor: str, host: str = ""
    ) -> Sweep:
        """Create a sweep from a spec (``runtrack.sweeps.spec``: validated, defaults
        filled, a seed chosen if none) and its own run, whose child runs are the trials.
        With ``warm_start``, completed runs of the project that fit the space become
        trials first. Raises ``ValidationError`` naming the bad key."""

    @abc.abstractmethod
    def get_sweep(self, sweep_id: str) -> Sweep:
        """Raises ``SweepNotFoundError``."""

    @abc.abstractmethod
    def list_sweeps(self, project: str | None = None) -> list[Sweep]:
        """Sweeps of a project (all if None), newest first."""

    @abc.abstractmethod
    def sweep_trials(self, sweep_id: str) -> list[SweepTrial]:
        """Every trial of a sweep, by number."""

    @abc.abstractmethod
    def sweep_project(self, sweep_id: str) -> str:
        """The project a sweep belongs to (cheap; for permission checks)."""

    @abc.abstractmethod
    def sweep_ask(
        self, sweep_id: str, *, user: str, host: str, request_id: str | None = None
    ) -> SweepTrial | None:
        """The next trial: parameters suggested with every trial told so far in view, and
        its run created (a child of the sweep's run, config = the parameters, status
        running). None when the sweep is over: budget spent, out of time, no improvement
        for ``budget.patience`` trials, or stopped. Trials whose run died are failed
        first (retried if the spec allows). Never hands a trial out twice and never goes
        over ``budget.trials``, whatever number of agents ask at once. An ask repeated
        with the same ``request_id`` (a retry after a lost answer) returns the same
        trial."""

    @abc.abstractmethod
    def sweep_report(self, sweep_id: str, run_id: str, step: int, value: float) -> bool:
        """An intermediate objective value of a running trial; True when the pruner says
        the trial should stop."""

    @abc.abstractmethod
    def sweep_tell(
        self,
        sweep_id: str,
        run_id: str,
        *,
        state: str = "complete",
        values: Sequence[float] | None = None,
        error: str | None = None,
    ) -> SweepTrial:
        """Finish a trial: ``complete`` (``values``: one per objective), ``pruned`` or
        ``failed``. The same again is a no-op; a different outcome for a finished trial
        raises ``ConflictError``. A trial run still open is given the values and ended."""

    @abc.abstractmethod
    def stop_sweep(self, sweep_id: str, *, reason: str | None = None) -> Sweep:
        """No more trials are handed out; running ones may still be told."""

    @abc.abstractmethod
    def resume_sweep(
        self, sweep_id: str, *, trials: int | None = None, seconds: float | None = None
    ) -> Sweep:
        """Hand out trials again (a stopped or finished sweep runs again), with ``trials``
        more trials than used and ``seconds`` more from now if given. A sweep stopped for
        lack of improvement drops its patience rule. Again on a running sweep: a no-op.
        ``ConflictError`` if the budget would still be spent."""

    @abc.abstractmethod
    def sweep_analysis(self, sweep_id: str, *, importance: str = "ped_anova") -> dict[str, Any]:
        """Best trial or Pareto front, optimisation history, parameter importance
        (``ped_anova``, ``fanova`` or ``none``) and the parallel-coordinates table, as
        JSON-ready data (``runtrack.sweeps.analysis``)."""

    @abc.abstractmethod
    def referenced_digests(self) -> set[str]:
        """Every blob digest a manifest references (what ``gc`` must keep)."""

    # -- garbage collection of artifact blobs (protocol: runtrack.store.gc) ------------
    def referenced_among(self, digests: Iterable[str]) -> set[str]:
        """The digests among ``digests`` that some manifest references (one gc round's
        question). The default filters :meth:`referenced_digests`."""
        return self.referenced_digests() & set(digests)

    def begin_gc_round(self, lease: float) -> int:
        """Begin (and commit) a gc round that is over ``lease`` seconds from now by the
        store's clock unless renewed; its id. Stores without rounds raise
        ``ValidationError``: gc needs direct access to the database."""
        raise ValidationError(_NO_ROUNDS)

    def renew_gc_round(self, round_id: int, lease: float) -> None:
        """Move a live round's end to ``lease`` seconds from now. ``ConflictError`` if the
        round is over (finished or expired): it must then delete nothing more."""
        raise ValidationError(_NO_ROUNDS)

    def finish_gc_round(self, round_id: int) -> None:
        """End a round (writers waiting for it go on)."""
        raise ValidationError(_NO_ROUNDS)

    def gc_mark(self) -> int | None:
        """An id below which every gc round is over now (taken by a writer before it puts
        or checks its blobs); None for a store without rounds."""
        return None

    def wait_for_gc_rounds(self, since: int | None = None) -> bool:
        """Wait until every gc round live now has finished or expired; return whether a
        round may have deleted blobs since the mark ``since`` (always True if ``since`` is
        None). Called by a writer after its version committed. A store without rounds
        returns False at once: no gc round of its own can delete anything (gc against a
        team server runs on the server, which checks the versions it records itself)."""
        return False

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:  # noqa: B027 - concrete no-op default on purpose
        """Release connections. Further calls are undefined."""

    def __enter__(self) -> TrackingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
