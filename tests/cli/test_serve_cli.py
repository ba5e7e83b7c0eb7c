"""``shipyard serve`` and ``shipyard server`` refuse what they cannot serve in one line, before
saying "Serving" (issue 18: a traceback after the banner, a TypeError without a reference,
a busy port announced first)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.testing.servers import free_port

runner = CliRunner()


def refused(*args: str) -> str:
    """The output of a command that must fail in one line: exit 1, no traceback, no banner."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "80"})
    output = result.output.strip()
    assert result.exit_code == 1, output
    assert "Traceback" not in output and "Serving" not in output and "Platform server" not in output
    assert len(output.splitlines()) == 1, output
    assert output.startswith("Error: ")
    return output


def test_serve_without_a_reference_says_what_to_pass(home: Path) -> None:
    output = refused("serve", "--port", str(free_port()))
    assert "Nothing to serve: pass a model reference such as churn@champion or --deployment" in (
        output
    )
    assert "Try: shipyard models list" in output
    assert "not both" in refused("serve", "churn@1", "--deployment", "fraud")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--port", "0"),
        ("--port", "65536"),
        ("--workers", "0"),
        ("--max-batch", "0"),
        ("--max-wait", "2"),
        ("--poll", "-1"),
        ("--log-sample", "1.5"),
        ("--max-inflight", "0"),
        ("--max-rows", "0"),
        ("--format", "pickle"),
    ],
)
def test_serve_names_a_bad_option(home: Path, option: str, value: str) -> None:
    output = refused("serve", "nosuch@1", option, value)
    assert f"Error: {option} must be" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch@3"], "No model named 'nosuch'. Try: shipyard models list"),
        (["churn@"], "Model reference 'churn@' is not valid"),
        (["--deployment", "nosuch"], "No deployment named 'nosuch'"),
    ],
)
def test_serve_refuses_a_reference_naming_nothing(
    home: Path, args: list[str], message: str
) -> None:
    assert message in refused("serve", *args, "--port", str(free_port()))


def test_serve_and_api_refuse_a_busy_port_suggesting_another(home: Path, busy_port: int) -> None:
    for command in ("serve", "server"):
        target = ["nosuch@1"] if command == "serve" else []
        output = refused(command, *target, "--port", str(busy_port))
        assert f"port {busy_port} on 127.0.0.1 is in use" in output
        assert "Try: --port " in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "--port must be a port number from 1 to 65535; got 0."),
        (["--host", "192.0.2.1", "--insecure"], "--host '192.0.2.1' is not an address"),
        (["--host", "0.0.0.0", "--no-auth"], "Refusing to serve without auth on 0.0.0.0"),
    ],
)
def test_api_refuses_a_bad_address_in_one_line(home: Path, args: list[str], message: str) -> None:
    assert message in refused("server", *args)


@pytest.mark.parametrize("refusal", ["unknown-model", "busy-port"])
def test_the_serve_process_fails_in_one_line_without_announcing(
    home: Path, busy_port: int, refusal: str
) -> None:
    args = ["nosuch@3", "--port", str(free_port())]
    if refusal == "busy-port":
        args = ["nosuch@3", "--port", str(busy_port)]
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    command = [sys.executable, "-m", "shipyard.cli", "serve", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""  # no "Serving ..."
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("Error: ") and "Traceback" not in done.stderr
    expected = "No model named 'nosuch'" if refusal == "unknown-model" else "is in use"
    assert expected in done.stderr
