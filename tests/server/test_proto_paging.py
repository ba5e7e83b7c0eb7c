"""Page tokens as a strict (or hostile) client sends them: forged, tampered, replayed on
another listing. Every one is refused with a 422 naming ``page_token``, never a 500; a token
of the server's own still pages."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.server import create_app


def _forged(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _listing_token(offset: int, query: Any) -> str:
    """A token in the listings' format (an offset and the query's digest), as anyone can
    make one: the digest is no secret."""
    digest = hashlib.sha256(orjson.dumps(query, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    return _forged({"o": offset, "q": digest})


@pytest.fixture
def api(home: Path) -> Iterator[httpx.Client]:
    for i in range(3):
        with sy.start_run(experiment="paging", name=f"r{i}") as run:
            run.log_metrics({"auc": 0.5 + i / 10})
    with sy.start_run(experiment="paging-2", name="other"):
        pass
    with serving.background(create_app()) as url, httpx.Client(base_url=url) as client:
        yield client


def test_a_forged_offset_past_any_database_integer_is_refused(api: httpx.Client) -> None:
    # the alerts are paged by the database: 2**63 reached SQLite's OFFSET as an overflow
    for offset in (2**63, 10**30, -1):
        answer = api.get(
            "/api/alerts", params={"page_token": _listing_token(offset, ["alerts", None, None])}
        )
        assert answer.status_code == 422, (offset, answer.text)
        assert "page_token" in answer.json()["error"]
    for odd in (1.5, True, "1"):
        token = _forged({"o": odd, "q": "x"})
        answer = api.get("/api/experiments", params={"page_token": token})
        assert answer.status_code == 422, (odd, answer.text)


def test_a_token_from_another_listing_is_refused(api: httpx.Client) -> None:
    # listings of the same shape (no filters) had the same digest: a key's token paged users
    for route in ("/api/models", "/api/keys", "/api/users"):
        token = _listing_token(0, None)
        answer = api.get(route, params={"page_token": token})
        assert answer.status_code == 422, (route, answer.text)


def test_forged_run_search_tokens_are_refused(api: httpx.Client) -> None:
    digest = hashlib.sha256(json.dumps([[], None, [], False]).encode()).hexdigest()[:16]
    forged: list[dict[str, Any]] = [
        {"q": digest, "o": 2**70},  # past SQLite's 64-bit OFFSET
        {"q": digest, "o": -5},
        {"q": digest, "o": "7"},
        {"q": digest, "o": 1, "k": [{"a": 1}, [1]]},  # sort values the database cannot bind
        {"q": digest, "o": 1, "k": [None, None]},
        {"q": digest, "o": 1, "k": [2**80, "a"]},
        {"q": digest, "o": 1, "k": ["not a time", "a"]},  # text where start_time is a number
    ]
    for payload in forged:
        answer = api.get("/api/runs", params={"page_token": _forged(payload)})
        assert answer.status_code == 422, (payload, answer.text)
        assert "page_token" in answer.json()["error"]
    # a float past any double (json reads 1e400 as infinity)
    raw = base64.urlsafe_b64encode(b'{"q": "%s", "o": 1e400}' % digest.encode()).decode()
    answer = api.get("/api/runs", params={"page_token": raw})
    assert answer.status_code == 422, answer.text


def test_the_servers_own_tokens_still_page_to_the_end(api: httpx.Client) -> None:
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"experiment": "paging", "page_size": 1}
        if token:
            params["page_token"] = token
        page = api.get("/api/runs", params=params).json()
        seen += [r["run_id"] for r in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert len(seen) == len(set(seen)) == 3
    first = api.get("/api/experiments", params={"page_size": 1}).json()
    assert first["next_page_token"] is not None
    second = api.get(
        "/api/experiments", params={"page_size": 1, "page_token": first["next_page_token"]}
    )
    assert second.status_code == 200 and second.json()["next_page_token"] is None
