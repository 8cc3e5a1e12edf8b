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


def _column(groups: Any, index: int) -> list[str]:
    return groups.locator(f"tbody tr td:nth-child({index + 1})").all_inner_texts()


def test_the_groups_sort_by_their_columns(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-demo?group=config.depth&gmetric=loss")
    groups = page.get_by_test_id("groups")
    expect(groups.locator("tbody tr")).to_have_count(6)
    expect(groups.locator("tr[data-group='2'] td").nth(4)).to_contain_text("\N{EN DASH}")
    header = groups.locator("thead th")
    # the server's order: largest groups first, the run count's header says so
    runs_header = groups.locator("th[data-sort=count]")
    expect(runs_header).to_have_attribute("aria-sort", "descending")
    counts = [int(c) for c in _column(groups, 1)]
    assert counts == sorted(counts, reverse=True), counts

    # a click on "Mean": ascending, missing values last; a second click: descending
    groups.get_by_role("button", name="Mean").click()
    page.wait_for_url(re.compile(r"gsort=mean"))
    mean_header = groups.locator("th[data-sort=mean]")
    expect(mean_header).to_have_attribute("aria-sort", "ascending")
    expect(runs_header).to_have_attribute("aria-sort", "none")
    means = [float(m) for m in _column(groups, 3) if m]
    assert len(means) == 5 and means == sorted(means), means
    assert groups.locator("tbody tr").last.get_attribute("data-group") == "(missing)"
    groups.get_by_role("button", name="Mean").click()
    expect(mean_header).to_have_attribute("aria-sort", "descending")
    means = [float(m) for m in _column(groups, 3) if m]
    assert means == sorted(means, reverse=True), means
    assert groups.locator("tbody tr").last.get_attribute("data-group") == "(missing)"

    # the interval's half-width
    groups.get_by_role("button", name="95 % CI").click()
    expect(groups.locator("th[data-sort=ci]")).to_have_attribute("aria-sort", "ascending")
    widths = []
    for text in _column(groups, 4):
        if text:
            low, high = (float(x) for x in text.split(" \N{EN DASH} "))
            widths.append(high - low)
    assert len(widths) == 5 and widths == sorted(widths), widths

    # by keyboard: Tab to the value's header, Enter sorts by the group value
    value_button = header.first.get_by_role("button")
    value_button.focus()
    page.keyboard.press("Enter")
    expect(header.first).to_have_attribute("aria-sort", "ascending")
    assert [r.get_attribute("data-group") for r in groups.locator("tbody tr").all()] == [
        "2",
        "3",
        "4",
        "5",
        "6",
        "(missing)",
    ]
    page.keyboard.press("Space")
    expect(header.first).to_have_attribute("aria-sort", "descending")
    first = groups.locator("tbody tr").first
    expect(first).to_have_attribute("data-group", "6")
    # the order is part of the shareable view
    assert "gsort=-value" in page.url
    page.reload()
    expect(groups.locator("tbody tr").first).to_have_attribute("data-group", "6")
