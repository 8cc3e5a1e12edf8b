"""An accessibility audit of every main page with axe-core (the npm package, a pinned
devDependency of ui/): no serious or critical violation, colour contrast included.

axe is injected with Playwright's ``add_script_tag``, an inline script: these pages run
in a context that bypasses the Content-Security-Policy (the other tests keep it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Site
from runtrack.testing.live import LiveServer

AXE = Path(__file__).parents[2] / "ui" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = {"serious", "critical"}


@pytest.fixture
def audit_page(browser: Any) -> Iterator[Any]:
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE} is missing): run npm ci in ui/")
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id="Asia/Tokyo", bypass_csp=True
    )
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.set_default_timeout(15_000)
    yield p
    context.close()
    assert errors == []


def audit(page: Any, name: str) -> None:
    """Run axe on the page as it is; fail with a readable list of what it found."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(
                    (n) => ({target: n.target, summary: n.failureSummary})),
            }));
        }"""
    )
    bad = [v for v in result if v["impact"] in SERIOUS]
    for v in result:  # the lesser ones are told (pytest -s), not failed on
        if v["impact"] not in SERIOUS:
            print(f"axe {name}: {v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])}+ nodes)")
    assert bad == [], f"{name}: axe found\n{json.dumps(bad, indent=1)}"


def _sweep_id(site: Site, name: str) -> str:
    with urllib.request.urlopen(f"{site.url}/api/v1/projects/ui-sweeps/sweeps") as resp:
        sweeps = json.load(resp)
    return next(s["id"] for s in sweeps if s["name"] == name)


PAGES = {
    "projects": ("/", "[data-testid=projects]"),
    "run-table": ("/ui/projects/ui-demo", ".rt-row [data-col='run.name'] a"),
    "run-table-groups": (
        "/ui/projects/ui-demo?group=config.model.kind&gmetric=loss",
        "[data-testid=groups] tr[data-group=gbm] td:nth-child(5):has-text('\N{EN DASH}')",
    ),
    "run": ("/ui/runs/{run}", "[data-testid=chart][data-metric=loss][data-drawn]"),
    "compare": ("/ui/compare?runs={run},{run2}", "[data-testid=compare-chart][data-drawn]"),
    "sweeps": ("/ui/projects/ui-sweeps/sweeps", "[data-testid=sweeps]"),
    "sweep": ("/ui/sweeps/{sweep}", "[data-testid=sweep-history][data-drawn]"),
    "sweep-pareto": ("/ui/sweeps/{sweep2}", "[data-testid=sweep-history][data-drawn]"),
    "artifacts": ("/ui/projects/ui-lineage/artifacts", "[data-testid=artifacts]"),
    "artifact": ("/ui/projects/ui-lineage/artifacts/raw-data", "[data-testid=lineage]"),
    "xss-run-files": ("/ui/runs/{xss}", "[data-testid=run-name]"),
    "models": ("/ui/models", "a:has-text('churn')"),
    "model": ("/ui/models/churn", "[data-testid=versions]"),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_no_serious_accessibility_violation(
    audit_page: Any, site: Site, name: str
) -> None:
    path, ready = PAGES[name]
    fields = {"run": site.run_ids[3], "run2": site.run_ids[4], "xss": site.xss_run}
    if "{sweep" in path:
        fields["sweep"] = _sweep_id(site, "lr-depth-search")
        fields["sweep2"] = _sweep_id(site, "accuracy-vs-latency")
    audit_page.goto(site.url + path.format(**fields))
    audit_page.wait_for_selector(ready)
    audit_page.wait_for_load_state("networkidle")
    audit(audit_page, name)


def test_sign_in_and_tokens_have_no_serious_accessibility_violation(
    audit_page: Any, site: Site
) -> None:
    data = site.data_dir / "server"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env["RUNTRACK_DIR"] = str(data)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "runtrack.cli",
            "admin",
            "create-user",
            "audrey",
            "--password-stdin",
        ],
        env=env,
        input="a long enough password\n",
        capture_output=True,
        text=True,
        check=True,
    )
    with LiveServer(data, args=["--auth"]) as secured:
        audit_page.goto(secured.url + "/ui/signin")
        audit_page.get_by_label("User name", exact=True).wait_for()
        audit(audit_page, "sign-in")
        audit_page.get_by_label("User name", exact=True).fill("audrey")
        audit_page.get_by_label("Password", exact=True).fill("wrong password!")
        audit_page.get_by_role("button", name="Sign in").click()
        audit_page.get_by_role("alert").wait_for()
        audit(audit_page, "sign-in-error")
        audit_page.get_by_label("Password", exact=True).fill("a long enough password")
        audit_page.get_by_role("button", name="Sign in").click()
        audit_page.get_by_role("link", name="API tokens").click()
        audit_page.get_by_label("Label", exact=True).fill("laptop")
        audit_page.get_by_role("button", name="Create token").click()
        audit_page.get_by_test_id("new-token").wait_for()
        audit(audit_page, "tokens")
