"""Compare in a real browser: the statistical comparison run by the server, and the
environment diff."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from conftest import Site, screenshot


def test_statistical_comparison_and_environment_diff(page: Any, site: Site) -> None:
    a, b = site.run_ids[1], site.run_ids[2]
    page.goto(f"{site.url}/ui/compare?runs={a},{b}")
    # no prediction sets in these runs: the server says what to do
    expect(page.get_by_test_id("compare-note")).to_contain_text("name a summary metric")
    page.get_by_label("Metric", exact=True).select_option("loss")
    stats = page.get_by_test_id("compare-stats")
    expect(stats).to_contain_text("loss")
    expect(stats.locator("table").first).to_contain_text("run-01")
    assert stats.locator("ul.sentences li").count() >= 1
    env = page.get_by_test_id("env-diff")
    expect(env.locator("tr", has_text="Python")).to_have_count(1)
    assert "Packages recorded" in env.inner_text()
    screenshot(page, "compare-stats")
