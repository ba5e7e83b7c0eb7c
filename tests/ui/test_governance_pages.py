"""The governance section of a model version's page and the model card page, in headless
Chromium, over a store of their own: evidence recorded directly with ``record_evidence`` (in
the formats the explanation and fairness code write), then the pages opened. Every chart
must hold points, and no console error or failed request may happen."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard import governance, models

CHARTS = """() => [...document.querySelectorAll('[data-chart]')].map((el) => ({
  id: el.id,
  points: (el.data || []).reduce((n, t) => n + (t.x || t.y || []).length, 0),
}))"""
DRAWN = "() => [...document.querySelectorAll('[data-chart]')].every((el) => el.data)"
FEATURES = ["income", "age", "region"]


def _explanation(rows: int = 30) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    shap = rng.normal(size=(rows, 3)) * [0.8, 0.2, 0.4]
    values = [[float(i), int(20 + i), "north" if i % 2 else "south"] for i in range(rows)]
    return {
        "method": "linear",
        "note": None,
        "output": "log-odds",
        "data": "sample",
        "rows": rows,
        "features": FEATURES,
        "mean_abs_shap": dict(zip(FEATURES, np.abs(shap).mean(axis=0).tolist(), strict=True)),
        "base_value": -0.1,
        "classes": [0, 1],
        "permutation": None,
        "scoring": None,
        "sample": {"shap": shap.round(4).tolist(), "values": values},
    }


def _group(region: str, count: int, rate: float, small: bool = False) -> dict[str, Any]:
    ci = {"value": rate, "low": rate - 0.05, "high": rate + 0.05}
    metrics = {"selection_rate": ci, "true_positive_rate": ci, "false_positive_rate": ci}
    return {"group": {"region": region}, "count": count, "small": small, "metrics": metrics}


FAIRNESS = {
    "data": "people@1",
    "target": "label",
    "sensitive": ["region"],
    "rows": 140,
    "task": "binary",
    "confidence": 0.95,
    "min_group_size": 30,
    "groups": [_group("north", 120, 0.6), _group("south", 20, 0.3, small=True)],
    "disparities": {"demographic_parity_difference": 0.3, "equalized_odds_difference": 0.2},
    "notes": ["region=south: 20 rows, fewer than 30."],
}


@pytest.fixture
def store(home: Path) -> Iterator[str]:
    """A platform server (thread, auth off) over a store with model ``people`` version 1
    (explanation, fairness, evaluation, approval and override recorded) and version 2
    (nothing recorded); its URL."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(size=80), "age": rng.integers(20, 70, 80)})
    y = (X["income"] > 0).astype(int)
    for _ in range(2):
        sy.models.register("people", LogisticRegression().fit(X, y), X=X, y=y)
    for kind, data in (
        ("explanation", _explanation()),
        ("fairness", FAIRNESS),
        ("evaluation", {"data": "people@1", "target": "label", "rows": 80,
                        "metrics": {"accuracy": {"value": 0.8, "low": 0.7, "high": 0.9}}}),
        ("approval", {"role": "admin", "comment": "ship it", "for": "production"}),
        ("override", {"to": "production", "failed": ["card_complete"], "reason": "urgent fix",
                      "policy_version": 1}),
    ):  # fmt: skip
        models.record_evidence("people@1", kind, data)
    with sy.serving.background(sy.server.create_app()) as url:
        yield url


@contextmanager
def _tab(browser: Any, base_url: str) -> Iterator[Any]:
    """A tab whose console errors, page errors and failed requests fail the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=base_url)
    tab = context.new_page()
    tab.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    tab.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    try:
        yield tab
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def _charts(tab: Any) -> dict[str, int]:
    tab.wait_for_function(DRAWN)
    found = {c["id"]: c["points"] for c in tab.evaluate(CHARTS)}
    assert all(found.values()), f"charts without points: {found}"
    return found


def test_version_page_governance_and_the_card(browser: Any, store: str, shot: Any) -> None:
    with _tab(browser, store) as tab:
        tab.goto("/models/people/1")
        charts = _charts(tab)
        assert charts["shap-swarm"] == 90  # 30 rows x 3 features
        assert charts["shap-bars"] == 3
        assert {"fairness-chart", "evaluation-chart"} <= set(charts)
        assert "region=south" in tab.locator("#fairness-groups").inner_text()
        assert tab.locator("#fairness-groups .badge.warn").inner_text() == "small"
        assert "0.3" in tab.locator("#fairness-disparities").inner_text()
        approvals = tab.locator("#approvals-panel").inner_text()
        assert "ship it" in approvals and "urgent fix" in approvals
        shot(tab, "model-version-governance")

        tab.locator("#card-link").click()
        tab.wait_for_url("**/models/people/1/card")
        assert tab.locator("#card-state").inner_text() == "incomplete"
        text = tab.locator(".model-card").inner_text()
        assert "Mean |SHAP|" in text and "demographic parity difference" in text
        assert tab.locator(".model-card svg.bars").count() == 3
        tab.fill("#intended_use", "Rank <applications> for review.")
        tab.fill("#limitations", "Synthetic data only.")
        with tab.expect_navigation():
            tab.locator("#save-card").click()
        assert tab.locator("#card-state").inner_text() == "complete"
        assert "Rank <applications> for review." in tab.locator(".model-card").inner_text()
        shot(tab, "model-card")
    assert governance.card("people@1", check=False).complete

    markdown = httpx.get(f"{store}/models/people/1/card.md")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "## Intended use\n\nRank <applications> for review." in markdown.text
    page = httpx.get(f"{store}/models/people/1/card.html")
    assert "Rank &lt;applications&gt; for review." in page.text and "<script" not in page.text


def test_a_version_without_evidence_and_an_unknown_one(browser: Any, store: str) -> None:
    with _tab(browser, store) as tab:
        tab.goto("/models/people/2")
        assert "No explanation recorded" in tab.locator("#explanation-panel").inner_text()
        assert "No fairness report recorded" in tab.locator("#fairness-panel").inner_text()
        assert tab.locator("#gates-state").inner_text() in ("not checked", "no policy")
        tab.goto("/models/people/2/card")
        assert "Not written yet" in tab.locator(".model-card").inner_text()
    missing = httpx.get(f"{store}/models/people/9/card")
    assert missing.status_code == 404 and "no version 9" in missing.text.lower()


def test_only_editors_get_the_card_form_and_may_save_it(store: str) -> None:
    create_user, create_token = sy.server.create_user, sy.server.create_token
    tokens = {}
    for name, role in (("vera", "viewer"), ("ed", "editor")):
        create_user(name, role)
        tokens[role] = create_token(name)
    with sy.serving.background(sy.server.create_app(auth=True)) as url:
        for role, token in tokens.items():
            auth = {"Authorization": f"Bearer {token}"}
            page = httpx.get(f"{url}/models/people/1/card", headers=auth)
            assert page.status_code == 200, page.text[:300]
            assert ('id="card-form"' in page.text) == (role == "editor"), role
            saved = httpx.post(
                f"{url}/api/models/people/versions/1/evidence",
                json={"kind": "card", "data": {"intended_use": f"by {role}", "limitations": "x"}},
                headers=auth,
            )
            assert saved.status_code == (201 if role == "editor" else 403), saved.text
    found = governance.card("people@1", check=False)
    assert found.intended_use == "by editor"
    assert models.evidence("people@1", "card")[0].created_by == "user:ed"
