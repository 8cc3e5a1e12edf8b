"""User data carrying HTML/JS payloads is shown as text and never executed: run names,
tags, notes, config values, metric keys, the console log and artifact files."""

from __future__ import annotations

import re
from typing import Any

from _data import XSS_IMG, XSS_SCRIPT
from playwright.sync_api import expect

from conftest import Site, screenshot


def _no_injection(page: Any) -> None:
    assert page.evaluate("window.__xss") is None
    # no element the payloads would have made
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0


def test_payloads_in_the_run_table_are_text(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-demo?cols=run.name,config.payload,tags.evil")
    page.wait_for_selector(".rt-row [data-col='run.name'] a")
    names = page.locator(".rt-row [data-col='run.name']").all_inner_texts()
    assert XSS_IMG in names
    assert XSS_SCRIPT in page.locator(".rt-row [data-col='config.payload']").all_inner_texts()
    assert XSS_SCRIPT in page.locator(".rt-row [data-col='tags.evil']").all_inner_texts()
    _no_injection(page)


def test_payloads_on_the_run_page_are_text(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/ui/runs/{site.xss_run}")
    assert page.get_by_test_id("run-name").inner_text() == XSS_IMG
    assert XSS_IMG in page.get_by_test_id("notes").inner_text()
    body = page.locator("main").inner_text()
    assert XSS_SCRIPT in body  # tags and config
    page.wait_for_selector("[data-testid=chart][data-drawn]")  # the metric key is the title
    assert page.locator("[data-testid=chart] .u-title").inner_text() == XSS_IMG
    page.get_by_test_id("console").wait_for()
    assert XSS_SCRIPT in page.get_by_test_id("console").inner_text()
    _no_injection(page)


def test_artifact_previews_never_run_html(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/ui/runs/{site.xss_run}")
    # the artifacts section's button (the lineage graph below draws a node of that name too)
    artifacts = page.get_by_role("region", name="Artifacts", exact=True)
    artifacts.get_by_role("button", name="evidence:v0").click()
    preview = page.get_by_test_id("preview")
    for name, expected in [
        ("evil.html", XSS_SCRIPT),
        ("evil.svg", "onload"),
        ("notes.txt", XSS_IMG),
    ]:
        page.get_by_role("button", name=name, exact=True).click()
        expect(preview.locator("h3")).to_have_text(re.compile(re.escape(name) + "$"))
        expect(preview.locator("pre")).to_contain_text(expected)  # shown as text
        _no_injection(page)
    page.get_by_role("button", name="table.csv", exact=True).click()
    preview.locator("table").wait_for()
    assert XSS_IMG in preview.locator("table").inner_text()
    page.get_by_role("button", name="red.png", exact=True).click()
    img = preview.locator("img")
    img.wait_for()
    assert img.get_attribute("src").startswith("blob:")
    expect(img).to_have_js_property("naturalWidth", 8)
    _no_injection(page)
    screenshot(page, "artifacts")


def test_blob_downloads_are_attachments(site: Site) -> None:
    """The server never serves an artifact file as a page: a browser navigating to it
    downloads it (attachment, octet-stream, nosniff)."""
    import httpx2

    files = httpx2.get(
        f"{site.url}/api/v1/projects/ui-demo/artifacts/evidence:v0/files", timeout=10
    ).json()["files"]
    html = next(f for f in files if f["path"].endswith("evil.html"))
    r = httpx2.get(f"{site.url}/api/v1/projects/ui-demo/blobs/{html['digest']}", timeout=10)
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["x-content-type-options"] == "nosniff"
