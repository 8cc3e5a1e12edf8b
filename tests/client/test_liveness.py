"""A live run is never seen crashed: its heartbeat keeps within RUNTRACK_CRASH_AFTER."""

from __future__ import annotations

import time

import pytest

import runtrack
from runtrack.settings import load


def test_the_beat_is_at_most_a_third_of_crash_after() -> None:
    assert load(environ={}).beat_every == 10.0
    assert load(environ={"RUNTRACK_CRASH_AFTER": "3"}).beat_every == 1.0
    assert load(environ={"RUNTRACK_HEARTBEAT_INTERVAL": "0.5"}).beat_every == 0.5


@pytest.mark.usefixtures("sdk")
def test_a_short_crash_after_does_not_crash_a_live_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # before: with the default 10 s beat, a run was read as crashed 3 s into its life
    monkeypatch.setenv("RUNTRACK_CRASH_AFTER", "3")
    run = runtrack.init(project="alive")
    api = runtrack.Api()
    seen = []
    for i in range(9):
        run.log({"x": float(i)})
        time.sleep(0.5)
        seen.append(api.run(run.id).status)
    run.finish()
    assert seen == ["running"] * 9
    assert api.run(run.id).status == "finished"
