"""``shipyard serve`` as users run it: a separate process, two uvicorn workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROW = {
    "age": 41,
    "income": 52000.0,
    "loan_amount": 12000.0,
    "term_months": 36,
    "credit_score": 640,
    "region": "north",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_command_with_two_workers(store: Path) -> None:
    port = free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(store)}
    command = [sys.executable, "-m", "shipyard.cli", "serve", "loans-gbm@champion"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2", "--access-log"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"shipyard serve did not become ready:\n{output}")
            time.sleep(0.2)
        with httpx.Client(base_url=url) as client:
            answers = [client.post("/predict", json=ROW) for _ in range(20)]
            refused = client.post("/predict", json={"age": "x"})
        assert all(a.status_code == 200 for a in answers)
        assert {a.json()["version"] for a in answers} == {1}
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()  # reads and closes the pipe
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert {line["request_id"] for line in lines} >= {a.json()["id"] for a in answers}
    failed = next(line for line in lines if line["request_id"] == refused.headers["x-request-id"])
    assert failed["status"] == 422 and "age" in failed["error"]
