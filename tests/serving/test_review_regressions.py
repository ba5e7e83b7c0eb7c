"""Regressions from an adversarial review of the server (each was reproduced first)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.errors import InvalidInput
from shipyard.models import infer_signature
from shipyard.serving import deployments

ROW = {
    "age": 41,
    "income": 52000.0,
    "loan_amount": 12000.0,
    "term_months": 36,
    "credit_score": 640,
    "region": "north",
}


def rows(n: int, seed: int) -> list[dict[str, Any]]:
    return sy.data.make_loans(n, seed=seed)[list(ROW)].to_dict("records")


def test_list_values_are_refused_and_never_leak_into_other_answers(
    store: Path, start_server: Any
) -> None:
    running = start_server(serving.create_app("loans-gbm@champion", poll=0, max_wait=0.02))
    doubled = {k: [v, v] for k, v in ROW.items()}
    infer = "/v2/models/loans-gbm/infer"
    tensors = [
        {"name": k, "shape": [1, 1], "datatype": "BYTES", "data": [[v]]} for k, v in doubled.items()
    ]
    matrix = {"name": "x", "shape": [1, 6], "datatype": "BYTES", "data": list(doubled.values())}
    huge = {"name": "age", "shape": [2**62, 4], "datatype": "FP64", "data": []}
    with httpx.Client(base_url=running.url) as client:
        post = client.post
        # refused by the protocol's parser (400, issue 17) before the signature sees them
        assert post("/predict", json=[doubled]).status_code == 400
        columns = {k: [v] for k, v in doubled.items()}
        assert post("/predict", json={"columns": columns}).status_code == 400
        assert post(infer, json={"inputs": tensors}).status_code == 400
        assert post(infer, json={"inputs": [matrix]}).status_code < 500
        assert post(infer, json={"inputs": [huge]}).status_code == 413  # beyond max_rows
        odd = post("/predict", json=[{**ROW, "region": {"a": 1}}, ROW])
        assert odd.status_code == 400 and "region" in odd.json()["error"]

    honest = rows(40, seed=8)
    want = sy.models.load("loans-gbm@1", format="onnx").predict_proba(honest)[:, 1]
    wrong: list[int] = []

    def send(i: int) -> None:
        with httpx.Client(base_url=running.url) as c:
            if i % 8 == 0:
                c.post("/predict", json=[doubled])  # the attacker, inside the same batches
                return
            got = c.post("/predict", json=honest[i]).json()["probabilities"][0][1]
            if abs(got - want[i]) > 1e-5:
                wrong.append(i)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_rollback_after_a_route_change_and_after_a_canary_promotion(store: Path) -> None:
    try:
        deployments.create("r1", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, split={"a": 60, "b": 40})
        deployments.set_policy("r1", "fixed", split={"a": 20, "b": 80})
        deployments.set_route("r1", "b", "loans-gbm@1")
        back = deployments.rollback("r1")  # undoes the split, not the route's model
        assert back.split == {"a": 60.0, "b": 40.0} and back.route("b").model == "loans-gbm@1"

        made = deployments.create(
            "r2", {"old": "loans-gbm@1", "new": "loans-gbm@2"}, policy="canary", steps=[25, 50, 100]
        )
        policy = dict(made.policy)
        step = deployments.record_decision(
            "r2", made.revision, {**policy, "step": 1}, {"old": 50, "new": 50}, "canary-step", {}
        )
        assert step is not None
        done = deployments.record_decision(
            "r2", step.revision, {**policy, "step": 2, "status": "promoted"},
            {"old": 0, "new": 100}, "canary-promoted", {},
        )  # fmt: skip
        assert done is not None
        assert deployments.rollback("r2").split == {"old": 50.0, "new": 50.0}
    finally:
        for name in ("r1", "r2"):
            deployments.delete(name)


def test_a_deployment_created_again_is_followed(store: Path, start_server: Any) -> None:
    deployments.create("again", {"a": "loans-gbm@1"})
    running = start_server(serving.create_app(deployment="again", poll=0.1))
    try:
        deployments.delete("again")
        deployments.create("again", {"z": "loans-gbm@2"})  # revision 1 again, another id
        deadline = time.monotonic() + 10
        while httpx.post(running.url + "/predict", json=ROW).json().get("version") != 2:
            assert time.monotonic() < deadline, "the server kept the deleted deployment"
            time.sleep(0.1)
    finally:
        deployments.delete("again")


def test_an_oip_request_id_is_the_one_feedback_uses_and_counts_once(
    store: Path, start_server: Any
) -> None:
    running = start_server(serving.create_app("loans-gbm@champion", poll=0))
    tensors = [
        {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64",
         "data": [v]}
        for k, v in ROW.items()
    ]  # fmt: skip
    with httpx.Client(base_url=running.url) as client:
        answer = client.post(
            "/v2/models/loans-gbm/infer", json={"id": "client-42", "inputs": tensors}
        )
        assert answer.json()["id"] == "client-42"
        fed = client.post("/feedback", json=[{"id": "client-42", "reward": 1.0}] * 50)
        assert fed.json()["matched"] == 50
    stats = running.server.config.app.state.server.stats["main"]
    assert stats.rewarded == 1 and stats.rewards == 1.0  # one reward per request


def test_slow_keys_new_keys_and_revocations_without_polling(store: Path, start_server: Any) -> None:
    from shipyard.store import Base, default_database

    slow = serving.create_key("half", ["predict"], rate_limit=0.5)
    try:
        running = start_server(serving.create_app("loans-gbm@champion", poll=0, auth=True))
        with httpx.Client(base_url=running.url) as client:
            assert client.get("/openapi.json").status_code == 404  # only health is open
            headers = {"x-api-key": slow}
            assert client.post("/predict", json=ROW, headers=headers).status_code == 200
            assert client.post("/predict", json=ROW, headers=headers).status_code == 429
            time.sleep(2.1)
            assert client.post("/predict", json=ROW, headers=headers).status_code == 200
            fresh = serving.create_key("fresh", ["predict"])
            time.sleep(1.1)  # an unknown key makes the server look again, once a second
            assert (
                client.post("/predict", json=ROW, headers={"x-api-key": fresh}).status_code == 200
            )
            serving.revoke_key("fresh")
            deadline = time.monotonic() + 10
            while (
                client.post("/predict", json=ROW, headers={"x-api-key": fresh}).status_code == 200
            ):
                assert time.monotonic() < deadline, "a revoked key kept working"
                time.sleep(0.2)
    finally:
        with default_database().write() as conn:
            conn.execute(Base.metadata.tables["api_keys"].delete())


def test_a_broken_version_is_tried_once_and_big_bodies_are_refused(
    served: Any, store: Path
) -> None:
    broken = sy.models.get("loans-gbm@2")
    blob = next(store.rglob(broken.digest))
    original = blob.read_bytes()
    sy.models.clear_cache()
    try:
        blob.write_bytes(b"corrupt")
        sy.models.set_alias("loans-gbm@2", "champion")
        time.sleep(1.5)  # seven polls
        text = httpx.get(served.url + "/metrics").text
        line = next(
            x for x in text.splitlines() if x.startswith("shipyard_model_load_failures_total")
        )
        assert float(line.split()[-1]) == 1.0
    finally:
        blob.write_bytes(original)
        sy.models.set_alias("loans-gbm@1", "champion")
    app = serving.create_app("loans-gbm@champion", poll=0, max_body=10_000)
    with serving.background(app) as url:
        big = httpx.post(url + "/predict", json={"records": rows(200, seed=1)})
        assert big.status_code == 413 and "10,000" in big.json()["error"]


def test_shadow_rows_are_sampled_with_their_answers(
    store: Path, start_server: Any, tmp_path: Path
) -> None:
    deployments.create("sampled", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, policy="shadow")
    try:
        app = serving.create_app(deployment="sampled", poll=0, log_sample=0.2, log_dir=tmp_path)
        running = start_server(app)
        with httpx.Client(base_url=running.url) as client:
            for _ in range(200):
                client.post("/predict", json=ROW)
        time.sleep(0.5)
        running.stop()
        log = serving.read_requests("sampled", folder=tmp_path).to_pandas()
        primary = set(log.loc[~log["shadow"], "request_id"])
        shadow = set(log.loc[log["shadow"], "request_id"])
        assert shadow == primary and 10 < len(primary) < 80
    finally:
        deployments.delete("sampled")


def test_int_columns_keep_every_digit() -> None:
    sig = infer_signature(pd.DataFrame({"id": np.array([1, 2], dtype=np.int64)}))
    big = 2**63 - 1
    out = sig.validate({"id": [9007199254740993, big]})["id"]
    assert out.dtype == np.int64 and out.tolist() == [9007199254740993, big]
    with pytest.raises(InvalidInput, match="64-bit"):
        sig.validate({"id": [1, 2**64]})
