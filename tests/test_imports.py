"""`import runtrack` is cheap: no heavy library until a run starts."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "numpy",
    "boto3",
    "pandas",
    "torch",
    "optuna",
    "psutil",
    "rich",
    "click",
    "yaml",
    "omegaconf",
    "psycopg",
)


def test_import_runtrack_loads_no_heavy_module() -> None:
    code = (
        "import sys, json, time; t = time.perf_counter(); import runtrack; "
        "ms = (time.perf_counter() - t) * 1000; "
        f"print(json.dumps([ms, [m for m in {HEAVY!r} if m in sys.modules]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    ms, loaded = json.loads(out)
    assert loaded == []
    assert ms < 500  # the real budget (100 ms) is measured in benchmarks/, not here


def test_public_names_resolve_lazily() -> None:
    import runtrack

    for name in runtrack.__all__:
        assert getattr(runtrack, name) is not None
    assert issubclass(runtrack.errors.QueryError, runtrack.RuntrackError)
