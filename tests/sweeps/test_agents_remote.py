"""Agents as separate processes on one sweep through a real server on PostgreSQL: the
budget is exact, no trial is handed out twice, and an agent killed with SIGKILL leaves its
trial failed while the sweep goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtrack.store.rest import RestStore
from runtrack.testing.live import LiveServer

pytestmark = pytest.mark.postgres
SCRIPT = str(Path(__file__).with_name("_trial_script.py"))


def spec(trials: int) -> dict[str, object]:
    return {
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"distribution": "uniform", "min": -1.0, "max": 1.0},
            "opt": {"values": ["adam", "sgd"]},
        },
        "budget": {"trials": trials},
        "seed": 0,
        "command": [sys.executable, SCRIPT],
    }


@pytest.fixture
def server(tmp_path: Path, pg_url: str) -> Iterator[LiveServer]:
    db = pg_url.replace("postgresql+psycopg://", "postgresql://")
    srv = LiveServer(tmp_path / "srv", db=db, env={"RUNTRACK_CRASH_AFTER": "3"}).start()
    try:
        yield srv
    finally:
        srv.kill()


def agent(tmp_path: Path, url: str, sweep_id: str, name: str, **env: str) -> subprocess.Popen[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    e.update(
        RUNTRACK_URL=url,
        RUNTRACK_DIR=str(tmp_path / name),
        RUNTRACK_QUIET="1",
        RUNTRACK_CAPTURE_PACKAGES="0",
        RUNTRACK_SYSTEM_METRICS_INTERVAL="0",
        RUNTRACK_HEARTBEAT_INTERVAL="0.5",
        **env,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "runtrack.cli", "agent", sweep_id, "--json"],
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_agents_share_a_sweep_exactly(tmp_path: Path, server: LiveServer) -> None:
    store = RestStore(server.url)
    sw = store.create_sweep("team", spec(12), actor="ci")
    agents = [agent(tmp_path, server.url, sw.id, f"a{i}") for i in range(2)]
    for p in agents:
        _out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
    trials = store.sweep_trials(sw.id)
    assert [t.number for t in trials] == list(range(12))
    assert all(t.state == "complete" for t in trials), [(t.state, t.error) for t in trials]
    assert len({t.run_id for t in trials}) == 12
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 12  # none suggested twice
    final = store.get_sweep(sw.id)
    assert final.status == "finished" and final.budget_used == 12
    for t in trials:  # each trial's run holds what the trial process logged
        assert t.run_id is not None
        rec = store.get_run(t.run_id)
        assert rec.status == "finished" and rec.parent_id == sw.id
        assert rec.summary["loss"] == pytest.approx(t.value)
    store.close()


def test_an_agent_killed_mid_trial_leaves_it_failed(tmp_path: Path, server: LiveServer) -> None:
    store = RestStore(server.url)
    try:
        _killed_agent_case(tmp_path, server, store)
    finally:
        store.close()


def _killed_agent_case(tmp_path: Path, server: LiveServer, store: RestStore) -> None:
    sw = store.create_sweep("team", spec(4), actor="ci")
    slow = agent(tmp_path, server.url, sw.id, "slow", TRIAL_SLEEP="60")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = [t for t in store.sweep_trials(sw.id) if t.state == "running"]
            # the trial process has attached to its run (it records its provenance)
            if running and running[0].run_id and store.get_run(running[0].run_id).provenance:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the slow agent never started its trial")
    finally:
        os.kill(slow.pid, signal.SIGKILL)
        slow.communicate(timeout=30)
    killed = running[0]
    fast = agent(tmp_path, server.url, sw.id, "fast")
    _out, err = fast.communicate(timeout=240)
    assert fast.returncode == 0, err[-3000:]
    # the fast agent may run the other 3 trials before the killed one's run has gone
    # 3 s (RUNTRACK_CRASH_AFTER) without a beat; it then stops, the budget handed out,
    # and the next read of the sweep settles the dead trial (no agent needs to ask again)
    deadline = time.monotonic() + 30
    while True:
        trials = {t.number: t for t in store.sweep_trials(sw.id)}
        if trials[killed.number].state != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert trials[killed.number].state == "failed"
    assert trials[killed.number].error, "a failed trial says why"
    assert [t.state for n, t in sorted(trials.items()) if n != killed.number] == ["complete"] * 3
    final = store.get_sweep(sw.id)
    assert final.status == "finished" and final.budget_used == 4
    assert final.counts == {"failed": 1, "complete": 3}
