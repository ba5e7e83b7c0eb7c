"""A newcomer's look at the pages in headless Chromium over the quick start's store: every
chart says what its axes are, the report files open without asking the server for
anything it lacks, and the runs table shows a long decimal param briefly (in full on hover).
The ``page`` fixture fails a test on any console error or failed request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import shipyard as sy

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

#: (chart id, axis) of each drawn chart whose visible axis has no title
UNTITLED = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(el => {
  const cartesian = (el.data || []).some(t => !['pie', 'parcoords', 'sankey'].includes(t.type));
  if (!cartesian) return [];
  return ['xaxis', 'yaxis'].filter(name => {
    const axis = el._fullLayout[name];
    return axis && axis.visible !== false && !(axis.title && axis.title.text);
  }).map(name => `${el.id} ${name}`);
})"""


def _untitled(page: Any, path: str) -> list[str]:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0")
    found: list[str] = page.evaluate(UNTITLED)
    return [f"{path}: {chart}" for chart in found]


def test_every_chart_names_its_axes(page: Any, ui_server: str) -> None:
    runs = httpx.get(
        f"{ui_server}/api/runs",
        params={"filter": "metrics.valid_loss > 0", "page_size": 2},
        timeout=60,
    ).json()["items"]
    ids = [r["run_id"] for r in runs]
    paths = [
        f"/runs/{ids[0]}",
        f"/runs/compare?ids={ids[0]}&ids={ids[1]}",
        "/models/loans-default",
        "/models/loans-default/1",
        "/datasets/loans",
        "/datasets/loans/1",
        "/deployments/loans",
        "/monitors/loans-watch",
        "/alerts",
        "/pipelines/retrain-loans",
    ]
    untitled = [chart for path in paths for chart in _untitled(page, path)]
    assert not untitled, "\n".join(untitled)


@pytest.mark.parametrize(
    "path", ["/datasets/loans/1/profile.html", "/models/loans-default/1/card.html"]
)
def test_a_report_file_opens_without_a_failed_request(page: Any, path: str) -> None:
    page.goto(path)  # first in its tab: the browser would ask for /favicon.ico
    page.wait_for_load_state("networkidle")
    assert (
        page.locator("link[rel=icon]")
        .first.get_attribute("href", timeout=5000)
        .startswith("data:image/svg+xml,")
    )


@pytest.fixture
def site(home: Path) -> Iterator[str]:
    """A platform server (thread, auth off) over a store with one run whose param is a
    long decimal; its URL."""
    with sy.start_run(experiment="demo", name="long-param"):
        sy.log_params({"C": 0.044981425912345678, "kernel": "rbf"})
        sy.log_metric("auc", 0.9)
    with sy.serving.background(sy.server.create_app()) as url:
        yield url


def test_the_runs_table_shows_a_long_decimal_param_briefly(site: str) -> None:
    text = httpx.get(f"{site}/runs", params={"col": ["params.C", "params.kernel"]}, timeout=60).text
    assert '<td class="num" title="0.04498142591234568">0.04498</td>' in text
    assert '<td class="num" title="rbf">rbf</td>' in text


#: the tables of the page wider than their frame (cut off at the right: scrolled to see)
CUT = """() => [...document.querySelectorAll('.table-wrap')]
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => `${el.querySelector('th')?.innerText} ${el.scrollWidth} > ${el.clientWidth}`)"""


def test_home_and_a_model_fit_a_laptop_screen_with_the_editors_buttons(page: Any) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    # each page's own requests (its icon, plotly.js prefetched) end before the next one: a
    # navigation cancels them, which the tab's check counts as a failed request
    page.goto("/", wait_until="networkidle")
    assert not page.evaluate(CUT)
    page.goto("/models/loans-default", wait_until="networkidle")
    assert not page.evaluate(CUT)
    promote = page.locator("tbody button:has-text('Promote')")
    assert promote.count() >= 1  # auth off: every caller may change the registry
    for button in promote.all():
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1366


def test_the_audit_log_is_linked_and_its_long_values_fold(page: Any) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/", wait_until="networkidle")
    page.locator("footer a[href='/audit']").click()  # auth off: the caller is an admin
    page.wait_for_url("**/audit")
    assert page.locator("#entries tbody tr").count() >= 5
    assert not page.evaluate(CUT)
    folded = page.locator("#entries details.value")
    assert folded.count() >= 1  # a policy's or a deployment's whole state: one line, a click
    assert not folded.first.locator("pre").is_visible()
    folded.first.locator("summary").click()
    assert folded.first.locator("pre").is_visible()


def test_the_runs_forms_keep_the_page_size_without_javascript(site: str) -> None:
    kept = '<input type="hidden" name="page_size" value="5">'
    assert httpx.get(f"{site}/runs", params={"page_size": 5}, timeout=60).text.count(kept) == 2
    assert 'name="page_size"' not in httpx.get(f"{site}/runs", timeout=60).text
