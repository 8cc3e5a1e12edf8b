"""The command line, as people and scripts use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import runtrack
from runtrack.cli import cli
from runtrack.client._state import STATE
from runtrack.store.sql.schema import SCHEMA_REVISION


@pytest.fixture(autouse=True)
def _sdk(sdk: None) -> None:
    """Every test here uses the quiet SDK fixture of conftest."""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _runs() -> list[str]:
    ids = []
    for i, lr in enumerate((0.1, 0.01, 0.001)):
        with runtrack.init(
            project="churn", config={"lr": lr, "depth": i}, tags={"stage": "dev"}
        ) as run:
            for step in range(20):
                run.log({"loss": lr * (20 - step), "auc": 0.8 + i / 100})
            run.summary["best"] = i
        ids.append(run.id)
    return ids


def test_ls_table_and_json() -> None:
    ids = _runs()
    code, out, _ = invoke("ls", "churn")
    assert code == 0
    for i in ids:
        assert i in out
    assert "metrics.auc" in out and "config.lr" in out
    code, out, _ = invoke(
        "ls", "churn", "--filter", "config.lr < 0.05", "--sort", "metrics.auc desc", "--json"
    )
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [ids[2], ids[1]]
    assert rows[0]["config"]["lr"] == 0.001 and rows[0]["status"] == "finished"
    code, out, _ = invoke("ls", "--limit", "1", "--json")
    assert len(json.loads(out)) == 1


def test_show_by_id_prefix_and_latest() -> None:
    ids = _runs()
    code, out, _ = invoke("show", ids[0][:8])
    assert code == 0 and ids[0] in out and "config" in out and "loss" in out
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")  # the sparkline of the loss curve
    code, out, _ = invoke("show", "latest", "--json")
    doc = json.loads(out)
    assert doc["id"] == ids[2] and doc["summary"]["best"] == 2
    assert "git" in doc["provenance"] and "command" in doc["provenance"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (("ls", "--filter", "metrics.auc >"), "position"),
        (("ls", "--filter", "bogus.x = 1"), "position"),
        (("ls", "--sort", "metrics.auc sideways"), "position"),
        (("show", "zzzzzzzzzzzzzzzz"), "no run"),
        (("show", "../../etc/passwd"), "run reference"),
        (("ls", "not a project!"), "project name"),
    ],
)
def test_bad_input_gets_a_clear_error_not_a_traceback(args: tuple[str, ...], needle: str) -> None:
    _runs()
    code, out, err = invoke(*args)
    assert code != 0
    assert needle in err and "Traceback" not in err + out
    code, out, _ = invoke(*args, "--json")
    assert code != 0 and "code" in json.loads(out)["error"]


def test_every_command_has_help_and_json() -> None:
    from runtrack.cli import COMMANDS

    for name in COMMANDS:
        code, out, _ = invoke(name, "--help")
        assert code == 0 and "Usage" in out
        if name != "db":
            assert "--json" in out
    for sub in ("current", "upgrade"):
        code, out, _ = invoke("db", sub, "--help")
        assert code == 0 and "--json" in out


def test_db_current_and_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code, out, _ = invoke("db", "current", "--db", url, "--json")
    assert json.loads(out)["revision"] is None
    code, out, _ = invoke("db", "upgrade", "--db", url, "--json")
    assert code == 0 and json.loads(out)["to"] == SCHEMA_REVISION
    code, out, _ = invoke("db", "current", "--db", url)
    assert "up to date" in out


def test_gc_deletes_only_unreferenced_old_blobs(tmp_path: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"weights" * 100)
    with runtrack.init(project="p") as run:
        run.log_artifact(f, name="m")
    arts = STATE.artifact_stores[next(iter(STATE.artifact_stores))]
    orphan = arts.put_bytes(b"nobody references me").digest
    code, out, _ = invoke("gc", "--json")
    doc = json.loads(out)
    assert doc["deleted"] == [] and doc["kept_recent"] == 1  # within the grace period
    code, out, _ = invoke("gc", "--grace", "0", "--dry-run", "--json")
    assert json.loads(out)["deleted"] == [orphan] and arts.exists(orphan)
    code, out, _ = invoke("gc", "--grace", "0")
    assert code == 0 and "deleted 1 blobs" in out
    assert not arts.exists(orphan)
    out_dir = runtrack.Api().download_artifact("m", tmp_path / "dl", project="p")
    assert (out_dir / "model.bin").read_bytes() == b"weights" * 100


def test_sync_with_nothing_to_do() -> None:
    code, out, _ = invoke("sync")
    assert code == 0 and "nothing to sync" in out
    code, out, _ = invoke("sync", "--json")
    assert json.loads(out) == {"synced": []}
