"""Runs created while the run table is open arrive in it: at the top when the table is
scrolled to its top (newest first), else announced by a bar that shows them on a click
(the rows the user is looking at do not move)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from playwright.sync_api import expect

from conftest import Site, screenshot

PROJECT = "ui-live"
WAIT = 30_000  # the table asks every 5 s; the machine is shared


def create_runs(site: Site, names: list[str]) -> None:
    """Runs created by the SDK in another process, as a training script would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env.update(
        RUNTRACK_URL=site.url,
        RUNTRACK_DIR=str(site.data_dir / "client-live"),
        RUNTRACK_QUIET="1",
        RUNTRACK_SYSTEM_METRICS_INTERVAL="0",
        RUNTRACK_CAPTURE_PACKAGES="0",
    )
    code = (
        "import sys, runtrack\n"
        "for name in sys.argv[1:]:\n"
        f"    with runtrack.init(project={PROJECT!r}, name=name) as run:\n"
        "        run.log({'loss': 1.0}, step=0)\n"
    )
    subprocess.run([sys.executable, "-c", code, *names], env=env, check=True, timeout=120)


def top_name(page: Any) -> str:
    return page.locator(".rt-row[aria-rowindex='2'] [data-col='run.name']").inner_text()


def test_new_runs_arrive_in_the_run_table(page: Any, site: Site) -> None:
    create_runs(site, [f"old-{i:02d}" for i in range(40)])
    page.goto(site.url + f"/ui/projects/{PROJECT}")
    count = page.get_by_test_id("run-count")
    expect(count).to_have_text("40 runs")
    page.wait_for_selector("[data-testid=run-grid][data-watching=true]")
    expect(page.locator(".rt-row[aria-rowindex='2'] [data-col='run.name']")).to_have_text("old-39")

    # scrolled to the top: a new run appears there, and the count follows
    create_runs(site, ["new-a"])
    expect(page.locator(".rt-row[aria-rowindex='2'] [data-col='run.name']")).to_have_text(
        "new-a", timeout=WAIT
    )
    expect(count).to_have_text("41 runs")
    expect(page.get_by_test_id("new-runs")).to_have_count(0)

    # scrolled down: the rows stay where they are, a bar says how many arrived
    rows = page.get_by_test_id("run-rows")
    rows.evaluate("el => { el.scrollTop = 400; }")
    page.wait_for_function(
        "document.querySelector('[data-testid=run-rows]').scrollTop >= 400", timeout=WAIT
    )
    visible = page.locator(".rt-row[aria-rowindex='15'] [data-col='run.name']")
    expect(visible).to_have_text("old-27")
    create_runs(site, ["new-b", "new-c"])
    bar = page.get_by_test_id("new-runs")
    expect(bar).to_contain_text("2 new runs (43 in all)", timeout=WAIT)
    assert rows.evaluate("el => el.scrollTop") >= 400
    expect(visible).to_have_text("old-27")
    expect(count).to_have_text("41 runs")
    screenshot(page, "run-table-new-runs")
    bar.get_by_role("button", name="Show").click()
    expect(bar).to_have_count(0)
    expect(count).to_have_text("43 runs")
    expect(page.locator(".rt-row[aria-rowindex='2'] [data-col='run.name']")).to_have_text("new-c")
    assert rows.evaluate("el => el.scrollTop") < 5
    # the rows further down were fetched again, shifted by the new runs
    expect(page.locator(".rt-row[aria-rowindex='4'] [data-col='run.name']")).to_have_text("new-a")

    # another order: new runs are announced, and "Reload" loads the view again
    page.goto(site.url + f"/ui/projects/{PROJECT}?sort=run.name%20asc")
    expect(count).to_have_text("43 runs")
    expect(page.locator(".rt-row[aria-rowindex='2'] [data-col='run.name']")).to_have_text("new-a")
    page.wait_for_selector("[data-testid=run-grid][data-watching=true]")
    create_runs(site, ["aaa-first"])
    expect(bar).to_contain_text("1 new run", timeout=WAIT)
    bar.get_by_role("button", name="Reload").click()
    expect(count).to_have_text("44 runs")
    expect(page.locator(".rt-row[aria-rowindex='2'] [data-col='run.name']")).to_have_text(
        "aaa-first"
    )
