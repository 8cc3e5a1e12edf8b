"""runtrack as a backend of the shared anchor harnesses (``../shared/bench``).

    A=/tmp/anchors   # venv: mlflow==3.17.2 wandb optuna scikit-learn, then pip install -e .
    $A/bin/python ../shared/bench/mlflow_anchor.py \\
        --backend benchmarks/anchor_adapter.py:RuntrackAdapter \\
        --out benchmarks/results/mlflow_anchor.json
    $A/bin/python ../shared/bench/wandb_anchor.py \\
        --backend benchmarks/anchor_adapter.py:RuntrackAdapter \\
        --out benchmarks/results/wandb_anchor.json

Everything goes through runtrack's public SDK, as a user's script would call it:

* ``setup(workdir)`` points ``RUNTRACK_DIR`` at ``workdir/runtrack``, sets
  ``RUNTRACK_QUIET=1`` and imports runtrack (the store, and a new database, are opened by
  the first ``init``/``Api`` call, as in a user's script); every other setting keeps its
  default (background provenance
  capture with git and packages, system metrics every 15 s, console capture, heartbeat
  every 10 s, shipper every 0.5 s).
* ``start_run`` is ``runtrack.init(project=experiment, name=run_name, config=params,
  tags=tags)``; ``end_run`` is ``run.finish(status)`` (which waits until the store holds
  everything logged).
* ``log_metric`` / ``log_metric_async`` are ``run.log({key: value}, step=step)``: runtrack
  has one logging call, which returns once the point is in the run's crash-safe journal
  (it survives SIGKILL of the process) and leaves the store write to a background thread.
  ``flush`` is ``run.flush()`` (waits until the store has it all).
* ``log_metrics`` is one ``run.log(dict, step)``; ``log_batch`` groups the points by step
  and makes one ``run.log`` per step.
* ``log_params`` -> ``run.config.update``; ``set_tags`` -> ``run.set_tags``;
  ``log_artifact``/``log_artifacts`` -> ``run.log_artifact`` (a file, a directory).
* ``search`` -> ``runtrack.Api().runs(project, filter=..., order_by=..., limit=...)`` with
  ``params.x`` written as ``config.x`` (runtrack's name; ``params.x`` is an alias);
  ``get_metric_history`` -> ``Api().run(id).history([key])`` in the default list format.
* ``run_status`` maps runtrack's statuses to MLflow's words: running -> RUNNING,
  finished -> FINISHED, failed -> FAILED, killed -> KILLED. runtrack's ``crashed`` (the
  process vanished) has no MLflow word and is returned as CRASHED.
* ``storage_bytes``: ``runtrack.db`` + ``-wal`` + ``-shm`` (not the journals, which are
  deleted at finish, nor the artifacts).
* ``populate_runs`` (a setup step the harness times separately) uses the fastest honest
  public path: ``SqlStore.create_run`` + one ``SqlStore.write`` of a ``RunBatch`` (the
  metric values at step 0 and status finished) per run, straight into the same database,
  without the journal, threads or provenance of ``init``.
* Crash test: the child re-attaches with the same ``RUNTRACK_DIR``. After the harness
  has killed it, the first read of that run by the parent (``run_status`` or
  ``get_metric_history`` of a run this process did not create) first runs
  ``runtrack sync`` -- runtrack's documented recovery, which replays the dead process's
  journal (exactly once) and marks the run crashed -- then reads. What the store held
  *before* the sync is recorded too, under ``describe()["crash_reads"]``.

Backend arguments (``--backend-arg K=V``):
  ``store_sync=true``  every logging call is followed by ``run.flush()``: each call returns
                       only once the store (not just the journal) has the data -- the same
                       guarantee as MLflow's synchronous calls. Reported as
                       ``runtrack (flush per call)``.
  ``sync_after_crash=false``  do not run ``runtrack sync`` before reading a foreign run.
  ``server=true``      the team-server mode, reported as ``runtrack-server``: ``setup``
                       starts ``runtrack server`` (``runtrack.testing.live.LiveServer``: one
                       Uvicorn process, no auth on loopback) and sets ``RUNTRACK_URL`` to
                       it, so ``init``/``Api`` use ``RestStore`` over HTTP (msgpack) and the
                       client keeps only its journals under ``RUNTRACK_DIR``. The server's
                       database is ``server_db``: ``sqlite`` (default: the server's embedded
                       store, like the ``mlflow-server`` column's SQLite) or ``pg`` (a
                       scratch database on ``pg_url``, created with runtrack's schema and
                       dropped at teardown). ``populate_runs`` then goes over HTTP too
                       (``RestStore.create_run`` + one ``RestStore.write`` per run);
                       ``storage_bytes`` is the server's database (files, or
                       ``pg_database_size``); ``server_pids`` is the server process, so the
                       harness's server CPU and memory rows are measured. Artifact uploads
                       go through the server (``RestArtifactStore``: hashed, sent in parts,
                       verified by the server) into its artifact directory.
  ``server_db=sqlite|pg``, ``pg_url=postgresql://...``  see ``server=true``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from array import array

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench")
)
from anchor_common import RunSpec, SearchQuery, TrackingAdapter

_STATUS_OUT = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}
_STATUS_IN = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
    "crashed": "CRASHED",
}
_OPS = {"=", "!=", ">", ">=", "<", "<="}


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _field(fld: str) -> str:
    kind, _, key = fld.partition(".")
    if kind == "params":
        kind = "config"
    if kind not in ("config", "metrics", "tags") or not key:
        raise ValueError(f"unsupported field {fld!r}")
    return f"{kind}.{key}"


def translate(query: SearchQuery) -> tuple[str | None, list[str], int | None]:
    """SearchQuery -> (filter, order_by, limit) of ``runtrack.Api().runs``."""
    parts = []
    for fld, op, val in query.filters:
        if op not in _OPS:
            raise ValueError(f"unsupported operator {op!r}")
        parts.append(f"{_field(fld)} {op} {_literal(val)}")
    order = [f"{_field(f)} {d.lower()}" for f, d in query.order_by]
    return (" and ".join(parts) or None), order, query.max_results


class RuntrackAdapter(TrackingAdapter):
    name = "runtrack"

    def __init__(
        self,
        store_sync: bool = False,
        sync_after_crash: bool = True,
        server: bool = False,
        server_db: str = "sqlite",
        pg_url: str = "postgresql://postgres@127.0.0.1:5432/postgres",
    ) -> None:
        self.store_sync = bool(store_sync)
        self.sync_after_crash = bool(sync_after_crash)
        self.server_mode = bool(server)
        if server_db not in ("sqlite", "pg"):
            raise ValueError("server_db must be sqlite or pg")
        self.server_db = server_db
        self.pg_url = pg_url.replace("postgresql+psycopg://", "postgresql://")
        self.server = None
        self.url: str | None = None
        self._pg_name: str | None = None
        self._setup_metrics: dict = {}
        if self.server_mode:
            self.name = "runtrack-server" + ("" if server_db == "sqlite" else " (PostgreSQL)")
        if self.store_sync:
            self.name = f"{self.name} (flush per call)"
        self.run = None
        self.api = None
        self.dir: str | None = None
        self._own: set[str] = set()
        self._synced: set[str] = set()
        self._crash_reads: list[dict] = []
        self._populate_path = None

    # -- lifecycle ---------------------------------------------------------------------
    def _env(self, directory: str) -> None:
        self.dir = directory
        os.environ["RUNTRACK_DIR"] = directory
        os.environ["RUNTRACK_QUIET"] = "1"
        os.environ.pop("RUNTRACK_URL", None)
        os.environ.pop("RUNTRACK_DB", None)
        os.environ.pop("RUNTRACK_MODE", None)

    def setup(self, workdir: str) -> None:
        self._env(os.path.join(workdir, "runtrack"))
        if self.server_mode:
            self._start_server(workdir)
        import runtrack

        self.runtrack = runtrack
        # Only the import (runtrack is lazy: `import runtrack` loads almost nothing): the
        # store is opened -- and a new database created -- by the first init() or Api
        # call, which is where a user's script pays for it.
        self.api = runtrack.Api()

    def _start_server(self, workdir: str) -> None:
        """``runtrack server`` on a free port over a new database; RUNTRACK_URL -> it."""
        from pathlib import Path

        from runtrack.testing.live import LiveServer

        db = None
        if self.server_db == "pg":
            import psycopg

            from runtrack.store.sql.store import SqlStore

            self._pg_name = "rtanchor_" + uuid.uuid4().hex[:10]
            with psycopg.connect(self.pg_url, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{self._pg_name}"')
            db = self.pg_url.rsplit("/", 1)[0] + "/" + self._pg_name
            SqlStore(db, auto_upgrade=True).close()  # the schema (the server never migrates PG)
        self.server_dir = os.path.join(workdir, "server")
        self.server = LiveServer(
            Path(self.server_dir), db=db, artifacts=os.path.join(workdir, "server-artifacts")
        )
        t0 = time.perf_counter()
        self.server.start(timeout=120)
        start_s = time.perf_counter() - t0
        pids = self.server_pids()
        self._setup_metrics = {
            "server: /health answers after": (start_s, "s"),
            "server: processes": (len(pids), "procs"),
            "server: CPU seconds spent starting": (_cpu_seconds(pids), "s"),
        }
        self.url = self.server.url
        os.environ["RUNTRACK_URL"] = self.url

    def setup_metrics(self) -> dict:
        return self._setup_metrics

    def server_pids(self) -> list[int]:
        if self.server is None or self.server.proc is None or self.server.proc.poll() is not None:
            return []
        return _process_tree(self.server.proc.pid)

    def attach_info(self) -> dict:
        return {"dir": self.dir, "url": self.url}

    def attach(self, info: dict) -> None:
        self._env(info["dir"])
        if info.get("url"):
            self.url = info["url"]
            os.environ["RUNTRACK_URL"] = self.url
        import runtrack

        self.runtrack = runtrack
        self.api = runtrack.Api()

    def teardown(self) -> None:
        if self.run is not None:
            try:
                self.run.finish()
            except Exception:
                pass
            self.run = None
        try:
            from runtrack.client._state import STATE  # close what this adapter opened

            with STATE.lock:
                for url, st in list(STATE.stores.items()):
                    if (self.dir and self.dir in url) or (self.url and url == self.url):
                        st.close()
                        del STATE.stores[url]
        except Exception:
            pass
        if self.server is not None:
            self.server.kill()  # the LiveServer this adapter started (its own session)
            self.server = None
        if self._pg_name:
            try:
                import psycopg

                with psycopg.connect(self.pg_url, autocommit=True) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')
            except Exception:
                pass
            self._pg_name = None
        if self.server_mode:
            os.environ.pop("RUNTRACK_URL", None)

    def describe(self) -> dict:
        import runtrack
        from runtrack import settings

        s = settings.load()
        out = {
            "runtrack": runtrack.__version__,
            "store": (
                f"runtrack server (LiveServer, one Uvicorn process) on "
                f"{'PostgreSQL' if self.server_db == 'pg' else 'SQLite'}, via RestStore "
                "(RUNTRACK_URL); the client keeps its journals under RUNTRACK_DIR"
                if self.server_mode
                else "embedded SQLite (RUNTRACK_DIR)"
            ),
            "artifacts": "not measured: the SDK does not upload artifacts to the server yet"
            if self.server_mode
            else "local content-addressed store",
            "settings": {
                "flush_interval": s.flush_interval,
                "heartbeat_interval": s.heartbeat_interval,
                "system_metrics_interval": s.system_metrics_interval,
                "console": s.console,
                "capture_git": s.capture_git,
                "capture_packages": s.capture_packages,
                "quiet": s.quiet,
            },
            "store_sync": self.store_sync,
            "log_metric": "run.log({k: v}, step) -> journal (crash-safe), store in background"
            + ("; then run.flush()" if self.store_sync else ""),
            "populate_runs": (
                "RestStore.create_run + RestStore.write(RunBatch) per run (over HTTP)"
                if self.server_mode
                else "SqlStore.create_run + SqlStore.write(RunBatch) per run"
            ),
            "crash_recovery": "`runtrack sync` run before the first read of a killed child's run"
            if self.sync_after_crash
            else "none",
        }
        if self._crash_reads:
            out["crash_reads"] = self._crash_reads
        return out

    # -- logging -----------------------------------------------------------------------
    def start_run(self, experiment, run_name=None, params=None, tags=None):
        if self.run is not None:  # left open by a benchmark skipped half-way (artifacts)
            self.run.finish()
            self.run = None
        self.run = self.runtrack.init(project=experiment, name=run_name, config=params, tags=tags)
        self._own.add(self.run.id)
        return self.run.id

    def end_run(self, status="FINISHED"):
        run, self.run = self.run, None
        if run is not None:
            run.finish(_STATUS_OUT.get(status.upper(), "finished"))

    def log_metric(self, key, value, step):
        self.run.log({key: value}, step=step)
        if self.store_sync:
            self.run.flush()

    def log_metric_async(self, key, value, step):
        self.run.log({key: value}, step=step)

    def flush(self):
        if self.run is not None:
            self.run.flush()

    def log_metrics(self, metrics, step):
        self.run.log(metrics, step=step)
        if self.store_sync:
            self.run.flush()

    def log_batch(self, points):
        by_step: dict[int, list[dict]] = {}
        for k, v, s in points:
            groups = by_step.get(s)
            if groups is None:
                by_step[s] = [{k: v}]
                continue
            for g in groups:  # a key twice at one step: a second call, nothing dropped
                if k not in g:
                    g[k] = v
                    break
            else:
                groups.append({k: v})
        log = self.run.log
        for s, groups in by_step.items():
            for g in groups:
                log(g, step=s)
        if self.store_sync:
            self.run.flush()

    def log_params(self, params):
        self.run.config.update(params)

    def set_tags(self, tags):
        self.run.set_tags(tags)

    def log_artifact(self, local_path):
        self.run.log_artifact(local_path)

    def log_artifacts(self, local_dir):
        self.run.log_artifact(local_dir)

    # -- reading -----------------------------------------------------------------------
    def populate_runs(self, experiment, runs: list[RunSpec]) -> None:
        from runtrack.entities import MetricsRecord, OpRecord, RunBatch, StatusOp
        from runtrack.entities import RunSpec as RtSpec

        store = self.api.store
        now = time.time()
        for i, r in enumerate(runs):
            rid = uuid.uuid4().hex[:16]
            t = now + i * 1e-3
            store.create_run(
                RtSpec(
                    id=rid,
                    project=experiment,
                    name=r.name,
                    user="bench",
                    host="bench",
                    start_time=t,
                    config=dict(r.params),
                    tags=dict(r.tags),
                )
            )
            keys = tuple(r.metrics)
            recs = []
            if keys:
                recs.append(MetricsRecord(1, 0, t, keys, array("d", r.metrics.values())))
            recs.append(OpRecord(len(recs) + 1, StatusOp("finished", t + 1e-3)))
            store.write(RunBatch(rid, "populate", tuple(recs)))

    def search(self, experiment, query: SearchQuery) -> int:
        flt, order, limit = translate(query)
        rows = self.api.runs(experiment, filter=flt, order_by=order, limit=limit)
        return len(rows)

    def _maybe_sync(self, run_id: str) -> None:
        """A run created by another (killed) process: record what the store has, then run
        `runtrack sync`, as a user recovering from a crash would."""
        if not self.sync_after_crash or run_id in self._own or run_id in self._synced:
            return
        self._synced.add(run_id)
        before = self.api.run(run_id)
        hist = before.history(["loss"]).get("loss")
        entry = {
            "run_id": run_id,
            "before_sync": {"status": before.status, "points": len(hist["value"]) if hist else 0},
        }
        cli = os.path.join(os.path.dirname(sys.executable), "runtrack")
        cmd = [cli] if os.path.exists(cli) else [sys.executable, "-m", "runtrack.cli"]
        t0 = time.perf_counter()
        p = subprocess.run(
            [*cmd, "sync", "--json"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=600,
        )
        entry["sync_s"] = time.perf_counter() - t0
        entry["sync_rc"] = p.returncode
        entry["sync_out"] = p.stdout[-2000:] + p.stderr[-1000:]
        after = self.api.run(run_id)
        hist = after.history(["loss"]).get("loss")
        entry["after_sync"] = {"status": after.status, "points": len(hist["value"]) if hist else 0}
        self._crash_reads.append(entry)
        print(
            f"  [runtrack] crash recovery: {entry['before_sync']} -> `runtrack sync` "
            f"({entry['sync_s']:.2f}s) -> {entry['after_sync']}",
            flush=True,
        )

    def get_metric_history(self, run_id, key):
        self._maybe_sync(run_id)
        h = self.api.run(run_id).history([key]).get(key)
        return 0 if h is None else len(h["value"])

    def run_status(self, run_id):
        self._maybe_sync(run_id)
        st = self.api.run(run_id).status
        return _STATUS_IN.get(st, st.upper())

    # -- resources ---------------------------------------------------------------------
    def storage_bytes(self):
        if self.server_mode:
            if self._pg_name:
                import psycopg

                with psycopg.connect(self.pg_url, autocommit=True) as c:
                    c.execute("CHECKPOINT")
                    return int(
                        c.execute("SELECT pg_database_size(%s)", (self._pg_name,)).fetchone()[0]
                    )
            db = os.path.join(self.server_dir, "runtrack.db")
            return sum(
                os.path.getsize(p) for p in (db, db + "-wal", db + "-shm") if os.path.exists(p)
            )
        db = os.path.join(self.dir, "runtrack.db")
        return sum(os.path.getsize(p) for p in (db, db + "-wal", db + "-shm") if os.path.exists(p))

    def cold_import_code(self):
        return "import runtrack"


def _process_tree(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    data = f.read()
                kids.setdefault(int(data[data.rfind(")") + 2 :].split()[1]), []).append(int(d))
            except (OSError, ValueError, IndexError):
                continue
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                data = f.read()
            fields = data[data.rfind(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")
