"""The run table grouped by a config key in a real browser: count, mean and 95 % CI of a
metric per group (from the server), a group's runs shown by one click; the column picker
offers the project's keys."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from conftest import Site, screenshot


def test_group_by_a_config_key(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-demo")
    page.wait_for_selector(".rt-row [data-col='run.name'] a")
    page.get_by_label("Group by").select_option("config.model.kind")
    page.wait_for_url(re.compile(r"group=config.model.kind"))
    page.get_by_label("metric", exact=True).select_option("loss")
    page.wait_for_url(re.compile(r"gmetric=loss"))
    groups = page.get_by_test_id("groups")
    expect(groups.locator("tbody tr")).to_have_count(3)
    gbm = groups.locator("tr[data-group=gbm]")
    # the metric's statistics arrive after the groups: wait for the interval cell
    expect(gbm.locator("td").nth(4)).to_contain_text("\N{EN DASH}")
    cells = gbm.locator("td").all_inner_texts()
    assert cells[1] == "12" and cells[2] == "12", cells  # runs, runs with loss
    low, high = (float(x) for x in cells[4].split(" \N{EN DASH} "))
    assert low < float(cells[3]) < high
    missing = groups.locator("tr[data-group='(missing)']")
    assert missing.locator("td").nth(1).inner_text() == "3"
    screenshot(page, "run-table-groups")
    gbm.get_by_role("button", name="show runs").click()
    expect(page.get_by_test_id("run-count")).to_have_text("12 runs")
    assert "group=" not in page.url and "filter=config.model.kind" in page.url


def test_the_column_picker_offers_the_projects_keys(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-demo?filter=run.name%20%3D%20'run-00'")
    expect(page.get_by_test_id("run-count")).to_have_text("1 runs")
    page.locator(".picker summary").click()
    # the XSS run's payload key and the models' "auc" are not in the one run shown
    body = page.locator(".picker-body")
    expect(body.get_by_label("auc", exact=True)).to_have_count(1)
    expect(body.get_by_label("nested.html", exact=True)).to_have_count(1)


def test_keyboard_navigation_of_the_run_table(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-demo?sort=run.name%20asc")
    page.wait_for_selector(".rt-row [data-col='run.name'] a")
    grid = page.get_by_test_id("run-grid")
    grid.focus()
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    assert grid.get_attribute("aria-activedescendant") == "rt-row-2"
    active = page.locator(".rt-row.active")
    expect(active.locator("[data-col='run.name']")).to_have_text("run-01")  # "<img..." sorts first
    assert active.get_attribute("aria-selected") == "true"
    page.keyboard.press(" ")  # selects it for Compare
    expect(active.get_by_role("checkbox")).to_be_checked()
    page.keyboard.press("ArrowUp")
    page.keyboard.press(" ")
    expect(page.get_by_test_id("compare")).to_have_text("Compare (2)")
    page.keyboard.press("End")  # the last run, scrolled into view
    expect(page.locator(".rt-row.active [data-col='run.name']")).to_have_text("train-model-1")
    page.keyboard.press("Home")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/runs/"))
    assert page.get_by_test_id("run-name").inner_text() == "<img src=x onerror=window.__xss=1>"
