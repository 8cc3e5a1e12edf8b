"""The main pages in a real browser: table, filter, sort, run page, chart, compare,
models (promote with a reason), with a screenshot of each."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from conftest import Site, screenshot
from runtrack.testing.live import LiveServer


def _row_names(page: Any) -> list[str]:
    return list(page.locator(".rt-row [data-col='run.name']").all_inner_texts())


def test_projects_and_run_table(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    page.get_by_role("link", name="ui-demo").click()
    page.wait_for_selector(".rt-row [data-col='run.name'] a")
    assert page.get_by_test_id("run-count").inner_text() == "27 runs"
    assert re.search(r"Times in Asia/Tokyo", page.get_by_test_id("zone").inner_text())
    # times are shown in the viewer's zone, with the zone named (GMT+9 for Tokyo)
    started = page.locator(".rt-row [data-col='run.start_time']").first.inner_text()
    assert "GMT+9" in started, started
    assert page.locator(".rt-row .badge-finished").count() > 0
    screenshot(page, "run-table")


def test_filter_with_the_query_language_and_inline_errors(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-demo")
    page.wait_for_selector(".rt-row [data-col='run.name'] a")
    page.fill("#filter", "config.depth = 2 and tags.stage = 'prod'")
    page.press("#filter", "Enter")
    expect(page.get_by_test_id("run-count")).to_have_text("2 runs")
    expect(page.locator(".rt-row [data-col='run.name']")).to_have_text(
        ["run-15", "run-00"]
    )  # newest first
    assert "filter=config.depth" in page.url  # the view is in the URL
    # a malformed filter: the server's message, with the position, shown inline
    page.fill("#filter", "metrics.loss >> 1")
    page.press("#filter", "Enter")
    error = page.get_by_test_id("filter-error")
    error.wait_for()
    assert "position" in error.inner_text()
    assert page.locator("#filter").get_attribute("aria-invalid") == "true"
    screenshot(page, "run-table-filter-error")


def test_sort_by_clicking_a_header_and_the_view_is_shareable(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-demo?cols=run.name,run.status,metrics.loss,config.lr")
    page.wait_for_selector(".rt-row [data-col='run.name'] a")
    first_name = page.locator(".rt-row [data-col='run.name']").first
    page.get_by_title("Sort by metrics.loss").click()
    page.wait_for_url(re.compile(r"sort=metrics.loss(\+|%20)asc"))
    expect(first_name).to_have_text("run-00")
    page.get_by_title("Sort by metrics.loss").click()
    page.wait_for_url(re.compile(r"sort=metrics.loss(\+|%20)desc"))
    expect(first_name).to_have_text("run-23")
    header = page.locator("[role=columnheader][aria-sort=descending]")
    assert header.inner_text().startswith("metrics.loss")
    # the same URL in a fresh page shows the same view
    shared = page.url
    page.goto(site.url + "/")
    page.goto(shared)
    page.wait_for_selector(".rt-row [data-col='run.name'] a")
    assert _row_names(page)[0] == "run-23"
    assert page.locator(".rt-head [role=columnheader]").count() == 5  # select + 4 columns


def test_run_page_with_a_chart(page: Any, site: Site) -> None:
    run_id = site.run_ids[3]
    page.goto(f"{site.url}/ui/runs/{run_id}")
    assert page.get_by_test_id("run-name").inner_text() == "run-03"
    page.wait_for_selector("[data-testid=chart][data-metric=loss][data-drawn]")
    chart = page.locator("[data-testid=chart][data-metric=loss]")
    assert chart.locator("canvas").count() == 1
    assert "loss" in chart.locator(".u-legend").inner_text()
    assert chart.locator(".u-title").inner_text() == "loss"
    assert "GMT+9" in page.get_by_test_id("started").inner_text()
    # log scale and smoothing are view options kept in the URL
    page.get_by_label("log scale").check()
    page.wait_for_url(re.compile(r"log=1"))
    page.wait_for_selector("[data-testid=chart][data-metric=loss][data-drawn]")
    screenshot(page, "run-page")


def test_compare_two_runs(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-demo?sort=run.name%20asc")
    page.wait_for_selector(".rt-row [data-col='run.name'] a")
    page.get_by_label("select run-01").check()
    page.get_by_label("select run-02").check()
    page.get_by_test_id("compare").click()
    page.wait_for_url(re.compile(r"/ui/compare\?runs="))
    diff = page.get_by_test_id("config-diff")
    diff.wait_for()
    text = diff.inner_text()
    assert "depth" in text and "model.kind" in text
    page.wait_for_selector("[data-testid=compare-chart][data-metric=loss][data-drawn]")
    legend = page.locator("[data-testid=compare-chart][data-metric=loss] .u-legend").inner_text()
    assert "run-01" in legend and "run-02" in legend
    screenshot(page, "compare")


def test_promote_a_model_with_a_reason(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/models")
    page.get_by_role("link", name="churn").click()
    page.get_by_test_id("versions").wait_for()
    page.get_by_label("Version", exact=True).select_option("1")
    page.get_by_label("Alias", exact=True).fill("production")
    page.get_by_label("Reason", exact=True).fill("beats v2 on AUC <b>really</b>")
    page.get_by_role("button", name="Promote").click()
    audit = page.get_by_test_id("audit")
    audit.wait_for()
    row = audit.locator("tbody tr").first
    assert "production" in row.inner_text()
    assert "beats v2 on AUC <b>really</b>" in row.inner_text()  # as text, not markup
    assert "v1" in row.inner_text()
    screenshot(page, "model")


def test_projects_page_screenshot(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    page.get_by_test_id("projects").wait_for()
    screenshot(page, "projects")


def test_sign_in_tokens_and_a_viewer_sees_no_edit_controls(
    page: Any, site: Site, tmp_path: Any
) -> None:
    """On a server with authentication: sign in with a password, create and revoke a
    token; a viewer of the project sees the model but no promote form."""
    import os
    import subprocess
    import sys

    data = site.data_dir / "server"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env["RUNTRACK_DIR"] = str(data)

    def admin(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [sys.executable, "-m", "runtrack.cli", "admin", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    admin("create-user", "vera", "--password-stdin", stdin="correct horse battery\n")
    admin("grant", "vera", "ui-demo", "viewer")
    with LiveServer(data, args=["--auth"]) as secured:
        page.goto(secured.url + "/ui/models/churn")
        page.get_by_label("User name", exact=True).fill("vera")
        page.get_by_label("Password", exact=True).fill("wrong password!")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").wait_for()
        assert "wrong user name or password" in page.get_by_role("alert").inner_text()
        page.get_by_label("Password", exact=True).fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_test_id("versions").wait_for()
        page.get_by_role("heading", name="Audit history").wait_for()
        assert page.get_by_role("button", name="Promote").count() == 0
        assert page.locator("form.promote").count() == 0
        screenshot(page, "model-viewer")
        page.get_by_role("link", name="API tokens").click()
        page.get_by_label("Label", exact=True).fill("laptop")
        page.get_by_role("button", name="Create token").click()
        token = page.get_by_test_id("new-token").inner_text()
        assert token.startswith("rt_")
        row = page.get_by_test_id("tokens").locator("tr", has_text="laptop")
        page.once("dialog", lambda d: d.accept())
        row.get_by_role("button", name="Revoke").click()
        page.get_by_test_id("tokens").locator("tr", has_text="laptop").filter(
            has_text="revoked"
        ).wait_for()
        screenshot(page, "tokens")
