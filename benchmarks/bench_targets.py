#!/usr/bin/env python3
"""runtrack's own performance targets, each measured several times (median, min, max).

    .venv/bin/python benchmarks/bench_targets.py --out benchmarks/results/targets.json
    .venv/bin/python benchmarks/bench_targets.py --quick            # smoke run, ~1-2 min
    .venv/bin/python benchmarks/bench_targets.py --only log,import  # some of them
    .venv/bin/python benchmarks/bench_targets.py --pg postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/bench_targets.py --no-pg            # SQLite only

What is measured (the targets of runtrack's performance issue):

  log        ``run.log({"loss": x, "acc": y}, step=i)`` in a loop of --log-calls calls, each
             call timed: median and p99 us per call as seen by the loop (target median
             <= 10 us). One fresh process per repetition; the loop starts --settle s after
             ``init`` (the one-off background provenance capture is then done).
  ingest     sustained ingestion into the embedded store: --ingest-steps calls of
             ``run.log()`` with --ingest-keys metrics each (realistic noisy floats, dicts
             built before the clock starts), ``finish()`` included: points/s
             (target >= 1,000,000). One fresh process and store per repetition.
  bytes      bytes on disk per metric point, from the same runs: the database files
             (runtrack.db, -wal, -shm) right after ``finish()``, and again once the store
             is closed (the writer gone: SQLite checkpoints the WAL into the database and
             removes it) (target <= 16).
  history    one metric with --history-points points (noisy values, steps 0..N-1)
             read back with ``Api().run(id).history([k])`` (lists) and
             ``history([k], format="array")``: ms (target <= 100 ms).
  query      --runs runs (20 config keys, 10 metric summaries, 3 tags each), on SQLite and
             PostgreSQL: ``Api().runs(project, filter="config.optimizer = 'adam' and
             metrics.auc > 0.9", order_by=["metrics.auc desc"], limit=100)`` in ms (target
             <= 50 ms), and listing every run with config and summaries,
             ``Api().runs(project, limit=None)``, in s (target <= 2 s).
  import     ``import runtrack`` in a fresh interpreter (median of >= 20; target <= 100 ms)
             and ``runtrack --help`` wall time (target <= 300 ms).

The 100,000-run database is built once and cached under $RUNTRACK_BENCH_CACHE (default
/tmp/runtrack-bench-cache; --rebuild to redo it). It is populated with the rows that
runtrack's SqlStore writes, built by runtrack's own row helpers (param_rows, the metric
codec) and bulk-inserted; before that, the same rows are produced for a sample of runs
through the public ``SqlStore.create_run`` + ``SqlStore.write`` and compared table by
table, and the fast path is refused if they differ (--populate public uses the public path
for every run: ~10 ms per run on SQLite, ~28 ms on PostgreSQL). PostgreSQL gets a
database of its own (created, filled by COPY from the cached SQLite rows, ANALYZEd,
dropped at the end).

Every figure records the load average at the time it was taken: these machines are shared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("RUNTRACK_BENCH_CACHE", "/tmp/runtrack-bench-cache")
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
PROJECT = "sweep"
QUERY_FILTER = "config.optimizer = 'adam' and metrics.auc > 0.9"
QUERY_ORDER = ["metrics.auc desc"]
NOW = 1_790_000_000.0  # populated runs start before this (a fixed clock: stable data)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def loadavg() -> list[float] | None:
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def pct(sorted_vals: list[float], q: float) -> float:
    i = min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))
    return sorted_vals[i]


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


class Results:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(
        self,
        name: str,
        values: list[float],
        unit: str,
        *,
        target: float | None = None,
        better: str = "lower",
        **extra: object,
    ) -> dict:
        vals = [v for v in values if v is not None and not math.isnan(v)]
        med = statistics.median(vals) if vals else None
        row: dict = {
            "name": name,
            "unit": unit,
            "values": values,
            "median": med,
            "min": min(vals) if vals else None,
            "max": max(vals) if vals else None,
            "n": len(vals),
            "target": target,
            "better": better,
            "loadavg": loadavg(),
        }
        if target is not None and med is not None:
            row["pass"] = med <= target if better == "lower" else med >= target
        if extra:
            row["extra"] = extra
        self.rows.append(row)
        verdict = ""
        if "pass" in row:
            verdict = (
                f"   target {'<=' if better == 'lower' else '>='} {fmt(target)}: "
                f"{'PASS' if row['pass'] else 'MISS'}"
            )
        print(
            f"  {name}: median {fmt(med)} {unit} (min {fmt(row['min'])}, max "
            f"{fmt(row['max'])}, n={row['n']}){verdict}   [load {row['loadavg']}]",
            flush=True,
        )
        return row


def child(mode: str, timeout: float = 1800, **spec: object) -> dict:
    """Run one repetition in a fresh interpreter (this file with --_child)."""
    p = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--_child", json.dumps(dict(spec, mode=mode))],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child {mode} failed (rc={p.returncode}): {p.stderr[-3000:]}")


def fresh_env(directory: str) -> None:
    os.environ["RUNTRACK_DIR"] = directory
    os.environ["RUNTRACK_QUIET"] = "1"
    for k in ("RUNTRACK_URL", "RUNTRACK_DB", "RUNTRACK_MODE"):
        os.environ.pop(k, None)


def db_files(directory: str) -> dict[str, int]:
    db = os.path.join(directory, "runtrack.db")
    return {
        os.path.basename(p): os.path.getsize(p)
        for p in (db, db + "-wal", db + "-shm")
        if os.path.exists(p)
    }


def close_stores() -> None:
    from runtrack.client._state import STATE

    with STATE.lock:
        for url, st in list(STATE.stores.items()):
            st.close()
            del STATE.stores[url]


def noisy_curve(rnd: random.Random, n: int, j: int = 0) -> list[float]:
    """A training-curve-like series: decaying trend, multiplicative noise, occasional
    spikes -- full-precision floats, as a real loss is (not all equal, not rounded)."""
    tau = 0.15 * n + 37 * j + 1
    base = 0.05 + 0.3 * rnd.random()
    out = []
    for i in range(n):
        v = base + (2.5 + j % 7) * math.exp(-i / tau)
        v *= 1.0 + 0.04 * rnd.gauss(0.0, 1.0)
        if rnd.random() < 0.001:
            v *= 3.0
        out.append(v)
    return out


# --------------------------------------------------------------------------------------
# children: one repetition each, in a fresh process
# --------------------------------------------------------------------------------------
def child_log(spec: dict) -> dict:
    d = spec["dir"]
    fresh_env(d)
    import runtrack

    n = spec["calls"]
    rnd = random.Random(1)
    loss = noisy_curve(rnd, n)
    acc = [1.0 - 0.5 * v / (1.0 + v) for v in loss]
    run = runtrack.init(project="bench", name="log-loop", config={"lr": 1e-3})
    time.sleep(spec["settle"])
    return {**timed_log_loop(run, loss, acc), "load": loadavg()}


def timed_log_loop(run: Any, loss: list[float], acc: list[float]) -> dict:
    """``run.log({"loss", "acc"}, step=i)`` for every i, each call timed, then
    ``run.finish()`` timed: per-call median/p99/p99.9/max, loop mean, CPU per call."""
    n = len(loss)
    per = [0.0] * n
    log = run.log
    pc = time.perf_counter
    c0 = time.process_time()
    t0 = pc()
    for i in range(n):
        s = pc()
        log({"loss": loss[i], "acc": acc[i]}, step=i)
        per[i] = pc() - s
    loop = pc() - t0
    cpu = time.process_time() - c0
    t1 = pc()
    run.finish()
    fin = pc() - t1
    per.sort()
    return {
        "median_us": per[n // 2] * 1e6,
        "p99_us": pct(per, 0.99) * 1e6,
        "p999_us": pct(per, 0.999) * 1e6,
        "max_us": per[-1] * 1e6,
        "mean_us": loop / n * 1e6,
        "cpu_per_call_us": cpu / n * 1e6,
        "finish_s": fin,
        "load": loadavg(),
    }


def child_ingest(spec: dict) -> dict:
    d = spec["dir"]
    fresh_env(d)
    import runtrack

    steps, nk = spec["steps"], spec["keys"]
    rnd = random.Random(2)
    keys = [f"train/metric_{j:03d}" for j in range(nk)]
    cols = [noisy_curve(rnd, steps, j) for j in range(nk)]
    rows = [dict(zip(keys, vals, strict=True)) for vals in zip(*cols, strict=True)]
    del cols
    run = runtrack.init(project="bench", name="ingest", config={"keys": nk, "steps": steps})
    time.sleep(spec["settle"])
    before = sum(db_files(d).values())
    log = run.log
    pc = time.perf_counter
    c0 = time.process_time()
    t0 = pc()
    for i, r in enumerate(rows):
        log(r, step=i)
    t1 = pc()
    run.finish()
    t2 = pc()
    cpu = time.process_time() - c0
    points = steps * nk
    files_open = db_files(d)
    close_stores()
    files_closed = db_files(d)
    return {
        "points": points,
        "loop_s": t1 - t0,
        "finish_s": t2 - t1,
        "total_s": t2 - t0,
        "cpu_s": cpu,
        "bytes_before": before,
        "files_open": files_open,
        "files_closed": files_closed,
        "load": loadavg(),
    }


def child_history_write(spec: dict) -> dict:
    d = spec["dir"]
    fresh_env(d)
    import runtrack

    n = spec["points"]
    vals = noisy_curve(random.Random(3), n)
    run = runtrack.init(project="bench", name="history")
    t0 = time.perf_counter()
    log = run.log
    for i in range(n):
        log({"loss": vals[i]}, step=i)
    run.finish()
    t = time.perf_counter() - t0
    close_stores()
    return {"run_id": run.id, "write_s": t, "files_closed": db_files(d), "load": loadavg()}


def child_history_read(spec: dict) -> dict:
    fresh_env(spec["dir"])
    import runtrack

    pc = time.perf_counter
    api = runtrack.Api()
    out: dict = {"list_ms": [], "array_ms": [], "e2e_list_ms": []}
    t0 = pc()
    view = api.run(spec["run_id"])
    out["first_get_run_ms"] = (pc() - t0) * 1e3
    for _ in range(spec["reps"]):
        t0 = pc()
        h = view.history(["loss"])
        out["list_ms"].append((pc() - t0) * 1e3)
        out["n_list"] = len(h["loss"]["value"])
        del h
        t0 = pc()
        a = view.history(["loss"], format="array")
        out["array_ms"].append((pc() - t0) * 1e3)
        out["n_array"] = len(a["loss"]["value"])
        out["step_type"] = type(a["loss"]["step"]).__name__
        del a
        t0 = pc()
        h = api.run(spec["run_id"]).history(["loss"])
        out["e2e_list_ms"].append((pc() - t0) * 1e3)
        del h
    out["load"] = loadavg()
    return out


# --------------------------------------------------------------------------------------
# 100,000 runs: generation, population (fast path verified against SqlStore), queries
# --------------------------------------------------------------------------------------
OPTIMIZERS = ["adam", "sgd", "adamw", "rmsprop"]


def make_runs(n: int, seed: int = 0, provenance: dict | None = None) -> list[dict]:
    """n runs of a sweep. Each carries the provenance document ``provenance`` with its own
    command line (argv) and pid, as runs started by ``runtrack.init`` do."""
    rnd = random.Random(seed)
    prov = provenance or {}
    out = []
    for i in range(n):
        start = NOW - 200 * 86400 + i * (200 * 86400 / n) + rnd.random()
        dur = rnd.uniform(60, 7200)
        config = {
            "lr": 10 ** rnd.uniform(-5, -1),
            "optimizer": rnd.choice(OPTIMIZERS),
            "batch_size": rnd.choice([16, 32, 64, 128, 256, 512]),
            "epochs": rnd.randint(1, 100),
            "dropout": round(rnd.uniform(0, 0.5), 4),
            "weight_decay": 10 ** rnd.uniform(-6, -2),
            "momentum": rnd.uniform(0.8, 0.99),
            "seed": rnd.randint(0, 10_000),
            "use_amp": rnd.random() < 0.5,
            "scheduler": rnd.choice(["cosine", "step", "linear", "none"]),
            "warmup_steps": rnd.randint(0, 2000),
            "grad_clip": rnd.choice([0.5, 1.0, 5.0]),
            "label_smoothing": rnd.choice([0.0, 0.05, 0.1]),
            "model": {
                "name": rnd.choice(["resnet", "vit", "mlp", "gbdt"]),
                "depth": rnd.randint(2, 48),
                "width": rnd.choice([64, 128, 256, 512]),
                "activation": rnd.choice(["relu", "gelu", "silu"]),
            },
            "data": {
                "path": f"s3://bucket/data/{rnd.randint(0, 49)}",
                "augment": rnd.random() < 0.5,
                "num_workers": rnd.choice([2, 4, 8]),
            },
        }
        auc = 0.5 + 0.5 * rnd.random()
        loss = rnd.uniform(0.05, 2.0)
        metrics = {
            "auc": auc,
            "loss": loss,
            "val_loss": loss * rnd.uniform(1.0, 1.3),
            "acc": rnd.uniform(0.5, 0.99),
            "val_acc": rnd.uniform(0.5, 0.99),
            "f1": rnd.uniform(0.3, 0.95),
            "precision": rnd.uniform(0.3, 0.95),
            "recall": rnd.uniform(0.3, 0.95),
            "epoch_time": rnd.uniform(1, 600),
            "best_epoch": float(rnd.randint(1, 100)),
        }
        tags = {
            "team": rnd.choice(["vision", "nlp", "rl", "tabular"]),
            "stage": rnd.choice(["dev", "candidate", "prod"]),
            "dataset": f"ds-{rnd.randint(0, 19)}",
        }
        p = dict(prov)
        if "command" in p:
            p["command"] = dict(
                p["command"],
                pid=100_000 + i,
                start_time=start,
                argv=["train.py", "--lr", str(config["lr"]), "--trial", str(i)],
            )
        out.append(
            {
                "id": f"r{i:09d}x{rnd.getrandbits(20):05x}",
                "name": f"trial-{i}",
                "start": start,
                "end": start + dur,
                "config": config,
                "metrics": metrics,
                "tags": tags,
                "provenance": p,
            }
        )
    return out


def real_provenance(repo: str | None = None) -> dict:
    """The provenance document runtrack.init records, captured by runtrack's own capture
    functions: the command, the environment (interpreter, packages, machine) and git. With
    repo None, git is captured from a fresh clean repository (commit, branch, remote, no
    diff): what a run started from a committed tree records."""
    from pathlib import Path

    from runtrack.client.provenance.command import capture_command
    from runtrack.client.provenance.environment import capture_environment
    from runtrack.client.provenance.git import capture_git

    tmp = None
    if repo is None:
        tmp = tempfile.mkdtemp(prefix="rt-repo-")
        git = ["git", "-C", tmp, "-c", "user.name=bench", "-c", "user.email=bench@example.org"]
        subprocess.run([*git, "init", "-q"], check=True)
        with open(os.path.join(tmp, "train.py"), "w") as f:
            f.write("import runtrack\n" * 50)
        subprocess.run([*git, "add", "train.py"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "train"], check=True)
        subprocess.run(
            [*git, "remote", "add", "origin", "https://git.example.org/team/churn-model.git"],
            check=True,
        )
        repo = tmp
    try:
        return {
            "command": capture_command(),
            "git": capture_git(
                Path(repo), diff_max_bytes=2_000_000, untracked_file_max_bytes=200_000
            ),
            "environment": capture_environment(packages=True),
        }
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _specs(r: dict):
    from runtrack.entities import (
        MetricsRecord,
        OpRecord,
        ProvenanceOp,
        RunBatch,
        RunSpec,
        StatusOp,
    )

    spec = RunSpec(
        id=r["id"],
        project=PROJECT,
        name=r["name"],
        user="bench",
        host="bench",
        start_time=r["start"],
        config=r["config"],
        tags=r["tags"],
    )
    keys = tuple(r["metrics"])
    batch = RunBatch(
        r["id"],
        "populate",
        (
            MetricsRecord(1, 0, r["end"], keys, array("d", r["metrics"].values())),
            OpRecord(2, ProvenanceOp(r["provenance"])),
            OpRecord(3, StatusOp("finished", r["end"])),
        ),
    )
    return spec, batch


def populate_public(url: str, runs: list[dict]) -> None:
    """Every run through SqlStore.create_run + SqlStore.write (slow, the reference)."""
    from runtrack.store.sql.store import SqlStore

    st = SqlStore(url, auto_upgrade=True, clock=lambda: NOW)
    try:
        for r in runs:
            spec, batch = _specs(r)
            st.create_run(spec)
            st.write(batch)
    finally:
        st.close()


def fast_rows(runs: list[dict], project_id: int = 1) -> dict[str, list[tuple]]:
    """The rows SqlStore writes for these runs (create_run + one write of the metric
    values at step 0 and status finished), built with runtrack's own helpers."""
    from runtrack.store.sql import _codec, schema
    from runtrack.store.sql._params import param_rows
    from runtrack.store.sql._records import dumps, pack_metrics

    cols = {t.name: [c.name for c in t.columns] for t in schema.metadata.sorted_tables}
    out: dict[str, list[tuple]] = {name: [] for name in cols}
    steps0 = _codec.encode_steps(array("q", [0]))
    for r in runs:
        rid = r["id"]
        mdoc = pack_metrics({k: (v, v, v, 1, 0) for k, v in r["metrics"].items()})
        row = {
            "id": rid,
            "project_id": project_id,
            "name": r["name"],
            "status": "finished",
            "user": "bench",
            "host": "bench",
            "start_time": r["start"],
            "end_time": r["end"],
            "heartbeat": NOW,
            "parent_id": None,
            "grp": None,
            "notes": None,
            "error": None,
            "config": dumps(r["config"]),
            "tags": dumps(r["tags"]),
            "metrics": mdoc,
            "summary": "{}",
            "inputs": "[]",
        }
        out["runs"].append(tuple(row[c] for c in cols["runs"]))
        for section, doc in r["provenance"].items():
            out["run_provenance"].append((rid, section, dumps(doc)))
        for p in param_rows(rid, r["config"]):
            out["run_params"].append(tuple(p[c] for c in cols["run_params"]))
        for k, v in r["tags"].items():
            out["run_tags"].append((rid, k, v))
        times = _codec.encode_floats(array("d", [r["end"]]))
        for k, v in r["metrics"].items():
            s = {
                "run_id": rid,
                "key": k,
                "project_id": project_id,
                "value": v,
                "last": v,
                "min": v,
                "max": v,
                "count": 1,
                "last_step": 0,
                "tail": "0:1",
                "next_seq": 1,
            }
            out["metric_summaries"].append(tuple(s[c] for c in cols["metric_summaries"]))
            c = {
                "run_id": rid,
                "key": k,
                "seq": 0,
                "n": 1,
                "step_min": 0,
                "step_max": 0,
                "codec": _codec.CODEC,
                "steps": steps0,
                "times": times,
                "vals": _codec.encode_floats(array("d", [v])),
            }
            out["metric_chunks"].append(tuple(c[x] for x in cols["metric_chunks"]))
        out["run_streams"].append((rid, "populate", 3))
    return out


def _sqlite_insert(path: str, rows: dict[str, list[tuple]], project: bool) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    with con:
        if project:
            con.execute(
                "INSERT INTO projects (id, name, created_at) VALUES (1, ?, ?)", (PROJECT, NOW)
            )
        for table, rs in rows.items():
            if rs:
                q = ",".join("?" * len(rs[0]))
                con.executemany(f"INSERT INTO {table} VALUES ({q})", rs)
    con.close()


def _canon(v: object) -> object:
    """JSON documents compared by content (key order is not meaningful)."""
    if isinstance(v, str) and v[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(v), sort_keys=True)
        except ValueError:
            return v
    return v


def _dump(path: str) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    out = {}
    for (t,) in con.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT "
        "LIKE 'sqlite_%' AND name != 'alembic_version'"
    ):
        out[t] = sorted(
            (tuple(_canon(v) for v in row) for row in con.execute(f"SELECT * FROM {t}")), key=repr
        )
    con.close()
    return out


def verify_fast_path(runs: list[dict]) -> None:
    """Write a sample both ways; the fast path must give exactly SqlStore's rows."""
    from runtrack.store.sql.store import SqlStore

    d = tempfile.mkdtemp(prefix="rt-verify-")
    try:
        a, b = os.path.join(d, "public.db"), os.path.join(d, "fast.db")
        populate_public("sqlite:///" + a, runs)
        SqlStore("sqlite:///" + b, auto_upgrade=True).close()
        _sqlite_insert(b, fast_rows(runs), project=True)
        da, db = _dump(a), _dump(b)
        if da != db:
            bad = [t for t in set(da) | set(db) if da.get(t) != db.get(t)]
            detail = {t: (da.get(t, [])[:1], db.get(t, [])[:1]) for t in bad}
            raise RuntimeError(f"fast population differs from SqlStore in {bad}: {detail}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def cached_sqlite(n: int, how: str, rebuild: bool) -> tuple[str, float | None]:
    """Path of a SQLite database with n runs (built if missing); seconds spent building."""
    from runtrack.store.sql.schema import SCHEMA_REVISION
    from runtrack.store.sql.store import SqlStore

    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, f"runs-{n}-rev{SCHEMA_REVISION}-v2.db")
    ok_mark = path + ".ok"
    if os.path.exists(ok_mark) and os.path.exists(path) and not rebuild:
        return path, None
    for p in (path, path + "-wal", path + "-shm", ok_mark):
        if os.path.exists(p):
            os.remove(p)
    t0 = time.perf_counter()
    runs = make_runs(n, provenance=real_provenance())
    if how == "public":
        print(f"  populating {n} runs through SqlStore.create_run + write (slow)...", flush=True)
        populate_public("sqlite:///" + path, runs)
    else:
        verify_fast_path(runs[:50])
        print(
            f"  fast path verified against SqlStore on 50 runs; inserting {n} runs...", flush=True
        )
        SqlStore("sqlite:///" + path, auto_upgrade=True).close()
        for i in range(0, n, 20_000):
            _sqlite_insert(path, fast_rows(runs[i : i + 20_000]), project=(i == 0))
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with open(ok_mark, "w") as f:
        f.write(how)
    return path, time.perf_counter() - t0


def pg_database(admin_url: str, sqlite_path: str) -> tuple[str, str, float]:
    """Create a scratch database, create runtrack's schema with SqlStore, COPY the cached
    rows in, ANALYZE. Returns (url, name, seconds)."""
    import psycopg

    from runtrack.store.sql import schema
    from runtrack.store.sql.store import SqlStore

    t0 = time.perf_counter()
    name = "rtbench_" + uuid.uuid4().hex[:10]
    admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    SqlStore(url, auto_upgrade=True).close()
    src = sqlite3.connect(sqlite_path)
    with psycopg.connect(url) as c:
        for t in schema.metadata.sorted_tables:
            cols = [col.name for col in t.columns]
            cur = src.execute(f"SELECT {','.join(cols)} FROM {t.name}")
            quoted = ",".join(f'"{x}"' for x in cols)
            with c.cursor() as pc, pc.copy(f'COPY "{t.name}" ({quoted}) FROM STDIN') as cp:
                while True:
                    chunk = cur.fetchmany(20_000)
                    if not chunk:
                        break
                    for row in chunk:
                        cp.write_row(row)
        for t in schema.metadata.sorted_tables:
            for col in t.columns:
                if col.primary_key and col.autoincrement is True:
                    c.execute(
                        f"SELECT setval(pg_get_serial_sequence('{t.name}', "
                        f"'{col.name}'), coalesce(max(\"{col.name}\"), 1)) "
                        f'FROM "{t.name}"'
                    )
        c.commit()
    src.close()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
    return url, name, time.perf_counter() - t0


def pg_drop(admin_url: str, name: str) -> None:
    import psycopg

    admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def expected_query(runs: list[dict]) -> list[str]:
    m = [r for r in runs if r["config"]["optimizer"] == "adam" and r["metrics"]["auc"] > 0.9]
    m.sort(key=lambda r: -r["metrics"]["auc"])
    return [r["id"] for r in m[:100]]


def bench_query(
    res: Results, label: str, url: str, n: int, reps: int, list_reps: int, expected: list[str]
) -> None:
    import runtrack

    api = runtrack.Api(url)
    pc = time.perf_counter
    first = None
    vals = []
    got: list = []
    for i in range(reps + 1):
        t0 = pc()
        got = api.runs(PROJECT, filter=QUERY_FILTER, order_by=QUERY_ORDER, limit=100)
        dt = (pc() - t0) * 1e3
        if i == 0:
            first = dt
        else:
            vals.append(dt)
    ids = [r.id for r in got]
    res.add(
        f"query {n:,} runs [{label}]: filter config+metric, order by metric, top 100",
        vals,
        "ms",
        target=50,
        first_call_ms=first,
        rows=len(got),
        correct=ids == expected,
        filter=QUERY_FILTER,
        order_by=QUERY_ORDER,
    )
    # the same with a numeric config condition
    vals2 = []
    for i in range(reps + 1):
        t0 = pc()
        got = api.runs(
            PROJECT,
            filter="config.lr < 1e-3 and metrics.auc > 0.6",
            order_by=QUERY_ORDER,
            limit=100,
        )
        if i:
            vals2.append((pc() - t0) * 1e3)
    res.add(
        f"query {n:,} runs [{label}]: config.lr < 1e-3 and metrics.auc > 0.6, top 100",
        vals2,
        "ms",
        rows=len(got),
    )
    lv = []
    rows = 0
    for _ in range(list_reps):
        t0 = pc()
        allr = api.runs(PROJECT, limit=None)
        lv.append(pc() - t0)
        rows = len(allr)
        sample = allr[len(allr) // 2]
        assert len(sample.config) >= 5 and len(sample.summary) == 10, sample
        del allr
    res.add(
        f"list all {n:,} runs with config and summaries [{label}]", lv, "s", target=2.0, rows=rows
    )
    t0 = pc()
    cnt = api.count(PROJECT, filter=QUERY_FILTER)
    res.add(
        f"count_runs of the filter, {n:,} runs [{label}] (1 call)",
        [(pc() - t0) * 1e3],
        "ms",
        count=cnt,
    )
    api.store.close()
    close_stores()


def bench_dirty_provenance(res: Results, work: str, n: int, reps: int) -> None:
    """Runs started from a work tree with uncommitted changes record the diff in their
    provenance (up to RUNTRACK_DIFF_MAX_BYTES, 2 MB by default). Here: n runs carrying the
    provenance captured from the repository this script is in, queried as above."""
    import runtrack
    from runtrack.store.sql.store import SqlStore

    prov = real_provenance(HERE)
    if not prov.get("git"):
        print("  (not in a git work tree: dirty-provenance case skipped)", flush=True)
        return
    size = len(json.dumps(prov))
    d = os.path.join(work, "dirty")
    os.makedirs(d)
    db = os.path.join(d, "runtrack.db")
    SqlStore("sqlite:///" + db, auto_upgrade=True).close()
    _sqlite_insert(db, fast_rows(make_runs(n, seed=7, provenance=prov)), project=True)
    api = runtrack.Api("sqlite:///" + db)
    pc = time.perf_counter
    qv, lv = [], []
    for i in range(reps + 1):
        t0 = pc()
        api.runs(PROJECT, filter=QUERY_FILTER, order_by=QUERY_ORDER, limit=100)
        if i:
            qv.append((pc() - t0) * 1e3)
    got = api.runs(PROJECT, filter=None, order_by=QUERY_ORDER, limit=100)
    for _ in range(max(2, reps // 3)):
        t0 = pc()
        api.runs(PROJECT, limit=None)
        lv.append(pc() - t0)
    tq = []
    for _ in range(reps):
        t0 = pc()
        api.runs(PROJECT, filter=None, order_by=QUERY_ORDER, limit=100)
        tq.append((pc() - t0) * 1e3)
    res.add(
        f"dirty-tree provenance ({size / 1e3:.0f} kB/run), {n} runs [SQLite]: the "
        "filter+order top 100",
        qv,
        "ms",
        provenance_bytes=size,
        git_diff_bytes=len(json.dumps(prov["git"])),
    )
    res.add(
        f"dirty-tree provenance, {n} runs [SQLite]: no filter, order by metric, top 100 "
        f"({len(got)} rows)",
        tq,
        "ms",
    )
    res.add(
        f"dirty-tree provenance, {n} runs [SQLite]: list all",
        lv,
        "s",
        per_run_ms=[x / n * 1e3 for x in lv],
    )
    api.store.close()
    close_stores()


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
        default="import,log,ingest,history,query",
        help="comma list of: log, ingest (also gives bytes), history, query, import",
    )
    ap.add_argument(
        "--pg",
        default=PG_DEFAULT,
        help="PostgreSQL server for the query "
        "benchmark (a scratch database is created and dropped)",
    )
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 5; quick 2)")
    ap.add_argument("--log-calls", type=int, default=None)
    ap.add_argument("--ingest-steps", type=int, default=None)
    ap.add_argument("--ingest-keys", type=int, default=100)
    ap.add_argument("--history-points", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None, help="runs for the query benchmark")
    ap.add_argument("--import-reps", type=int, default=None)
    ap.add_argument(
        "--settle", type=float, default=1.0, help="seconds between init() and the timed loop"
    )
    ap.add_argument("--populate", choices=["fast", "public"], default="fast")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached run database")
    ap.add_argument("--_child", dest="child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        fn = {
            "log": child_log,
            "ingest": child_ingest,
            "history_write": child_history_write,
            "history_read": child_history_read,
        }[spec["mode"]]
        print("RESULT " + json.dumps(fn(spec)), flush=True)
        return 0

    # Byte-compiled modules, as a normal install has them: these machines set
    # PYTHONDONTWRITEBYTECODE=1 and runtrack is installed editable (no .pyc), which would
    # make every fresh process compile runtrack from source. Children write and read their
    # .pyc under a cache directory of their own (nothing is written under src/).
    bytecode_note = None
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None or sys.flags.dont_write_bytecode:
        os.environ.setdefault("PYTHONPYCACHEPREFIX", os.path.join(CACHE, "pycache"))
        bytecode_note = (
            f"PYTHONDONTWRITEBYTECODE unset, PYTHONPYCACHEPREFIX="
            f"{os.environ['PYTHONPYCACHEPREFIX']}"
        )
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import runtrack.client._init, runtrack.client.api, "
            "runtrack.cli, runtrack.cli.sync, runtrack.store.sql.store",
        ],
        check=True,
    )

    q = args.quick
    reps = args.reps or (2 if q else 5)
    log_calls = args.log_calls or (20_000 if q else 100_000)
    ingest_steps = args.ingest_steps or (1_000 if q else 10_000)
    hist_points = args.history_points or (100_000 if q else 1_000_000)
    n_runs = args.runs or (5_000 if q else 100_000)
    import_reps = args.import_reps or (5 if q else 25)
    only = set(args.only.split(","))
    res = Results()
    import runtrack

    env = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "runtrack": runtrack.__version__,
        "loadavg_start": loadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": subprocess.run(
            ["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip(),
    }
    conf = {
        "quick": q,
        "reps": reps,
        "log_calls": log_calls,
        "ingest_steps": ingest_steps,
        "ingest_keys": args.ingest_keys,
        "history_points": hist_points,
        "runs": n_runs,
        "import_reps": import_reps,
        "settle_s": args.settle,
        "populate": args.populate,
        "pg": None if args.no_pg else args.pg,
        "bytecode": bytecode_note,
    }
    print(
        f"runtrack {runtrack.__version__}, python {env['python']}, {env['cpus']} cpus, "
        f"load {env['loadavg_start']}; {conf}",
        flush=True,
    )
    work = tempfile.mkdtemp(prefix="rt-targets-")
    try:
        if "import" in only:
            bench_import(res, import_reps)
        if "log" in only:
            print("== run.log, 2 metrics per call", flush=True)
            rs = []
            for r in range(reps):
                d = os.path.join(work, f"log{r}")
                rs.append(child("log", dir=d, calls=log_calls, settle=args.settle))
                shutil.rmtree(d, ignore_errors=True)
            g = lambda k: [x[k] for x in rs]  # noqa: E731
            res.add(
                f"run.log(2 metrics): median per call ({log_calls:,} calls)",
                g("median_us"),
                "us",
                target=10,
            )
            res.add("run.log(2 metrics): p99 per call", g("p99_us"), "us")
            res.add("run.log(2 metrics): p99.9 per call", g("p999_us"), "us")
            res.add("run.log(2 metrics): max per call", g("max_us"), "us")
            res.add("run.log(2 metrics): mean per call (loop time / calls)", g("mean_us"), "us")
            res.add(
                "run.log(2 metrics): process CPU per call (all threads)", g("cpu_per_call_us"), "us"
            )
            res.add("run.log(2 metrics): finish() after the loop", g("finish_s"), "s")
        if "ingest" in only:
            print(
                f"== ingestion: {ingest_steps:,} x run.log({args.ingest_keys} metrics), "
                "finish included",
                flush=True,
            )
            rs = []
            for r in range(max(2, reps - 2)):
                d = os.path.join(work, f"ingest{r}")
                rs.append(
                    child(
                        "ingest",
                        dir=d,
                        steps=ingest_steps,
                        keys=args.ingest_keys,
                        settle=args.settle,
                    )
                )
                shutil.rmtree(d, ignore_errors=True)
            pts = rs[0]["points"]
            res.add(
                f"ingestion {pts:,} points ({args.ingest_keys}/call), finish included",
                [x["points"] / x["total_s"] for x in rs],
                "points/s",
                target=1_000_000,
                better="higher",
            )
            res.add(
                "ingestion: loop only (data in the journal)",
                [x["points"] / x["loop_s"] for x in rs],
                "points/s",
                better="higher",
            )
            res.add("ingestion: finish() (store catches up)", [x["finish_s"] for x in rs], "s")
            res.add(
                "ingestion: process CPU per point (all threads)",
                [x["cpu_s"] / x["points"] * 1e6 for x in rs],
                "us",
            )
            res.add(
                "bytes/point: db files after finish(), store closed (WAL checkpointed)",
                [sum(x["files_closed"].values()) / x["points"] for x in rs],
                "B/pt",
                target=16,
                files=[x["files_closed"] for x in rs],
            )
            res.add(
                "bytes/point: db+wal+shm right after finish(), store still open",
                [sum(x["files_open"].values()) / x["points"] for x in rs],
                "B/pt",
                files=[x["files_open"] for x in rs],
            )
        if "history" in only:
            print(f"== history of one metric, {hist_points:,} points", flush=True)
            d = os.path.join(work, "history")
            w = child("history_write", dir=d, points=hist_points)
            res.add(
                f"history: write {hist_points:,} points (1 metric, run.log loop + finish)",
                [hist_points / w["write_s"]],
                "points/s",
                better="higher",
            )
            res.add(
                "history: bytes/point (1 metric; db after close)",
                [sum(w["files_closed"].values()) / hist_points],
                "B/pt",
                files=w["files_closed"],
            )
            rd = child("history_read", dir=d, run_id=w["run_id"], reps=reps + 2)
            assert rd["n_list"] == hist_points and rd["n_array"] == hist_points, rd
            res.add(
                f"history([k]) of {hist_points:,} points, lists (default)",
                rd["list_ms"],
                "ms",
                target=100,
            )
            res.add(
                f"history([k], format='array') of {hist_points:,} points",
                rd["array_ms"],
                "ms",
                target=100,
                step_type=rd["step_type"],
            )
            res.add(
                "history: Api().run(id).history([k]) end to end, lists", rd["e2e_list_ms"], "ms"
            )
            shutil.rmtree(d, ignore_errors=True)
        if "query" in only:
            print(f"== {n_runs:,} runs: query and listing", flush=True)
            runs = make_runs(n_runs)
            expected = expected_query(runs)
            del runs
            path, built = cached_sqlite(n_runs, args.populate, args.rebuild)
            if built is not None:
                res.add(
                    f"populate {n_runs:,} runs into SQLite ({args.populate} path; setup)",
                    [built],
                    "s",
                )
            else:
                print(f"  using cached {path}", flush=True)
            qreps = max(10, reps * 2)
            bench_dirty_provenance(res, work, 300 if not q else 100, qreps)
            work_db = os.path.join(work, "q", "runtrack.db")
            os.makedirs(os.path.dirname(work_db))
            shutil.copy(path, work_db)
            bench_query(
                res, "SQLite", "sqlite:///" + work_db, n_runs, qreps, max(3, reps - 2), expected
            )
            if not args.no_pg:
                try:
                    url, name, secs = pg_database(args.pg, work_db)
                except Exception as e:
                    print(f"  PostgreSQL skipped: {e!r}", flush=True)
                else:
                    try:
                        res.add(
                            f"PostgreSQL: create db + COPY {n_runs:,} runs + ANALYZE (setup)",
                            [secs],
                            "s",
                        )
                        bench_query(
                            res, "PostgreSQL", url, n_runs, qreps, max(3, reps - 2), expected
                        )
                    finally:
                        close_stores()
                        pg_drop(args.pg, name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    env["loadavg_end"] = loadavg()
    print("\n" + table(res.rows))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"env": env, "config": conf, "results": res.rows}, f, indent=1)
        print(f"\nwrote {args.out}")
    return 0


def bench_import(res: Results, reps: int) -> None:
    print("== import and CLI start", flush=True)
    exe = sys.executable
    cli = os.path.join(os.path.dirname(exe), "runtrack")
    cases = [
        ("python -c 'import runtrack' (fresh interpreter)", [exe, "-c", "import runtrack"], 0.1),
        ("runtrack --help (wall)", [cli, "--help"], 0.3),
        ("python -c pass (bare interpreter, for reference)", [exe, "-c", "pass"], None),
        (
            "python -c 'import runtrack.client._init' (what the first init() imports)",
            [exe, "-c", "import runtrack.client._init"],
            None,
        ),
        (
            "python -c 'import runtrack.client.api' (what the first Api() imports)",
            [exe, "-c", "import runtrack.client.api"],
            None,
        ),
    ]
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for _, cmd, _t in cases:  # compile the .pyc files once, outside the measurement
        subprocess.run(cmd, env=env, capture_output=True, check=True)
    for name, cmd, target in cases:
        vals = []
        for _ in range(reps):
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
            vals.append(time.perf_counter() - t0)
        if target is not None:
            res.add(name, vals, "s", target=target)
        else:
            res.add(name, vals, "s")


def table(rows: list[dict]) -> str:
    lines = [("figure", "median", "range", "unit", "target", "")]
    for r in rows:
        tgt = (
            ""
            if r["target"] is None
            else ("<= " if r["better"] == "lower" else ">= ") + fmt(r["target"])
        )
        verdict = "" if "pass" not in r else ("PASS" if r["pass"] else "MISS")
        rng = f"{fmt(r['min'])}-{fmt(r['max'])}" if r["n"] > 1 else ""
        lines.append((r["name"], fmt(r["median"]), rng, r["unit"], tgt, verdict))
    w = [max(len(x[i]) for x in lines) for i in range(6)]
    return "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(x)) for x in lines)


if __name__ == "__main__":
    sys.exit(main())
