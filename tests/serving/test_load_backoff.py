"""A version that fails to load backs off (doubling, capped) instead of being loaded again on
every poll, and /metrics shows it; the served version keeps answering meanwhile."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.serving import deployments
from shipyard.serving._slot import Slot

ROW = {"age": 40, "income": 50_000, "loan_amount": 9_000, "term_months": 36,
       "credit_score": 700, "region": "north"}  # fmt: skip


@pytest.fixture
def broken(store: Path) -> Iterator[Path]:
    """loans-gbm@2's blob damaged with same-size bytes (restored afterwards)."""
    blob = next(store.rglob(sy.models.get("loans-gbm@2").digest))
    original = blob.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    sy.models.clear_cache()
    blob.write_bytes(bytes(damaged))
    try:
        yield blob
    finally:
        blob.write_bytes(original)
        sy.models.set_alias("loans-gbm@1", "champion")
        sy.models.clear_cache()


def test_a_failing_version_is_retried_after_a_doubling_capped_backoff(
    broken: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    slot = Slot("loans-gbm@champion", clock=lambda: now[0], backoff=(2.0, 8.0))
    slot.load()
    sy.models.set_alias("loans-gbm@2", "champion")
    attempts: list[tuple[float, int, float]] = []
    with caplog.at_level(logging.INFO, logger="shipyard.serving"):
        for tick in range(0, 30):  # a poll every half second for 15 s
            now[0] = tick / 2
            assert not asyncio.run(slot.refresh())
            failure = slot.failure
            assert failure is not None and failure.version_id == sy.models.get("loans-gbm@2").id
            if not attempts or attempts[-1][1] != failure.failures:
                attempts.append((now[0], failure.failures, failure.delay))
    assert attempts == [(0.0, 1, 2.0), (2.0, 2, 4.0), (6.0, 3, 8.0), (14.0, 4, 8.0)]
    assert slot.active is not None and slot.active.version == 1  # still answering
    assert "corrupt" in (slot.last_error or "") and "next attempt in 8 s" in slot.last_error
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # one ERROR for the failure, not one per attempt

    broken.write_bytes(_good_bytes(broken))
    now[0] = 100.0
    assert asyncio.run(slot.refresh())
    assert slot.active.version == 2 and slot.failure is None and slot.last_error is None


def _good_bytes(blob: Path) -> bytes:
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # undo the damage
    return bytes(data)


def _gauges(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(("shipyard_model_load_retry", "shipyard_model_load_failing"))
    }


def test_metrics_show_the_backoff_until_the_version_loads(broken: Path, start_server: Any) -> None:
    running = start_server(serving.create_app("loans-gbm@champion", poll=0.05))
    sy.models.set_alias("loans-gbm@2", "champion")
    labels = '{model="loans-gbm",version="2"}'
    deadline = time.monotonic() + 10
    while _gauges(running.url).get(f"shipyard_model_load_failing{labels}") is None:
        assert time.monotonic() < deadline, "the failure never showed in /metrics"
        time.sleep(0.05)
    time.sleep(1.0)  # twenty polls; the first retry is only due 2 s after the failure
    gauges = _gauges(running.url)
    failing = gauges[f"shipyard_model_load_failing{labels}"]
    assert failing <= 2.0  # not twenty (a loaded machine may have been slow to show the first)
    assert gauges[f"shipyard_model_load_retry_seconds{labels}"] == 2.0 * 2 ** (failing - 1)
    answer = httpx.post(running.url + "/predict", json=ROW).json()
    assert answer["version"] == 1

    sy.models.set_alias("loans-gbm@1", "champion")  # named away: the failure is moot
    deadline = time.monotonic() + 10
    while _gauges(running.url):
        assert time.monotonic() < deadline, "the gauges outlived the failure"
        time.sleep(0.05)


def test_a_deployment_whose_new_route_fails_backs_off_and_keeps_answering(
    broken: Path, start_server: Any
) -> None:
    deployments.create("backoff", {"a": "loans-gbm@1"})
    try:
        running = start_server(serving.create_app(deployment="backoff", poll=0.05))
        deployments.set_route("backoff", "a", "loans-gbm@2")
        labels = '{model="loans-gbm",version="2"}'
        deadline = time.monotonic() + 10
        while _gauges(running.url).get(f"shipyard_model_load_failing{labels}") is None:
            assert time.monotonic() < deadline, "the failure never showed in /metrics"
            time.sleep(0.05)
        time.sleep(1.0)
        assert _gauges(running.url)[f"shipyard_model_load_failing{labels}"] <= 2.0  # not 20
        assert httpx.post(running.url + "/predict", json=ROW).json()["version"] == 1
    finally:
        deployments.delete("backoff")
