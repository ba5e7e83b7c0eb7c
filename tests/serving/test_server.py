"""The inference server over real HTTP: protocols, validation, errors, metrics, hot swap."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import shipyard as sy
from shipyard import serving
from shipyard.data import make_loans

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]

ROW = {
    "age": 41,
    "income": 52000.0,
    "loan_amount": 12000.0,
    "term_months": 36,
    "credit_score": 640,
    "region": "north",
}


def rows(n: int, seed: int = 1) -> list[dict]:
    return make_loans(n, seed=seed)[FEATURES].to_dict("records")


def test_health_and_metadata(served: Any) -> None:
    with httpx.Client(base_url=served.url) as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert client.get("/v2/health/ready").json() == {"ready": True}
        assert client.get("/v2").json()["name"] == "shipyard"
        meta = client.get("/v2/models/loans-gbm").json()
        assert meta["versions"] == ["1"] and meta["platform"].endswith("onnx")
        assert [i["name"] for i in meta["inputs"]] == FEATURES
        assert {o["name"] for o in meta["outputs"]} == {"predict", "predict_proba"}
        assert client.get("/v2/models/loans-gbm/ready").status_code == 200
        assert client.get("/v2/models/loans-gbm/versions/1/ready").status_code == 200
        assert client.get("/v2/models/loans-gbm/versions/2/ready").status_code == 404
        assert client.get("/v2/models/other").status_code == 404


def test_predict_records_columns_and_one_record_agree_with_the_model(served: Any) -> None:
    batch = rows(50)
    model = sy.models.load("loans-gbm@1", format="onnx")
    want = model.predict_proba(batch)
    with httpx.Client(base_url=served.url) as client:
        many = client.post("/predict", json={"records": batch}).json()
        columns = {k: [r[k] for r in batch] for k in FEATURES}
        by_column = client.post("/predict", json={"columns": columns}).json()
        one = client.post("/predict", json=batch[0], headers={"x-request-id": "abc"})
    np.testing.assert_allclose(many["probabilities"], want, atol=1e-6)
    assert many["predictions"] == by_column["predictions"] == list(model.predict(batch))
    assert many["model"] == "loans-gbm" and many["version"] == 1
    assert many["classes"] == [0, 1]
    assert one.headers["x-request-id"] == "abc" and one.json()["id"] == "abc"
    assert one.json()["predictions"] == many["predictions"][:1]


def test_open_inference_protocol_infer(served: Any) -> None:
    batch = rows(20)
    inputs = []
    for name in FEATURES:
        values = [r[name] for r in batch]
        kind = "BYTES" if name == "region" else ("INT64" if isinstance(values[0], int) else "FP64")
        inputs.append({"name": name, "shape": [20], "datatype": kind, "data": values})
    want = sy.models.load("loans-gbm@1", format="onnx").predict_proba(batch)
    with httpx.Client(base_url=served.url) as client:
        answer = client.post("/v2/models/loans-gbm/infer", json={"id": "r1", "inputs": inputs})
        pinned = client.post("/v2/models/loans-gbm/versions/1/infer", json={"inputs": inputs})
        other = client.post("/v2/models/loans-gbm/versions/7/infer", json={"inputs": inputs})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == "r1" and body["model_name"] == "loans-gbm"
    assert body["model_version"] == "1"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["shape"] == [20]
    assert outputs["predict_proba"]["shape"] == [20, 2]
    proba = np.asarray(outputs["predict_proba"]["data"]).reshape(20, 2)
    np.testing.assert_allclose(proba, want, atol=1e-6)
    assert pinned.status_code == 200 and other.status_code == 404


def test_bad_input_is_refused_naming_the_field(served: Any) -> None:
    with httpx.Client(base_url=served.url) as client:
        missing = client.post("/predict", json={k: v for k, v in ROW.items() if k != "income"})
        wrong = client.post("/predict", json={**ROW, "age": "forty"})
        unknown = client.post("/predict", json={**ROW, "region": "atlantis"})
        malformed = client.post(
            "/predict", content=b"{not json", headers={"content-type": "application/json"}
        )
        shapeless = client.post("/predict", json=42)
        bad_tensor = client.post(
            "/v2/models/loans-gbm/infer",
            json={"inputs": [{"name": "age", "shape": [2], "datatype": "INT64", "data": [1]}]},
        )
        still_fine = client.post("/predict", json=ROW)
    assert missing.status_code == 422 and "income" in missing.json()["error"]
    assert wrong.status_code == 422 and "age" in wrong.json()["error"]
    assert unknown.status_code == 422 and "region" in unknown.json()["error"]
    assert malformed.status_code == 400 and "JSON" in malformed.json()["error"]
    assert shapeless.status_code == 400
    assert bad_tensor.status_code == 400 and "age" in bad_tensor.json()["error"]
    assert still_fine.status_code == 200  # nothing above hurt the worker


def test_metrics_count_requests_batches_and_loads(served: Any) -> None:
    with httpx.Client(base_url=served.url) as client:
        client.post("/predict", json=ROW)
        client.post("/predict", json={**ROW, "age": "x"})
        text = client.get("/metrics").text
    labels = 'code="200",endpoint="predict",model="loans-gbm",route="main",version="1"'
    assert "shipyard_requests_total{" + labels + "}" in text
    assert 'code="422"' in text
    assert "shipyard_request_seconds_bucket" in text
    assert "shipyard_batch_rows_count" in text
    assert 'shipyard_model_load_seconds_count{model="loans-gbm"} 1.0' in text


def test_concurrent_requests_share_model_calls(store: Path, start_server: Any) -> None:
    running = start_server(serving.create_app("loans-gbm@champion", poll=0, max_wait=0.005))
    batch = rows(40)
    results: list[httpx.Response] = []

    def send(record: dict) -> None:
        with httpx.Client(base_url=running.url) as client:
            results.append(client.post("/predict", json=record))

    threads = [threading.Thread(target=send, args=(r,)) for r in batch]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in results)
    want = sy.models.load("loans-gbm@1", format="onnx").predict(batch)
    got = {r.json()["id"]: r.json() for r in results}
    assert len(got) == 40
    text = httpx.get(running.url + "/metrics").text
    count = float(text.split("shipyard_batch_rows_count")[1].split()[1])
    assert count < 40  # fewer model calls than requests: batches formed
    answers = [r.json()["predictions"][0] for r in results]
    assert sorted(answers) == sorted(want.tolist())


def test_moving_the_alias_swaps_the_model_without_a_failed_request(served: Any) -> None:
    failures: list[str] = []
    versions: set[int] = set()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=served.url) as client:
            while not stop.is_set():
                response = client.post("/predict", json=ROW)
                if response.status_code != 200:
                    failures.append(response.text)
                else:
                    versions.add(response.json()["version"])

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.5)
        sy.models.set_alias("loans-gbm@2", "champion")
        deadline = time.monotonic() + 20
        while 2 not in versions and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        for w in workers:
            w.join()
        sy.models.set_alias("loans-gbm@1", "champion")
    assert failures == []
    assert versions == {1, 2}
    meta = httpx.get(served.url + "/v2/models/loans-gbm").json()
    assert meta["versions"] == ["2"] and meta["platform"].endswith("native")


def test_a_version_that_fails_to_load_takes_no_traffic(served: Any, store: Path) -> None:
    broken = sy.models.get("loans-gbm@2")
    blob = next(store.rglob(broken.digest))  # the artifact file
    original = blob.read_bytes()
    sy.models.clear_cache()
    try:
        blob.write_bytes(b"corrupt")
        sy.models.set_alias("loans-gbm@2", "champion")
        time.sleep(1.0)
        response = httpx.post(served.url + "/predict", json=ROW)
        assert response.status_code == 200 and response.json()["version"] == 1
        text = httpx.get(served.url + "/metrics").text
        assert 'shipyard_model_load_failures_total{model="loans-gbm"}' in text
    finally:
        blob.write_bytes(original)
        sy.models.set_alias("loans-gbm@1", "champion")
