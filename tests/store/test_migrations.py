"""Migrations are a feature: they build exactly the declared schema, and databases
written by every released schema keep opening."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from runtrack.errors import SchemaVersionError
from runtrack.store.sql._engine import make_engine
from runtrack.store.sql._migrate import MIGRATIONS, current_revision, upgrade
from runtrack.store.sql.schema import SCHEMA_REVISION, metadata
from runtrack.store.sql.store import SqlStore

DATA = Path(__file__).parent / "data"


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    return diff


def test_migrations_build_the_declared_schema_sqlite(tmp_path: Path) -> None:
    assert _diff(f"sqlite:///{tmp_path / 'm.db'}") == []


@pytest.mark.postgres
def test_migrations_build_the_declared_schema_postgres(pg_url: str) -> None:
    assert _diff(pg_url) == []


def _down_and_up(url: str) -> None:
    """The latest migration reverts cleanly and applies again."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url)
    upgrade(engine)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    assert current_revision(engine) == str(int(SCHEMA_REVISION) - 1).zfill(4)
    engine.dispose()
    assert _diff(url) == []


def test_the_latest_migration_reverts_sqlite(tmp_path: Path) -> None:
    _down_and_up(f"sqlite:///{tmp_path / 'd.db'}")


@pytest.mark.postgres
def test_the_latest_migration_reverts_postgres(pg_url: str) -> None:
    _down_and_up(pg_url)


def test_head_revision_is_the_one_the_code_expects() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_REVISION


@pytest.mark.parametrize("db", sorted(DATA.glob("schema_*.db")), ids=lambda p: p.stem)
def test_stored_databases_of_released_schemas_open(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / db.name
    shutil.copy(db, copy)
    url = f"sqlite:///{copy}"
    store = SqlStore(url, auto_upgrade=True)
    r = store.get_run("fixture0run00001")
    assert r.config == {"lr": 0.01, "model": {"depth": 3}} and r.status == "finished"
    h = store.get_history(r.id, ["acc"])
    assert math.isnan(h["acc"].value[3]) and list(h["acc"].step) == list(range(10))
    assert [x.id for x in store.search_runs("fixture", filter="metrics.loss < 0.2")] == [r.id]
    store.close()
    assert current_revision(make_engine(url)) == SCHEMA_REVISION


def test_outdated_or_foreign_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaVersionError, match="newer"):
        SqlStore(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    with pytest.raises(SchemaVersionError, match="not created by runtrack"):
        SqlStore(url)
    engine.dispose()
