"""`--env new`: a fresh virtual environment with the recorded package versions (every
package of this environment, from the package index: minutes, so marked slow)."""

from __future__ import annotations

import pytest
from _repro import Project, reproduce

import runtrack


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_fresh_venv_with_the_recorded_packages_reproduces(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTRACK_CAPTURE_PACKAGES", "1")
    original = project.train("--seed-everything")

    code, doc, _ = reproduce("reproduce", original, "--verify", "--env", "new")

    assert code == 0 and doc["verdict"] == "reproduced", doc
    env = doc["environment"]
    assert env["mode"] == "new" and env["failed"] == []
    assert {s["name"] for s in env["skipped"]} >= {"runtrack", "pip"}
    api = runtrack.Api()
    old = api.run(original).provenance["environment"]
    new = api.run(doc["reproduction"]).provenance["environment"]
    assert new["python"]["executable"].startswith(env["venv"])
    assert new["python"]["version"] == old["python"]["version"]
    differ = {
        k
        for k in {*old["packages"], *new["packages"]}
        if old["packages"].get(k) != new["packages"].get(k)
    }
    assert differ <= {"pip"}  # runtrack too: the running one, under its own version
