"""Helpers shared by test modules (importable as ``_support``: ``tests/`` is on sys.path).

Fixtures live in the conftest files; plain functions and types live here, so a test
module never has to guess which of several ``conftest`` modules an import resolves to.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI

AppFactory = Callable[..., FastAPI]


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a child process using its own embedded store under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env.update(
        RUNTRACK_DIR=str(tmp_path / "rt"),
        RUNTRACK_QUIET="1",
        RUNTRACK_SYSTEM_METRICS_INTERVAL="0",
        RUNTRACK_CAPTURE_PACKAGES="0",
    )
    env.update(extra)
    return env


HYDRA_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hydra_sweep" / "train.py"


def run_hydra_example(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``examples/hydra_sweep/train.py -m hydra/sweeper=runtrack ARGS`` in a subprocess,
    its outputs under ``tmp_path``, its store the test's."""
    return subprocess.run(
        [
            sys.executable,
            str(HYDRA_EXAMPLE),
            "-m",
            "hydra/sweeper=runtrack",
            *args,
            f"hydra.run.dir={tmp_path / 'outputs'}",
            f"hydra.sweep.dir={tmp_path / 'multirun'}",
        ],
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- a real S3: moto's standalone server in a process of its own --------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A moto server on a free loopback port; returns the process and its URL."""
    import httpx2

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx2.get(f"{url}/moto-api/", timeout=1.0)
            return proc, url
        except httpx2.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the moto server did not start") from None
            time.sleep(0.05)


def stop_moto(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def s3_client(endpoint: str, **credentials: str) -> Any:
    """A client configured as ``make_s3_client`` makes them, with test credentials."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials.get("key", "testing"),
        aws_secret_access_key=credentials.get("secret", "testing"),
        config=Config(
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 3},
            s3={"addressing_style": "path"},
        ),
    )


def empty_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def run_spec(project: str, **fields: Any) -> dict[str, Any]:
    """The JSON spec of a new run in ``project`` for POST /api/v1/runs (``fields`` added)."""
    import time
    import uuid

    return {
        "id": uuid.uuid4().hex,
        "project": project,
        "name": "r",
        "user": "u",
        "host": "h",
        "start_time": time.time(),
        **fields,
    }


PG_ADMIN_URL = os.environ.get(
    "RUNTRACK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database (its URL), dropped on exit; for fixtures of any scope."""
    from sqlalchemy import create_engine, text

    name = f"runtrack_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def as_from_a_terminal() -> None:
    """``preexec_fn`` of a child that a test stops with SIGINT: Ctrl-C raises
    KeyboardInterrupt there, as in a script started from a terminal, even when the tests
    run in a background job (a shell without job control starts those with SIGINT
    ignored, and a child inherits that)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
