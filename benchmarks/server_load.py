#!/usr/bin/env python3
"""runtrack's team-server targets: real ``runtrack server`` processes, real clients.

    .venv/bin/python benchmarks/server_load.py --out benchmarks/results/server_targets.json
    .venv/bin/python benchmarks/server_load.py --quick                 # smoke run, ~4 min
    .venv/bin/python benchmarks/server_load.py --only log,ingest       # some of them
    .venv/bin/python benchmarks/server_load.py --pg postgresql://postgres@127.0.0.1:5432/postgres

Every server is ``runtrack.testing.live.LiveServer`` (``python -m runtrack.cli server`` as a
subprocess, one Uvicorn process, no auth on loopback); every client is a fresh interpreter
with ``RUNTRACK_URL`` set (the SDK then talks to the server through ``RestStore``) or a
``RestStore`` used directly. Clients of one measurement are started, prepare their data,
say READY, and start together on GO; wall times run from the first GO to the last client
done. The database is PostgreSQL (a scratch database per measurement, created and
dropped; the team set-up), and SQLite under the server's directory where ``--dbs`` asks.

  log        ``run.log({"loss": x, "acc": y}, step=i)`` with ``RUNTRACK_URL`` set, each call
             timed (median, p99 per call; target median <= 10 us: the network is off the
             hot path). The points are then read back through the server.
  ingest     --ingest-clients processes, each --ingest-steps calls of ``run.log()`` with 100
             metrics, ``finish()`` included, through ONE server process: points stored/s
             (target >= 500,000), the server's CPU per point (/proc: user+system of the
             server process) and PostgreSQL's (all ``postgres`` processes). Every point is
             counted back through the server.
  create     --create-clients concurrent processes creating runs (20 config keys, 10
             metrics, 5 tags) for --create-seconds: (a) ``RestStore.create_run`` + one
             ``RestStore.write`` of the metrics and the finished status; (b)
             ``RestStore.create_runs``: each run with those records in one request, one
             run per request and 50 per request (how ``runtrack sync`` ships offline
             runs); (c) the SDK, ``runtrack.init(config=..., tags=...)``,
             ``run.log(metrics)``, ``finish()``, with default settings and with the
             background capture turned off. Runs/s overall and per client (target >= 500
             runs/s). --create-variants 0,1,... picks some of these five.
  search     100,000 runs on PostgreSQL (bench_targets.py's population: its fast path is
             verified against SqlStore first), served by ``runtrack server``:
             ``RestStore.search_runs("sweep", filter="config.optimizer = 'adam' and
             metrics.auc > 0.9", order_by=["metrics.auc desc"], limit=100)`` (target <=
             100 ms; the ids are checked), beside the same query on SqlStore in-process.
  footprint  ``runtrack server`` from exec to /health answering (target <= 2 s, SQLite and
             PostgreSQL), then idle RSS/PSS per server process after a warm-up (target
             < 200 MB).
  load       --load-clients processes logging for --load-seconds to 2 server processes
             (two LiveServers, one PostgreSQL database, one artifact directory; clients
             split between them): errors, exact counts (every point of every client read
             back through ``RestStore.get_history``), throughput, and p50/p99 of the batch
             POSTs (``RestStore.write`` wrapped in each client).
  profile    the server in-process under cProfile (the thread-pool hop made inline so the
             whole request is in one profile) while clients ingest and create runs: where
             the server's time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "bench"))

import bench_targets as bt  # noqa: E402
from bench_targets import Results, fmt, loadavg, pct, table  # noqa: E402

PG_DEFAULT = bt.PG_DEFAULT
INGEST_KEYS = 100
LOAD_KEYS = 10


# --------------------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------------------
_CLK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                data = f.read()
        except OSError:
            continue
        if int(data[data.rfind(")") + 2 :].split()[1]) == pid:
            out.append(int(d))
    return out


def tree(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(_children(p))
    return out


def cpu_of(pids: list[int]) -> float:
    return sum(c for c in (_stat_cpu(p) for p in pids) if c is not None)


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every ``postgres`` process (the postmaster, its background workers
    and the backends of every connection) by pid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        c = _stat_cpu(int(d))
        if c is not None:
            out[int(d)] = c
    return out


def pg_cpu_delta(before: dict[int, float]) -> float:
    after = postgres_cpu()
    return sum(c - before.get(p, 0.0) for p, c in after.items())


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private clean + dirty) of one process, MiB."""
    out = {"rss_mib": 0.0, "pss_mib": 0.0, "uss_mib": 0.0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_mib"] = int(line.split()[1]) / 1024
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "Pss":
                    out["pss_mib"] = int(v.split()[0]) / 1024
                elif k in ("Private_Clean", "Private_Dirty"):
                    out["uss_mib"] += int(v.split()[0]) / 1024
    except OSError:
        pass
    return out


# --------------------------------------------------------------------------------------
# databases and servers
# --------------------------------------------------------------------------------------
def pg_new(admin: str) -> tuple[str, str]:
    """A scratch PostgreSQL database with runtrack's schema (created by SqlStore, as an
    operator's first `runtrack server`-with-auto-upgrade would); (url, name)."""
    import psycopg

    from runtrack.store.sql.store import SqlStore

    name = "rtserver_" + uuid.uuid4().hex[:10]
    admin = admin.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    SqlStore(url, auto_upgrade=True).close()
    return url, name


class Db:
    """One database for one measurement: ``kind`` 'pg' (scratch database, dropped at
    close) or 'sqlite' (the server's embedded store under its directory)."""

    def __init__(self, kind: str, admin: str, work: str) -> None:
        self.kind = kind
        self.admin = admin
        self.name = None
        if kind == "pg":
            self.url, self.name = pg_new(admin)
        else:
            self.url = None  # LiveServer: the embedded store under RUNTRACK_DIR
        self.work = work

    def close(self) -> None:
        if self.name:
            bt.pg_drop(self.admin, self.name)
            self.name = None


def start_server(data_dir: str, db_url: str | None, artifacts: str | None = None):
    from runtrack.testing.live import LiveServer

    srv = LiveServer(Path(data_dir), db=db_url, artifacts=artifacts)
    t0 = time.perf_counter()
    srv.start(timeout=60)
    srv.start_s = time.perf_counter() - t0
    return srv


def client_env(url: str, directory: str, extra: dict | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env.update(RUNTRACK_URL=url, RUNTRACK_DIR=directory, RUNTRACK_QUIET="1")
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------------------
# clients: fresh interpreters running this file with --_child; READY / GO / RESULT
# --------------------------------------------------------------------------------------
class Child:
    def __init__(self, mode: str, spec: dict, env: dict, cwd: str, errlog: str) -> None:
        self.mode = mode
        self._err = open(errlog, "wb")  # noqa: SIM115
        self.errlog = errlog
        self.p = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--_child",
                json.dumps(dict(spec, mode=mode)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env=env,
            cwd=cwd,
        )

    def ready(self, timeout: float = 300) -> None:
        line = self.p.stdout.readline()
        if line.strip() != "READY":
            self.p.kill()
            raise RuntimeError(f"{self.mode} child failed: {line!r} {self.err()[-3000:]}")

    def go(self) -> None:
        self.p.stdin.write("GO\n")
        self.p.stdin.flush()

    def result(self, timeout: float = 1800) -> dict:
        out, _ = self.p.communicate(timeout=timeout)
        self._err.close()
        for line in out.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        raise RuntimeError(
            f"{self.mode} child failed (rc={self.p.returncode}): {self.err()[-3000:]}"
        )

    def err(self) -> str:
        try:
            return Path(self.errlog).read_text()
        except OSError:
            return ""


def run_group(children: list[Child], server_pids: list[int], pg: bool) -> dict:
    """Start the children together; returns their results and the servers' and
    PostgreSQL's CPU seconds between GO and the last result."""
    for c in children:
        c.ready()
    la = loadavg()
    s0 = cpu_of(server_pids)
    p0 = postgres_cpu() if pg else {}
    for c in children:
        c.go()
    results = [c.result() for c in children]
    s1 = cpu_of(server_pids)
    pgc = pg_cpu_delta(p0) if pg else None
    start = min(r["t_go"] for r in results)
    end = max(r["t_end"] for r in results)
    return {
        "results": results,
        "wall": end - start,
        "server_cpu": s1 - s0,
        "pg_cpu": pgc,
        "load_at_go": la,
    }


def _ready_and_wait() -> float:
    print("READY", flush=True)
    sys.stdin.readline()
    return time.time()


def _create_for(seconds: float, one: Callable[[int], int | None]) -> dict:
    """After GO: call ``one(n)`` (n = runs made so far) for ``seconds``, each call timed;
    a call makes one run, or as many as it returns."""
    t_go = _ready_and_wait()
    pc = time.perf_counter
    lat = []
    c0 = time.process_time()
    t0 = pc()
    n = 0
    while pc() - t0 < seconds:
        s = pc()
        made = one(n)
        lat.append(pc() - s)
        n += 1 if made is None else made
    wall = pc() - t0
    lat.sort()
    return {
        "runs": n,
        "wall": wall,
        "cpu_s": time.process_time() - c0,
        "p50_ms": lat[len(lat) // 2] * 1e3,
        "p99_ms": pct(lat, 0.99) * 1e3,
        "t_go": t_go,
        "t_end": time.time(),
    }


def child_log(spec: dict) -> dict:
    import runtrack

    n = spec["calls"]
    loss = bt.noisy_curve(random.Random(1), n)
    acc = [1.0 - 0.5 * v / (1.0 + v) for v in loss]
    run = runtrack.init(project="bench-log", name="log-loop", config={"lr": 1e-3})
    time.sleep(spec["settle"])
    t_go = _ready_and_wait()
    timing = bt.timed_log_loop(run, loss, acc)
    t_end = time.time()
    from runtrack.client._state import STATE

    store = next(iter(STATE.stores.values()))
    h = store.get_history(run.id, ["loss", "acc"])
    return {
        **timing,
        "stored": [len(h["loss"].value), len(h["acc"].value)],
        "exact": list(h["loss"].value) == loss and list(h["acc"].step) == list(range(n)),
        "store": type(store).__name__,
        "t_go": t_go,
        "t_end": t_end,
        "load": loadavg(),
    }


def child_ingest(spec: dict) -> dict:
    import runtrack

    steps = spec["steps"]
    rnd = random.Random(2 + spec["k"])
    keys = [f"train/metric_{j:03d}" for j in range(INGEST_KEYS)]
    cols = [bt.noisy_curve(rnd, steps, j) for j in range(INGEST_KEYS)]
    rows = [dict(zip(keys, vals, strict=True)) for vals in zip(*cols, strict=True)]
    del cols
    run = runtrack.init(project="bench-ingest", name=f"ingest-{spec['k']}", config={"k": spec["k"]})
    time.sleep(spec["settle"])
    t_go = _ready_and_wait()
    log = run.log
    pc = time.perf_counter
    c0 = time.process_time()
    t0 = pc()
    for i, r in enumerate(rows):
        log(r, step=i)
    t1 = pc()
    run.finish()
    t2 = pc()
    return {
        "run_id": run.id,
        "points": steps * INGEST_KEYS,
        "loop_s": t1 - t0,
        "finish_s": t2 - t1,
        "cpu_s": time.process_time() - c0,
        "t_go": t_go,
        "t_end": time.time(),
    }


def _create_payload(i: int) -> tuple[dict, dict, dict]:
    r = bt.make_runs(1, seed=1000 + i)[0]
    tags = dict(r["tags"], owner="bench", purpose="server-create")  # 5 tags
    return r["config"], tags, r["metrics"]


def _bench_runs(spec: dict, prefix: str) -> Callable[[int], Any]:
    """``new(i)``: a NewRun of run i (20 config keys, 5 tags) with its 10 final metrics
    and its finished status, as the create benchmarks send it."""
    from runtrack.entities import MetricsRecord, NewRun, OpRecord, RunBatch, RunSpec, StatusOp
    from runtrack.ids import new_run_id, new_stream_id

    payloads = [_create_payload(spec["k"] * 100 + i) for i in range(50)]

    def new(i: int) -> NewRun:
        cfg, tags, metrics = payloads[i % len(payloads)]
        rid = new_run_id()
        t = time.time()
        run = RunSpec(
            id=rid,
            project=spec["project"],
            name=f"{prefix}-{spec['k']}-{i}",
            user="bench",
            host="bench",
            start_time=t,
            config=cfg,
            tags=tags,
        )
        recs = (
            MetricsRecord(1, 0, t, tuple(metrics), array("d", metrics.values())),
            OpRecord(2, StatusOp("finished", t)),
        )
        return NewRun(run, RunBatch(rid, new_stream_id(), recs))

    return new


def child_create_rest(spec: dict) -> dict:
    from runtrack.store.rest import RestStore

    st = RestStore(spec["url"])
    new = _bench_runs(spec, "rc")

    def one(i: int) -> None:
        item = new(i)
        st.create_run(item.spec)
        st.write(item.batch)

    one(-1)  # connection and imports warm
    return _create_for(spec["seconds"], one)


def child_create_bulk(spec: dict) -> dict:
    from runtrack.store.rest import RestStore

    st = RestStore(spec["url"])
    new = _bench_runs(spec, "rb")
    per = int(spec["per"])

    def some(n: int) -> int:
        st.create_runs([new(n + j) for j in range(per)])
        return per

    some(-per)  # connection and imports warm
    return _create_for(spec["seconds"], some)


def child_create_sdk(spec: dict) -> dict:
    import runtrack

    payloads = [_create_payload(spec["k"] * 100 + i) for i in range(50)]

    def one(i: int) -> None:
        cfg, tags, metrics = payloads[i % len(payloads)]
        run = runtrack.init(
            project=spec["project"], name=f"sdk-{spec['k']}-{i}", config=cfg, tags=tags
        )
        run.log(metrics, step=0)
        run.finish()

    one(-1)  # imports, connection, the per-process package scan
    return _create_for(spec["seconds"], one)


def load_value(step: int, j: int) -> float:
    return step * 0.001 + j


def child_load(spec: dict) -> dict:
    import httpx2

    import runtrack
    from runtrack.store import rest

    writes: list[float] = []
    write_records: list[int] = []
    write_errors: list[str] = []
    statuses: dict[str, int] = {}
    transport_errors: list[str] = []
    orig_write = rest.RestStore.write

    def timed_write(self, batch):  # the batch POST as the shipper makes it
        t = time.perf_counter()
        try:
            res = orig_write(self, batch)
        except Exception as exc:
            write_errors.append(repr(exc)[:300])
            raise
        writes.append(time.perf_counter() - t)
        write_records.append(len(batch.records))
        return res

    rest.RestStore.write = timed_write
    orig_request = httpx2.Client.request

    def counted_request(self, method, url, *a, **kw):  # every HTTP exchange of the SDK
        try:
            resp = orig_request(self, method, url, *a, **kw)
        except Exception as exc:
            transport_errors.append(repr(exc)[:300])
            raise
        key = str(resp.status_code)
        statuses[key] = statuses.get(key, 0) + 1
        return resp

    httpx2.Client.request = counted_request
    keys = [f"load/m{j}" for j in range(LOAD_KEYS)]
    run = runtrack.init(project="bench-load", name=f"load-{spec['k']}", config={"k": spec["k"]})
    time.sleep(spec["settle"])
    t_go = _ready_and_wait()
    pause = spec["pause"]
    pc = time.perf_counter
    log = run.log
    worst = 0.0
    total_log = 0.0
    t0 = pc()
    step = 0
    end = t0 + spec["seconds"]
    while True:
        s = pc()
        if s >= end:
            break
        log({k: step * 0.001 + j for j, k in enumerate(keys)}, step=step)
        d = pc() - s
        total_log += d
        if d > worst:
            worst = d
        step += 1
        if pause:
            time.sleep(pause)
    t_loop = pc() - t0
    t1 = pc()
    run.finish()
    fin = pc() - t1
    return {
        "run_id": run.id,
        "steps": step,
        "keys": keys,
        "loop_s": t_loop,
        "finish_s": fin,
        "log_mean_us": total_log / max(step, 1) * 1e6,
        "log_max_ms": worst * 1e3,
        "writes_s": writes,
        "write_records": write_records,
        "write_errors": write_errors,
        "transport_errors": transport_errors,
        "statuses": statuses,
        "t_go": t_go,
        "t_end": time.time(),
    }


CHILDREN = {
    "log": child_log,
    "ingest": child_ingest,
    "create_rest": child_create_rest,
    "create_bulk": child_create_bulk,
    "create_sdk": child_create_sdk,
    "load": child_load,
}


# --------------------------------------------------------------------------------------
# the measurements
# --------------------------------------------------------------------------------------
def db_label(kind: str) -> str:
    return "PostgreSQL" if kind == "pg" else "SQLite"


def bench_log(res: Results, args, work: str) -> None:
    print("== run.log(2 metrics) with RUNTRACK_URL set", flush=True)
    db = Db("pg" if "pg" in args.dbs else "sqlite", args.pg, work)
    srv = start_server(os.path.join(work, "log-server"), db.url)
    try:
        rs = []
        for r in range(args.reps):
            d = os.path.join(work, f"log-client{r}")
            c = Child(
                "log",
                {"calls": args.log_calls, "settle": args.settle},
                client_env(srv.url, d),
                work,
                os.path.join(work, f"log{r}.err"),
            )
            c.ready()
            c.go()
            rs.append(c.result())
            shutil.rmtree(d, ignore_errors=True)
        g = lambda k: [x[k] for x in rs]  # noqa: E731
        ok = all(x["exact"] and x["stored"] == [args.log_calls] * 2 for x in rs)
        lbl = f"[server on {db_label(db.kind)}]"
        res.add(
            f"remote run.log(2 metrics): median per call ({args.log_calls:,} calls) {lbl}",
            g("median_us"),
            "us",
            target=10,
            stored_exactly=ok,
            store=rs[0]["store"],
        )
        res.add("remote run.log: p99 per call", g("p99_us"), "us")
        res.add("remote run.log: p99.9 per call", g("p999_us"), "us")
        res.add("remote run.log: max per call", g("max_us"), "us")
        res.add("remote run.log: mean per call (loop time / calls)", g("mean_us"), "us")
        res.add("remote run.log: process CPU per call (all threads)", g("cpu_per_call_us"), "us")
        res.add("remote run.log: finish() after the loop (store has it all)", g("finish_s"), "s")
        if not ok:
            print("  !! points read back through the server differ", flush=True)
    finally:
        srv.kill()
        db.close()


def count_points(url: str, run_id: str) -> tuple[int, str]:
    from runtrack.store.rest import RestStore

    st = RestStore(url, read_timeout=600)
    try:
        h = st.get_history(run_id)
        return sum(len(s.value) for k, s in h.items() if not k.startswith("system/")), st.get_run(
            run_id
        ).status
    finally:
        st.close()


def bench_ingest(res: Results, args, work: str, kind: str) -> None:
    k = args.ingest_clients
    print(
        f"== ingestion through one server process [{db_label(kind)}]: {k} clients x "
        f"{args.ingest_steps:,} x run.log({INGEST_KEYS} metrics)",
        flush=True,
    )
    rows = []
    for r in range(args.ingest_reps):
        db = Db(kind, args.pg, work)
        sdir = os.path.join(work, f"ingest-server-{kind}{r}")
        srv = start_server(sdir, db.url)
        try:
            pids = tree(srv.proc.pid)
            kids = [
                Child(
                    "ingest",
                    {"steps": args.ingest_steps, "k": i, "settle": args.settle},
                    client_env(srv.url, os.path.join(work, f"ingest-c{r}-{i}")),
                    work,
                    os.path.join(work, f"ingest{r}-{i}.err"),
                )
                for i in range(k)
            ]
            g = run_group(kids, pids, kind == "pg")
            stored, statuses = 0, set()
            for x in g["results"]:
                n, status = count_points(srv.url, x["run_id"])
                stored += n
                statuses.add(status)
            sent = sum(x["points"] for x in g["results"])
            g.update(stored=stored, sent=sent, statuses=sorted(statuses))
            g["server_log_errors"] = srv.log().count("Traceback")
            rows.append(g)
            print(
                f"  rep {r}: {stored:,} points stored of {sent:,} in {g['wall']:.2f} s; server CPU "
                f"{g['server_cpu']:.2f} s, PostgreSQL CPU {g['pg_cpu']}",
                flush=True,
            )
        finally:
            srv.kill()
            db.close()
            for i in range(k):
                shutil.rmtree(os.path.join(work, f"ingest-c{r}-{i}"), ignore_errors=True)
            shutil.rmtree(sdir, ignore_errors=True)
    lbl = f"[{db_label(kind)}, {k} clients]"
    pts = rows[0]["sent"]
    res.add(
        f"ingestion through one server process, {pts:,} points, finish included {lbl}",
        [x["stored"] / x["wall"] for x in rows],
        "points/s",
        target=500_000,
        better="higher",
        stored=[x["stored"] for x in rows],
        sent=[x["sent"] for x in rows],
        exact=all(x["stored"] == x["sent"] for x in rows),
        statuses=[x["statuses"] for x in rows],
        server_tracebacks=[x["server_log_errors"] for x in rows],
    )
    res.add(
        f"ingestion: server process CPU per point {lbl}",
        [x["server_cpu"] / x["stored"] * 1e6 for x in rows],
        "us",
    )
    if kind == "pg":
        res.add(
            f"ingestion: PostgreSQL CPU per point (all postgres processes) {lbl}",
            [x["pg_cpu"] / x["stored"] * 1e6 for x in rows],
            "us",
        )
    res.add(
        f"ingestion: clients' CPU per point (all threads) {lbl}",
        [sum(r["cpu_s"] for r in x["results"]) / x["stored"] * 1e6 for x in rows],
        "us",
    )
    res.add(
        f"ingestion: clients' loop only (data in the journals) {lbl}",
        [
            x["sent"]
            / (
                max(r["t_go"] + r["loop_s"] for r in x["results"])
                - min(r["t_go"] for r in x["results"])
            )
            for x in rows
        ],
        "points/s",
        better="higher",
    )


def bench_create(res: Results, args, work: str, kind: str) -> None:
    k = args.create_clients
    secs = args.create_seconds
    print(
        f"== run creation through the server [{db_label(kind)}]: {k} clients x {secs:.0f} s",
        flush=True,
    )
    repo = make_git_repo(work)
    lean = {
        "RUNTRACK_CAPTURE_GIT": "0",
        "RUNTRACK_CAPTURE_PACKAGES": "0",
        "RUNTRACK_SYSTEM_METRICS_INTERVAL": "0",
        "RUNTRACK_CONSOLE": "0",
    }
    variants = [
        ("create_rest", "RestStore.create_run + one write (metrics, status)", None, {}),
        (
            "create_bulk",
            "RestStore.create_runs, one run with its records per request",
            None,
            {"per": 1},
        ),
        (
            "create_bulk",
            "RestStore.create_runs, 50 runs with their records per request",
            None,
            {"per": 50},
        ),
        ("create_sdk", "SDK init(config, tags) + log + finish(), default settings", {}, {}),
        (
            "create_sdk",
            "SDK init + log + finish(), no git/packages/system-metrics/console capture",
            lean,
            {},
        ),
    ]
    only = set(args.create_variants.split(",")) if args.create_variants else None
    for n_variant, (mode, what, extra, spec_extra) in enumerate(variants):
        if only is not None and str(n_variant) not in only:
            continue
        rows = []
        for r in range(args.create_reps):
            db = Db(kind, args.pg, work)
            sdir = os.path.join(work, f"create-server-{kind}")
            srv = start_server(sdir, db.url)
            try:
                pids = tree(srv.proc.pid)
                kids = []
                for i in range(k):
                    d = os.path.join(work, f"create-c{i}")
                    kids.append(
                        Child(
                            mode,
                            {
                                "url": srv.url,
                                "project": "bench-create",
                                "k": i,
                                "seconds": secs,
                                **spec_extra,
                            },
                            client_env(srv.url, d, extra),
                            repo,
                            os.path.join(work, f"create{i}.err"),
                        )
                    )
                g = run_group(kids, pids, kind == "pg")
                from runtrack.store.rest import RestStore

                st = RestStore(srv.url)
                counted = st.count_runs("bench-create", "run.status = 'finished'")
                st.close()
                g["counted"] = counted
                rows.append(g)
                n = sum(x["runs"] for x in g["results"])
                print(
                    f"  {what}, rep {r}: {n} runs ({counted} finished in the store, incl. the "
                    f"{k} warm-up runs) in {g['wall']:.2f} s",
                    flush=True,
                )
            finally:
                srv.kill()
                db.close()
                shutil.rmtree(sdir, ignore_errors=True)
                for i in range(k):
                    shutil.rmtree(os.path.join(work, f"create-c{i}"), ignore_errors=True)
        lbl = f"[{db_label(kind)}, {k} clients]"
        tot = [sum(x["runs"] for x in g["results"]) for g in rows]
        res.add(
            f"create run (20 config, 10 metrics, 5 tags), {what}: runs/s overall {lbl}",
            [n / g["wall"] for n, g in zip(tot, rows, strict=True)],
            "runs/s",
            target=500,
            better="higher",
            runs=tot,
            finished_in_store=[g["counted"] for g in rows],
        )
        res.add(
            f"  same: runs/s per client (median of the clients) {lbl}",
            [statistics.median(x["runs"] / x["wall"] for x in g["results"]) for g in rows],
            "runs/s",
            better="higher",
        )
        res.add(
            f"  same: per run, p50 latency in a client {lbl}",
            [statistics.median(x["p50_ms"] for x in g["results"]) for g in rows],
            "ms",
            p99_ms=[statistics.median(x["p99_ms"] for x in g["results"]) for g in rows],
        )
        res.add(
            f"  same: server process CPU per run {lbl}",
            [g["server_cpu"] / n * 1e3 for n, g in zip(tot, rows, strict=True)],
            "ms",
        )
        res.add(
            f"  same: clients' CPU per run {lbl}",
            [
                sum(x["cpu_s"] for x in g["results"]) / n * 1e3
                for n, g in zip(tot, rows, strict=True)
            ],
            "ms",
        )
        if kind == "pg":
            res.add(
                f"  same: PostgreSQL CPU per run {lbl}",
                [g["pg_cpu"] / n * 1e3 for n, g in zip(tot, rows, strict=True)],
                "ms",
            )


def make_git_repo(work: str) -> str:
    """A small committed repository: the clients run in it, as a training script would
    (so the SDK's git provenance capture has something to capture)."""
    repo = os.path.join(work, "repo")
    if os.path.isdir(repo):
        return repo
    os.makedirs(repo)
    git = ["git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    with open(os.path.join(repo, "train.py"), "w") as f:
        f.write("import runtrack\n" * 50)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "train"], check=True)
    return repo


def bench_search(res: Results, args, work: str) -> None:
    n = args.runs
    print(f"== {n:,} runs on PostgreSQL, searched through the server", flush=True)
    runs = bt.make_runs(n)
    expected = bt.expected_query(runs)
    del runs
    path, built = bt.cached_sqlite(n, "fast", False)
    if built is not None:
        res.add(f"populate {n:,} runs into SQLite (fast path, verified; setup)", [built], "s")
    url, name, secs = bt.pg_database(args.pg, path)
    res.add(f"PostgreSQL: create db + COPY {n:,} runs + VACUUM ANALYZE (setup)", [secs], "s")
    srv = None
    try:
        from runtrack.store.rest import RestStore
        from runtrack.store.sql.store import SqlStore

        srv = start_server(os.path.join(work, "search-server"), url)
        pids = tree(srv.proc.pid)
        reps = args.search_reps
        pc = time.perf_counter

        def timed(fn, reps):
            vals, out = [], None
            fn()  # warm-up (plans, caches, connections)
            for _ in range(reps):
                t0 = pc()
                out = fn()
                vals.append((pc() - t0) * 1e3)
            return vals, out

        rs = RestStore(srv.url)
        c0 = cpu_of(pids)
        v, got = timed(
            lambda: rs.search_runs(bt.PROJECT, bt.QUERY_FILTER, bt.QUERY_ORDER, 100), reps
        )
        scpu = (cpu_of(pids) - c0) / (reps + 1) * 1e3
        ids = [r.id for r in got]
        res.add(
            f"search {n:,} runs through the server [PostgreSQL]: filter config+metric, order by "
            "metric, top 100 (RestStore.search_runs)",
            v,
            "ms",
            target=100,
            rows=len(got),
            correct=ids == expected,
            server_cpu_ms_per_query=scpu,
        )
        res.add("  same: server process CPU per query", [scpu], "ms")
        v2, _ = timed(
            lambda: rs.search_runs(
                bt.PROJECT, "config.lr < 1e-3 and metrics.auc > 0.6", bt.QUERY_ORDER, 100
            ),
            reps,
        )
        res.add("  through the server: config.lr < 1e-3 and metrics.auc > 0.6, top 100", v2, "ms")
        import runtrack

        api = runtrack.Api(srv.url)
        v3, got3 = timed(
            lambda: api.runs(
                bt.PROJECT, filter=bt.QUERY_FILTER, order_by=bt.QUERY_ORDER, limit=100
            ),
            reps,
        )
        res.add(
            "  through the server with the SDK: Api(url).runs(...) (same query)",
            v3,
            "ms",
            correct=[r.id for r in got3] == expected,
        )
        sq = SqlStore(url)
        v4, got4 = timed(
            lambda: sq.search_runs(bt.PROJECT, bt.QUERY_FILTER, bt.QUERY_ORDER, 100), reps
        )
        res.add(
            "  reference: SqlStore.search_runs in-process on the same database (no server)",
            v4,
            "ms",
            correct=[r.id for r in got4] == expected,
        )
        v5, got5 = timed(lambda: rs.count_runs(bt.PROJECT, bt.QUERY_FILTER), max(3, reps // 3))
        res.add("  through the server: count_runs of the filter", v5, "ms", count=got5)
        lv = []
        rows = 0
        for _ in range(args.list_reps):
            t0 = pc()
            allr = rs.search_runs(bt.PROJECT, None, (), None)
            lv.append(pc() - t0)
            rows = len(allr)
            del allr
        res.add(f"  through the server: list all {n:,} runs (one page)", lv, "s", rows=rows)
        sq.close()
        rs.close()
        bt.close_stores()
    finally:
        if srv is not None:
            srv.kill()
        bt.pg_drop(args.pg, name)


def bench_footprint(res: Results, args, work: str) -> None:
    print("== runtrack server: start to /health, idle memory", flush=True)
    # one discarded start: byte-compiles the server's modules into the .pyc cache
    s = start_server(os.path.join(work, "fp-warm"), None)
    s.kill()
    for kind in args.dbs:
        db = Db(kind, args.pg, work)
        try:
            starts = []
            mem = []
            nprocs = []
            idle_cpu = []
            floors = []
            for r in range(args.footprint_reps):
                sdir = os.path.join(work, f"fp-{kind}{r}")
                srv = start_server(sdir, db.url)
                try:
                    starts.append(srv.start_s)
                    warm_server(srv.url)
                    time.sleep(2.0)
                    pids = tree(srv.proc.pid)
                    nprocs.append(len(pids))
                    c0 = cpu_of(pids)
                    time.sleep(3.0)
                    idle_cpu.append((cpu_of(pids) - c0) / 3.0 * 100)
                    mem.append([memory(p) for p in pids])
                    if r == 0:
                        floors.append(request_floor(srv.url, pids))
                finally:
                    srv.kill()
                    shutil.rmtree(sdir, ignore_errors=True)
            lbl = f"[{db_label(kind)}]"
            res.add(f"runtrack server: exec to /health answering {lbl}", starts, "s", target=2.0)
            res.add(f"  server processes {lbl}", nprocs, "procs")
            res.add(
                f"  idle RSS per server process after warm-up {lbl}",
                [max(m["rss_mib"] for m in ms) for ms in mem],
                "MiB",
                target=200,
            )
            res.add(
                f"  idle PSS per server process after warm-up {lbl}",
                [max(m["pss_mib"] for m in ms) for ms in mem],
                "MiB",
            )
            res.add(
                f"  idle USS (private) per server process {lbl}",
                [max(m["uss_mib"] for m in ms) for ms in mem],
                "MiB",
            )
            res.add(f"  idle CPU of the server {lbl}", idle_cpu, "% of a core")
            for name in floors[0]:
                res.add(
                    f"  server CPU per request, {name}, one keep-alive client {lbl}",
                    [floors[0][name]["server_cpu_us"]],
                    "us",
                    wall_us=floors[0][name]["wall_us"],
                    requests=floors[0][name]["n"],
                )
        finally:
            db.close()


def request_floor(url: str, pids: list[int], n: int = 2000) -> dict:
    """What one request costs the server when it does (almost) nothing: GET /health (the
    HTTP stack: uvicorn + h11, Starlette middleware, FastAPI routing and dependencies), and
    GET /api/v1/runs/{id} (the same plus one database read and the wire format)."""
    import httpx2

    from runtrack.store.rest import RestStore

    st = RestStore(url)
    rid = st.search_runs("warm", None, (), 1)[0].id
    out = {}
    with httpx2.Client(base_url=url) as c:
        for name, fn in (
            ("GET /health", lambda: c.get("/health")),
            ("GET /api/v1/runs/{id} (RestStore.get_run)", lambda: st.get_run(rid)),
        ):
            for _ in range(100):
                fn()
            c0 = cpu_of(pids)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            wall = time.perf_counter() - t0
            out[name] = {
                "n": n,
                "server_cpu_us": (cpu_of(pids) - c0) / n * 1e6,
                "wall_us": wall / n * 1e6,
            }
    st.close()
    return out


def warm_server(url: str) -> None:
    """A little of everything: create runs, write batches, search, read history."""
    from runtrack.entities import MetricsRecord, OpRecord, RunBatch, RunSpec, StatusOp
    from runtrack.ids import new_run_id, new_stream_id
    from runtrack.store.rest import RestStore

    st = RestStore(url)
    try:
        for i in range(20):
            cfg, tags, metrics = _create_payload(i)
            rid = new_run_id()
            t = time.time()
            st.create_run(RunSpec(rid, "warm", f"w{i}", "bench", "bench", t, cfg, tags))
            keys = tuple(metrics)
            recs = [
                MetricsRecord(s + 1, s, t, keys, array("d", [v + s for v in metrics.values()]))
                for s in range(1000)
            ]
            recs.append(OpRecord(1001, StatusOp("finished", t)))
            st.write(RunBatch(rid, new_stream_id(), tuple(recs)))
            st.get_history(rid)
        st.search_runs("warm", "metrics.auc > 0.5", ["metrics.auc desc"], 10)
        st.count_runs("warm")
        st.list_projects()
    finally:
        st.close()


def bench_load(res: Results, args, work: str) -> None:
    k = args.load_clients
    print(
        f"== load: {k} clients x {args.load_seconds:.0f} s, 2 server processes, one PostgreSQL "
        f"database, one artifact directory (pause {args.load_pause} s between calls)",
        flush=True,
    )
    db = Db("pg", args.pg, work)
    arts = os.path.join(work, "load-artifacts")
    servers = []
    try:
        for i in range(2):
            servers.append(start_server(os.path.join(work, f"load-server{i}"), db.url, arts))
        pids = [p for s in servers for p in tree(s.proc.pid)]
        per_server = [tree(s.proc.pid) for s in servers]
        kids = []
        for i in range(k):
            srv = servers[i % 2]
            kids.append(
                Child(
                    "load",
                    {
                        "k": i,
                        "seconds": args.load_seconds,
                        "pause": args.load_pause,
                        "settle": args.settle,
                    },
                    client_env(srv.url, os.path.join(work, f"load-c{i}")),
                    work,
                    os.path.join(work, f"load{i}.err"),
                )
            )
        for c in kids:
            c.ready()
        s0 = [cpu_of(p) for p in per_server]
        p0 = postgres_cpu()
        la = loadavg()
        for c in kids:
            c.go()
        results = [c.result(timeout=args.load_seconds * 10 + 600) for c in kids]
        s1 = [cpu_of(p) for p in per_server]
        pgc = pg_cpu_delta(p0)
        start = min(r["t_go"] for r in results)
        end = max(r["t_end"] for r in results)
        wall = end - start
        # exact counts: every point of every client, read back through the servers
        from runtrack.store.rest import RestStore

        bad = []
        stored = 0
        t0 = time.perf_counter()
        for i, r in enumerate(results):
            st = RestStore(servers[(i + 1) % 2].url, read_timeout=600)  # the other server
            try:
                h = st.get_history(r["run_id"], r["keys"])
                status = st.get_run(r["run_id"]).status
            finally:
                st.close()
            n = r["steps"]
            steps = list(range(n))
            for j, key in enumerate(r["keys"]):
                s = h.get(key)
                if s is None:
                    bad.append((i, key, "missing"))
                    continue
                stored += len(s.value)
                if list(s.step) != steps:
                    bad.append((i, key, f"steps: {len(s.step)} stored of {n}"))
                elif list(s.value) != [load_value(x, j) for x in steps]:
                    bad.append((i, key, "values differ"))
            if status != "finished":
                bad.append((i, "status", status))
        verify_s = time.perf_counter() - t0
        sent = sum(r["steps"] * LOAD_KEYS for r in results)
        lat = sorted(x for r in results for x in r["writes_s"])
        recs = [x for r in results for x in r["write_records"]]
        statuses: dict[str, int] = {}
        for r in results:
            for code, c in r["statuses"].items():
                statuses[code] = statuses.get(code, 0) + c
        errors = sum(len(r["write_errors"]) + len(r["transport_errors"]) for r in results)
        errors += sum(c for code, c in statuses.items() if not code.startswith("2"))
        tracebacks = sum(s.log().count("Traceback") for s in servers)
        server_warnings = [
            line[:400] for s in servers for line in s.log().splitlines() if " answered " in line
        ]
        lbl = f"[{k} clients, 2 servers, PostgreSQL, {args.load_seconds:.0f} s]"
        res.add(
            f"load: errors (failed writes, transport errors, non-2xx answers) {lbl}",
            [errors],
            "errors",
            target=0,
            statuses=statuses,
            server_tracebacks=tracebacks,
            server_warnings=server_warnings,
            write_errors=[e for r in results for e in r["write_errors"]][:20],
            transport_errors=[e for r in results for e in r["transport_errors"]][:20],
        )
        res.add(
            f"load: points stored exactly once (read back) of points logged {lbl}",
            [stored / sent if sent else 0.0],
            "fraction",
            target=1.0,
            better="higher",
            sent=sent,
            stored=stored,
            mismatches=bad[:50],
            exact=not bad and stored == sent,
            verify_s=verify_s,
        )
        res.add(
            f"load: throughput, points stored/s (first GO to last finish()) {lbl}",
            [stored / wall],
            "points/s",
            better="higher",
            wall_s=wall,
            steps_per_client=[r["steps"] for r in results],
        )
        res.add(
            f"load: batch POST latency p50 ({len(lat):,} POSTs) {lbl}",
            [pct(lat, 0.5) * 1e3],
            "ms",
            records_per_post_median=statistics.median(recs) if recs else None,
        )
        res.add(f"load: batch POST latency p99 {lbl}", [pct(lat, 0.99) * 1e3], "ms")
        res.add(f"load: batch POST latency max {lbl}", [lat[-1] * 1e3 if lat else None], "ms")
        res.add(
            f"load: run.log() worst call in any client {lbl}",
            [max(r["log_max_ms"] for r in results)],
            "ms",
            mean_us=statistics.median(r["log_mean_us"] for r in results),
        )
        res.add(
            f"load: finish() per client (median) {lbl}",
            [statistics.median(r["finish_s"] for r in results)],
            "s",
        )
        res.add(
            f"load: server CPU per point (both servers) {lbl}",
            [(sum(s1) - sum(s0)) / stored * 1e6 if stored else None],
            "us",
            per_server_cpu_s=[b - a for a, b in zip(s0, s1, strict=True)],
            pg_cpu_s=pgc,
            load_at_go=la,
        )
        print(
            f"  verified {stored:,} of {sent:,} points in {verify_s:.1f} s; {len(bad)} mismatches",
            flush=True,
        )
        del pids
    finally:
        for s in servers:
            s.kill()
        db.close()


# --------------------------------------------------------------------------------------
# profile: the server in-process, under cProfile
# --------------------------------------------------------------------------------------
def bench_profile(res: Results, args, work: str) -> dict:
    import cProfile
    import pstats
    import threading

    import uvicorn

    import runtrack.server._group as group_commit
    import runtrack.server.routers.runs as runs_router
    from runtrack.server.app import create_app
    from runtrack.server.main import build_config

    async def inline(fn, *a, **kw):  # the whole request in the profiled thread
        return fn(*a, **kw)

    runs_router.run_in_threadpool = inline
    group_commit.run_in_threadpool = inline
    out: dict = {}
    scenarios = [
        ("ingest", "ingest: 2 clients, run.log(100 metrics), 10,000-record batches"),
        (
            "create_bulk",
            f"create: {args.create_clients} clients, RestStore.create_runs, one run per request",
        ),
        ("load", "small batches: 10 clients, run.log(10 metrics) every ~1 ms, 10 s"),
    ]
    for mode, label in scenarios:
        db = Db("pg", args.pg, work)
        try:
            config = build_config(
                host="127.0.0.1",
                db_url=db.url,
                artifacts=os.path.join(work, "prof-artifacts"),
                auth=None,
                insecure_no_auth=False,
            )
            app = create_app(config)
            port = bt_free_port()
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host="127.0.0.1",
                    port=port,
                    log_level="warning",
                    access_log=False,
                    server_header=False,
                    proxy_headers=False,
                )
            )
            url = f"http://127.0.0.1:{port}"
            box: dict = {}

            def drive(mode=mode, url=url, server=server, box=box) -> None:
                try:
                    while not server.started:
                        time.sleep(0.05)
                    if mode == "ingest":
                        kids = [
                            Child(
                                "ingest",
                                {"steps": args.profile_steps, "k": i, "settle": 0.5},
                                client_env(url, os.path.join(work, f"prof-c{i}")),
                                work,
                                os.path.join(work, f"prof{i}.err"),
                            )
                            for i in range(2)
                        ]
                    elif mode == "load":
                        kids = [
                            Child(
                                "load",
                                {"k": i, "seconds": 10.0, "pause": 0.001, "settle": 0.5},
                                client_env(url, os.path.join(work, f"prof-c{i}")),
                                work,
                                os.path.join(work, f"prof{i}.err"),
                            )
                            for i in range(10)
                        ]
                    else:
                        kids = [
                            Child(
                                "create_bulk",
                                {"url": url, "project": "prof", "k": i, "seconds": 5.0, "per": 1},
                                client_env(url, os.path.join(work, f"prof-c{i}")),
                                work,
                                os.path.join(work, f"prof{i}.err"),
                            )
                            for i in range(args.create_clients)
                        ]
                    box["g"] = run_group(kids, [os.getpid()], True)
                except Exception as exc:
                    box["error"] = repr(exc)
                finally:
                    server.should_exit = True

            th = threading.Thread(target=drive, daemon=True)
            th.start()
            prof = cProfile.Profile()
            prof.enable()
            server.run()
            prof.disable()
            th.join()
            if "error" in box:
                raise RuntimeError(box["error"])
            g = box["g"]
            st = pstats.Stats(prof)
            total = sum(v[2] for v in st.stats.values())  # tottime
            groups: dict[str, float] = {}
            for (file, _line, _fn), v in st.stats.items():
                groups[_family(file)] = groups.get(_family(file), 0.0) + v[2]
            top = sorted(
                (
                    (v[3], v[2], v[1], f"{os.path.basename(f)}:{ln}({fn})", _family(f))
                    for (f, ln, fn), v in st.stats.items()
                ),
                reverse=True,
            )
            tot_self = sorted(
                (
                    (v[2], v[1], f"{os.path.basename(f)}:{ln}({fn})", _family(f))
                    for (f, ln, fn), v in st.stats.items()
                ),
                reverse=True,
            )[:25]
            if mode == "ingest":
                units = sum(r["points"] for r in g["results"])
                unit = "point"
            elif mode == "load":
                units = sum(len(r["writes_s"]) for r in g["results"])
                unit = "batch POST"
            else:
                units = sum(r["runs"] for r in g["results"]) + args.create_clients
                unit = "run"
            bd = _breakdown(st, total)
            out[label] = {
                "breakdown_s": bd,
                "breakdown_per_unit_us": {k: v / units * 1e6 for k, v in bd.items()},
                "units": units,
                "unit": unit,
                "profiled_s": total,
                "wall_s": g["wall"],
                "by_family_s": dict(sorted(groups.items(), key=lambda x: -x[1])),
                "by_family_share": {
                    k: v / total for k, v in sorted(groups.items(), key=lambda x: -x[1])
                },
                "top_cumulative": [
                    {"cum_s": c, "self_s": s, "calls": n, "fn": fn, "family": fam}
                    for c, s, n, fn, fam in top[:40]
                ],
                "top_self": [
                    {"self_s": s, "calls": n, "fn": fn, "family": fam} for s, n, fn, fam in tot_self
                ],
            }
            print(
                f"  profile {label}: {units:,} {unit}s, {total:.2f} s in the server thread "
                f"({total / units * 1e6:.2f} us/{unit})",
                flush=True,
            )
            for part, secs in bd.items():
                print(
                    f"     {part:32s} {secs:7.2f} s  {secs / units * 1e6:10.1f} us/{unit}",
                    flush=True,
                )
            for fam, secs in list(out[label]["by_family_s"].items())[:10]:
                print(f"     {fam:32s} {secs:7.2f} s  {secs / total:6.1%}", flush=True)
            for row in out[label]["top_cumulative"][:25]:
                print(
                    f"     cum {row['cum_s']:7.2f}  self {row['self_s']:6.2f}  "
                    f"{row['calls']:>8}  {row['fn']}",
                    flush=True,
                )
        finally:
            db.close()
            for i in range(max(10, args.create_clients)):
                shutil.rmtree(os.path.join(work, f"prof-c{i}"), ignore_errors=True)
    return out


def _breakdown(st, total: float) -> dict[str, float]:
    """The server thread's time: idle in the event loop, waiting for the database (psycopg
    blocked on its socket), the store's own Python (SqlStore, SQLAlchemy, the driver),
    and everything else of a request (HTTP parsing, ASGI, FastAPI/Starlette, middleware,
    msgpack, the wire format)."""
    idle = dbwait = store = 0.0
    for (f, _ln, fn), (_cc, _nc, tt, ct, callers) in st.stats.items():
        if f.endswith("selectors.py") and fn == "select":
            for (cf, _cl, _cfn), v in callers.items():
                if "asyncio" in cf:
                    idle += v[3]
                else:
                    dbwait += v[3]
        elif "psycopg" in f and f.endswith("connection.py") and fn == "wait":
            dbwait += tt
        elif fn == "inline" and f.endswith("server_load.py"):
            store += ct
    return {
        "event loop idle": idle,
        "waiting for the database": dbwait,
        "store CPU (SqlStore+SQLAlchemy+driver)": store - dbwait,
        "HTTP/ASGI/FastAPI/wire format": total - idle - store,
    }


def bt_free_port() -> int:
    from runtrack.testing.live import free_port

    return free_port()


def _family(path: str) -> str:
    """Which layer a profiled function belongs to."""
    p = path.replace("\\", "/")
    for key, name in (
        ("/runtrack/store/sql/", "runtrack.store.sql (SqlStore)"),
        ("/runtrack/server/", "runtrack.server (routes, auth, io)"),
        ("/runtrack/protocol", "runtrack.protocol (wire format)"),
        ("/runtrack/", "runtrack (other)"),
        ("/sqlalchemy/", "sqlalchemy"),
        ("/psycopg", "psycopg (driver)"),
        ("/uvicorn/", "uvicorn"),
        ("/h11/", "h11 (HTTP parser)"),
        ("/starlette/", "starlette"),
        ("/fastapi/", "fastapi"),
        ("/anyio/", "anyio"),
        ("/pydantic", "pydantic"),
        ("/asyncio/", "asyncio"),
        ("msgpack", "msgpack"),
        ("/json/", "json"),
        ("/logging/", "logging"),
    ):
        if key in p:
            return name
    if p.startswith("~") or p.startswith("<"):
        return "builtins (C: I/O, select, ...)"
    return "other stdlib"


# --------------------------------------------------------------------------------------
# --report: Markdown tables for benchmarks/README.md
# --------------------------------------------------------------------------------------
SERVER_ROWS = [
    # (label, regex on the MLflow harness's metric name)
    (
        "one log_metric call (MLflow: sync, to the server; runtrack: journal)",
        r"^log_metric sync: per call$",
    ),
    ("p99 of one log_metric call", r"^log_metric sync: p99"),
    ("server CPU per log_metric call", r"^log_metric sync: server CPU"),
    ("async log_metric, per call (loop only)", r"^log_metric async: per call"),
    ("async logging incl. flush", r"^log_metric async: points/s incl"),
    ("log_metrics, 1,000 keys per call", r"^log_metrics 1000 keys"),
    ("log_batch, 1,000 steps per call", r"^log_batch 1000 steps"),
    ("log_batch: server CPU per point", r"^log_batch: server CPU"),
    ("create run (20 params, 10 metrics, 5 tags), one client", r"^create run \(20"),
    ("create run: client CPU per run", r"^create run: client CPU"),
    ("create run: server CPU per run", r"^create run: server CPU"),
    ("start_run + end_run pair", r"^start_run\+end_run pair"),
    ("search: filtered + sorted top 100", r"^search filtered\+sorted top100"),
    ("search: fetch all runs", r"^search unfiltered, fetch all"),
    ("history write via log_batch", r"^history: write"),
    ("get_metric_history", r"^history: get_metric_history"),
    ("cold script: import + connect + run + 1 metric + end", r"^cold script: import"),
    ("server: /health answers after", r"^server: /health answers"),
    ("server: processes", r"^server: processes"),
    ("server: CPU seconds spent starting", r"^server: CPU seconds"),
    ("setup (new store; server: start until CPU quiet)", r"^setup total"),
    ("server RSS after the tests (process tree)", r"^server RSS"),
    ("server PSS after the tests (process tree)", r"^server PSS"),
]


def report(targets: str | None, anchor: str | None) -> str:
    import report_tables as rt

    out = []
    if targets:
        out.append(rt.targets_table(targets))
        with open(targets) as f:
            data = json.load(f)
        if data.get("env"):
            e = data["env"]
            out.append(
                f"\nHTTP stack: uvicorn {e.get('uvicorn')} ({e.get('uvicorn_http_parser')}, "
                f"{e.get('uvicorn_loop')}), fastapi {e.get('fastapi')}"
            )
        prof = data.get("profile") or {}
        if prof:
            out += [
                "",
                "| profile (cProfile, server thread) | unit | "
                + " | ".join(
                    [
                        "event loop idle",
                        "waiting for the database",
                        "store CPU (SqlStore+SQLAlchemy+driver)",
                        "HTTP/ASGI/FastAPI/wire format",
                    ]
                )
                + " |",
                "|---|---|---|---|---|---|",
            ]
            for label, p in prof.items():
                u = p["breakdown_per_unit_us"]
                out.append(
                    f"| {label} ({p['units']:,} {p['unit']}s) | us per {p['unit']} | "
                    + " | ".join(fmt(u[k]) for k in u)
                    + " |"
                )
    if anchor:
        with open(anchor) as f:
            data = json.load(f)
        rows = rt.rows_by(data)
        backends = []
        for r in data["results"]:
            if r["backend"] not in backends:
                backends.append(r["backend"])
        ours = [b for b in backends if b.startswith("runtrack")]
        out += [
            "",
            "| figure | unit | "
            + " | ".join(ours)
            + " | mlflow-server | "
            + " | ".join(f"{b} vs mlflow-server" for b in ours)
            + " |",
            "|---|---|" + "---|" * (2 * len(ours) + 1),
        ]
        for label, pat in SERVER_ROWS:
            cells = [rt.find(rows, b, pat) for b in ours]
            sv = rt.find(rows, "mlflow-server", pat)
            if not (any(cells) or sv):
                continue
            first = next(c for c in [*cells, sv] if c)
            out.append(
                f"| {label} <br><sub>{first['metric']}</sub> | {first['unit']} | "
                + " | ".join(rt.cell(c) for c in cells)
                + f" | {rt.cell(sv)} | "
                + " | ".join(rt.ratio(c, [sv]) for c in cells)
                + " |"
            )
        for n in data.get("notes", []):
            out.append(f"\n{n['backend']}: {n['metric']}: `{json.dumps(n['info'])}`")
        env = data["env"]
        out.append(
            f"\n({anchor}: {env['time']}, {env['cpus']} cores, load average "
            f"{env['loadavg_start']} at start, {env.get('loadavg_end')} at end; "
            f"preset {data['config'].get('preset')})"
        )
    return "\n".join(out)


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", help="write every figure (all repetitions) as JSON")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    ap.add_argument(
        "--only",
        default="footprint,log,ingest,create,search,load,profile",
        help="comma list of: footprint, log, ingest, create, search, load, profile",
    )
    ap.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL server (scratch databases)")
    ap.add_argument(
        "--dbs",
        default="pg,sqlite",
        help="databases behind the server for footprint/ingest/create: pg, sqlite",
    )
    ap.add_argument("--reps", type=int, default=None, help="repetitions of log (default 5)")
    ap.add_argument("--log-calls", type=int, default=None)
    ap.add_argument("--ingest-clients", type=int, default=4)
    ap.add_argument("--ingest-steps", type=int, default=None, help="run.log calls per client")
    ap.add_argument("--ingest-reps", type=int, default=None)
    ap.add_argument("--create-clients", type=int, default=4)
    ap.add_argument("--create-seconds", type=float, default=None)
    ap.add_argument("--create-reps", type=int, default=None)
    ap.add_argument(
        "--create-variants",
        default=None,
        help="comma-separated indexes of the creation variants to run (default: all)",
    )
    ap.add_argument("--runs", type=int, default=None, help="runs for the search benchmark")
    ap.add_argument("--search-reps", type=int, default=None)
    ap.add_argument("--list-reps", type=int, default=None)
    ap.add_argument("--footprint-reps", type=int, default=None)
    ap.add_argument("--load-clients", type=int, default=20)
    ap.add_argument("--load-seconds", type=float, default=None)
    ap.add_argument(
        "--load-pause",
        type=float,
        default=0.001,
        help="seconds each load client sleeps between run.log calls (0: as fast as it can)",
    )
    ap.add_argument("--profile-steps", type=int, default=None)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument(
        "--report",
        metavar="TARGETS_JSON",
        help="print the Markdown tables of a results file (and of --anchor) and exit",
    )
    ap.add_argument("--anchor", metavar="JSON", help="with --report: the MLflow harness's results")
    ap.add_argument("--_child", dest="child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print("RESULT " + json.dumps(CHILDREN[spec["mode"]](spec)), flush=True)
        return 0
    if args.report or args.anchor:
        print(report(args.report, args.anchor))
        return 0

    bytecode_note = None
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None or sys.flags.dont_write_bytecode:
        os.environ.setdefault("PYTHONPYCACHEPREFIX", os.path.join(bt.CACHE, "pycache"))
        prefix = os.environ["PYTHONPYCACHEPREFIX"]
        bytecode_note = f"PYTHONDONTWRITEBYTECODE unset, PYTHONPYCACHEPREFIX={prefix}"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import runtrack.client._init, runtrack.client.api, runtrack.cli, "
            "runtrack.cli.server, runtrack.server.app, runtrack.store.rest, "
            "runtrack.store.sql.store, uvicorn, fastapi",
        ],
        check=True,
    )
    q = args.quick
    args.reps = args.reps or (2 if q else 5)
    args.log_calls = args.log_calls or (20_000 if q else 100_000)
    args.ingest_steps = args.ingest_steps or (2_000 if q else 10_000)
    args.ingest_reps = args.ingest_reps or (2 if q else 3)
    if q:
        args.ingest_clients = min(args.ingest_clients, 2)
    args.create_seconds = args.create_seconds or (4.0 if q else 10.0)
    args.create_reps = args.create_reps or (1 if q else 3)
    args.runs = args.runs or (5_000 if q else 100_000)
    args.search_reps = args.search_reps or (5 if q else 10)
    args.list_reps = args.list_reps or (1 if q else 2)
    args.footprint_reps = args.footprint_reps or (2 if q else 5)
    args.load_seconds = args.load_seconds or (15.0 if q else 60.0)
    args.profile_steps = args.profile_steps or (1_000 if q else 5_000)
    args.dbs = [d for d in args.dbs.split(",") if d]
    only = [x for x in args.only.split(",") if x]
    import fastapi
    import uvicorn

    import runtrack

    def have(mod: str) -> bool:
        import importlib.util

        return importlib.util.find_spec(mod) is not None

    env = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "runtrack": runtrack.__version__,
        "uvicorn": uvicorn.__version__,
        "fastapi": fastapi.__version__,
        "uvicorn_http_parser": "httptools"
        if have("httptools")
        else "h11 (httptools not installed)",
        "uvicorn_loop": "uvloop" if have("uvloop") else "asyncio (uvloop not installed)",
        "loadavg_start": loadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": subprocess.run(
            ["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip(),
    }
    conf = {k: v for k, v in vars(args).items() if k not in ("child", "out")}
    conf["bytecode"] = bytecode_note
    print(
        f"runtrack {runtrack.__version__}, {env['cpus']} cpus, load {env['loadavg_start']}; {conf}",
        flush=True,
    )
    res = Results()
    profile = None
    work = tempfile.mkdtemp(prefix="rt-server-")
    try:
        for what in only:
            t0 = time.perf_counter()
            if what == "footprint":
                bench_footprint(res, args, work)
            elif what == "log":
                bench_log(res, args, work)
            elif what == "ingest":
                for kind in args.dbs:
                    bench_ingest(res, args, work, kind)
            elif what == "create":
                for kind in args.dbs:
                    bench_create(res, args, work, kind)
            elif what == "search":
                bench_search(res, args, work)
            elif what == "load":
                bench_load(res, args, work)
            elif what == "profile":
                print("== profile: the server in-process under cProfile (PostgreSQL)", flush=True)
                profile = bench_profile(res, args, work)
            else:
                ap.error(f"unknown benchmark {what}")
            print(f"  ({what} took {time.perf_counter() - t0:.0f} s, load {loadavg()})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    env["loadavg_end"] = loadavg()
    print("\n" + table(res.rows))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(
                {"env": env, "config": conf, "results": res.rows, "profile": profile},
                f,
                indent=1,
            )
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
