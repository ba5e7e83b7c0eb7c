"""The platform API's monitors and alerts, over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

import shipyard as sy
from shipyard import monitoring, serving
from shipyard.data import make_loans
from shipyard.server import create_app


@pytest.fixture
def api(backend: str) -> Iterator[httpx.Client]:
    with serving.background(create_app()) as url, httpx.Client(base_url=url) as client:
        yield client


def moved(n: int, seed: int) -> Any:
    frame = make_loans(n, seed=seed)
    frame["income"] = frame["income"] * 1.8
    frame["credit_score"] = frame["credit_score"] - 80
    frame["loan_amount"] = frame["loan_amount"] * 1.5
    return frame


def watched_dataset() -> None:
    sy.datasets.register("applications", make_loans(2000, seed=0))
    monitoring.create_monitor(
        "applications-drift", dataset="applications", reference="applications@1",
        detectors=["data_drift"], drift_share=0.1,
    )  # fmt: skip
    sy.datasets.register("applications", moved(2000, seed=1))


def test_a_check_run_over_the_api_and_its_alert_acknowledged_and_resolved(
    api: httpx.Client,
) -> None:
    watched_dataset()
    assert api.get("/api/health").json()["status"] == "ok"
    listed = api.get("/api/monitors").json()["items"]
    assert [m["name"] for m in listed] == ["applications-drift"]
    shown = api.get("/api/monitors/applications-drift").json()
    assert shown["target_kind"] == "dataset" and shown["window_text"] == "newest version"
    ran = api.post("/api/monitors/applications-drift/run")
    assert ran.status_code == 200 and ran.json()["status"] == "alert"
    alerts = api.get("/api/alerts", params={"status": "open"}).json()["items"]
    assert [a["detector"] for a in alerts] == ["data_drift"]
    alert_id = alerts[0]["id"]
    assert "income" in api.get(f"/api/alerts/{alert_id}").json()["evidence"]["features"]
    acked = api.post(f"/api/alerts/{alert_id}/ack", json={}).json()
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"]  # the local user
    sdk = monitoring.get_alert(alert_id)
    for field in ("opened_at", "updated_at", "acknowledged_at"):
        assert_iso(acked[field], getattr(sdk, field))
    assert acked["resolved_at"] is None
    assert api.post(f"/api/alerts/{alert_id}/ack").status_code == 409  # no longer open
    assert api.post(f"/api/alerts/{alert_id}/resolve").json()["status"] == "resolved"
    assert monitoring.get_alert(alert_id).status == "resolved"  # the same store as the SDK


def test_the_verbs_are_the_sdks_and_the_first_spellings_still_work(api: httpx.Client) -> None:
    watched_dataset()
    checked = api.post("/api/monitors/applications-drift/check")
    assert checked.status_code == 200 and checked.json()["status"] == "alert"
    alert_id = api.get("/api/alerts", params={"status": "open"}).json()["items"][0]["id"]
    acknowledged = api.post(f"/api/alerts/{alert_id}/acknowledge", json={})
    assert acknowledged.json()["status"] == "acknowledged"
    paths = api.get("/openapi.json").json()["paths"]
    assert "/api/monitors/{name}/check" in paths and "/api/monitors/{name}/run" not in paths
    assert (
        "/api/alerts/{alert_id}/acknowledge" in paths and "/api/alerts/{alert_id}/ack" not in paths
    )
    assert api.post("/api/monitors/applications-drift/run").json()["status"] in ("alert", "ok")


def test_the_report_and_series_are_the_sdk_data_as_json(api: httpx.Client) -> None:
    watched_dataset()
    monitoring.check("applications-drift")
    report = api.get("/api/monitors/applications-drift/report").json()
    expected = monitoring.report_data("applications-drift")
    assert report["monitor"]["name"] == "applications-drift"
    assert [c["id"] for c in report["checks"]] == [c["id"] for c in expected["checks"]]
    assert len(report["series"]) == len(expected["series"]) > 0
    charts = report["checks"][0]["charts"]["data_drift"]
    assert charts  # per-feature distributions, reference vs current
    income = api.get(
        "/api/monitors/applications-drift/series",
        params={"feature": "income", "metric": "wasserstein_norm"},
    ).json()["items"]
    assert len(income) == 1 and income[0]["flagged"] is True and income[0]["value"] > 0.1
    checks = api.get("/api/monitors/applications-drift/checks", params={"page_size": 1}).json()
    checks = checks["items"]
    assert checks[0]["status"] == "alert"
    assert_iso(checks[0]["at"], expected["checks"][0]["at"])
    assert_iso(income[0]["at"], expected["checks"][0]["at"])
    monitor = monitoring.get_monitor("applications-drift")
    assert_iso(report["monitor"]["created_at"], monitor.created_at)
    assert_iso(report["monitor"]["last_check_at"], monitor.last_check_at)
    for shown, stored in zip(report["series"], expected["series"], strict=True):
        assert_iso(shown["at"], stored["at"])
    described = api.get("/openapi.json").json()["info"]["description"]
    assert "ISO 8601 with its UTC offset" in described


def assert_iso(text: str, epoch: float | None) -> None:
    """An answer's time: ISO 8601 in UTC, the SDK's epoch seconds to the microsecond."""
    assert epoch is not None and text.endswith("+00:00") and "." in text
    assert abs(datetime.fromisoformat(text).timestamp() - epoch) <= 1e-6


def test_bad_requests_name_what_is_wrong(api: httpx.Client) -> None:
    watched_dataset()
    missing = api.get("/api/monitors/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    bad = api.get("/api/monitors/applications-drift/checks", params={"page_size": 0})
    assert bad.status_code == 422 and "page_size" in bad.json()["error"]
    wrong = api.get("/api/alerts", params={"status": "sleeping"})
    assert wrong.status_code == 422 and "status must be one of" in wrong.json()["error"]
    assert api.get("/api/alerts/abc").status_code == 422
    assert api.get("/api/alerts/999").status_code == 404
    huge = api.get("/api/monitors/applications-drift/series", params={"from_check": 2**63})
    assert huge.status_code == 422 and "from_check" in huge.json()["error"]
    for answer, status in ((api.get("/api/nowhere"), 404), (api.delete("/api/alerts"), 405)):
        assert answer.status_code == status and "error" in answer.json()  # one error shape
    monitoring.check("applications-drift")
    alert_id = monitoring.list_alerts()[0].id
    form = api.post(f"/api/alerts/{alert_id}/ack", data={"x": "y"})  # not JSON: refused
    assert form.status_code == 415 and "Content-Type: application/json" in form.json()["error"]
    assert monitoring.get_alert(alert_id).status == "open"  # nothing changed


def test_drift_per_feature_over_time_and_one_checks_distributions(api: httpx.Client) -> None:
    watched_dataset()
    first = monitoring.check("applications-drift")
    monitoring.check("applications-drift")
    drift = api.get("/api/monitors/applications-drift/drift").json()["series"]
    income = next(s for s in drift if s["feature"] == "income" and s["detector"] == "data_drift")
    assert len(income["times"]) == len(income["value"]) == 2 and income["flagged"] == [True] * 2
    assert income["times"][0].endswith("+00:00")
    one = api.get(f"/api/monitors/applications-drift/checks/{first.id}").json()
    assert one["id"] == first.id and one["status"] == "alert"
    chart = one["charts"]["data_drift"]["income"]
    assert len(chart["bins"]) == len(chart["reference"]) == len(chart["current"]) > 1
    missing = api.get("/api/monitors/applications-drift/checks/999")
    assert missing.status_code == 404 and "no check 999" in missing.json()["error"]


def test_alerts_are_paged_newest_first(api: httpx.Client) -> None:
    watched_dataset()
    monitoring.create_monitor(
        "second", dataset="applications", reference="applications@1", detectors=["data_drift"],
        drift_share=0.1,
    )  # fmt: skip
    monitoring.check("applications-drift")
    monitoring.check("second")
    first = api.get("/api/alerts", params={"page_size": 1}).json()
    assert [a["monitor"] for a in first["items"]] == ["second"]
    rest = api.get(
        "/api/alerts", params={"page_size": 1, "page_token": first["next_page_token"]}
    ).json()
    assert [a["monitor"] for a in rest["items"]] == ["applications-drift"]
    assert rest["next_page_token"] is None
    other = api.get(
        "/api/alerts", params={"status": "open", "page_token": first["next_page_token"]}
    )
    assert other.status_code == 422 and "another query" in other.json()["error"]
