"""The sweeps pages in a real browser: a project's sweeps, and one sweep's history,
parallel coordinates, importance and trials (complete, pruned and failed)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from conftest import Site, screenshot


def test_sweeps_list_and_a_sweep_page(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-sweeps")
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Sweeps").click()
    page.wait_for_url(re.compile(r"/ui/projects/ui-sweeps/sweeps$"))
    table = page.get_by_test_id("sweeps")
    expect(table.locator("tbody tr")).to_have_count(2)
    row = table.locator("tbody tr", has_text="lr-depth-search")
    text = row.inner_text()
    assert "lr-depth-search" in text and "finished" in text and "val_loss (min)" in text
    for state in ("complete", "pruned", "failed"):
        assert row.locator(f".badge[data-state={state}]").count() == 1, state
    assert "(trial " in row.inner_text()  # the best value and its trial
    screenshot(page, "sweeps")

    row.get_by_role("link", name="lr-depth-search").click()
    page.wait_for_url(re.compile(r"/ui/sweeps/"))
    assert page.get_by_test_id("sweep-name").inner_text() == "lr-depth-search"
    # the optimisation history: a uPlot chart with complete, pruned and best-so-far series
    page.wait_for_selector("[data-testid=sweep-history][data-drawn]")
    legend = page.locator("[data-testid=sweep-history] .u-legend").inner_text()
    assert "complete" in legend and "pruned" in legend and "best so far" in legend
    # parallel coordinates: one line per complete or pruned trial, pruned ones dashed
    pc = page.get_by_test_id("parallel")
    trials = page.get_by_test_id("trials")
    n_complete = trials.locator("tbody tr[data-state=complete]").count()
    n_pruned = trials.locator("tbody tr[data-state=pruned]").count()
    n_failed = trials.locator("tbody tr[data-state=failed]").count()
    assert n_complete > 0 and n_pruned > 0 and n_failed > 0
    assert pc.locator("polyline[data-state=complete]").count() == n_complete
    pruned_lines = pc.locator("polyline[data-state=pruned]")
    assert pruned_lines.count() == n_pruned
    assert pruned_lines.first.get_attribute("stroke-dasharray")
    for axis in ("lr (log)", "depth", "opt", "val_loss (min)"):
        assert pc.locator("text.pc-name", has_text=axis).count() == 1, axis
    # importance: a bar per searched parameter, shares summing to 100 %
    imp = page.get_by_test_id("importance")
    assert imp.locator("tbody tr").count() == 3
    shares = [float(t.rstrip("%")) for t in imp.locator("td.num").all_inner_texts()]
    assert abs(sum(shares) - 100) < 0.5
    # the trial table: state badges, and each trial links to its run
    assert trials.locator(".badge-pruned").count() == n_pruned
    assert trials.locator(".badge-failed").count() == n_failed
    # a categorical value carrying an HTML payload stays text (an SVG tick, table cells)
    payload = "<img src=x onerror=window.__xss=1>"
    assert pc.locator("text.pc-tick", has_text=payload).count() == 1
    assert trials.locator("td", has_text=payload).count() >= 1
    assert page.evaluate("window.__xss") is None
    screenshot(page, "sweep")
    trials.locator("tbody tr[data-state=pruned]").first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/ui/runs/"))
    link = page.get_by_test_id("sweep-link")
    expect(link).to_contain_text("(pruned)")
    link.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/ui/sweeps/"))
    page.get_by_test_id("trials").wait_for()
    # the sweep's own run links back to the sweep
    page.get_by_role("link", name="the sweep's run").click()
    page.wait_for_url(re.compile(r"/ui/runs/"))
    page.get_by_test_id("sweep-link").get_by_role("link").click()
    page.wait_for_url(re.compile(r"/ui/sweeps/"))
    expect(page.get_by_test_id("sweep-name")).to_have_text("lr-depth-search")


def test_a_multi_objective_sweep_shows_its_pareto_front(page: Any, site: Site) -> None:
    page.goto(site.url + "/ui/projects/ui-sweeps/sweeps")
    row = page.get_by_test_id("sweeps").locator("tbody tr", has_text="accuracy-vs-latency")
    assert "Pareto front of" in row.inner_text()
    assert "val_loss (min), latency (min)" in row.inner_text()
    row.get_by_role("link", name="accuracy-vs-latency").click()
    pareto = page.get_by_test_id("pareto")
    pareto.wait_for()
    assert pareto.locator("tbody tr").count() >= 2  # a trade-off: several trials
    header = pareto.locator("thead").inner_text()
    assert "val_loss" in header and "latency" in header
    pc = page.get_by_test_id("parallel")
    expect(pc.locator("text.pc-name", has_text="val_loss (min)")).to_have_count(1)
    page.wait_for_selector("[data-testid=sweep-history][data-drawn]")
