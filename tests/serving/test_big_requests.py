"""Big requests on a real server: refused beyond the row limit (413, naming it) before any
conversion, and parsed and validated off the event loop so health keeps answering."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shipyard import serving
from shipyard.data import make_loans

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]
ROWS = 400_000  # ~14 MB as columns: on the event loop, it stalled health ~0.9 s


@pytest.fixture(scope="module")
def server(registry: Path, start_module_server: Callable[[Any], Any]) -> str:
    # no inference log: its writer turns a big request's rows into Arrow holding the GIL
    # (~0.8 s for 400,000 rows), a stall of its own, outside what this file checks
    app = serving.create_app("loans-gbm@champion", poll=0, max_rows=ROWS, log_sample=0)
    return str(start_module_server(app).url)


def test_more_rows_than_the_limit_are_refused_naming_it(server: str) -> None:
    over = ROWS + 1
    tensor = {"name": "age", "shape": [over], "datatype": "FP64", "data": [1.0]}
    bodies = {
        "/predict": [
            {"columns": {"age": [1] * over}},
            {"records": [{"age": 1}] * over},
            [{"age": 1}] * over,
        ],
        "/v2/models/loans-gbm/infer": [{"inputs": [tensor]}],
    }
    with httpx.Client(base_url=server, timeout=60) as client:
        for path, shapes in bodies.items():
            for body in shapes:
                refused = client.post(path, json=body)
                assert refused.status_code == 413, (path, refused.text[:200])
                error = refused.json()["error"]
                assert f"{over:,} rows" in error and f"at most {ROWS:,}" in error
                assert "--max-rows" in error


def test_health_answers_while_a_big_request_is_parsed_and_validated(server: str) -> None:
    frame = make_loans(ROWS, seed=1)[FEATURES]
    body = orjson.dumps({"columns": {c: frame[c].tolist() for c in FEATURES}})
    answers: list[httpx.Response] = []

    def big() -> None:
        with httpx.Client(base_url=server, timeout=120) as client:
            answers.append(
                client.post("/predict", content=body, headers={"content-type": "application/json"})
            )

    latencies: list[float] = []
    with httpx.Client(base_url=server, timeout=30) as client:
        client.get("/v2/health/live")  # the connection is open before the big request
        for _ in range(2):  # two in a row: the second one measured as well
            sender = threading.Thread(target=big)
            sender.start()
            while sender.is_alive():
                for path in ("/v2/health/live", "/v2/health/ready"):
                    started = time.perf_counter()
                    assert client.get(path).status_code == 200
                    latencies.append(time.perf_counter() - started)
                time.sleep(0.005)
            sender.join()
    assert [a.status_code for a in answers] == [200, 200]
    assert len(answers[0].json()["predictions"]) == ROWS
    assert len(latencies) >= 10, latencies
    median, worst = statistics.median(latencies), max(latencies)
    print(f"health during a {len(body) / 1e6:.1f} MB, {ROWS:,}-row request: "
          f"p50 {median * 1e3:.1f} ms, max {worst * 1e3:.1f} ms, n={len(latencies)}")  # fmt: skip
    assert median < 0.05 and worst < 0.5, (median, worst)
