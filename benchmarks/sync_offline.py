"""``runtrack sync`` of many offline runs to a team server: bulk against one by one.

N offline runs (20 config keys, 5 tags, 10 metrics over 20 steps, finished) are
recorded by the SDK in one process (RUNTRACK_MODE=offline), then shipped to a real
``runtrack server`` (SQLite or PostgreSQL) by ``sync_all`` -- the code behind
``runtrack sync`` -- twice on fresh copies of the journals: as it ships them (small
journals many per request) and one journal at a time (the path large journals take).
Every run is counted back through the server.

    .venv/bin/python benchmarks/sync_offline.py --runs 1000 --dbs sqlite,pg \\
        --out benchmarks/results/sync_offline.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_load as sl  # the Db and server helpers

RECORD = """
import runtrack, sys
for i in range(int(sys.argv[1])):
    run = runtrack.init(project="offline", mode="offline",
                        config={f"p{j}": j * 0.1 for j in range(20)},
                        tags={f"t{j}": str(j) for j in range(5)})
    for step in range(20):
        run.log({f"m{j}": step * 0.01 + j for j in range(10)}, step=step)
    run.finish()
"""


def record(directory: Path, n: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env.update(
        RUNTRACK_DIR=str(directory),
        RUNTRACK_QUIET="1",
        RUNTRACK_CAPTURE_GIT="0",
        RUNTRACK_CAPTURE_PACKAGES="0",
        RUNTRACK_SYSTEM_METRICS_INTERVAL="0",
        RUNTRACK_CONSOLE="0",
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", RECORD, str(n)], env=env, check=True, timeout=3600)
    return time.perf_counter() - t0


def ship(journals: list[Path], url: str, bulk: bool) -> float:
    import runtrack.client._sync as sync
    from runtrack.store.rest import RestStore

    small = sync._SMALL_RECORDS
    if not bulk:
        sync._SMALL_RECORDS = 0  # every journal takes the one-by-one path
    store = RestStore(url)
    try:
        t0 = time.perf_counter()
        results = sync.sync_all(journals, store)
        took = time.perf_counter() - t0
    finally:
        sync._SMALL_RECORDS = small
    bad = [r for r in results if r.status != "synced"]
    if bad:
        raise RuntimeError(f"{len(bad)} journals not synced: {bad[0]}")
    store.close()
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dbs", default="sqlite,pg")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--out")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rt-sync-bench-"))
    rows = []
    try:
        src = work / "recorded"
        took = record(src, args.runs)
        journals_dir = src / "journals"
        print(f"recorded {args.runs} offline runs in {took:.1f} s", flush=True)
        for kind in args.dbs.split(","):
            for bulk in (True, False):
                times = []
                for rep in range(args.reps):
                    db = sl.Db(kind, args.pg, str(work))
                    copy = work / f"copy-{kind}-{bulk}-{rep}"
                    shutil.copytree(journals_dir, copy)
                    srv = sl.start_server(str(work / f"srv-{kind}-{bulk}-{rep}"), db.url)
                    try:
                        journals = sorted(copy.iterdir())
                        t = ship(journals, srv.url, bulk)
                        from runtrack.store.rest import RestStore

                        st = RestStore(srv.url)
                        n = st.count_runs("offline", "run.status = 'finished'")
                        st.close()
                        if n != args.runs:
                            raise RuntimeError(f"{n} runs on the server, expected {args.runs}")
                        times.append(t)
                        print(
                            f"  {kind} {'bulk' if bulk else 'one by one'} rep {rep}: "
                            f"{args.runs} runs in {t:.2f} s ({args.runs / t:.0f} runs/s)",
                            flush=True,
                        )
                    finally:
                        srv.kill()
                        db.close()
                        shutil.rmtree(copy, ignore_errors=True)
                how = "small journals many per request" if bulk else "one journal at a time"
                rows.append(
                    {
                        "name": f"sync {args.runs} offline runs to runtrack server, {how} "
                        f"[{sl.db_label(kind)}]",
                        "unit": "runs/s",
                        "values": [args.runs / t for t in times],
                        "median": statistics.median(args.runs / t for t in times),
                        "seconds": times,
                    }
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    for r in rows:
        print(
            f"{r['name']}: median {r['median']:.0f} runs/s ({min(r['seconds']):.2f}-"
            f"{max(r['seconds']):.2f} s)"
        )
    if args.out:
        env = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cores": os.cpu_count()}
        with open(args.out, "w") as f:
            json.dump({"env": env, "config": vars(args), "results": rows}, f, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
