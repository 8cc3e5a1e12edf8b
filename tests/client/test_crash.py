"""Processes that die mid-logging lose nothing; many processes share one embedded store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _support import subprocess_env

CHILD = textwrap.dedent("""
    import sys, runtrack
    run = runtrack.init(project="crash", config={"n": 1})
    print(run.id, flush=True)
    i = 0
    while True:
        run.log({"i": float(i), "sq": float(i * i)}, step=i)
        i += 1
        if i % 2000 == 0:
            print(i, flush=True)   # every step < i has been accepted by log()
""")


def _env(tmp_path: Path) -> dict[str, str]:
    # ship late: the kill lands with data unshipped
    return subprocess_env(tmp_path, RUNTRACK_FLUSH_INTERVAL="5")


def _runtrack(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtrack.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("rounds", [3])
def test_sigkill_mid_logging_then_sync_loses_nothing(tmp_path: Path, rounds: int) -> None:
    env = _env(tmp_path)
    for attempt in range(rounds):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        accepted = 0
        target = 6000 + 4000 * attempt
        while accepted < target:
            accepted = int(child.stdout.readline())
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()

        done = _runtrack(env, "sync", "--json")
        assert done.returncode == 0, done.stderr
        again = _runtrack(env, "sync", "--json")
        assert (
            '"synced": []' in again.stdout.replace("\n", "").replace("  ", "")
            or '"records": 0' in again.stdout
        )

        import runtrack
        from runtrack.client._state import STATE

        STATE.stores.clear()
        r = runtrack.Api(f"sqlite:///{tmp_path / 'rt' / 'runtrack.db'}").run(run_id)
        h = r.history(["i", "sq"])
        steps = h["i"]["step"]
        assert steps == list(range(len(steps))), "gaps or duplicates"
        assert len(steps) >= accepted
        assert h["i"]["value"] == [float(s) for s in steps]
        assert h["sq"]["value"] == [float(s * s) for s in steps]
        assert r.status == "crashed" and "journal" in (r.error or "")
        assert list((tmp_path / "rt" / "journals").glob("*.rtj")) == []


WORKER = textwrap.dedent("""
    import sys, runtrack
    n = int(sys.argv[1])
    with runtrack.init(project="many", config={"worker": int(sys.argv[2])}) as run:
        for i in range(n):
            run.log({"a": float(i), "b": 1.0})
            if i % 500 == 0:
                run.summary["progress"] = i
    print(run.id)
""")


def test_eight_processes_one_embedded_store(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env["RUNTRACK_FLUSH_INTERVAL"] = "0.05"  # many small transactions: maximum contention
    n = 5000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(n), str(w)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err
    import runtrack

    api = runtrack.Api(f"sqlite:///{tmp_path / 'rt' / 'runtrack.db'}")
    runs = api.runs("many")
    assert len(runs) == 8
    for r in runs:
        assert r.status == "finished"
        assert r.metrics["a"].count == n and r.metrics["b"].count == n
        assert r.history("a")["a"]["value"] == [float(i) for i in range(n)]
    assert sorted(r.config["worker"] for r in runs) == list(range(8))
    assert not list((tmp_path / "rt" / "journals").glob("*.rtj"))
