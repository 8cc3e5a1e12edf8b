"""``run.log_artifact`` of a 1 GB directory to the embedded local store: first log,
unchanged re-log (hash cache), re-log after touching one file and after changing one.

The directory (made once, deterministic and incompressible: 4 files of 128 MiB, 200 of
1.5 MiB, 5,000 of 40 KiB in 50 subdirectories, 1.06 GB) lives in a scratch directory on
the same disk as the store. Each repetition runs in a fresh interpreter with a fresh
``RUNTRACK_DIR`` (empty store, empty hash cache) and times, with the real SDK
(``runtrack.init`` + ``run.log_artifact(dir, name=...)``, one run each):

1. *first*: the first log (every file read, hashed, written to the store, fsynced);
2. *unchanged*: a new run logs the same directory again (the hash cache: no file read);
3. *touched*: one 40 KiB file's mtime moved (``os.utime``): it alone is read again;
4. *changed*: one 1.5 MiB file rewritten with new bytes: it alone is read, a v1 stored.

MB/s are the directory's bytes (10^6) over the ``log_artifact`` call's time; medians over
the repetitions. When the MLflow anchor venv exists (``/tmp/anchors``, see README
"Reproduce"), ``mlflow.log_artifacts`` of the same directory to a fresh local file store
is timed too, in the same run (SQLite tracking store, a local artifact directory on
the same disk; MLflow copies the files and hashes nothing).

    .venv/bin/python benchmarks/artifact_log.py --out benchmarks/results/artifact_log.json
    .venv/bin/python benchmarks/artifact_log.py --reps 5 --work /var/tmp/al   # elsewhere
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
from pathlib import Path
from typing import Any

MIB = 1 << 20
LAYOUT = (  # (count, size, directory)
    (4, 128 * MIB, "large"),
    (200, 3 * MIB // 2, "medium"),
    (5000, 40 * 1024, "small"),
)
ANCHOR_PYTHON = Path("/tmp/anchors/bin/python")

CHILD = r"""
import json, os, sys, time
from pathlib import Path
import runtrack

data = Path(sys.argv[1])
total = int(sys.argv[2])
out = {}

def log(label, project="bench"):
    run = runtrack.init(project=project)
    t = time.perf_counter()
    version = run.log_artifact(data, name="data")
    out[label] = time.perf_counter() - t
    out[label + "_version"] = version.version
    run.finish()

log("first")
log("unchanged")
small = data / "small" / "d07" / "f0042.bin"
st = small.stat()
os.utime(small, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
log("touched")
medium = data / "medium" / "f0123.bin"
original, before = medium.read_bytes(), medium.stat()
medium.write_bytes(os.urandom(len(original)))
try:
    log("changed")
finally:
    medium.write_bytes(original)
    os.utime(medium, ns=(before.st_atime_ns, before.st_mtime_ns))
print(json.dumps(out))
"""

MLFLOW_CHILD = r"""
import json, os, sys, time
import mlflow
work = sys.argv[2]
os.makedirs(work, exist_ok=True)
mlflow.set_tracking_uri("sqlite:///" + os.path.join(work, "mlflow.db"))
eid = mlflow.create_experiment("bench", artifact_location="file://" + os.path.join(work, "art"))
with mlflow.start_run(experiment_id=eid):
    t = time.perf_counter()
    mlflow.log_artifacts(sys.argv[1], artifact_path="data")
    print(json.dumps({"first": time.perf_counter() - t}))
"""


def make_dataset(root: Path) -> int:
    """The directory, made once (kept between invocations if ``root`` is reused)."""
    marker = root / ".complete"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        n = 0
        for count, size, name in LAYOUT:
            for i in range(count):
                sub = root / name / (f"d{i // 100:02d}" if count > 1000 else "")
                sub.mkdir(parents=True, exist_ok=True)
                (sub / f"f{i % 100 if count > 1000 else i:04d}.bin").write_bytes(
                    random.Random(n).randbytes(size)
                )
                n += 1
        marker.write_text("ok")
    return sum(p.stat().st_size for p in root.rglob("*.bin"))


def child_env(rt_dir: Path, src: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    if src is not None:  # another source tree of runtrack (an older checkout, to compare)
        env["PYTHONPATH"] = str(src)
    env.update(
        RUNTRACK_DIR=str(rt_dir),
        RUNTRACK_QUIET="1",
        RUNTRACK_CAPTURE_PACKAGES="0",
        RUNTRACK_CAPTURE_GIT="0",
        RUNTRACK_SYSTEM_METRICS_INTERVAL="0",
        RUNTRACK_CONSOLE="0",
    )
    return env


def settle(seconds: float = 3.0) -> None:
    """Let the disk catch up (writeback, discards of a deleted store) between figures."""
    os.sync()
    time.sleep(seconds)


def run_runtrack(
    data: Path, total: int, work: Path, rep: int, src: Path | None = None
) -> dict[str, float]:
    # a new RUNTRACK_DIR per repetition, all deleted at the end: deleting a store right
    # before the next figure would charge it for the disk's discards and for ext4's
    # inode allocator skipping inodes freed in the last ~30 s
    rt = work / f"rt{rep}"
    settle()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(total)],
        env=child_env(rt, src),
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    doc: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["first_version"] == "v0" and doc["unchanged_version"] == "v0", doc
    assert doc["touched_version"] == "v0" and doc["changed_version"] == "v1", doc
    return {k: float(v) for k, v in doc.items() if not k.endswith("_version")}


def mlflow_available() -> bool:
    if not ANCHOR_PYTHON.exists():
        return False
    probe = subprocess.run([str(ANCHOR_PYTHON), "-c", "import mlflow"], capture_output=True)
    return probe.returncode == 0


def run_mlflow(data: Path, work: Path, rep: int) -> float:
    store = work / f"mlruns{rep}"
    settle()
    out = subprocess.run(
        [str(ANCHOR_PYTHON), "-c", MLFLOW_CHILD, str(data), str(store)],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["first"])


def summary(seconds: list[float], total: int) -> dict[str, Any]:
    rates = [total / s / 1e6 for s in seconds]
    return {
        "seconds": seconds,
        "mb_per_s": rates,
        "median_s": statistics.median(seconds),
        "median_mb_per_s": statistics.median(rates),
        "min_mb_per_s": min(rates),
        "max_mb_per_s": max(rates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (kept)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument(
        "--src", type=Path, default=None, help="run this runtrack source tree (its src/)"
    )
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="rt-artifact-log-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    started = time.time()
    load_start = os.getloadavg()[0]
    t = time.perf_counter()
    total = make_dataset(data)
    print(f"dataset: {total / 1e9:.3f} GB in {time.perf_counter() - t:.1f} s", flush=True)
    settle(5.0)  # older than the hash cache's 2 s "racy" window, and written back

    samples: dict[str, list[float]] = {k: [] for k in ("first", "unchanged", "touched", "changed")}
    for rep in range(args.reps):
        got = run_runtrack(data, total, work, rep, args.src)
        for k, v in got.items():
            samples[k].append(v)
        print(
            f"rep {rep + 1}: "
            + ", ".join(f"{k} {total / v / 1e6:,.0f} MB/s ({v:.2f} s)" for k, v in got.items()),
            flush=True,
        )
    mlflow: list[float] = []
    use_mlflow = not args.no_mlflow and mlflow_available()
    if use_mlflow:
        for rep in range(args.reps):
            mlflow.append(run_mlflow(data, work, rep))
            print(f"mlflow rep {rep + 1}: {total / mlflow[-1] / 1e6:,.0f} MB/s", flush=True)
    else:
        why = "--no-mlflow" if args.no_mlflow else "no /tmp/anchors venv with mlflow"
        print(f"MLflow: skipped ({why})", flush=True)

    doc: dict[str, Any] = {
        "benchmark": "artifact_log",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg()[0],
        },
        "dataset": {
            "bytes": total,
            "files": sum(c for c, _, _ in LAYOUT),
            "layout": [{"count": c, "size": s, "dir": d} for c, s, d in LAYOUT],
        },
        "reps": args.reps,
        "src": None if args.src is None else str(args.src),
        "runtrack": {k: summary(v, total) for k, v in samples.items()},
        "mlflow_log_artifacts": summary(mlflow, total) if mlflow else None,
        "mlflow_note": None if use_mlflow else "skipped",
        "targets": {"first_mb_per_s": 300, "unchanged_mb_per_s": 1000},
    }
    print(json.dumps({k: round(v["median_mb_per_s"]) for k, v in doc["runtrack"].items()}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for made in [*work.glob("rt[0-9]*"), *work.glob("mlruns[0-9]*")]:
        shutil.rmtree(made, ignore_errors=True)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
