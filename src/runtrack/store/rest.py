"""``RestStore``: the ``TrackingStore`` contract over HTTP, against ``runtrack server``.

Requests and answers are msgpack (compact, binary-safe, NaN-safe). Every call is retried
a few times with jittered backoff on transient failures (connection errors, timeouts,
502/503/504), then raises ``StoreUnavailableError``; longer outages are the caller's to
ride out: the SDK's shipper keeps the journal and retries until the server is back, so
a training loop never waits for, or fails because of, the network. Writes are safe to
retry: a batch carries its stream's sequence numbers (the server stores each record
once), and a ``create_run`` whose answer was lost finds its run on the retry.

The HTTP client is injectable (``client=``): tests pass the server in-process
(``fastapi.testclient.TestClient`` is an ``httpx2.Client``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx2
import msgpack

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
from ..errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    QueryError,
    RunExistsError,
    RuntrackError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
    error_from_code,
)
from ..protocol import (
    alias_event_from_wire,
    artifact_info_from_wire,
    batch_to_wire,
    lineage_from_wire,
    model_detail_from_wire,
    model_version_from_wire,
    new_runs_to_wire,
    project_from_wire,
    registered_model_from_wire,
    run_from_wire,
    series_from_wire,
    spec_to_json,
    sweep_from_wire,
    trial_from_wire,
    version_from_wire,
)
from ..validation import check_existing_run_id, check_project
from .base import MAX_NEW_RUNS, TrackingStore

MSGPACK = "application/msgpack"
_TRANSIENT_STATUS = {502, 503, 504}


class RestStore(TrackingStore):
    """A team server's store. ``url``: ``http(s)://host:port``; ``token``: an API token."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        client: httpx2.Client | None = None,
        retries: int = 3,
        connect_timeout: float = 3.0,
        read_timeout: float = 60.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValidationError(f"server URL {url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self.retries = retries
        headers = {"accept": MSGPACK, "user-agent": "runtrack"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._owns_client = client is None
        self.client = client or httpx2.Client(
            base_url=self.url,
            timeout=httpx2.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx2.Limits(max_connections=8, max_keepalive_connections=4),
        )
        self.client.headers.update(headers)

    def __repr__(self) -> str:
        return f"RestStore({self.url!r})"

    # -- transport ---------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        retry: bool = True,
        raw: bool = False,
    ) -> Any:
        try:
            content = None if body is None else msgpack.packb(body, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"the request cannot be sent: {exc}") from None
        headers = {} if body is None else {"content-type": MSGPACK}
        attempts = self.retries + 1 if retry else 1
        delay = 0.1
        for attempt in range(attempts):
            try:
                resp = self.client.request(
                    method, "/api/v1" + path, content=content, params=params, headers=headers
                )
            except httpx2.TransportError as exc:
                failure: Exception = StoreUnavailableError(
                    f"cannot reach the runtrack server at {self.url}: {type(exc).__name__}"
                )
                failure.__cause__ = exc
            else:
                if resp.status_code not in _TRANSIENT_STATUS:
                    return self._answer(resp, raw)
                failure = StoreUnavailableError(
                    f"the runtrack server at {self.url} is unavailable "
                    f"({resp.status_code}); retry later"
                )
            if attempt + 1 < attempts:
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 3, 2.0)
        raise failure

    def _answer(self, resp: httpx2.Response, raw: bool) -> Any:
        if resp.status_code == 204:
            return None
        if resp.status_code >= 400:
            raise _error(resp)
        if raw:
            return resp.content
        if resp.headers.get("content-type", "").startswith(MSGPACK):
            return msgpack.unpackb(resp.content, raw=False)
        return resp.json()

    # -- projects ----------------------------------------------------------------------
    def list_projects(self) -> list[Project]:
        return [project_from_wire(p) for p in self._call("GET", "/projects")]

    def get_project(self, name: str) -> Project:
        check_project(name)
        return project_from_wire(self._call("GET", f"/projects/{name}"))

    # -- runs: writes ------------------------------------------------------------------
    def create_run(self, spec: RunSpec) -> RunRecord:
        body = spec.to_json()
        try:
            return run_from_wire(self._call("POST", "/runs", body=body, retry=False))
        except StoreUnavailableError:
            pass
        # the first answer was lost (or the server blinked): try again; a run with our
        # (random) id that now exists is the one we created
        for attempt in range(self.retries):
            time.sleep(0.2 * (attempt + 1))
            try:
                return run_from_wire(self._call("POST", "/runs", body=body, retry=False))
            except RunExistsError:
                return self.get_run(spec.id)
            except StoreUnavailableError:
                continue
        raise StoreUnavailableError(f"cannot reach the runtrack server at {self.url}")

    def write(self, batch: RunBatch) -> WriteResult:
        check_existing_run_id(batch.run_id)
        try:
            body = batch_to_wire(batch)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"a record of the batch cannot be sent: {exc}") from None
        d = self._call("POST", f"/runs/{batch.run_id}/batches", body=body)
        return WriteResult(applied=d["applied"], skipped=d["skipped"], position=d["position"])

    def create_runs(self, runs: Sequence[NewRun]) -> list[WriteResult]:
        """One request (``POST /runs/bulk``), one transaction on the server; retried on
        transient failures like a batch, since the server stores a retried call once."""
        if not isinstance(runs, Sequence) or not all(isinstance(r, NewRun) for r in runs):
            raise ValidationError("create_runs takes a list of NewRun")
        if len(runs) > MAX_NEW_RUNS:
            raise ValidationError(f"at most {MAX_NEW_RUNS} runs per call")
        if not runs:
            return []
        for r in runs:
            if r.batch is not None and r.batch.run_id != r.spec.id:
                raise ValidationError(
                    f"the batch of run {r.spec.id!r} names run {r.batch.run_id!r}; they must agree"
                )
        try:
            body = new_runs_to_wire(runs)
        except (TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise ValidationError(f"a run or record cannot be sent: {exc}") from None
        d = self._call("POST", "/runs/bulk", body=body)
        return [WriteResult(applied=a, skipped=s, position=p) for a, s, p in d["results"]]

    def stream_position(self, run_id: str, stream: str) -> int:
        check_existing_run_id(run_id)
        return int(self._call("GET", f"/runs/{run_id}/streams/{stream}")["position"])

    def heartbeat(self, run_id: str) -> None:
        check_existing_run_id(run_id)
        self._call("POST", f"/runs/{run_id}/heartbeat")

    def mark_stale_runs_crashed(self) -> list[str]:
        return list(self._call("POST", "/maintenance/crashed")["crashed"])

    # -- runs: reads -------------------------------------------------------------------
    def run_project(self, run_id: str) -> str:
        return self.get_run(run_id).project

    def get_run(self, run_id: str) -> RunRecord:
        check_existing_run_id(run_id)
        return run_from_wire(self._call("GET", f"/runs/{run_id}"))

    def _search_body(
        self, project: str | Sequence[str] | None, filter: str | None, **more: Any
    ) -> dict[str, Any]:
        if project is not None and not isinstance(project, str):
            project = list(project)
        return {"project": project, "filter": filter, **more}

    def search_runs(
        self,
        project: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        if isinstance(order_by, str):
            order_by = [order_by]
        body = self._search_body(
            project, filter, order_by=list(order_by), limit=limit, offset=offset
        )
        return [run_from_wire(r) for r in self._call("POST", "/runs/search", body=body)["runs"]]

    def count_runs(
        self, project: str | Sequence[str] | None = None, filter: str | None = None
    ) -> int:
        return int(
            self._call("POST", "/runs/count", body=self._search_body(project, filter))["count"]
        )

    def get_history(
        self, run_id: str, keys: Sequence[str] | None = None
    ) -> dict[str, MetricSeries]:
        check_existing_run_id(run_id)
        if isinstance(keys, str):
            keys = [keys]
        params = None if keys is None else {"key": list(keys)}
        d = self._call("GET", f"/runs/{run_id}/history", params=params)
        return {k: series_from_wire(k, v) for k, v in d.items()}

    def get_console(self, run_id: str) -> str:
        check_existing_run_id(run_id)
        return bytes(self._call("GET", f"/runs/{run_id}/console", raw=True)).decode()

    # -- artifacts ---------------------------------------------------------------------
    def log_artifact(self, run_id: str, spec: ArtifactSpec) -> ArtifactVersion:
        check_existing_run_id(run_id)
        return version_from_wire(
            self._call("POST", f"/runs/{run_id}/artifacts", body=spec_to_json(spec))
        )

    def get_artifact_version(self, project: str, ref: str) -> ArtifactVersion:
        check_project(project)
        return version_from_wire(self._call("GET", f"/projects/{project}/artifacts/{_seg(ref)}"))

    def get_artifact_files(self, project: str, ref: str) -> tuple[ArtifactFile, ...]:
        check_project(project)
        d = self._call("GET", f"/projects/{project}/artifacts/{_seg(ref)}/files")
        return tuple(
            ArtifactFile(f["path"], f["digest"], f["size"], f.get("ref"), f.get("etag"))
            for f in d["files"]
        )

    # -- artifacts: inputs, catalogue, aliases, deletion -------------------------------
    def use_artifact(self, run_id: str, ref: str) -> ArtifactVersion:
        check_existing_run_id(run_id)
        _check_ref(ref)
        return version_from_wire(self._call("POST", f"/runs/{run_id}/uses", body={"ref": ref}))

    def list_artifacts(self, project: str, type: str | None = None) -> list[ArtifactInfo]:
        check_project(project)
        params = None if type is None else {"type": type}
        d = self._call("GET", f"/projects/{project}/artifacts", params=params)
        return [artifact_info_from_wire(x) for x in d]

    def list_artifact_versions(self, project: str, name: str) -> list[ArtifactVersion]:
        check_project(project)
        d = self._call("GET", f"/projects/{project}/artifacts/{_seg(name)}/versions")
        return [version_from_wire(x) for x in d]

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
        _actor(actor)
        check_project(project)
        path = f"/projects/{project}/artifacts/{_seg(name)}/aliases/{_seg(alias)}"
        if version is None:
            self._call("DELETE", path, params=_some(reason=reason, actor=actor))
            return None
        d = self._call("PUT", path, body={"version": version, "reason": reason, "actor": actor})
        return None if d is None else version_from_wire(d)

    def artifact_alias_history(
        self, project: str, name: str, alias: str | None = None
    ) -> list[AliasEvent]:
        check_project(project)
        d = self._call(
            "GET",
            f"/projects/{project}/artifacts/{_seg(name)}/alias-history",
            params=_some(alias=alias),
        )
        return [alias_event_from_wire(x) for x in d]

    def delete_artifact_version(
        self, project: str, ref: str, *, force: bool = False, actor: str
    ) -> ArtifactVersion:
        _actor(actor)
        check_project(project)
        d = self._call(
            "DELETE",
            f"/projects/{project}/artifacts/{_seg(ref)}",
            params=_some(force="true" if force else None, actor=actor),
            retry=False,
        )
        return version_from_wire(d)

    def delete_run(self, run_id: str, *, force: bool = False) -> None:
        check_existing_run_id(run_id)
        self._call(
            "DELETE", f"/runs/{run_id}", params=_some(force="true" if force else None), retry=False
        )

    # -- lineage -----------------------------------------------------------------------
    def lineage(
        self,
        root: str,
        *,
        project: str | None = None,
        direction: str = "up",
        depth: int | None = None,
    ) -> Lineage:
        if not isinstance(root, str) or not root:
            raise ValidationError("a lineage root is a run id, an artifact or model reference")
        if direction not in ("up", "down"):
            raise ValidationError(f"direction {direction!r} must be 'up' or 'down'")
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)):
            raise ValidationError(f"depth {depth!r} must be an integer >= 0 or None")
        params = _some(root=root, project=project, direction=direction, depth=depth)
        return lineage_from_wire(self._call("GET", "/lineage", params=params))

    # -- model registry ----------------------------------------------------------------
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
        _actor(actor)
        check_project(project)
        body = {
            "project": project,
            "ref": ref,
            "actor": actor,
            "tags": None if tags is None else dict(tags),
            "description": description,
        }
        return model_version_from_wire(
            self._call("POST", f"/models/{_seg(name)}/versions", body=body)
        )

    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        d = self._call("GET", "/models", params=_some(project=project))
        return [registered_model_from_wire(x) for x in d]

    def get_model(self, name: str) -> RegisteredModel:
        return registered_model_from_wire(self._call("GET", f"/models/{_seg(name)}"))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        d = self._call("GET", f"/models/{_seg(name)}/versions")
        return [model_version_from_wire(x) for x in d]

    def get_model_version(self, ref: str) -> ModelVersion:
        _check_ref(ref)
        return model_version_from_wire(self._call("GET", "/model-versions", params={"ref": ref}))

    def model_detail(self, ref: str) -> ModelDetail:
        _check_ref(ref)
        return model_detail_from_wire(self._call("GET", "/model-detail", params={"ref": ref}))

    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        reason: str | None = None,
    ) -> ModelVersion | None:
        _actor(actor)
        path = f"/models/{_seg(name)}/aliases/{_seg(alias)}"
        if version is None:
            self._call("DELETE", path, params=_some(reason=reason, actor=actor))
            return None
        d = self._call("PUT", path, body={"version": version, "reason": reason, "actor": actor})
        return None if d is None else model_version_from_wire(d)

    def model_alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        d = self._call("GET", f"/models/{_seg(name)}/alias-history", params=_some(alias=alias))
        return [alias_event_from_wire(x) for x in d]

    def model_version_at(self, name: str, alias: str, at: float) -> ModelVersion | None:
        if isinstance(at, bool) or not isinstance(at, int | float):
            raise ValidationError(f"at {at!r} must be a time (epoch seconds)")
        d = self._call(
            "GET", f"/models/{_seg(name)}/alias-history", params={"alias": alias, "at": at}
        )
        return None if d["version"] is None else model_version_from_wire(d["version"])

    def set_model_gates(self, name: str, gates: Sequence[Mapping[str, Any]]) -> RegisteredModel:
        body = {"gates": [dict(g) for g in gates] if isinstance(gates, list | tuple) else gates}
        return registered_model_from_wire(
            self._call("PUT", f"/models/{_seg(name)}/gates", body=body)
        )

    def set_model_version_tags(
        self, name: str, version: int, tags: Mapping[str, str]
    ) -> ModelVersion:
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValidationError(f"model version {version!r} must be an integer >= 1")
        d = self._call(
            "PATCH", f"/models/{_seg(name)}/versions/{version}/tags", body={"tags": dict(tags)}
        )
        return model_version_from_wire(d)

    def referenced_digests(self) -> set[str]:
        return set(self._call("GET", "/maintenance/referenced-blobs")["digests"])

    def collect_garbage(self, *, dry_run: bool, grace: float) -> dict[str, Any]:
        """Run ``gc`` on the server (``POST /maintenance/gc``, administrators): the
        server's report (``runtrack.store.gc.GcReport.to_json``). With the store's own
        client it waits as long as the collection takes (an injected client keeps its
        timeouts); not retried (run it again: gc is idempotent)."""
        body = msgpack.packb({"dry_run": bool(dry_run), "grace": float(grace)})
        more: dict[str, Any] = {}
        if self._owns_client:
            more["timeout"] = httpx2.Timeout(None, connect=10.0)
        try:
            resp = self.client.request(
                "POST",
                "/api/v1/maintenance/gc",
                content=body,
                headers={"content-type": MSGPACK},
                **more,
            )
        except httpx2.TransportError as exc:
            raise StoreUnavailableError(
                f"cannot reach the runtrack server at {self.url}: {type(exc).__name__}"
            ) from exc
        return dict(self._answer(resp, False))

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    # -- sweeps ---------------------------------------------------------------------------
    def create_sweep(
        self, project: str, spec: Mapping[str, Any], *, actor: str, host: str = ""
    ) -> Sweep:
        from ..sweeps.spec import normalize

        check_project(project)
        _actor(actor)
        body = {"spec": normalize(spec), "actor": actor, "host": host}
        return sweep_from_wire(self._call("POST", f"/projects/{_seg(project)}/sweeps", body=body))

    def get_sweep(self, sweep_id: str) -> Sweep:
        return sweep_from_wire(self._call("GET", f"/sweeps/{_seg(sweep_id)}"))

    def list_sweeps(self, project: str | None = None) -> list[Sweep]:
        if project is None:
            out: list[Sweep] = []
            for p in self.list_projects():
                out += self.list_sweeps(p.name)
            return sorted(out, key=lambda s: s.created_at, reverse=True)
        check_project(project)
        d = self._call("GET", f"/projects/{_seg(project)}/sweeps")
        return [sweep_from_wire(x) for x in d]

    def sweep_trials(self, sweep_id: str) -> list[SweepTrial]:
        d = self._call("GET", f"/sweeps/{_seg(sweep_id)}/trials")
        return [trial_from_wire(x) for x in d]

    def sweep_project(self, sweep_id: str) -> str:
        return self.get_sweep(sweep_id).project

    def sweep_ask(
        self, sweep_id: str, *, user: str, host: str, request_id: str | None = None
    ) -> SweepTrial | None:
        import uuid

        body = {"host": host, "actor": user, "request_id": request_id or uuid.uuid4().hex}
        d = self._call("POST", f"/sweeps/{_seg(sweep_id)}/ask", body=body)
        return None if d is None else trial_from_wire(d)

    def sweep_report(self, sweep_id: str, run_id: str, step: int, value: float) -> bool:
        path = f"/sweeps/{_seg(sweep_id)}/trials/{_seg(run_id)}/report"
        d = self._call("POST", path, body={"step": step, "value": value})
        return bool(d["prune"])

    def sweep_tell(
        self,
        sweep_id: str,
        run_id: str,
        *,
        state: str = "complete",
        values: Sequence[float] | None = None,
        error: str | None = None,
    ) -> SweepTrial:
        path = f"/sweeps/{_seg(sweep_id)}/trials/{_seg(run_id)}/tell"
        body = {"state": state, "values": None if values is None else list(values), "error": error}
        return trial_from_wire(self._call("POST", path, body=body))

    def stop_sweep(self, sweep_id: str, *, reason: str | None = None) -> Sweep:
        d = self._call("POST", f"/sweeps/{_seg(sweep_id)}/stop", body={"reason": reason})
        return sweep_from_wire(d)

    def resume_sweep(
        self, sweep_id: str, *, trials: int | None = None, seconds: float | None = None
    ) -> Sweep:
        from ..sweeps.spec import check_extension

        more, secs = check_extension(trials, seconds)
        body = {"trials": more, "seconds": secs}
        return sweep_from_wire(self._call("POST", f"/sweeps/{_seg(sweep_id)}/resume", body=body))

    def sweep_analysis(self, sweep_id: str, *, importance: str = "ped_anova") -> dict[str, Any]:
        d = self._call(
            "GET", f"/sweeps/{_seg(sweep_id)}/analysis", params={"importance": importance}
        )
        return dict(d)


def _seg(value: object) -> str:
    """A path segment: names and references must not smuggle '/', '?' or '#'."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{value!r} must be a non-empty name")
    return quote(value, safe=":@")


def _check_ref(ref: object) -> str:
    if not isinstance(ref, str) or not ref or len(ref) > 1000:
        raise ValidationError(f"reference {ref!r} must be a non-empty string")
    return ref


def _actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 250:
        raise ValidationError("actor must be a non-empty name of at most 250 characters")
    return actor


def _some(**params: Any) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _error(resp: httpx2.Response) -> RuntrackError:
    try:
        if resp.headers.get("content-type", "").startswith(MSGPACK):
            doc = msgpack.unpackb(resp.content, raw=False)
        else:
            doc = resp.json()
        err = doc["error"]
        code, message = str(err["code"]), str(err["message"])
    except (ValueError, KeyError, TypeError, msgpack.ExtraData, msgpack.FormatError):
        return RuntrackError(f"the server answered {resp.status_code}: {resp.text[:200]!r}")
    if code == QueryError.code:
        exc = QueryError(message)
        exc.position = err.get("position")
        return exc
    if resp.status_code == 401:
        message += " (set RUNTRACK_TOKEN to an API token of this server)"
    exc2 = error_from_code(code, message)
    if type(exc2) is RuntrackError:  # a code of the HTTP layer: classify by status
        exc2 = _BY_STATUS.get(
            resp.status_code, StoreError if resp.status_code >= 500 else ValidationError
        )(message)
        exc2.code = code  # keep the server's code (e.g. missing_blobs) for callers
    return exc2


_BY_STATUS: dict[int, type[RuntrackError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
}
