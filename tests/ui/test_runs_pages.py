"""The home and runs pages in a real browser over the quick start's store (and over 10,000
runs): every page opens without a console error or failed request, links lead where they
say, charts carry data, and the runs table sorts, filters, chooses columns and pages."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

FIGURES = """() => [...document.querySelectorAll('[data-figure]')].map(el => ({
    id: el.id,
    traces: (el.data || []).map(t => t.type === 'parcoords'
        ? Math.min(...t.dimensions.map(d => d.values.length))
        : (t.x || []).filter(v => v !== null).length),
}))"""


def _column(page: Any, title: str) -> list[str]:
    """The texts of the runs table's column whose header has this title."""
    return page.evaluate(
        """title => {
            const heads = [...document.querySelectorAll('table.runs thead th')];
            const at = heads.findIndex(th => th.title === title);
            return [...document.querySelectorAll('table.runs tbody tr')]
                .map(tr => tr.children[at].textContent.trim());
        }""",
        title,
    )


def _names(page: Any) -> list[str]:
    return page.locator("table.runs a.run-name").all_inner_texts()


def _charts_have_data(page: Any) -> list[dict[str, Any]]:
    page.wait_for_function("document.body.dataset.charts !== undefined")
    figures = page.evaluate(FIGURES)
    assert figures, "no chart on the page"
    for figure in figures:
        assert figure["traces"] and all(n > 0 for n in figure["traces"]), figure
    return figures


def test_home_shows_the_loop_and_links_to_each_thing(page: Any, shot: Any) -> None:
    page.goto("/")
    for title in ("In production", "Drifting", "Retraining"):
        assert page.get_by_role("heading", name=title).count() == 1
    for href in (
        "/models/loans-default",
        "/deployments/loans",
        "/monitors/loans-watch",
        "/alerts",
        "/pipelines/retrain-loans",
        "/datasets/loans",
    ):
        assert page.locator(f'a[href="{href}"]').count() >= 1, href
    # the deployment's split: its shares add up to the whole
    shares = page.locator(".split span").evaluate_all(
        "spans => spans.map(s => parseFloat(s.style.width))"
    )
    assert shares and sum(shares) == pytest.approx(100.0)
    assert page.locator("#h-alerts ~ .table-wrap tbody tr").count() >= 1
    assert "alert" in page.locator("#h-monitors ~ .table-wrap").inner_text()
    shot(page, "home")


def test_home_to_run_to_model(page: Any) -> None:
    """home → the run that trained the serving model → the link to that model."""
    page.goto("/")
    page.locator("#h-models ~ .table-wrap a.run-link").first.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    model = page.locator("a.model-link")
    assert model.count() >= 1
    assert model.first.get_attribute("href") == "/models/loans-default"
    _charts_have_data(page)


def test_runs_table_sorts_filters_chooses_columns_and_pages(page: Any, shot: Any) -> None:
    page.goto("/runs")
    everything = _names(page)
    assert len(everything) >= 5
    # sort: a click on a metric's header orders by it, server-side; a second flips it
    page.locator('th[title="metrics.auc"] a').click()
    assert parse_qs(urlparse(page.url).query)["order"] == ["metrics.auc desc"]
    assert page.locator('th[title="metrics.auc"]').get_attribute("aria-sort") == "descending"
    scores = [float(v) for v in _column(page, "metrics.auc") if v]
    assert len(scores) >= 3 and scores == sorted(scores, reverse=True)
    page.locator('th[title="metrics.auc"] a').click()
    scores = [float(v) for v in _column(page, "metrics.auc") if v]
    assert scores == sorted(scores)
    # filter with the SDK's language (the order stays)
    page.fill("input[name=filter]", "metrics.auc > 0.81")
    page.press("input[name=filter]", "Enter")
    page.wait_for_url(re.compile("filter="))
    scores = [float(v) for v in _column(page, "metrics.auc")]
    assert scores and all(s > 0.81 for s in scores)
    assert len(_names(page)) < len(everything)
    # columns: tick one more in the chooser; the URL keeps them, so the link shares the view
    page.click("details.columns summary")
    page.check('.chooser input[value="params.learning_rate"]')
    page.click(".chooser button")
    query = parse_qs(urlparse(page.url).query)
    assert "params.learning_rate" in query["col"]
    assert query["filter"] == ["metrics.auc > 0.81"]
    assert page.locator('th[title="params.learning_rate"]').count() == 1
    shot(page, "runs")
    # chosen columns only, from a shared link
    page.goto("/runs?col=metrics.log_loss&col=tags.dataset")
    heads = page.locator("table.runs thead th[title*='.']").evaluate_all(
        "ths => ths.map(th => th.title)"
    )
    assert heads == ["metrics.log_loss", "tags.dataset"]


def test_runs_table_pages_with_tokens(page: Any) -> None:
    page.goto("/runs?page_size=3")
    first = _names(page)
    assert len(first) == 3
    page.click("a[rel=next]")
    second = _names(page)
    assert second and not set(second) & set(first)
    assert "Page 2" in page.locator(".pager").inner_text()
    page.click("a[rel=prev]")
    assert _names(page) == first
    page.goto("/runs?experiment=quickstart-loans")
    assert set(_column(page, "metrics.auc")) and all(
        e == "quickstart-loans"
        for e in page.locator("table.runs tbody td:nth-child(4)").all_inner_texts()
    )


def test_run_detail_charts_every_metric_history(page: Any, shot: Any) -> None:
    page.goto("/runs?filter=metrics.valid_loss+>+0&order=name")
    page.locator("table.runs a.run-name").first.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    figures = _charts_have_data(page)
    assert {f["id"] for f in figures} >= {"metric-1", "metric-2"}  # train_loss, valid_loss
    assert page.get_by_role("heading", name="Params").count() == 1
    assert page.locator("#h-lineage ~ dl a[href^='/runs/']").count() == 1  # its parent
    download = page.locator("#h-artifacts ~ .table-wrap a[download]").first
    answer = page.request.get(download.get_attribute("href"))
    assert answer.status == 200 and len(answer.body()) > 0
    shot(page, "run")
    # the parent lists its children and its lineage names the dataset it read
    page.locator("#h-lineage ~ dl a[href^='/runs/']").click()
    assert page.locator("#h-children ~ .table-wrap tbody tr").count() == 3
    assert page.locator("#h-lineage ~ dl a[href='/datasets/loans']").count() == 1


def test_compare_overlays_curves_and_draws_params_against_a_metric(page: Any, shot: Any) -> None:
    page.goto("/runs?filter=metrics.valid_loss+>+0")
    assert page.locator("#compare button").is_disabled()
    page.check("input[data-all=compare]")
    page.click("#compare button")
    page.wait_for_url(re.compile(r"/runs/compare\?"))
    figures = _charts_have_data(page)
    curves = {f["id"]: f["traces"] for f in figures}
    assert any(len(t) == 3 for t in curves.values())  # three runs overlaid
    assert "parallel" in curves
    assert page.locator("table.diff tbody tr.differs").count() >= 3
    page.select_option("#metric", "log_loss")  # sends the form itself (ui.js)
    page.wait_for_url(re.compile("metric=log_loss"))
    _charts_have_data(page)
    page.click("text=Only differences")
    rows = page.locator("table.diff tbody tr")
    assert rows.count() == page.locator("table.diff tbody tr.differs").count() > 0
    shot(page, "compare")


def test_runs_pages_work_without_javascript(browser: Any, ui_server: str) -> None:
    context = browser.new_context(base_url=ui_server, java_script_enabled=False)
    try:
        tab = context.new_page()
        # runs with a metric history, so that the comparison has curves to draw
        tab.goto("/runs?filter=metrics.valid_loss%20%3E%200")
        tab.locator('th[title="status"] a').click()
        assert "order=status" in tab.url
        boxes = tab.locator("input[form=compare][name=ids]")
        boxes.nth(0).check()
        boxes.nth(1).check()
        tab.click("#compare button")
        assert "/runs/compare?" in tab.url
        assert tab.locator("table.diff tbody tr").count() > 3
        # the curves are drawn on the server too (an SVG preview plotly replaces)
        assert tab.locator(".chart svg.preview path").count() >= 2
    finally:
        context.close()


def test_mistakes_answer_a_page_saying_what_is_wrong(ui_server: str) -> None:
    answer = httpx.get(f"{ui_server}/runs", params={"filter": "metrics.auc >> 1"})
    assert answer.status_code == 422 and "text/html" in answer.headers["content-type"]
    assert "metrics.auc" in answer.text and 'role="alert"' in answer.text
    answer = httpx.get(f"{ui_server}/runs", params={"col": "auc"})
    assert answer.status_code == 422 and "col: expected metrics." in answer.text
    answer = httpx.get(f"{ui_server}/runs/{'0' * 32}")
    assert answer.status_code == 404 and "Not found" in answer.text
    answer = httpx.get(f"{ui_server}/runs/compare", params={"ids": "abc"})
    assert answer.status_code == 422 and "at least two runs" in answer.text


def test_runs_page_over_ten_thousand_runs(many_runs_page: Any, shot: Any) -> None:
    page = many_runs_page
    page.goto("/runs?experiment=big")
    assert "10,000 runs in big" in page.locator(".page-head").inner_text()
    first = _names(page)
    assert len(first) == 50 and first[0] == "trial-09999"
    page.click("a[rel=next]")
    assert _names(page)[0] == "trial-09949"
    page.click("a[rel=next]")
    assert _names(page)[0] == "trial-09899" and "Page 3" in page.locator(".pager").inner_text()
    page.click("a[rel=prev]")
    page.click("a[rel=prev]")
    assert _names(page) == first
    page.locator('th[title="metrics.auc"] a').click()
    scores = [float(v) for v in _column(page, "metrics.auc")]
    assert len(scores) == 50 and scores == sorted(scores, reverse=True)
    page.click("a[rel=next]")
    assert max(float(v) for v in _column(page, "metrics.auc")) <= scores[-1]
    shot(page, "runs-10000")


def test_a_hundred_thousand_points_arrive_downsampled(many_runs_page: Any, shot: Any) -> None:
    page = many_runs_page
    page.goto("/runs?experiment=long")
    page.locator("table.runs a.run-name").first.click()
    (figure,) = _charts_have_data(page)
    assert 100 < figure["traces"][0] <= 1000
    assert "100,000 points" in page.locator(".chart-card h3").inner_text()
    shot(page, "run-100000-points")
