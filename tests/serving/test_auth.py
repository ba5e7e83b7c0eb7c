"""API keys with scopes, rate limits per key, revocation, and 503 under overload."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard import serving
from shipyard.errors import Conflict, InvalidInput
from shipyard.store import Base, default_database

ROW = {
    "age": 41,
    "income": 52000.0,
    "loan_amount": 12000.0,
    "term_months": 36,
    "credit_score": 640,
    "region": "north",
}


@pytest.fixture
def keys(store: Path) -> Any:
    made: dict[str, str] = {}

    def make(name: str, scopes: tuple[str, ...], rate: float | None = None) -> str:
        made[name] = serving.create_key(name, scopes, rate)
        return made[name]

    yield make
    with default_database().write() as conn:
        conn.execute(Base.metadata.tables["api_keys"].delete())


def test_keys_are_stored_hashed_and_refused_when_bad(keys: Any) -> None:
    key = keys("reader", ("predict",))
    assert key.startswith("sy_") and len(key) > 40
    with default_database().read() as conn:
        stored = conn.execute(Base.metadata.tables["api_keys"].select()).one()
    assert key not in str(tuple(stored)) and stored.prefix in key
    with pytest.raises(Conflict):
        serving.create_key("reader")
    with pytest.raises(InvalidInput, match="scopes"):
        serving.create_key("other", ["root"])
    with pytest.raises(InvalidInput, match="rate_limit"):
        serving.create_key("other", ["predict"], rate_limit=0)
    assert [k.name for k in serving.list_keys()] == ["reader"]


def test_every_endpoint_but_health_needs_a_key_with_its_scope(keys: Any, start_server: Any) -> None:
    reader = keys("reader", ("predict",))
    admin = keys("ops", ("admin", "feedback"))
    running = start_server(serving.create_app("loans-gbm@champion", poll=0.1, auth=True))
    bearer = {"authorization": f"Bearer {reader}"}
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2/health/ready").status_code == 200
        for method, path in [
            ("POST", "/predict"),
            ("POST", "/v2/models/loans-gbm/infer"),
            ("GET", "/v2/models/loans-gbm"),
            ("GET", "/v2/models/loans-gbm/ready"),
            ("GET", "/v2"),
            ("POST", "/feedback"),
            ("GET", "/metrics"),
        ]:
            missing = client.request(method, path, json=ROW)
            assert missing.status_code == 401, path
            assert missing.headers["www-authenticate"] == "Bearer"
            wrong = client.request(method, path, json=ROW, headers={"x-api-key": "sy_x_y"})
            assert wrong.status_code == 401, path
        assert client.post("/predict", json=ROW, headers=bearer).status_code == 200
        assert client.post("/predict", json=ROW, headers={"x-api-key": reader}).status_code == 200
        refused = client.get("/metrics", headers=bearer)
        assert refused.status_code == 403 and "admin" in refused.json()["error"]
        assert client.get("/metrics", headers={"x-api-key": admin}).status_code == 200
        assert client.post("/predict", json=ROW, headers={"x-api-key": admin}).status_code == 403
        serving.revoke_key("reader")
        deadline = time.monotonic() + 10
        while client.post("/predict", json=ROW, headers=bearer).status_code != 401:
            assert time.monotonic() < deadline, "a revoked key kept working"
            time.sleep(0.05)


def test_a_key_over_its_rate_limit_gets_429(keys: Any, start_server: Any) -> None:
    slow = keys("slow", ("predict",), rate=5)
    running = start_server(serving.create_app("loans-gbm@champion", poll=0, auth=True))
    with httpx.Client(base_url=running.url, headers={"x-api-key": slow}) as client:
        codes = [client.post("/predict", json=ROW) for _ in range(12)]
        statuses = [c.status_code for c in codes]
        assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
        limited = next(c for c in codes if c.status_code == 429)
        assert int(limited.headers["retry-after"]) >= 1
        time.sleep(1.1)
        assert client.post("/predict", json=ROW).status_code == 200  # the bucket refilled


def test_overload_answers_503_at_once_instead_of_queueing(store: Path, start_server: Any) -> None:
    # batches wait 1 s for company, so every request below is in flight together
    app = serving.create_app("loans-gbm@champion", poll=0, max_wait=1.0, max_inflight=3)
    running = start_server(app)
    results: list[tuple[int, float, str | None]] = []

    def send() -> None:
        started = time.monotonic()
        with httpx.Client(base_url=running.url) as client:
            r = client.post("/predict", json=ROW)
        results.append((r.status_code, time.monotonic() - started, r.headers.get("retry-after")))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r[0] == 200]
    busy = [r for r in results if r[0] == 503]
    assert len(ok) + len(busy) == 10 and 1 <= len(ok) <= 3 and len(busy) >= 7
    assert all(r[2] == "1" for r in busy)
    assert max(r[1] for r in busy) < 0.6  # refused at once, not after the batch wait
