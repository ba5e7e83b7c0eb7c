"""Shadow routes under sustained load, on real servers: a slow shadow sheds copies (counted)
instead of stalling deployment changes or growing memory; a CPU-bound shadow leaves the
answers their throughput; a shadow worker that dies is replaced.

The shadow models are defined here and registered with pickle, so the servers and their
shadow workers import this module by name (the subprocess servers get this test process's
``sys.path``).
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.config import reset_settings
from shipyard.data import make_loans
from shipyard.serving import deployments

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]
ROW = {"age": 41, "income": 52000.0, "loan_amount": 12000.0, "term_months": 36,
       "credit_score": 640, "region": "north"}  # fmt: skip


class SlowRows(sy.models.PythonModel):
    """A slow shadow: 50 ms per row (batching cannot hide it, so copies must be shed)."""

    def predict(self, df: Any) -> Any:
        time.sleep(0.05 * len(df))
        return np.zeros(len(df), dtype=np.int64)


class Busy(sy.models.PythonModel):
    """A CPU-bound shadow: a pure-Python busy loop of 20 ms per call (holds the GIL)."""

    def predict(self, df: Any) -> Any:
        end = time.perf_counter() + 0.02
        while time.perf_counter() < end:
            pass
        return np.zeros(len(df), dtype=np.int64)


class Crash(sy.models.PythonModel):
    """Ends its process on an income of exactly 52,000 (never in the stored sample)."""

    def predict(self, df: Any) -> Any:
        if (df["income"] == 52000.0).any():
            os._exit(3)
        return np.zeros(len(df), dtype=np.int64)


@pytest.fixture(scope="module")
def shadows(registry: Path) -> Iterator[Path]:
    """The conftest registry plus ``slow-rows``, ``busy`` and ``crash`` (version 1 each)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(registry))
        reset_settings()
        frame = make_loans(500, seed=1)
        X, y = frame[FEATURES], frame["default"]
        for name, model in (("slow-rows", SlowRows()), ("busy", Busy()), ("crash", Crash())):
            sy.models.register(name, model, X=X, y=y)
    reset_settings()
    return registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``shipyard serve --deployment NAME`` in its own process (its own GIL), started;
    :meth:`wait` waits until it answers ready (so that several start at once)."""

    def __init__(self, home: Path, name: str, log_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        env = {**os.environ, "SHIPYARD_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
        command = [sys.executable, "-m", "shipyard.cli", "serve", "--deployment", name,
                   "--port", self.url.rsplit(":", 1)[1], "--poll", "0.1",
                   "--log-dir", str(log_dir), "--trust"]  # fmt: skip
        self.output = log_dir.with_suffix(".txt")
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=out)

    def wait(self) -> Server:
        """Waits until the server answers ready (fails after 90 s); the server."""
        deadline = time.monotonic() + 90
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the server did not start:\n{self.output.read_text()}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(self.url + "/v2/health/ready").status_code == 200
        except httpx.TransportError:
            return False

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples whose labels include ``labels``."""
        total = 0.0
        for line in httpx.get(self.url + "/metrics").text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match is not None
        return int(match.group(1)) / 1024

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Load:
    """``threads`` clients posting ROW in a loop: answers' models and latencies, failures."""

    def __init__(self, url: str, threads: int = 6) -> None:
        self.url = url
        self.models: list[str] = []
        self.latencies: list[float] = []
        self.failures: list[int] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                answer = client.post("/predict", json=ROW)
                self.latencies.append(time.perf_counter() - started)
                if answer.status_code == 200:
                    self.models.append(answer.json()["model"])
                else:
                    self.failures.append(answer.status_code)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Seconds until ``check()`` holds; fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"{what}: not within {seconds:g} s")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def deployment(shadows: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Creates shadow deployments (deleted afterwards) in the shared registry."""
    monkeypatch.setenv("SHIPYARD_HOME", str(shadows))
    for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    made: list[str] = []

    def create(name: str, routes: dict[str, str], **params: Any) -> str:
        deployments.create(name, routes, **params)
        made.append(name)
        return name

    yield create
    for name in made:
        deployments.delete(name)
    reset_settings()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_a_slow_shadow_sheds_copies_and_a_promote_still_takes_effect(
    deployment: Callable[..., str], shadows: Path, tmp_path: Path
) -> None:
    name = deployment("mirrored", {"main": "loans-gbm@1", "copy": "slow-rows@1"}, policy="shadow")
    server = Server(shadows, name, tmp_path / "log").wait()
    load = Load(server.url)
    try:
        wait_for(lambda: server.metric("shipyard_shadow_dropped_total") > 0, 60, "copies shed")
        before = server.rss_mb()
        queued = [server.metric("shipyard_shadow_queued")]
        for _ in range(20):  # two more seconds of sustained load
            time.sleep(0.1)
            queued.append(server.metric("shipyard_shadow_queued"))
        deployments.promote(name, "copy")  # the shadow now answers (and "main" shadows it)
        seconds = wait_for(lambda: load.models[-10:] == ["slow-rows"] * 10, 10, "promote")
        after = server.rss_mb()
        dropped = server.metric("shipyard_shadow_dropped_total", route="copy")
    finally:
        load.stop()
        server.stop()
    assert load.failures == []
    assert seconds < 10  # poll is 0.1 s: a stalled watcher took minutes
    assert dropped > 0 and max(queued) <= 1024  # bounded: shed, and counted
    assert after - before < 64, (before, after)  # MB: no pile of pending copies


def _phase(url: str, seconds: float) -> tuple[float, float, float]:
    """Requests/s, p50 and p99 (ms) of a few clients over ``seconds``."""
    load = Load(url, threads=4)
    time.sleep(seconds)
    load.stop()
    assert load.failures == []
    ms = sorted(x * 1e3 for x in load.latencies)
    return len(ms) / seconds, statistics.median(ms), ms[int(0.99 * (len(ms) - 1))]


def test_a_cpu_bound_shadow_leaves_the_answers_their_throughput(
    deployment: Callable[..., str], shadows: Path, tmp_path: Path
) -> None:
    plain = deployment("unshadowed", {"main": "loans-gbm@1"})
    busy = deployment("busy-shadow", {"main": "loans-gbm@1", "copy": "busy@1"}, policy="shadow")
    without = Server(shadows, plain, tmp_path / "a")
    shadowed = Server(shadows, busy, tmp_path / "b")  # both start at once
    try:
        without.wait(), shadowed.wait()
        _phase(shadowed.url, 1.0)  # warm-up: the shadow worker starts
        wait_for(lambda: shadowed.metric("shipyard_shadow_rows_total") > 0, 60, "first copies")
        rounds: dict[str, list[tuple[float, float, float]]] = {"without": [], "with": []}
        for _ in range(2):  # interleaved: a busy spell of the machine falls on both
            rounds["without"].append(_phase(without.url, 2.0))
            rounds["with"].append(_phase(shadowed.url, 2.0))
        answered = int(shadowed.metric("shipyard_requests_total", code="200"))

        def settled() -> bool:
            counted = shadowed.metric("shipyard_shadow_rows_total")
            return counted + shadowed.metric("shipyard_shadow_dropped_total") == answered

        wait_for(settled, 30, "every copy compared or dropped")
        compared = shadowed.metric("shipyard_shadow_rows_total", route="copy", outcome="agree")
    finally:
        without.stop()
        shadowed.stop()
    best = {k: max(v) for k, v in rounds.items()}  # the best of each: noise only slows
    print(f"\nrequests/s, p50 ms, p99 ms: {best} (4 clients, one-row requests)")
    assert compared > 0  # the shadow answered copies (its zeros may agree)
    assert best["with"][0] >= 0.4 * best["without"][0]  # was ~0.1 with the shadow in threads


def test_a_shadow_worker_that_dies_is_replaced(
    deployment: Callable[..., str], start_server: Any, tmp_path: Path
) -> None:
    name = deployment("crashing", {"main": "loans-gbm@1", "copy": "crash@1"}, policy="shadow")
    app = serving.create_app(deployment=name, poll=0.1, log_dir=tmp_path / "log")
    running = start_server(app)
    other = {**ROW, "income": 52001.0}
    with httpx.Client(base_url=running.url, timeout=30) as client:

        def count(outcome: str) -> float:
            text = client.get("/metrics").text
            return sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("shipyard_shadow_rows_total{") and f'outcome="{outcome}"' in line
            )

        assert client.post("/predict", json=ROW).status_code == 200  # its copy ends the child
        wait_for(lambda: count("error") == 1, 60, "the lost copy counted as an error")
        assert client.post("/predict", json=other).status_code == 200
        wait_for(lambda: count("agree") + count("differ") == 1, 60, "a new child answers")
    shadows_ = app.state.server.shadows
    assert shadows_.runner.started == 2
    assert app.state.server.stats["copy"].errors == 1
