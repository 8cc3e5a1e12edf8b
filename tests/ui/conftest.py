"""Browser tests: real headless Chromium (Debian's, driven by Playwright) against a real
``runtrack server``, with runs created by the SDK.

Chromium comes from the system (``apt-get install chromium``, done by
``scripts/setup.sh``); Playwright never downloads a browser here. Screenshots of the
main pages go to ``tests/ui/artifacts/`` (git-ignored), kept as CI artifacts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtrack.testing.live import LiveServer

CHROMIUM = Path(os.environ.get("RUNTRACK_CHROMIUM", "/usr/bin/chromium"))
HERE = Path(__file__).parent
SHOTS = HERE / "artifacts"
DIST = HERE.parents[1] / "src" / "runtrack" / "server" / "ui_dist" / "index.html"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"no Chromium at {CHROMIUM}: run scripts/setup.sh as root (apt-get install "
        "chromium), or set RUNTRACK_CHROMIUM"
    )
    for item in items:
        if item.path.parent == HERE and "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@dataclass
class Site:
    url: str
    run_ids: list[str]
    xss_run: str
    data_dir: Path


def client_env(url: str, data_dir: Path) -> dict[str, str]:
    """The environment of an SDK process writing to the server at ``url``, as a training
    script would: none of this process's RUNTRACK_ settings, quiet, no system metrics or
    package capture (they only slow the tests)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env.update(
        RUNTRACK_URL=url,
        RUNTRACK_DIR=str(data_dir),
        RUNTRACK_QUIET="1",
        RUNTRACK_SYSTEM_METRICS_INTERVAL="0",
        RUNTRACK_CAPTURE_PACKAGES="0",
    )
    return env


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not DIST.exists():
        pytest.fail("the web UI is not built: run scripts/build_ui.sh (npm ci + npm run build)")
    root = tmp_path_factory.mktemp("ui")
    with LiveServer(root / "server") as server:
        env = client_env(server.url, root / "client")
        out = subprocess.run(
            [sys.executable, str(HERE / "_data.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        ids = out.stdout.strip().splitlines()[-1].split(",")
        yield Site(server.url, ids[:-1], ids[-1], root)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh context per test; fails the test on a page error or a CSP violation."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="Asia/Tokyo")
    p = context.new_page()
    problems: list[str] = []
    p.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    p.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    p.set_default_timeout(10_000)
    yield p
    context.close()
    assert problems == []


def screenshot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
