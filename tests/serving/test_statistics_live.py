"""Statistical decisions over real HTTP: a canary judged on labels (the true outcomes of
the requests posted to ``/feedback``: an equally accurate candidate is promoted, an
inaccurate one rolled back with the reason in its decision), and an A/B test stopped when
one route earns significantly more reward."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.serving import deployments

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


class AlwaysDefault(sy.models.PythonModel):
    """Predicts a default for every loan: far less accurate than the trained model."""

    def predict(self, df: Any) -> Any:
        return np.ones(len(df), dtype=np.int64)


@pytest.fixture
def canary(store: Path) -> Iterator[Any]:
    made: list[str] = []

    def create(name: str, candidate: str, **params: Any) -> None:
        made.append(name)
        deployments.create(
            name, {"stable": "loans-gbm@1", "new": candidate}, policy="canary",
            steps=[50, 100], step_requests=40, min_labels=30, require_labels=True,
            max_latency_ratio=50.0, **params,
        )  # fmt: skip

    yield create
    for name in made:
        deployments.delete(name)


def _traffic_with_labels(url: str, name: str, seconds: float = 45) -> int:
    """Loans with their true outcome posted as the label, until the canary is decided;
    how many requests that took."""
    frame = sy.data.make_loans(2000, seed=5)
    rows, labels = frame[FEATURES].to_dict("records"), frame["default"].tolist()
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=30) as client:
        for sent, (row, label) in enumerate(zip(rows, labels, strict=True)):
            if deployments.get(name).policy["status"] != "running":
                return sent
            assert time.monotonic() < deadline, "the canary was not decided in time"
            answer = client.post("/predict", json=row)
            assert answer.status_code == 200, answer.text
            fed = client.post("/feedback", json={"id": answer.json()["id"], "label": int(label)})
            assert fed.json()["matched"] == 1
            time.sleep(0.002)
    raise AssertionError("the canary was not decided within 2,000 requests")


def test_labels_promote_an_equal_candidate_and_roll_back_an_inaccurate_one(
    canary: Any, start_server: Any, tmp_path: Path
) -> None:
    canary("equal", "loans-gbm@1", alpha=0.01)  # the same model: exactly as accurate
    running = start_server(serving.create_app(deployment="equal", poll=0.05, log_dir=tmp_path))
    _traffic_with_labels(running.url, "equal")
    assert deployments.get("equal").policy["status"] == "promoted"
    (event,) = [e for e in deployments.history("equal") if e.kind == "canary-promoted"]
    checks = event.detail["evidence"]["checks"]
    assert not checks["accuracy"]["significant"] and checks["accuracy"]["p_value"] is not None

    frame = sy.data.make_loans(200, seed=0)[FEATURES]
    sy.models.register("always-default", AlwaysDefault(), X=frame)
    canary("wrong", "always-default@1")
    running = start_server(serving.create_app(deployment="wrong", poll=0.05, log_dir=tmp_path))
    _traffic_with_labels(running.url, "wrong")
    assert deployments.get("wrong").policy["status"] == "rolled_back"
    event = deployments.history("wrong")[0]
    assert event.kind == "canary-rolled-back"
    why = event.detail["evidence"]["why"]
    assert why.startswith("accuracy ") and "drop" in why and "> 0.02 (p=" in why
    assert deployments.get("wrong").split == {"stable": 100.0, "new": 0.0}


def test_an_ab_test_stops_when_one_route_earns_significantly_more(
    store: Path, start_server: Any, tmp_path: Path
) -> None:
    deployments.create(
        "ab-stop", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, split={"a": 50, "b": 50},
        metric="reward", stop_when_significant=True,
    )  # fmt: skip
    try:
        running = start_server(
            serving.create_app(deployment="ab-stop", poll=0.05, log_dir=tmp_path)
        )
        row = sy.data.make_loans(1, seed=1)[FEATURES].to_dict("records")[0]
        deadline = time.monotonic() + 45
        with httpx.Client(base_url=running.url, timeout=30) as client:
            while deployments.get("ab-stop").policy["split"]["b"] < 100:
                assert time.monotonic() < deadline, "the A/B test did not conclude in time"
                answer = client.post("/predict", json=row).json()
                reward = 0.8 if answer["version"] == 2 else 0.2  # b earns four times more
                client.post("/feedback", json={"id": answer["id"], "reward": reward})
        event = deployments.history("ab-stop")[0]
        assert event.kind == "ab-concluded" and event.detail["evidence"]["why"].startswith(
            "b wins on reward: a 0.2, b 0.8"
        )
        assert deployments.rollback("ab-stop").split == {"a": 50.0, "b": 50.0}
    finally:
        deployments.delete("ab-stop")


def test_metrics_expose_each_routes_estimate_interval_and_p_value(
    store: Path, start_server: Any, tmp_path: Path
) -> None:
    deployments.create(
        "ab-watch", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, split={"a": 50, "b": 50},
        metric="reward",
    )  # fmt: skip
    try:
        running = start_server(
            serving.create_app(deployment="ab-watch", poll=0.05, log_dir=tmp_path)
        )
        row = sy.data.make_loans(1, seed=1)[FEATURES].to_dict("records")[0]
        with httpx.Client(base_url=running.url, timeout=30) as client:
            # The pooled evidence is synced every 0.2 s; on a loaded machine the split and
            # the sync may need more than one batch: keep posting until route b's p-value is
            # significant, or a minute has passed (then the assertions below say what is missing).
            deadline = time.monotonic() + 60
            while True:
                for _ in range(40):
                    answer = client.post("/predict", json=row).json()
                    reward = 1.0 if answer["version"] == 2 else 0.0
                    client.post("/feedback", json={"id": answer["id"], "reward": reward})
                waited = time.monotonic() + 3
                while time.monotonic() < waited:
                    found = _route_gauges(client.get("/metrics").text)
                    if found.get(("shipyard_route_significant", "b", "")):
                        break
                    time.sleep(0.1)
                if (
                    found.get(("shipyard_route_significant", "b", ""))
                    or time.monotonic() > deadline
                ):
                    break
        assert found[("shipyard_route_metric", "b", "estimate")] == 1.0
        assert found[("shipyard_route_metric", "a", "estimate")] == 0.0
        assert ("shipyard_route_metric", "b", "low") in found
        assert found[("shipyard_route_p_value", "b", "")] < 0.05
        assert found[("shipyard_route_significant", "b", "")] == 1.0  # 1.0 against 0.0
    finally:
        deployments.delete("ab-watch")


def _route_gauges(text: str) -> dict[tuple[str, str, str], float]:
    """The route gauges of a /metrics exposition, by (name, route, bound)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, sample.labels["route"], sample.labels.get("bound", "")): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("shipyard_route_")
        for sample in family.samples
    }
