"""A sweep of two objectives in a real browser: an objective selector for the history and
the parallel coordinates, and the trials of the Pareto front marked in both charts and in
the trial table."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from playwright.sync_api import expect

from conftest import Site, client_env, screenshot

# widths 1..6 by grid: (val_loss, latency) = (1/w, w/2), odd widths above 1 made worse,
# so that 3 and 5 are dominated (by 2 and 4) and 1, 2, 4, 6 make the Pareto front
SCRIPT = """
import runtrack
spec = {
    "name": "two-objectives",
    "method": "grid",
    "metrics": [
        {"name": "val_loss", "goal": "minimize"},
        {"name": "latency", "goal": "minimize"},
    ],
    "parameters": {"width": {"values": [1, 2, 3, 4, 5, 6]}},
    "budget": {"trials": 6},
}
sweep = runtrack.Api().create_sweep(spec, project="ui-pareto")
while (trial := sweep.ask()) is not None:
    w = trial.params["width"]
    sweep.tell(trial, [1 / w + (0.5 if w % 2 and w > 1 else 0.0), w / 2])
print(sweep.id)
"""


def make_sweep(site: Site) -> str:
    env = client_env(site.url, site.data_dir / "client-pareto")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        check=True,
        timeout=180,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_two_objectives_an_objective_selector_and_the_pareto_front(page: Any, site: Site) -> None:
    sweep_id = make_sweep(site)
    page.goto(f"{site.url}/ui/sweeps/{sweep_id}")
    expect(page.get_by_test_id("sweep-name")).to_have_text("two-objectives")
    pareto = page.get_by_test_id("pareto")
    expect(pareto.locator("tbody tr")).to_have_count(4)
    front = {
        int(n)
        for n in pareto.locator("tbody tr").evaluate_all("rows => rows.map((r) => r.dataset.trial)")
    }
    trials = page.get_by_test_id("trials")
    expect(trials.locator("tbody tr")).to_have_count(6)
    # the trial table marks the front's trials, and only those
    marked = trials.locator("tbody tr[data-pareto=true]")
    expect(marked).to_have_count(4)
    assert {
        int(n) for n in marked.evaluate_all("rows => rows.map((r) => r.dataset.trial)")
    } == front
    expect(marked.locator(".badge-pareto")).to_have_count(4)
    widths = trials.locator("tbody tr:not([data-pareto])").evaluate_all(
        "rows => rows.map((r) => r.querySelector('td:nth-child(5)').textContent)"
    )
    assert sorted(widths) == ["3", "5"], widths

    # the history: of the first objective by default, with the front ringed
    history = page.get_by_test_id("sweep-history")
    page.wait_for_selector("[data-testid=sweep-history][data-drawn]")
    expect(history).to_have_attribute("data-objective", "val_loss")
    expect(history.locator(".u-title")).to_have_text("val_loss per trial")
    assert "Pareto front" in history.locator(".u-legend").inner_text()
    # parallel coordinates: an axis per objective, the front drawn thick
    pc = page.get_by_test_id("parallel")
    for axis in ("width", "val_loss (min)", "latency (min)"):
        expect(pc.locator("text.pc-name", has_text=axis)).to_have_count(1)
    expect(pc.locator("polyline[data-pareto=true]")).to_have_count(4)
    expect(pc.locator("polyline")).to_have_count(6)
    colour_before = pc.locator("polyline").evaluate_all(
        "ls => ls.map((l) => l.getAttribute('stroke'))"
    )

    # choose the second objective: the history and the colours follow, in the URL too
    page.get_by_label("Objective shown").select_option("latency")
    page.wait_for_url(re.compile(r"objective=latency"))
    expect(history).to_have_attribute("data-objective", "latency")
    expect(history.locator(".u-title")).to_have_text("latency per trial")
    expect(page.get_by_role("heading", name="Optimisation history of latency")).to_have_count(1)
    assert pc.get_attribute("aria-label").endswith("coloured by latency")
    colour_after = pc.locator("polyline").evaluate_all(
        "ls => ls.map((l) => l.getAttribute('stroke'))"
    )
    assert colour_after != colour_before
    # the best latency so far: width 1 (0.5), the first grid point or a later one
    legend = history.locator(".u-legend").inner_text()
    assert "best so far" in legend and "Pareto front" in legend
    screenshot(page, "sweep-pareto")
    page.reload()
    expect(page.get_by_label("Objective shown")).to_have_value("latency")
