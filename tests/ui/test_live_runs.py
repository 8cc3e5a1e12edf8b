"""Runs created while the run table is open arrive in it: at the top when the table is
scrolled to its top (newest first), else announced by a bar that shows them on a click
(the rows the user is looking at do not move). A grouped view's counts and means follow."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from playwright.sync_api import expect

from conftest import Site, client_env, screenshot

PROJECT = "ui-live"
WAIT = 30_000  # the table asks every 5 s; the machine is shared


def create_runs(
    site: Site, names: list[str], project: str = PROJECT, kind: str | None = None, loss: float = 1.0
) -> None:
    """Runs created by the SDK in another process, as a training script would."""
    env = client_env(site.url, site.data_dir / "client-live")
    config = {} if kind is None else {"kind": kind}
    code = (
        "import sys, runtrack\n"
        "for name in sys.argv[1:]:\n"
        f"    with runtrack.init(project={project!r}, name=name, config={config!r}) as run:\n"
        f"        run.log({{'loss': {loss!r}}}, step=0)\n"
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


def group_cells(page: Any, value: str) -> list[str]:
    return page.get_by_test_id("groups").locator(f"tr[data-group='{value}'] td").all_inner_texts()


def test_groups_follow_new_runs(page: Any, site: Site) -> None:
    project = "ui-live-groups"
    create_runs(site, ["a-1", "a-2"], project=project, kind="a", loss=1.0)
    create_runs(site, ["b-1"], project=project, kind="b", loss=3.0)
    page.goto(site.url + f"/ui/projects/{project}?group=config.kind&gmetric=loss")
    groups = page.get_by_test_id("groups")
    expect(groups.locator("tbody tr")).to_have_count(2)
    a = groups.locator("tr[data-group=a]")
    expect(a.locator("td").nth(1)).to_have_text("2")
    assert float(group_cells(page, "a")[3]) == 1.0
    expect(groups.locator("caption")).to_contain_text("3 runs in 2 groups")

    # runs arrive while the page is open: a group grows and its mean moves, a new group shows
    create_runs(site, ["a-3", "a-4"], project=project, kind="a", loss=2.0)
    create_runs(site, ["c-1"], project=project, kind="c", loss=5.0)
    expect(a.locator("td").nth(1)).to_have_text("4", timeout=WAIT)
    expect(groups.locator("tr[data-group=c] td").nth(1)).to_have_text("1", timeout=WAIT)
    expect(groups.locator("caption")).to_contain_text("6 runs in 3 groups")
    cells = group_cells(page, "a")
    assert cells[2] == "4" and float(cells[3]) == 1.5, cells
    low, high = (float(x) for x in cells[4].split(" \N{EN DASH} "))
    assert low < 1.5 < high
    screenshot(page, "run-table-groups-live")
