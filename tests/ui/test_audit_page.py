"""The audit page in headless Chromium over the quick start's store: entries listed and
filtered, and the chain verified on request."""

from __future__ import annotations

from typing import Any


def test_audit_page_lists_filters_and_verifies(page: Any) -> None:
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    page.goto("/audit")
    rows = page.locator("#entries tbody tr")
    assert rows.count() > 0
    page.fill("#filters input[name=kind]", "model")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/audit?kind=model*")
    kinds = page.locator("#entries tbody tr").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    assert kinds and set(kinds) == {"model"}
    page.click("#verify")
    page.wait_for_url("**verify=true")
    assert "intact" in page.inner_text("#verdict")
