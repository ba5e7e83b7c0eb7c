"""A platform server that goes away during a run (restarted, redeployed) stops neither the
training nor a point: logging goes on into the buffer, ``end()`` says the server cannot be
reached, and once it is back every point is stored, in requests the server accepts (a
buffer of many points with long keys is larger than one request body may be)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import shipyard as sy
from shipyard.config import reset_settings
from shipyard.errors import Unavailable
from shipyard.testing.servers import free_port

KEY = "k" * 250  # the longest key: ~330 bytes a point in a request
POINTS = 300_000  # ~100 MB in one request: beyond the server's 64 MB body limit


@pytest.fixture
def server_home(tmp_path: Path) -> Path:
    return tmp_path / "server" / ".shipyard"


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    """``shipyard server`` over ``home`` on ``port``, once it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    home.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "server", "--port", str(port)],
        env=env, cwd=home.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None and time.monotonic() < deadline, "no server"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).is_success:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(20)


@pytest.fixture
def restartable(
    server_home: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """Remote mode against a server on a fixed port; (the port, its processes)."""
    port = free_port()
    processes = [_serve(server_home, port)]
    monkeypatch.setenv("SHIPYARD_URL", f"http://127.0.0.1:{port}")
    reset_settings()
    try:
        yield port, processes
    finally:
        for process in processes:
            if process.poll() is None:
                _stop(process)
        reset_settings()


def test_an_outage_stops_neither_the_training_nor_a_point(
    restartable: tuple[int, list[subprocess.Popen[bytes]]], server_home: Path
) -> None:
    port, processes = restartable
    run = sy.start_run(experiment="outage")
    run.log_metric(KEY, 0.0, step=0)
    run.flush()
    _stop(processes[0])
    for i in range(1, POINTS):  # the buffer passes MAX_BUFFERED several times: no raise
        run.log_metric(KEY, float(i), step=i)
    with pytest.raises(Unavailable, match="SHIPYARD_URL: cannot reach"):
        run.end()
    processes.append(_serve(server_home, port))
    run.end()
    history = sy.get_metric_history(run.id, KEY)
    assert len(history) == POINTS and [p.step for p in history] == list(range(POINTS))
    assert sy.get_run(run.id).info.status == "finished"
