"""The breaker: a candidate failing every request under concurrent load is cut off within
its error budget (plus what was in flight) by one server and by two worker processes,
pooling through the metadata store or Redis, although the servers poll only every 2 s."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.config import reset_settings
from shipyard.serving import deployments
from shipyard.testing.servers import LOAN_ROW, FailsOn, serve_processes

ROW = LOAN_ROW
BUDGET, CLIENTS, MOST = 5, 8, 250  # max_error_rate x step_requests; concurrent clients


@pytest.fixture(params=["sql", "redis"])
def broken(
    request: pytest.FixtureRequest, store: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A canary whose candidate fails every request of the test's load, its evidence
    pooled in the metadata store or Redis."""
    if request.param == "redis":
        monkeypatch.setenv("SHIPYARD_REDIS_URL", request.getfixturevalue("redis_url"))
    else:
        monkeypatch.delenv("SHIPYARD_REDIS_URL", raising=False)
    reset_settings()
    frame = sy.data.make_loans(200, seed=0)[list(ROW)]
    version = sy.models.register("always-fails", FailsOn("income", 52000.0), X=frame)
    deployments.create(
        "breaker", {"stable": "loans-gbm@1", "new": f"always-fails@{version.version}"},
        policy="canary", steps=[50, 100], step_requests=100, max_error_rate=0.05,
    )  # fmt: skip
    yield "breaker"
    deployments.delete("breaker")


def load(url: str) -> Counter[int]:
    """CLIENTS clients sending requests at once until the rollback is recorded (at most
    MOST each); the status codes answered."""
    codes: Counter[int] = Counter()
    lock, start, done = threading.Lock(), threading.Barrier(CLIENTS + 1), threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            start.wait(timeout=30)
            for _ in range(MOST):
                if done.is_set():
                    return
                status = http.post("/predict", json=ROW).status_code
                with lock:
                    codes[status] += 1

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait(timeout=30)
    deadline = time.monotonic() + 60
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        if deployments.get("breaker").policy["status"] == "rolled_back":
            done.set()
        time.sleep(0.05)
    done.set()
    for thread in threads:
        thread.join(timeout=60)
    return codes


def check(codes: Counter[int]) -> None:
    assert set(codes) <= {200, 500}, codes
    assert codes[500] >= 1, codes  # the candidate took traffic and failed it
    assert codes[500] <= BUDGET + CLIENTS, codes  # then was cut off: budget + in flight
    assert deployments.get("breaker").policy["status"] == "rolled_back"
    assert deployments.history("breaker")[0].kind == "canary-rolled-back"


def test_one_server_cuts_a_failing_candidate_off_within_its_budget(
    broken: str, start_server: Any
) -> None:
    running = start_server(serving.create_app(deployment=broken, poll=2.0, log_sample=0))
    check(load(running.url))


def test_two_workers_cut_a_failing_candidate_off_within_its_budget(broken: str) -> None:
    with serve_processes(broken, (2,), poll=2.0) as (url,):
        check(load(url))
