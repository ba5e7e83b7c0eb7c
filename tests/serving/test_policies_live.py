"""Deployments served over real HTTP: splits, live policy changes, shadow, bandit, canary,
and the inference log with feedback joined to it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.serving import deployments
from shipyard.serving._log import read_feedback, read_requests

ROW = {
    "age": 41,
    "income": 52000.0,
    "loan_amount": 12000.0,
    "term_months": 36,
    "credit_score": 640,
    "region": "north",
}


class Flaky(sy.models.PythonModel):
    """Fails on requests with an income of exactly 52,000 (a broken candidate that still
    passes its warm-up on the stored sample)."""

    def predict(self, df: Any) -> Any:
        if (df["income"] == 52000.0).any():
            raise RuntimeError("candidate bug")
        return np.zeros(len(df), dtype=np.int64)


@pytest.fixture
def deployment(store: Path) -> Any:
    """Creates deployments named for the test; deletes them afterwards."""
    made: list[str] = []

    def create(name: str, routes: dict[str, str], **params: Any) -> Any:
        made.append(name)
        return deployments.create(name, routes, **params)

    yield create
    for name in made:
        deployments.delete(name)


def serve(start_server: Callable[[Any], Any], name: str, tmp_path: Path, **options: Any) -> Any:
    app = serving.create_app(deployment=name, poll=0.1, log_dir=tmp_path / "log", **options)
    return start_server(app)


def wait_for(check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_a_split_and_live_policy_changes_without_a_failed_request(
    deployment: Any, start_server: Any, tmp_path: Path
) -> None:
    deployment("ab", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, split={"a": 70, "b": 30})
    running = serve(start_server, "ab", tmp_path)
    with httpx.Client(base_url=running.url) as client:
        versions = Counter(client.post("/predict", json=ROW).json()["version"] for _ in range(400))
        assert abs(versions[2] / 400 - 0.3) < 0.08
        meta = client.get("/v2/models/ab").json()
        assert meta["versions"] == ["1", "2"]
        pinned = client.post("/v2/models/ab/versions/2/infer", json={"inputs": _tensors()})
        assert pinned.status_code == 200 and pinned.json()["model_version"] == "2"

        failures: list[int] = []
        seen: list[int] = []
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=running.url) as c:
                while not stop.is_set():
                    r = c.post("/predict", json=ROW)
                    (seen.append(r.json()["version"]) if r.status_code == 200 else
                     failures.append(r.status_code))  # fmt: skip

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            deployments.set_policy("ab", "blue_green", live="b")
            wait_for(lambda: seen[-20:] == [2] * 20)
            deployments.promote("ab")  # switch to blue ("a")
            wait_for(lambda: seen[-20:] == [1] * 20)
            deployments.rollback("ab")  # back to "b" in one command
            wait_for(lambda: seen[-20:] == [2] * 20)
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert failures == []


def test_sticky_keys_keep_their_route(deployment: Any, start_server: Any, tmp_path: Path) -> None:
    deployment(
        "sticky", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, split={"a": 50, "b": 50},
        sticky="x-user",
    )  # fmt: skip
    running = serve(start_server, "sticky", tmp_path)
    with httpx.Client(base_url=running.url) as client:
        for user in ("ann", "ben", "cid", "dot", "eve"):
            got = {
                client.post("/predict", json=ROW, headers={"x-user": user}).json()["version"]
                for _ in range(10)
            }
            assert len(got) == 1


def test_shadow_answers_are_logged_and_compared_never_returned(
    deployment: Any, start_server: Any, tmp_path: Path
) -> None:
    deployment("shadowed", {"main": "loans-gbm@1", "copy": "loans-gbm@2"}, policy="shadow")
    running = serve(start_server, "shadowed", tmp_path)
    with httpx.Client(base_url=running.url) as client:
        answers = [client.post("/predict", json=ROW).json() for _ in range(30)]
        assert {a["version"] for a in answers} == {1}

        def shadowed() -> float:
            return sum(
                float(line.split()[-1])
                for line in client.get("/metrics").text.splitlines()
                if line.startswith("shipyard_shadow_rows_total") and 'route="copy"' in line
            )

        wait_for(lambda: shadowed() == 30)  # shadow calls finish after their answers
    running.stop()  # flushes the inference log
    table = read_requests("shadowed", folder=tmp_path / "log").to_pandas()
    assert (table[table["shadow"]]["version"] == 2).sum() == 30
    assert (table[~table["shadow"]]["version"] == 1).sum() == 30
    assert set(table.loc[table["shadow"], "request_id"]) == {a["id"] for a in answers}


def test_a_bandit_learns_from_rewards_posted_as_feedback(
    deployment: Any, start_server: Any, tmp_path: Path
) -> None:
    deployment("bandit", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, policy="bandit")
    running = serve(start_server, "bandit", tmp_path)
    chosen = []
    with httpx.Client(base_url=running.url) as client:
        for _ in range(300):
            answer = client.post("/predict", json=ROW).json()
            chosen.append(answer["version"])
            reward = 1.0 if answer["version"] == 2 else 0.0
            fed = client.post("/feedback", json={"id": answer["id"], "reward": reward})
            assert fed.json() == {"accepted": 1, "matched": 1}
        bad = client.post("/feedback", json={"id": "x", "reward": 3})
    assert bad.status_code == 400 and "reward" in bad.json()["error"]
    assert Counter(chosen[-100:])[2] > 90


def test_a_failing_canary_is_rolled_back_and_a_healthy_one_promoted(
    deployment: Any, start_server: Any, tmp_path: Path
) -> None:
    frame = sy.data.make_loans(200, seed=0)[list(ROW)]
    sy.models.register("flaky", Flaky(), X=frame)
    deployment(
        "risky", {"stable": "loans-gbm@1", "new": "flaky@1"}, policy="canary",
        steps=[20, 50, 100], step_requests=20,
    )  # fmt: skip
    running = serve(start_server, "risky", tmp_path)
    with httpx.Client(base_url=running.url) as client:
        codes = Counter(client.post("/predict", json=ROW).status_code for _ in range(100))
        wait_for(lambda: deployments.get("risky").policy["status"] == "rolled_back")
        after = Counter(client.post("/predict", json=ROW).status_code for _ in range(50))
    assert codes[500] >= 1 and after == {200: 50}  # the candidate took traffic, then none
    event = deployments.history("risky")[0]
    assert event.kind == "canary-rolled-back" and "errors" in event.detail["evidence"]["why"]

    deployment(
        "steady", {"stable": "loans-gbm@1", "new": "loans-gbm@2"}, policy="canary",
        steps=[20, 50, 100], step_requests=20,
        max_latency_ratio=1000.0,  # the candidate runs native scikit-learn, the baseline ONNX
    )  # fmt: skip
    running = serve(start_server, "steady", tmp_path)
    with httpx.Client(base_url=running.url) as client:
        deadline = time.monotonic() + 30
        while deployments.get("steady").policy["status"] == "running":
            assert client.post("/predict", json=ROW).status_code == 200
            assert time.monotonic() < deadline
    kinds = [e.kind for e in deployments.history("steady")]
    assert kinds[:2] == ["canary-promoted", "canary-step"]
    assert deployments.get("steady").split == {"stable": 0.0, "new": 100.0}


def test_the_inference_log_holds_features_predictions_and_feedback(
    deployment: Any, start_server: Any, tmp_path: Path
) -> None:
    deployment("logged", {"main": "loans-gbm@1"})
    running = serve(start_server, "logged", tmp_path)
    records = sy.data.make_loans(25, seed=3)[list(ROW)].to_dict("records")
    with httpx.Client(base_url=running.url) as client:
        many = client.post("/predict", json={"records": records}).json()
        one = client.post("/predict", json=ROW).json()
        client.post(
            "/feedback", json=[{"id": one["id"], "label": 1}, {"id": "unknown", "label": 0}]
        )
    running.stop()
    table = read_requests("logged", folder=tmp_path / "log").to_pandas()
    assert len(table) == 26 and set(table["request_id"]) == {many["id"], one["id"]}
    first = table[table["request_id"] == many["id"]]
    assert list(first["prediction"]) == many["predictions"]
    assert list(first["income"]) == [r["income"] for r in records]
    assert list(first["region"]) == [r["region"] for r in records]
    assert np.allclose(first["probability"], np.max(many["probabilities"], axis=1), atol=1e-6)
    assert (table["latency_ms"] > 0).all() and (table["model"] == "loans-gbm").all()
    feedback = read_feedback("logged", folder=tmp_path / "log").to_pandas()
    assert set(feedback["request_id"]) == {one["id"], "unknown"}
    assert feedback.set_index("request_id").loc[one["id"], "label"] == "1"


def _tensors() -> list[dict[str, Any]]:
    return [
        {
            "name": k,
            "shape": [1],
            "datatype": "BYTES" if isinstance(v, str) else "FP64",
            "data": [v],
        }
        for k, v in ROW.items()
    ]
