"""The web UI's targets, measured in headless Chromium against a real ``runtrack server``.

* **100,000 runs**: first rows visible after navigating to the run table (target <= 1 s);
  a filter applied from Enter to the filtered rows shown (target <= 300 ms).
* **50 metrics x 1,000,000 points** in one run: navigating to the run page until all 50
  charts are drawn (target <= 2 s). The run is written through ``SqlStore.write`` by a
  process that has numpy loaded (as a training script has), so the write stores the
  envelopes and overviews of its full chunks. Measured: the run's first view ever, in a
  server process that just started (the stored overviews are read, the trailing chunks
  decoded), the same first visit in more fresh server processes, and the next visits
  (warm: the overviews are in the server's memory). Then, as a secondary figure, a first
  view with the stored envelopes and overviews deleted (every chunk decoded, as for a run
  written without numpy loaded; the read stores them again, identical).

Each figure is repeated (a fresh browser context each time); median, min and max are
printed and written as JSON with the load average. Databases are built once and cached
under $RUNTRACK_BENCH_CACHE (default /tmp/runtrack-bench-cache): the 100,000-run one by
``benchmarks/bench_targets.py``'s builder (~2 min), the 50M-point one through
``SqlStore.write`` (~1-2 min).

Usage::

    .venv/bin/python benchmarks/ui/bench_ui.py --out benchmarks/results/ui_targets.json
    .venv/bin/python benchmarks/ui/bench_ui.py --only runs --reps 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # bench_targets (the 100,000-run database)

from runtrack.testing.live import LiveServer  # noqa: E402

CHROMIUM = os.environ.get("RUNTRACK_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CACHE = Path(os.environ.get("RUNTRACK_BENCH_CACHE", "/tmp/runtrack-bench-cache"))
BIG_RUN = "bigrun0001"

# Browser-side marks of a filter applied (performance.now() in the page, from Enter):
# the first-window request sent, its answer read, the filtered rows in the DOM. Installed
# before the page loads; wrapping fetch and one capture listener cost nothing measurable.
MARKS = r"""
window.__rtBench = {marks: {}, armed: false};
const mark = (k) => { const m = window.__rtBench.marks; if (!(k in m)) m[k] = performance.now(); };
window.__rtBenchMark = mark;
const fetch0 = window.fetch;
window.fetch = function (url, opts) {
  const p = fetch0.apply(this, arguments);
  if (window.__rtBench.armed && String(url).endsWith('/runs/search')) {
    mark('request_sent');
    p.then((r) => r.clone().text().then(() => mark('answer_received')), () => undefined);
  }
  return p;
};
document.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && e.target && e.target.id === 'filter') {
    window.__rtBench.marks = {}; window.__rtBench.armed = true; mark('enter');
  }
}, true);
"""
WATCH_ROWS = r"""(sel) => {
  const seen = new MutationObserver(() => {
    if (document.querySelector(sel)) { seen.disconnect(); window.__rtBenchMark('rows_in_dom'); }
  });
  seen.observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def stats(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
        "all": [round(v, 1) for v in values],
    }


def big_history_db(keys: int, points: int) -> Path:
    """A SQLite store with one run of ``keys`` metrics x ``points`` points, written as a
    training script would: numpy loaded, so the writes store the full chunks' envelopes."""
    import numpy  # noqa: F401  (a training script's: the writes store the envelopes)

    from runtrack.entities import MetricsRecord, RunBatch, RunSpec
    from runtrack.store.sql._downsample import envelopes_at_write
    from runtrack.store.sql.schema import SCHEMA_REVISION
    from runtrack.store.sql.store import SqlStore

    assert envelopes_at_write()
    CACHE.mkdir(parents=True, exist_ok=True)
    # "-wenv": written with the envelopes stored at write (older caches had none)
    path = CACHE / f"ui-{keys}x{points}-rev{SCHEMA_REVISION}-wenv.db"
    if (CACHE / (path.name + ".ok")).exists():
        return path
    for p in CACHE.glob(path.name + "*"):
        p.unlink()
    print(f"  writing {keys} metrics x {points:,} points...", flush=True)
    t0 = time.perf_counter()
    store = SqlStore(f"sqlite:///{path}", auto_upgrade=True)
    store.create_run(RunSpec(BIG_RUN, "big", "fifty-metrics", "bench", "bench", time.time()))
    names = tuple(f"metric_{i:02d}" for i in range(keys))
    rnd = random.Random(0)
    seq = 0
    for start in range(0, points, 50_000):
        records = []
        for step in range(start, min(points, start + 50_000)):
            seq += 1
            base = math.exp(-3 * step / points)
            values = [base * (1 + i / 10) + rnd.random() * 0.05 for i in range(keys)]
            records.append(MetricsRecord(seq, step, 1.79e9 + step * 0.01, names, values))
        store.write(RunBatch(BIG_RUN, "main", tuple(records)))
    store.close()
    print(f"  written in {time.perf_counter() - t0:.0f} s", flush=True)
    (CACHE / (path.name + ".ok")).write_text("ok")
    return path


def bench_runs(browser: Any, reps: int, rebuild: bool) -> dict[str, Any]:
    from bench_targets import PROJECT, cached_sqlite
    from playwright.sync_api import expect

    db, _ = cached_sqlite(100_000, "fast", rebuild)
    flt = "metrics.auc > 0.9 and config.optimizer = 'adam'"
    out: dict[str, Any] = {"runs": 100_000, "filter": flt}
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp), db=f"sqlite:///{db}") as srv:
        import httpx2

        count = httpx2.post(
            srv.url + "/api/v1/runs/count", json={"project": PROJECT, "filter": flt}, timeout=60
        ).json()["count"]
        out["filtered_count"] = count
        first = httpx2.post(
            srv.url + "/api/v1/runs/search",
            json={"project": PROJECT, "filter": flt, "limit": 1},
            timeout=60,
        ).json()["runs"][0]["id"]
        first_rows: list[float] = []
        filtered: list[float] = []
        counted: list[float] = []
        parts: dict[str, list[float]] = {
            "request_sent": [],
            "answer_received": [],
            "rows_in_dom": [],
        }
        for i in range(reps + 1):  # the first round warms the server and the OS cache
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            ctx.add_init_script(MARKS)
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(f"{srv.url}/ui/projects/{PROJECT}", wait_until="commit")
            page.locator(".rt-row [data-col='run.name'] a").first.wait_for()
            first_rows.append((time.perf_counter() - t0) * 1000)
            expect(page.get_by_test_id("run-count")).to_have_text("100,000 runs")
            page.fill("#filter", flt)
            row = f".rt-row[data-run='{first}'][aria-rowindex='2'] a"
            page.evaluate(WATCH_ROWS, row)
            t0 = time.perf_counter()
            page.press("#filter", "Enter")
            # the filtered rows are shown (the count may arrive after them)
            page.locator(row).wait_for()
            filtered.append((time.perf_counter() - t0) * 1000)
            marks = page.evaluate("() => window.__rtBench.marks")
            if i > 0 and all(k in marks for k in parts):
                for k, v in parts.items():
                    v.append(marks[k] - marks["enter"])
            expect(page.get_by_test_id("run-count")).to_have_text(f"{count:,} runs")
            counted.append((time.perf_counter() - t0) * 1000)
            ctx.close()
        out["first_rows_ms"] = stats(first_rows[1:])
        out["filter_ms"] = stats(filtered[1:])
        out["filter_count_shown_ms"] = stats(counted[1:])
        # where filter_ms goes, in the page (the rest: drawing, and Playwright seeing it)
        out["filter_in_page_ms"] = {k: stats(v) for k, v in parts.items() if v}
        out["first_rows_cold_ms"] = round(first_rows[0], 1)
    return out


def chart_visit(browser: Any, url: str, keys: int) -> float:
    """Navigate to the big run's page in a fresh context: ms until all charts are drawn."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    t0 = time.perf_counter()
    page.goto(f"{url}/ui/runs/{BIG_RUN}", wait_until="commit")
    page.wait_for_selector("[data-testid=chart][data-drawn]")
    while page.locator("[data-testid=chart][data-drawn]").count() < keys:
        time.sleep(0.005)
    ms = (time.perf_counter() - t0) * 1000
    drawn = page.locator("[data-testid=chart] canvas").count()
    assert drawn == keys, drawn
    ctx.close()
    return ms


def forget_envelopes(db: Path) -> int:
    """Delete the run's stored chunk envelopes and overviews (as if its charts were never
    viewed and it was written without numpy)."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM metric_overviews WHERE run_id = ?", (BIG_RUN,))
        n = conn.execute("DELETE FROM metric_envelopes WHERE run_id = ?", (BIG_RUN,)).rowcount
    return int(n)


def stored_envelopes(db: Path, table: str = "metric_envelopes") -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        q = f"SELECT count(*) FROM {table} WHERE run_id = ?"
        return int(conn.execute(q, (BIG_RUN,)).fetchone()[0])


def full_chunks(db: Path) -> int:
    import sqlite3

    from runtrack.store.sql._codec import CHUNK_POINTS

    with sqlite3.connect(db) as conn:
        q = "SELECT count(*) FROM metric_chunks WHERE run_id = ? AND n = ?"
        return int(conn.execute(q, (BIG_RUN, CHUNK_POINTS)).fetchone()[0])


def bench_charts(
    browser: Any, reps: int, keys: int, points: int, first_views: int, forget: bool
) -> dict[str, Any]:
    db = big_history_db(keys, points)
    out: dict[str, Any] = {"metrics": keys, "points_per_metric": points}
    out["full_chunks"] = full_chunks(db)
    out["envelopes_stored"] = stored_envelopes(db)  # by the writes (or an earlier read)
    out["overviews_stored"] = stored_envelopes(db, "metric_overviews")
    with tempfile.TemporaryDirectory() as tmp:
        # 1. the first visit in a server process that just started: the stored envelopes
        #    are read (the first of these is the run's first view ever when the database
        #    was just written); the last process then serves the repeat views, which find
        #    the envelopes in its memory
        first: list[float] = []
        for i in range(first_views):
            with LiveServer(Path(tmp), db=f"sqlite:///{db}") as srv:
                first.append(chart_visit(browser, srv.url, keys))
                if i == first_views - 1:
                    times = [chart_visit(browser, srv.url, keys) for _ in range(reps)]
        out["all_charts_first_view_ms"] = stats(first)
        out["all_charts_ms"] = stats(times)
        # 2. secondary: the run's first view without stored envelopes (written by a
        #    process without numpy): every chunk decoded, the envelopes stored by the read
        if forget:
            out["envelopes_forgotten"] = forget_envelopes(db)
            with LiveServer(Path(tmp), db=f"sqlite:///{db}") as srv:
                ms = chart_visit(browser, srv.url, keys)
            out["all_charts_no_stored_envelopes_ms"] = round(ms, 1)
            out["envelopes_stored_by_the_read"] = stored_envelopes(db)
            out["overviews_stored_by_the_read"] = stored_envelopes(db, "metric_overviews")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", choices=["runs", "charts"])
    ap.add_argument("--keys", type=int, default=50)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the 100,000-run database")
    ap.add_argument(
        "--first-views", type=int, default=3, help="fresh server processes for the first view"
    )
    ap.add_argument(
        "--no-forget",
        action="store_true",
        help="skip the secondary figure (a first view with the stored envelopes deleted)",
    )
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_before": loadavg(),
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        if args.only in (None, "runs"):
            results["run_table"] = bench_runs(browser, args.reps, args.rebuild)
            print(json.dumps(results["run_table"], indent=2), flush=True)
        if args.only in (None, "charts"):
            results["charts"] = bench_charts(
                browser, args.reps, args.keys, args.points, args.first_views, not args.no_forget
            )
            print(json.dumps(results["charts"], indent=2), flush=True)
        browser.close()
    results["load_after"] = loadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
