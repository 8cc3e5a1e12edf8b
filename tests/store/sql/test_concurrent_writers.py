"""Several processes (here: several ``SqlStore`` instances, each with its own connection
pool) writing one database at once, as several team-server processes do: things that
are created on first use (a project, an artifact) are created once, and nobody fails."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtrack.artifacts.manifest import manifest_digest
from runtrack.entities import ArtifactFile, ArtifactSpec, RunSpec
from runtrack.store.sql.store import SqlStore

WRITERS = 4


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[SqlStore]]:
    url = (
        f"sqlite:///{tmp_path / 'rt.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    SqlStore(url, auto_upgrade=True).close()  # the schema, once
    opened = [SqlStore(url) for _ in range(WRITERS)]
    yield opened
    for s in opened:
        s.close()


def _together(stores: list[SqlStore], work: Callable[[SqlStore, int], None]) -> None:
    """Run ``work`` in one thread per store, released at the same instant."""
    gate = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def go(store: SqlStore, i: int) -> None:
        try:
            gate.wait()
            work(store, i)
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def _spec(project: str) -> RunSpec:
    return RunSpec(
        id=uuid.uuid4().hex[:16],
        project=project,
        name="r",
        user="u",
        host="h",
        start_time=time.time(),
        config={"lr": 0.1},
    )


def test_the_first_runs_of_a_new_project_from_several_writers(stores: list[SqlStore]) -> None:
    for round_ in range(10):
        project = f"new-{round_}"
        _together(stores, lambda store, i, p=project: store.create_run(_spec(p)))  # type: ignore[misc]
        assert stores[0].count_runs(project) == WRITERS
    assert len(stores[0].list_projects()) == 10


def test_the_first_versions_of_a_new_artifact_from_several_writers(
    stores: list[SqlStore],
) -> None:
    run_ids = []
    for s in stores:
        run_ids.append(s.create_run(_spec("arts")).id)

    def log(store: SqlStore, i: int) -> None:
        files = (ArtifactFile("model.bin", f"{i:064x}", 10),)
        spec = ArtifactSpec(name="model", type="file", files=files, digest=manifest_digest(files))
        store.log_artifact(run_ids[i], spec)

    _together(stores, log)
    versions = {stores[0].get_artifact_version("arts", f"model:v{n}").digest for n in range(4)}
    expected = {manifest_digest((ArtifactFile("model.bin", f"{i:064x}", 10),)) for i in range(4)}
    assert versions == expected
