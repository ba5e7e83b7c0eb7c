"""Remote mode's client against a real platform server: answers decoded, errors raised as
Shipyard's own kinds, an unreachable server and a bad SHIPYARD_URL in one line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from shipyard.config import get_settings, reset_settings
from shipyard.errors import InvalidInput, NotFound, Unavailable
from shipyard.store import RemoteClient, remote_client


def test_answers_and_errors(platform_server: str) -> None:
    client = RemoteClient(platform_server)
    assert client.get("/api/health")["status"] == "ok"
    with pytest.raises(NotFound):
        client.get("/api/no-such-route")
    client.close()


def test_unreachable_server_is_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = RemoteClient(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(Unavailable, match=r"SHIPYARD_URL: cannot reach the server at http"):
        client.get("/api/health")


def test_settings_name_the_server(remote: str) -> None:
    settings = get_settings()
    assert settings.remote and settings.url == remote
    assert settings.where() == f"{remote} (SHIPYARD_URL)"
    assert remote_client().get("/api/health")["status"] == "ok"


@pytest.mark.parametrize("url", ["ftp://host", "http://", "http://host:99999", "host:8700"])
def test_bad_url_is_refused(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_URL", url)
    reset_settings()
    with pytest.raises(InvalidInput, match="SHIPYARD_URL"):
        get_settings()


def test_local_mode_has_no_client(home: Path) -> None:
    assert not get_settings().remote
    with pytest.raises(InvalidInput, match="SHIPYARD_URL: not set"):
        remote_client()
