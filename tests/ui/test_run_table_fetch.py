"""How the run table fetches: a filter's first window asked for once, from Enter, with the
columns the table shows; an answer to an older view never replaces a newer one; columns
added later are fetched; columns from a hand-edited URL do not break the table."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from conftest import Site

DEPTH2 = "config.depth = 2"  # run-00, -05, -10, -15, -20
PROD = "config.depth = 2 and tags.stage = 'prod'"  # run-15, run-00


def _names(page: Any) -> Any:
    return page.locator(".rt-row [data-col='run.name']")


def _searches(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def seen(request: Any) -> None:
        if request.url.endswith("/api/v1/runs/search"):
            found.append(json.loads(request.post_data))

    page.on("request", seen)
    return found


def _open(page: Any, site: Site, query: str = "") -> None:
    page.goto(f"{site.url}/ui/projects/ui-demo{query}")
    page.wait_for_selector(".rt-row [data-col='run.name'] a")


def test_a_filter_is_fetched_once_from_enter_with_the_columns_shown(page: Any, site: Site) -> None:
    _open(page, site)
    # the project's keys are known: the default columns include config and metric keys
    expect(page.locator(".rt-head [role=columnheader]", has_text="config.depth")).to_have_count(1)
    searches = _searches(page)
    page.fill("#filter", PROD)
    page.press("#filter", "Enter")
    expect(page.get_by_test_id("run-count")).to_have_text("2 runs")
    expect(_names(page)).to_have_text(["run-15", "run-00"])
    assert "filter=config.depth" in page.url  # the view is still in the URL
    firsts = [s for s in searches if s["filter"] == PROD and s["offset"] == 0]
    assert len(firsts) == 1, searches  # no second request once the URL changed
    shown = (
        page.locator(".rt-row")
        .first.locator("[data-col]")
        .evaluate_all("cells => cells.map(c => c.dataset.col)")
    )
    keyed = [c for c in shown if c.split(".")[0] in ("config", "metrics", "tags")]
    assert firsts[0]["columns"] == keyed and "config.depth" in keyed
    depth = page.locator(".rt-row").first.locator("[data-col='config.depth']")
    expect(depth).to_have_text("2")
    # a column added afterwards: the rows shown are fetched again with it
    page.locator("summary", has_text="Columns").click()
    page.get_by_role("checkbox", name="stage", exact=True).check()
    expect(page.locator(".rt-row [data-col='tags.stage']")).to_have_text(["prod", "prod"])
    last = [s for s in searches if s["filter"] == PROD][-1]
    assert last["columns"] == [*keyed, "tags.stage"]


def test_an_older_answer_never_replaces_a_newer_one(page: Any, site: Site) -> None:
    _open(page, site)
    held: list[Any] = []

    def hold(route: Any) -> None:
        body = json.loads(route.request.post_data or "{}")
        if body.get("filter") == DEPTH2:
            held.append(route)  # answered later, after the newer filter's rows are shown
        else:
            route.continue_()

    page.route("**/api/v1/runs/search", hold)
    before = _names(page).all_inner_texts()
    page.fill("#filter", DEPTH2)
    page.press("#filter", "Enter")
    page.wait_for_url("**filter=config.depth*")
    # while the new view's rows are on their way, the previous rows stay (marked busy)
    expect(page.get_by_test_id("run-grid")).to_have_attribute("aria-busy", "true")
    assert _names(page).all_inner_texts()[:3] == before[:3]
    page.fill("#filter", PROD)
    page.press("#filter", "Enter")
    expect(_names(page)).to_have_text(["run-15", "run-00"])
    expect(page.get_by_test_id("run-grid")).not_to_have_attribute("aria-busy", "true")
    assert len(held) == 1
    with page.expect_request_finished(lambda r: r == held[0].request):
        held[0].continue_()
    page.wait_for_timeout(300)  # time for the late answer to be (wrongly) shown
    expect(_names(page)).to_have_text(["run-15", "run-00"])
    expect(page.get_by_test_id("run-count")).to_have_text("2 runs")
    page.unroute("**/api/v1/runs/search")


def test_columns_from_a_hand_edited_url_are_harmless(page: Any, site: Site) -> None:
    searches = _searches(page)
    cols = "run.name,bogus,run.nope,config.depth,tags.<img src=x onerror=alert(1)>,metrics."
    _open(page, site, "?cols=" + cols.replace("<", "%3C").replace(">", "%3E"))
    expect(page.locator(".rt-head [role=columnheader]", has_text="config.depth")).to_have_count(1)
    expect(
        page.locator(".rt-row[data-run] [data-col='config.depth']", has_text="2")
    ).not_to_have_count(0)
    assert not page.get_by_test_id("filter-error").is_visible()
    assert page.evaluate("() => window.__xss") is None
    sent = [s["columns"] for s in searches if "columns" in s]
    # only config, metric and tag keys are asked for (the bogus ones would be refused)
    assert all(c == ["config.depth", "tags.<img src=x onerror=alert(1)>"] for c in sent)
