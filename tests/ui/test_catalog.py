"""The artifact catalogue in a real browser: a project's artifacts, an artifact's
versions and alias history, and lineage graphs both ways (artifact page and run page)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from conftest import Site, screenshot

XSS_IMG = "<img src=x onerror=window.__xss=1>"


def test_artifacts_versions_aliases_and_lineage(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-lineage")
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Artifacts").click()
    page.wait_for_url(re.compile(r"/ui/projects/ui-lineage/artifacts$"))
    table = page.get_by_test_id("artifacts")
    expect(table.locator("tbody tr")).to_have_count(3)
    raw = table.locator("tr", has_text="raw-data")
    assert "golden → v1" in raw.inner_text() and "dataset" in raw.inner_text()
    screenshot(page, "artifacts-list")
    raw.get_by_role("link", name="raw-data").click()
    page.wait_for_url(re.compile(r"/artifacts/raw-data$"))
    versions = page.get_by_test_id("artifact-versions")
    expect(versions.locator("tbody tr")).to_have_count(2)
    assert "golden" in versions.locator("tr[data-version=v1]").inner_text()
    history = page.get_by_test_id("artifact-alias-history")
    rows = history.locator("tbody tr")
    expect(rows).to_have_count(2)
    assert "dupes fixed " + XSS_IMG in rows.first.inner_text()  # text, not markup
    assert "first clean cut" in rows.nth(1).inner_text()
    # lineage of the latest version, downstream: raw-data:v1 -> train -> clf:v0 -> ...
    graph = page.get_by_test_id("lineage")
    graph.wait_for()
    root = graph.locator("[data-root=true]")
    assert root.get_attribute("data-node") == "artifact:ui-lineage/raw-data:v1"
    assert graph.locator("g[data-node='artifact:ui-lineage/clf:v0']").count() == 1
    for run in ("train", "evaluate"):
        expect(graph.get_by_role("button", name=re.compile(f"^{run} run"))).to_have_count(1)
    # the default depth is 3 edges: report:v0 (4 away) comes with "all"
    assert graph.locator("g[data-node='artifact:ui-lineage/report:v0']").count() == 0
    page.get_by_label("lineage depth").select_option(label="all")
    expect(graph.locator("g[data-node='artifact:ui-lineage/report:v0']")).to_have_count(1)
    assert graph.locator("path[data-edge=used]").count() >= 1
    assert graph.locator("path[data-edge=produced]").count() >= 1
    assert page.evaluate("window.__xss") is None
    screenshot(page, "artifact")
    # the version v0 has its own lineage: made by prepare-0
    versions.get_by_role("button", name="show v0").click()
    page.wait_for_url(re.compile(r"\?v=v0"))
    expect(graph.locator("[data-root=true]")).to_have_attribute(
        "data-node", "artifact:ui-lineage/raw-data:v0"
    )
    expect(graph.get_by_role("button", name=re.compile("^prepare-0 run"))).to_have_count(1)
    # a click on a node re-centres the graph on it, on the same page; "Open its page"
    # goes to the run that trained the model, whose page draws its lineage
    page.goto(site.url + "/ui/projects/ui-lineage/artifacts/clf")
    page.get_by_test_id("lineage").get_by_role("button", name=re.compile("^train run")).click()
    expect(page.get_by_test_id("lineage").locator("[data-root=true]")).to_have_attribute(
        "data-node", re.compile(r"^run:")
    )
    assert page.url.endswith("/artifacts/clf")
    page.get_by_test_id("lineage-trail").get_by_role("link", name="Open its page").click()
    page.wait_for_url(re.compile(r"/ui/runs/"))
    assert page.get_by_test_id("run-name").inner_text() == "train"
    graph = page.get_by_test_id("lineage")
    graph.wait_for()
    # upstream to the left of the run, downstream to its right
    run_box = graph.locator("[data-root=true]").bounding_box()
    raw_box = graph.locator("g[data-node='artifact:ui-lineage/raw-data:v1']").bounding_box()
    clf_box = graph.locator("g[data-node='artifact:ui-lineage/clf:v0']").bounding_box()
    assert raw_box["x"] < run_box["x"] < clf_box["x"]
    graph.scroll_into_view_if_needed()
    screenshot(page, "run-lineage")


def test_lineage_recentres_on_a_node_and_goes_back(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-lineage/artifacts/clf")
    graph = page.get_by_test_id("lineage")
    root = graph.locator("[data-root=true]")
    expect(root).to_have_attribute("data-node", "artifact:ui-lineage/clf:v0")
    # depth 1 from clf:v0: train upstream, evaluate downstream; raw-data is 2 away
    page.get_by_label("lineage depth").select_option("1")
    expect(graph.locator("g[data-node='artifact:ui-lineage/raw-data:v1']")).to_have_count(0)
    # a click on "train": the graph is centred on it (raw-data upstream, clf downstream)
    graph.get_by_role("button", name=re.compile("^train run")).click()
    expect(root).to_have_attribute("data-node", re.compile(r"^run:"))
    expect(graph.locator("g[data-node='artifact:ui-lineage/raw-data:v1']")).to_have_count(1)
    assert page.url.endswith("/artifacts/clf")  # still the artifact's page
    trail = page.get_by_test_id("lineage-trail")
    expect(trail).to_contain_text("Centred on run train")
    # the keyboard: the focus follows the centre; Tab to a node, Enter re-centres on it
    expect(root).to_be_focused()
    raw = graph.locator("g[data-node='artifact:ui-lineage/raw-data:v1']")
    raw.focus()
    page.keyboard.press("Enter")
    expect(root).to_have_attribute("data-node", "artifact:ui-lineage/raw-data:v1")
    expect(trail).to_contain_text("Centred on artifact raw-data:v1")
    assert page.evaluate("window.__xss") is None
    screenshot(page, "lineage-recentred")
    # back one step, then back to the page's own artifact
    trail.get_by_role("button", name="Back", exact=True).click()
    expect(root).to_have_attribute("data-node", re.compile(r"^run:"))
    graph.get_by_role("button", name=re.compile("^raw-data:v1")).click()
    expect(root).to_have_attribute("data-node", "artifact:ui-lineage/raw-data:v1")
    trail.get_by_role("button", name=re.compile("^Back to artifact clf:v0")).click()
    expect(root).to_have_attribute("data-node", "artifact:ui-lineage/clf:v0")
    expect(trail).to_have_count(0)
    # a click on the node of the page's own root (from elsewhere) also comes back
    graph.get_by_role("button", name=re.compile("^evaluate run")).click()
    expect(root).to_have_attribute("data-node", re.compile(r"^run:"))
    graph.get_by_role("button", name=re.compile("^clf:v0")).click()
    expect(root).to_have_attribute("data-node", "artifact:ui-lineage/clf:v0")
    expect(trail).to_have_count(0)
