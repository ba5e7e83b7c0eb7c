"""What remote mode says when SHIPYARD_URL names something that is not a Shipyard server's
base URL (another web service, a path too many) or a proxy that cannot reach the server:
one line naming SHIPYARD_URL and the URL asked, never a JSON decoder's traceback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shipyard.errors import InvalidInput, NotFound, ShipyardError, Unavailable
from shipyard.store import RemoteClient


class _Foreign(BaseHTTPRequestHandler):
    """A web server that is not Shipyard's: HTML pages, and a proxy's 502 at /gateway."""

    def do_GET(self) -> None:
        status = {"/api/health": 200, "/gateway/api/health": 502}.get(self.path, 404)
        body = b"<html><body>hello</body></html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def foreign() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Foreign)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_another_web_service_is_named_not_decoded(foreign: str) -> None:
    client = RemoteClient(foreign)
    with pytest.raises(ShipyardError) as caught:
        client.get("/api/health")  # 200, but HTML
    message = str(caught.value)
    assert message.startswith(f"SHIPYARD_URL: {foreign} answered GET /api/health with a body")
    assert "\n" not in message and "base URL" in message
    with pytest.raises(NotFound, match=r"^SHIPYARD_URL: .* GET /api/runs with 404 Not Found"):
        client.get("/api/runs")
    client.close()


def test_a_proxy_that_cannot_reach_the_server_is_unavailable(foreign: str) -> None:
    client = RemoteClient(f"{foreign}/gateway")
    with pytest.raises(Unavailable, match="502 Bad Gateway"):
        client.get("/api/health")
    client.close()


def test_a_path_too_many_is_named(platform_server: str) -> None:
    client = RemoteClient(f"{platform_server}/api")
    with pytest.raises(NotFound) as caught:
        client.get("/api/runs")
    assert str(caught.value).startswith(f"SHIPYARD_URL: {platform_server}/api answered GET")
    assert "without /api" in str(caught.value)
    client.close()
    right = RemoteClient(platform_server)
    with pytest.raises(NotFound, match="No run with id"):  # the server's own 404s pass through
        right.get("/api/runs/" + "0" * 32)
    right.close()


@pytest.mark.parametrize("token", ["syt_é", "syt_a\nb", "syt_a b"])
def test_a_token_that_cannot_be_sent_is_one_line(foreign: str, token: str) -> None:
    client = RemoteClient(foreign, token)
    with pytest.raises(InvalidInput) as caught:
        client.get("/api/health")
    message = str(caught.value)
    assert message.startswith("SHIPYARD_TOKEN: expected a token") and "\n" not in message
    assert token not in message  # a secret is not echoed
