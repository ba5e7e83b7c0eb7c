"""The datasets and models pages, the profile and AutoML reports as pages, in headless
Chromium over the quick start's store (dataset ``loans``, model ``loans-default``).

Every chart must hold data, no console error or failed request may happen (the ``page``
fixture), and the main pages are saved as screenshots. The editors' buttons are tried on a
store of their own, so the quick start's registry stays as the other page tests expect it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import shipyard as sy

MODEL = "loans-default"
CHARTS = """() => [...document.querySelectorAll('[data-chart]')].map((el) => ({
  id: el.id,
  points: (el.data || []).reduce((n, t) => n + (t.x || t.y || []).length, 0),
}))"""
DRAWN = "() => [...document.querySelectorAll('[data-chart]')].every((el) => el.data)"


@pytest.fixture
def tab(page: Any) -> Any:
    """The ``page`` fixture; the icon request browsers make by themselves is answered here
    until the frame serves one (it is not part of these pages)."""
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    return page


def charts_of(page: Any, least: int = 1) -> list[dict[str, Any]]:
    """The page's charts once drawn; each must hold data."""
    page.wait_for_function(DRAWN)
    found: list[dict[str, Any]] = page.evaluate(CHARTS)
    assert len(found) >= least, found
    empty = [c["id"] for c in found if c["points"] == 0]
    assert not empty, f"charts without data: {empty}"
    return found


def test_datasets_list_dataset_and_version(tab: Any, shot: Any) -> None:
    tab.goto("/datasets")
    row = tab.locator("tbody tr", has_text="loans")
    assert row.count() == 1
    assert "2" in row.locator("td").nth(1).inner_text()  # versions
    shot(tab, "datasets")

    row.get_by_role("link", name="loans", exact=True).click()
    tab.wait_for_url("**/datasets/loans")
    assert tab.locator("h1").inner_text() == "loans"
    first = tab.locator("tbody tr", has_text="v1")
    assert first.locator(".badge.alias").inner_text() == "quickstart"
    assert "warnings" in tab.locator("tbody tr", has_text="v2").inner_text()
    charts_of(tab)
    shot(tab, "dataset")

    tab.get_by_role("link", name="v1", exact=True).first.click()
    tab.wait_for_url("**/datasets/loans/1")
    drawn = charts_of(tab, least=10)  # missing shares + a chart per column with values
    assert {"missing-chart"} <= {c["id"] for c in drawn}
    assert tab.locator("#rows tbody tr").count() == 20
    assert tab.locator("#schema tbody tr").count() == 17
    lineage = tab.locator("svg.lineage")
    assert lineage.count() == 1
    assert lineage.locator("a.node.run").count() >= 1
    assert lineage.locator("a.node.model").count() >= 1
    shot(tab, "dataset-version")


def test_flagged_or_warned_version_shows_its_report(tab: Any) -> None:
    tab.goto("/datasets/loans/2")
    assert "values outside" in tab.locator(".notice").inner_text()
    failures = tab.locator("#validation tbody tr")
    assert failures.count() >= 1
    assert "should be" in failures.first.inner_text()
    charts_of(tab, least=10)


def test_diff_of_two_versions(tab: Any, shot: Any) -> None:
    tab.goto("/datasets/loans")
    tab.get_by_role("button", name="Show the diff").click()
    tab.wait_for_url(re.compile(r".*/datasets/loans/diff\?a=1&b=2$"))
    assert "3,000 → 750" in tab.locator(".cards").inner_text()
    moved = tab.locator("table tbody tr")
    assert moved.count() >= 5  # the quick start's later month drifted
    drawn = charts_of(tab, least=10)
    assert all(c["id"].startswith("diff-") for c in drawn)
    shot(tab, "dataset-diff")


def test_profile_report_page_and_file(tab: Any, shot: Any, ui_server: str) -> None:
    tab.goto("/datasets/loans/1")
    tab.get_by_role("link", name="Profile report").click()
    tab.wait_for_url("**/datasets/loans/1/profile")
    report = tab.locator(".profile-report")
    assert report.locator("table.summary tbody tr").count() == 17
    assert report.locator("svg rect.bar").count() > 50  # histograms and value bars
    shot(tab, "dataset-profile")

    file = httpx.get(f"{ui_server}/datasets/loans/1/profile.html")
    assert file.status_code == 200
    assert file.text.startswith("<!doctype html>")
    assert "default-src 'none'" in file.text  # standalone: opens offline, fetches nothing
    assert "/static/" not in file.text


def test_models_list_model_and_version(tab: Any, shot: Any) -> None:
    tab.goto("/models")
    row = tab.locator("tbody tr", has_text=MODEL)
    assert row.count() == 1
    assert "production" in row.inner_text()
    assert "@champion" in row.inner_text()
    shot(tab, "models")

    row.get_by_role("link", name=MODEL, exact=True).click()
    tab.wait_for_url(f"**/models/{MODEL}")
    drawn = charts_of(tab, least=2)
    assert {"metrics-chart", "history-chart"} <= {c["id"] for c in drawn}
    assert tab.locator("table tbody tr").count() == 5
    assert tab.locator(".timeline li.stage").count() >= 1
    # auth is off on this server: the caller may change things, so the buttons show
    assert tab.locator("button[data-post]").count() >= 1
    shot(tab, "model")

    tab.locator("tbody tr", has_text="@champion").get_by_role("link", name="v1").click()
    tab.wait_for_url(f"**/models/{MODEL}/1")
    assert "production" in tab.locator(".title-row").inner_text()
    inputs = tab.locator("h3:has-text('Inputs') + .table-wrap tbody tr")
    assert inputs.count() >= 10
    assert tab.locator("svg.lineage a.node.dataset").count() == 1
    assert tab.locator("svg.lineage a.node.run").count() == 1
    assert "onnx" in tab.locator("h2:has-text('Exports') + .table-wrap").inner_text()
    shot(tab, "model-version")


def test_model_version_links_to_its_dataset_and_run(tab: Any, ui_server: str) -> None:
    tab.goto(f"/models/{MODEL}/champion")
    run_href = tab.locator("#run-link").get_attribute("href")
    assert run_href and re.fullmatch(r"/runs/[0-9a-f]{32}", run_href)

    tab.locator("a.dataset-link").first.click()
    tab.wait_for_url("**/datasets/loans/1")
    assert tab.locator("h1").inner_text().startswith("loans")

    tab.goto(f"/models/{MODEL}/champion")
    tab.locator("#run-link").click()
    tab.wait_for_url(f"**{run_href}")


def test_automl_search_page(tab: Any, shot: Any) -> None:
    tab.goto(f"/models/{MODEL}/challenger")  # the quick start's AutoML best
    tab.get_by_role("link", name="AutoML search").click()
    tab.wait_for_url(re.compile(r".*/runs/[0-9a-f]{32}/automl$"))
    charts_of(tab, least=1)
    trials = tab.locator("table tbody tr")
    assert trials.count() >= 2
    assert trials.first.locator("a[href^='/runs/']").count() == 1
    assert f"{MODEL}@" in tab.locator("main").inner_text()
    shot(tab, "automl")


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/datasets/nope", 404, "nope"),
        ("/datasets/loans/99", 404, "99"),
        ("/datasets/loans/diff?a=1&b=99", 404, "99"),
        ("/models/nope", 404, "nope"),
        ("/models/loans-default/99", 404, "99"),
        ("/runs/0123456789abcdef/automl", 404, "0123456789abcdef"),
    ],
)
def test_unknown_names_answer_a_page_with_their_status(
    ui_server: str, path: str, status: int, words: str
) -> None:
    answer = httpx.get(ui_server + path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert words in answer.text


# -- editors' buttons: on a store of their own ------------------------------------------


@pytest.fixture
def registry(home: Path) -> Iterator[str]:
    """A platform server (thread, auth off) over a store holding model ``demo`` with three
    versions; its URL."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (X["a"] > 0).astype(int)
    for c in (0.1, 1.0, 10.0):
        sy.models.register("demo", LogisticRegression(C=c).fit(X, y), X=X, y=y)
    with sy.serving.background(sy.server.create_app()) as url:
        yield url


def _click(page: Any, selector: str) -> None:
    """Click a button that asks first, say yes, and wait for the page to reload."""
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator(selector).click()


def test_editors_promote_roll_back_and_set_aliases(tab: Any, registry: str) -> None:
    tab.goto(f"{registry}/models/demo")
    tab.fill("#reason", "first release")
    row = "tbody tr:has(a[href='/models/demo/1'])"
    _click(tab, f"{row} button:has-text('Promote')")
    assert sy.models.get("demo@production").version == 1
    assert "first release" in tab.locator(".timeline").inner_text()

    _click(tab, "tbody tr:has(a[href='/models/demo/3']) button:has-text('Promote')")
    assert sy.models.get("demo@production").version == 3
    assert sy.models.get("demo@1").stage == "archived"

    _click(tab, "#rollback")
    assert sy.models.get("demo@production").version == 1

    tab.fill("#alias-name", "champion")
    tab.select_option("#alias-version", "3")
    _click(tab, "#set-alias")
    assert sy.models.get("demo@champion").version == 3
    assert "@champion → v3" in tab.locator(".title-row").inner_text()


def test_a_refused_change_says_why_on_the_page(browser: Any, registry: str) -> None:
    # a tab of its own: the refusal (HTTP 409/422) is what this test wants to see
    context = browser.new_context(base_url=registry)
    try:
        tab = context.new_page()
        tab.goto("/models/demo")
        tab.fill("#alias-name", "latest")  # reserved: the API refuses it
        tab.once("dialog", lambda dialog: dialog.accept())
        tab.locator("#set-alias").click()
        status = tab.locator("#action-status")
        status.wait_for(state="visible")
        assert "latest" in status.inner_text()
        assert tab.locator("#set-alias").is_enabled()  # one may correct and try again
    finally:
        context.close()


@pytest.fixture
def derived(home: Path) -> Iterator[str]:
    """A server over a store where ``raw@2`` failed its checks (flagged) and ``clean@1`` was
    made from ``raw@1``; its URL."""
    frame = pd.DataFrame({"id": range(50), "x": np.linspace(0, 1, 50), "g": ["a", "b"] * 25})
    first = sy.datasets.register("raw", frame)
    sy.datasets.register("raw", frame.drop(columns=["g"]).assign(id=range(50, 100)))
    sy.datasets.register("clean", frame[frame["x"] > 0.2], parents=[first.id])
    with sy.serving.background(sy.server.create_app()) as url:
        yield url


def test_flagged_versions_and_the_lineage_of_derived_data(
    tab: Any, derived: str, shot: Any
) -> None:
    tab.goto(f"{derived}/datasets")
    assert "1 flagged" in tab.locator("tbody tr", has_text="raw").inner_text()

    tab.goto(f"{derived}/datasets/raw")
    flagged = tab.locator("tbody tr.flagged")
    assert flagged.count() == 1 and "v2" in flagged.inner_text()
    assert "v1" in tab.locator(".cards").inner_text()  # the default stays the version that passed

    tab.goto(f"{derived}/datasets/raw/2")
    shot(tab, "dataset-flagged")
    assert "shipyard data accept raw@2" in tab.locator(".notice.bad").inner_text()
    assert "missing_column" in tab.locator("#validation").inner_text()
    charts_of(tab)

    tab.goto(f"{derived}/datasets/raw/1")
    tab.locator("svg.lineage a.node.dataset", has_text="clean@1").click()
    tab.wait_for_url("**/datasets/clean/1")
    graph = tab.locator("svg.lineage")
    assert graph.locator("a.node.dataset", has_text="raw@1").count() == 1
    assert "made from" in (graph.text_content() or "").lower()


def test_only_editors_see_the_buttons(home: Path) -> None:
    create_user, create_token = sy.server.create_user, sy.server.create_token
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    y = (X["a"] > 9).astype(int)
    from sklearn.linear_model import LogisticRegression

    sy.models.register("demo", LogisticRegression().fit(X, y), X=X, y=y)
    tokens = {}
    for name, role in (("vera", "viewer"), ("ed", "editor"), ("ada", "admin")):
        create_user(name, role)
        tokens[role] = create_token(name)
    with sy.serving.background(sy.server.create_app(auth=True)) as url:
        for role, token in tokens.items():
            for path in ("/models/demo", "/models/demo/1"):
                answer = httpx.get(url + path, headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == 200, (role, path, answer.text[:300])
                shown = "data-post=" in answer.text
                assert shown == (role != "viewer"), (role, path)
