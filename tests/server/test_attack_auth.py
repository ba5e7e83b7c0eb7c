"""Attacks on the platform server's auth: a caller without the right token or role is
refused before the server reads (and parses) what the request carries."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from shipyard import server, serving
from shipyard.server import create_app
from shipyard.server._paging import encode


def _answer_to_headers_alone(url: str, method: str, path: str, token: str | None) -> bytes:
    """The status line the server answers to a request that announces a 50 MB JSON body
    and never sends it: an answer at all means the body was not waited for."""
    where = urlsplit(url)
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: {where.hostname}:{where.port}",
        "Content-Type: application/json",
        "Content-Length: 50000000",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            return sock.recv(4096).split(b"\r\n", 1)[0]
        except TimeoutError:
            return b"(no answer: the server waited for the body)"


@pytest.mark.parametrize(
    "path",
    [
        "/api/experiments",  # a body model: FastAPI parses it before any dependency
        "/api/runs/0123456789abcdef0123456789abcdef/metrics",  # read by the route itself
        "/api/users",
    ],
)
def test_a_body_is_not_read_before_the_caller_is_admitted(home: Path, path: str) -> None:
    server.create_user("vic", "viewer")
    viewer = server.create_token("vic")
    with serving.background(create_app(auth=True)) as url:
        assert _answer_to_headers_alone(url, "POST", path, None) == b"HTTP/1.1 401 Unauthorized"
        forged = "syt_00000000_" + "x" * 43
        assert _answer_to_headers_alone(url, "POST", path, forged) == b"HTTP/1.1 401 Unauthorized"
        assert _answer_to_headers_alone(url, "POST", path, viewer) == b"HTTP/1.1 403 Forbidden"


def test_a_page_token_made_up_with_a_huge_offset_is_refused(home: Path) -> None:
    """Page tokens are not signed: one made by hand with an offset past SQL's 64-bit
    integers was a 500 (alerts, a model's events, a deployment's history)."""
    forged = encode(2**63 - 1, ["alerts", None, None])
    with serving.background(create_app()) as url:
        answer = httpx.get(f"{url}/api/alerts", params={"page_token": forged})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "page_token: not a token this server gave out."
        fine = httpx.get(
            f"{url}/api/alerts", params={"page_token": encode(5, ["alerts", None, None])}
        )
        assert fine.status_code == 200 and fine.json()["items"] == []


def test_no_answer_may_be_framed_by_another_site(home: Path) -> None:
    """Clickjacking: a page framed by another site, its buttons under a decoy, would be
    clicked as the UI's own same-origin request (with auth off, no cookie is needed)."""
    with serving.background(create_app()) as url:
        for path in ("/", "/runs", "/api/health", "/login", "/api/nosuch"):
            answer = httpx.get(f"{url}{path}", headers={"accept": "text/html"})
            assert answer.headers["x-frame-options"] == "DENY", path
            assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"
            assert answer.headers["x-content-type-options"] == "nosniff"
