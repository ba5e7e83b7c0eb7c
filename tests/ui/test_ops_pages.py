"""The operations pages in headless Chromium over the quick start's store: deployments,
monitors (and a check's drift report), alerts (acknowledged by a click) and pipelines (a
run's DAG and step logs). Every chart must have data; the ``page`` fixture fails a test on
any console error or failed request."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

Shot = Callable[[Any, str], Any]

POINTS = """id => {
  const el = document.getElementById(id);
  if (!el || !el.data) return 0;
  const shown = (t) => (t.values || t.y || t.x || []).filter((v) => v !== null).length;
  return el.data.reduce((n, t) => n + shown(t), 0);
}"""


@pytest.fixture
def tab(page: Any) -> Any:
    """The test's tab; a favicon the frame may not ship yet is answered empty."""
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    return page


def open_page(tab: Any, path: str) -> None:
    tab.goto(path)
    tab.wait_for_load_state("networkidle")


def points(tab: Any, chart: str) -> int:
    """How many data points the plotly chart with this id draws (0: none, or no chart)."""
    count: int = tab.evaluate(POINTS, chart)
    return count


def test_deployments_show_split_traffic_rollout_and_history(tab: Any, shot: Shot) -> None:
    open_page(tab, "/deployments")
    assert tab.locator("table tbody tr").count() >= 1
    tab.get_by_role("link", name="loans", exact=True).click()
    tab.wait_for_load_state("networkidle")
    assert tab.url.endswith("/deployments/loans")
    for chart in ("split-chart", "rate-chart", "latency-chart", "arms-chart", "errors-chart"):
        assert points(tab, chart) > 0, chart
    assert points(tab, "shadow-chart") > 0  # the quick start mirrored to the challenger
    assert tab.locator("ol.steps li").count() == 3  # the retraining canary's steps
    assert tab.locator("ol.steps li.done").count() == 3  # ... all taken: promoted
    history = tab.locator("section:has(h2:text('History')) tbody tr")
    assert history.count() >= 5
    assert tab.get_by_role("button", name="Promote").is_visible()  # no auth: an admin
    shot(tab, "ops-deployment")
    open_page(tab, "/deployments/loans?minutes=60")
    assert tab.locator(".windows a[aria-current]").inner_text() == "1 h"


def test_a_monitor_shows_drift_over_time_and_distributions(tab: Any, shot: Shot) -> None:
    open_page(tab, "/monitors")
    shot(tab, "ops-monitors")
    tab.get_by_role("link", name="loans-watch", exact=True).click()
    tab.wait_for_load_state("networkidle")
    assert points(tab, "drift-chart") > 0
    distributions = tab.locator(".chart.dist")
    assert distributions.count() >= 5
    first = distributions.first.get_attribute("id")
    assert first is not None and points(tab, first) > 0
    shot(tab, "ops-monitor")
    tab.get_by_role("link", name="The full drift report of this check →").click()
    tab.wait_for_load_state("networkidle")
    assert "/checks/" in tab.url
    ids = tab.locator(".chart.dist").evaluate_all("els => els.map(e => e.id)")
    assert len(ids) >= 10 and all(points(tab, i) > 0 for i in ids)
    # the check's verdict (how many features drifted depends on the sampled month)
    assert tab.get_by_text(re.compile(r"data drift in \d+ of \d+ features")).count() >= 1
    shot(tab, "ops-check")


def test_an_alert_is_acknowledged_by_a_click(tab: Any, shot: Shot) -> None:
    open_page(tab, "/alerts")
    assert points(tab, "timeline-chart") > 0
    shot(tab, "ops-alerts")
    # the dataset monitor's alert: the deployment's stay open for the other pages' tests
    row = tab.locator("#alerts tbody tr").filter(has_text="loans-data").first
    row_id = row.get_attribute("id")
    assert row.locator(".badge").inner_text() == "open"
    with tab.expect_navigation():  # the page reloads once the API answered
        row.get_by_role("button", name="Acknowledge").click()
    tab.wait_for_load_state("networkidle")
    row = tab.locator(f"#{row_id}")
    assert row.locator(".badge").inner_text() == "acknowledged"
    assert row.get_by_role("button", name="Acknowledge").count() == 0
    assert row.get_by_role("button", name="Resolve").is_visible()
    shot(tab, "ops-alerts-acknowledged")


def test_pipelines_show_runs_schedules_the_dag_and_step_logs(tab: Any, shot: Shot) -> None:
    open_page(tab, "/pipelines")
    tab.get_by_role("link", name="retrain-loans", exact=True).click()
    tab.wait_for_load_state("networkidle")
    assert points(tab, "runs-chart") > 0
    assert tab.locator("text=alert:loans-watch").count() == 1  # the monitor's trigger
    shot(tab, "ops-pipeline")
    tab.locator("a code").first.click()
    tab.wait_for_load_state("networkidle")
    assert "/pipelines/runs/" in tab.url
    assert points(tab, "dag-chart") >= 8  # the eight steps (and their edges)
    logs = tab.locator("details.logs").filter(has_text="Logs of train")
    logs.locator("summary").click()
    tab.wait_for_function(
        "() => [...document.querySelectorAll('details.logs pre')].some(p => p.dataset.loaded)"
    )
    assert logs.locator("pre").inner_text() not in ("", "Loading…")
    shot(tab, "ops-run")


def test_the_pages_are_tables_and_links_without_javascript(ui_server: str) -> None:
    with httpx.Client(base_url=ui_server) as client:
        runs = client.get("/api/pipeline-runs").json()["items"]
        for path in (
            "/deployments", "/deployments/loans", "/monitors", "/monitors/loans-watch",
            "/monitors/loans-watch/checks/1", "/alerts", "/alerts?status=open", "/pipelines",
            "/pipelines/retrain-loans", f"/pipelines/runs/{runs[0]['id']}",
        ):  # fmt: skip
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert re.search(r"<tbody>\s*<tr", answer.text), path  # rows, drawn by the server
        assert client.get("/deployments/nosuch").status_code == 404
        assert client.get("/alerts?status=sleeping").status_code == 422
