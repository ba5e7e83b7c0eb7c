"""Times in the platform API's answers, nested ones included: a metric's history and a run's
latest metrics say ISO 8601 with the UTC offset like every other time (they were epoch
seconds), and a time no calendar holds is refused when logged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.errors import InvalidInput
from shipyard.server import create_app

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


@pytest.fixture
def api(home: Path) -> Iterator[httpx.Client]:
    with serving.background(create_app()) as url, httpx.Client(base_url=url) as client:
        yield client


def test_metric_times_are_iso_8601_with_the_offset(api: httpx.Client) -> None:
    with sy.start_run(experiment="times") as run:
        sy.log_metric("lr", 0.1, step=0, timestamp=1_000.5)
        sy.log_metric("lr", 0.2, step=1, timestamp=-0.25)
        for step in range(2, 50):
            sy.log_metric("lr", 0.3, step=step)
    history = api.get(f"/api/runs/{run.id}/metrics/lr").json()
    assert history["timestamps"][:2] == [
        "1970-01-01T00:16:40.500000+00:00",
        "1969-12-31T23:59:59.750000+00:00",
    ]
    assert all(ISO.match(t) for t in history["timestamps"])
    small = api.get(f"/api/runs/{run.id}/metrics/lr", params={"max_points": 4}).json()
    assert all(ISO.match(t) for t in small["timestamps"]) and len(small["timestamps"]) <= 4
    latest = api.get(f"/api/runs/{run.id}").json()["metrics"]["lr"]
    assert ISO.match(latest["timestamp"]) and latest["step"] == 49


def test_a_metric_time_outside_the_calendar_is_refused(api: httpx.Client) -> None:
    with (
        sy.start_run(experiment="times") as run,
        pytest.raises(InvalidInput, match="years 1 to 9999"),
    ):
        sy.log_metric("x", 1.0, timestamp=1e300)
    path = f"/api/runs/{run.id}/metrics"
    answer = api.post(path, json={"points": [["x", 1.0, 0, 1.0], ["x", 1.0, 1, 1e300]]})
    assert answer.status_code == 422 and answer.json()["error"].startswith("points[1]:")
