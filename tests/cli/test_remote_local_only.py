"""Commands that serve or run this host's store refuse remote mode in one line naming
SHIPYARD_URL: ``shipyard server`` would otherwise pass the caller's token on to whoever
reaches it (an unauthenticated proxy to the team's server), ``shipyard scheduler`` logged a
traceback every round, and ``shipyard quickstart`` half-filled the server's store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.config import reset_settings
from shipyard.testing.servers import free_port


@pytest.mark.parametrize(
    "command",
    [["server"], ["scheduler", "--once"], ["quickstart", "--rows", "1000"]],
)
def test_commands_of_the_servers_host_refuse_remote_mode(
    command: list[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the refusal comes first
    monkeypatch.setenv("SHIPYARD_URL", url)
    monkeypatch.setenv("SHIPYARD_TOKEN", "syt_00000000_secret")
    reset_settings()
    if command[0] == "server":
        command = ["server", "--port", str(free_port())]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"SHIPYARD_URL={url}" in lines[0], result.output
    assert lines[0].startswith(f"Error: shipyard {command[0]} works on a local store")
    assert not (home / "shipyard.db").exists()
