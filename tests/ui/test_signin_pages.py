"""Signing in to the web UI in a real browser: a page asked without a token goes to
``/login``, a refused token is said in one line, a good one comes back to the page asked
for, the header names who is signed in, and signing out asks again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard import server, serving
from shipyard.server import create_app


@pytest.fixture
def signin_server(home: Path) -> Iterator[tuple[str, str]]:
    """A server with auth over a store with user dana (editor); its URL and her token."""
    server.create_user("dana", "editor")
    token = server.create_token("dana", "browser")
    with serving.background(create_app(auth=True)) as url:
        yield url, token


def test_a_person_signs_in_and_out(
    browser: Any, signin_server: tuple[str, str], shot: Callable[[Any, str], Path]
) -> None:
    url, token = signin_server
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=url)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        tab.goto("/openapi.json")
        assert tab.url == f"{url}/login?next=%2Fopenapi.json"
        assert tab.get_by_role("heading", name="Sign in").is_visible()
        shot(tab, "signin")
        tab.fill("#token", "syt_00000000_" + "x" * 43)
        tab.click("button[type=submit]")
        tab.wait_for_function("document.getElementById('said').textContent.length > 0")
        assert "token: unknown" in tab.inner_text("#said")
        tab.fill("#token", token)
        with tab.expect_navigation():
            tab.click("button[type=submit]")
        assert tab.url == f"{url}/openapi.json"  # back where the person was going
        cookie = next(c for c in context.cookies() if c["name"] == "shipyard_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        tab.goto("/login")
        assert "dana (editor)" in tab.inner_text("header .who")
        shot(tab, "signed-in")
        tab.click("header .who a")  # sign out
        tab.wait_for_function("document.getElementById('said').textContent === 'Signed out.'")
        assert not [c for c in context.cookies() if c["name"] == "shipyard_token"]
        tab.goto("/openapi.json")
        assert "/login?next=" in tab.url
    finally:
        context.close()
    assert not errors
