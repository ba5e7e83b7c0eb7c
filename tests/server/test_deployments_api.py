"""The platform API's deployments, over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard import serving
from shipyard.config import reset_settings
from shipyard.data import make_loans
from shipyard.server import create_app
from shipyard.serving import deployments

FEATURES = ["age", "income", "credit_score"]


@pytest.fixture
def api(backend: str) -> Iterator[httpx.Client]:
    frame = make_loans(300, seed=0)
    X, y = frame[FEATURES], frame["default"]
    for c in (0.1, 1.0):
        sy.models.register("scorer", LogisticRegression(C=c, max_iter=500).fit(X, y), X=X, y=y)
    with serving.background(create_app()) as url, httpx.Client(base_url=url) as client:
        yield client


def test_deployments_are_listed_shown_promoted_and_rolled_back(api: httpx.Client) -> None:
    deployments.create("scoring", {"old": "scorer@1", "new": "scorer@2"}, policy="canary")
    listed = api.get("/api/deployments").json()
    assert [d["name"] for d in listed["items"]] == ["scoring"]
    assert listed["next_page_token"] is None
    shown = api.get("/api/deployments/scoring").json()
    assert shown["policy"]["kind"] == "canary" and shown["decision"] is None
    assert shown["statistics"]["metric"] == "accuracy"  # nothing served yet: no estimates
    assert shown["evidence"]["new"]["requests"] == 0
    assert {r["route"]: r["weight"] for r in shown["routes"]} == {"old": 95.0, "new": 5.0}
    promoted = api.post("/api/deployments/scoring/promote", json={"reason": "looks good"})
    assert promoted.status_code == 200
    assert {r["route"]: r["weight"] for r in promoted.json()["routes"]} == {"old": 0, "new": 100}
    back = api.post("/api/deployments/scoring/rollback", json={})
    assert {r["route"]: r["weight"] for r in back.json()["routes"]} == {"old": 95.0, "new": 5.0}
    history = api.get("/api/deployments/scoring/history", params={"page_size": 2}).json()
    assert history["next_page_token"] is not None
    rest = api.get(
        "/api/deployments/scoring/history",
        params={"page_size": 2, "page_token": history["next_page_token"]},
    ).json()
    assert [e["kind"] for e in rest["items"]] == ["created"]
    history = history["items"]
    assert [e["kind"] for e in history] == ["rolled-back", "promoted"]
    assert history[1]["reason"] == "looks good"
    stored = deployments.history("scoring", limit=2)
    for answer, event in zip(history, stored, strict=True):  # ISO 8601 in UTC, not epochs
        assert datetime.fromisoformat(answer["at"]).timestamp() == pytest.approx(event.at, abs=1e-6)
        assert answer["at"].endswith("+00:00")
    listed = api.get("/api/deployments").json()["items"][0]
    made = deployments.get("scoring")
    for field in ("created_at", "updated_at"):
        assert listed[field].endswith("+00:00")
        assert datetime.fromisoformat(listed[field]).timestamp() == pytest.approx(
            getattr(made, field), abs=1e-6
        )


def test_a_decision_a_server_made_is_shown_with_its_reason(api: httpx.Client) -> None:
    deployments.create("auto", {"old": "scorer@1", "new": "scorer@2"}, policy="canary")
    stored = deployments.get("auto")
    deployments.record_decision(
        "auto", stored.revision, {**stored.policy, "status": "rolled_back"},
        {"old": 100.0, "new": 0.0}, "canary-rolled-back", {"why": "error rate 0.30"},
    )  # fmt: skip
    decision = api.get("/api/deployments/auto").json()["decision"]
    assert decision["kind"] == "canary-rolled-back" and decision["why"] == "error rate 0.30"


def test_unknown_deployments_and_bad_bodies_answer_one_error_shape(api: httpx.Client) -> None:
    missing = api.get("/api/deployments/nosuch")
    assert missing.status_code == 404 and "nosuch" in missing.json()["error"]
    assert api.post("/api/deployments/nosuch/promote", json={}).status_code == 404
    deployments.create("two", {"a": "scorer@1", "b": "scorer@2"})
    no_route = api.post("/api/deployments/two/promote", json={})  # fixed: name the route
    assert no_route.status_code == 422 and "route" in no_route.json()["error"]
    wrong = api.post("/api/deployments/two/promote", json={"route": "zzz"})
    assert wrong.status_code in (404, 422) and "zzz" in wrong.json()["error"]
    text = api.post(
        "/api/deployments/two/rollback", content=b"x", headers={"content-type": "text/plain"}
    )
    assert text.status_code == 415  # a body a page could send cross-site: refused first
    for body in (b"null", b"[]", b'"b"'):
        odd = api.post(
            "/api/deployments/two/promote", content=body,
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert odd.status_code == 422 and "JSON object" in odd.json()["error"]


def test_an_unreachable_evidence_store_is_a_503_not_a_500(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployments.create("pooled", {"old": "scorer@1", "new": "scorer@2"}, policy="canary")
    monkeypatch.setenv("SHIPYARD_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens
    reset_settings()
    shown = api.get("/api/deployments/pooled")
    assert shown.status_code == 503
    assert "evidence in Redis at redis://127.0.0.1:1/0" in shown.json()["error"]


def served_requests(name: str) -> None:
    """Six requests answered by route old (latencies 1..6 ms), each mirrored to route new,
    which agrees on four of them; written to the deployment's inference log."""
    log = serving.InferenceLog.of(name)
    for i in range(6):
        columns = {"age": np.array([30.0 + i])}
        log.request(f"r{i}", "old", "scorer", 1, (i + 1) / 1e3, columns, np.array([i % 2]), None)
        shadow = np.array([i % 2 if i < 4 else 1 - i % 2])
        log.request(f"r{i}", "new", "scorer", 2, 0.002, columns, shadow, None, shadow=True)
    log.flush()


def test_traffic_is_counted_per_route_and_minute_with_shadow_agreement(
    api: httpx.Client,
) -> None:
    deployments.create("mirror", {"old": "scorer@1", "new": "scorer@2"}, policy="shadow")
    served_requests("mirror")
    shown = api.get("/api/deployments/mirror/traffic", params={"minutes": 5}).json()
    assert shown["bucket_seconds"] == 60 and len(shown["times"]) in (5, 6)
    assert shown["times"][0].endswith("+00:00") and shown["latest_at"].endswith("+00:00")
    by_route = {(s["route"], s["shadow"]): s for s in shown["series"]}
    assert by_route["old", False]["total"] == 6 and by_route["new", True]["total"] == 6
    assert len(by_route["old", False]["requests"]) == len(shown["times"])
    p99 = max(v for v in by_route["old", False]["p99_ms"] if v is not None)
    assert 5.0 <= p99 <= 6.0
    assert shown["shadow"] == [{"route": "new", "compared": 6, "agreement": pytest.approx(4 / 6)}]
    assert [e["route"] for e in shown["errors"]] == ["old", "new"]
    old = api.get(
        "/api/deployments/mirror/traffic", params={"minutes": 1, "until": 1_000_000}
    ).json()
    assert old["series"] == [] and old["shadow"] == []  # long before anything was served
    assert api.get("/api/deployments/mirror/traffic?minutes=0").status_code == 422
    assert api.get("/api/deployments/nosuch/traffic").status_code == 404


def test_progress_shows_the_canary_steps_and_each_routes_share(api: httpx.Client) -> None:
    deployments.create(
        "rollout", {"old": "scorer@1", "new": "scorer@2"}, policy="canary", steps=[10, 50, 100]
    )
    shown = api.get("/api/deployments/rollout/progress").json()
    assert shown["kind"] == "canary"
    canary = shown["canary"]
    assert canary["steps"] == [10, 50, 100] and canary["step"] == 0
    assert canary["share"] == 10.0 and canary["candidate_requests"] == 0
    assert set(canary["checks"]) == {"errors", "latency", "accuracy"}
    assert {r["route"]: r["share"] for r in shown["routes"]} == {"old": 90.0, "new": 10.0}
    deployments.create("arms", {"a": "scorer@1", "b": "scorer@2"}, policy="bandit")
    arms = api.get("/api/deployments/arms/progress").json()
    assert arms["canary"] is None and [r["route"] for r in arms["routes"]] == ["a", "b"]


def test_a_decision_sent_over_http_is_checked_before_it_is_stored(api: httpx.Client) -> None:
    deployments.create("checked", {"a": "scorer@1", "b": "scorer@2"})
    current = deployments.get("checked")
    base = {"seen_revision": current.revision, "policy": current.policy, "kind": "ab-concluded"}
    for body, words in (
        ({**base, "policy": {"kind": "nope"}, "weights": {"a": 50, "b": 50}}, "policy"),
        ({**base, "weights": {"zzz": 100}}, "a share for each route"),
        ({**base, "weights": {"a": 150, "b": -50}}, "from 0 to 100"),
        ({**base, "weights": {"a": 10, "b": 10}}, "add up to 100"),
    ):
        refused = api.post("/api/deployments/checked/decisions", json={**body, "evidence": {}})
        assert refused.status_code == 422 and words in refused.json()["error"], refused.text
    assert deployments.get("checked") == current  # nothing stored
    done = api.post(
        "/api/deployments/checked/decisions",
        json={**base, "weights": {"a": 0, "b": 100}, "evidence": {"why": "b won"}},
    ).json()["deployment"]
    assert {r["route"]: r["weight"] for r in done["routes"]} == {"a": 0.0, "b": 100.0}
    assert api.get("/api/deployments/checked").json()["decision"]["why"] == "b won"
