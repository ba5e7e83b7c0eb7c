"""The platform API's pipelines and pipeline runs, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.data import make_loans
from shipyard.server import create_app

sys.path.insert(0, str(Path(__file__).parents[1] / "pipelines"))
import core_flows as flows  # the pipelines tests' module, importable by workers


@pytest.fixture
def api(home: Path) -> Iterator[httpx.Client]:
    with serving.background(create_app()) as url, httpx.Client(base_url=url) as client:
        yield client


def test_pipelines_runs_and_logs_read_back(api: httpx.Client) -> None:
    run = flows.fan(n=3, width=2)
    listed = api.get("/api/pipelines").json()["items"]
    assert [p["name"] for p in listed] == ["fan"] and listed[0]["last_run_status"] == "succeeded"
    version = api.get("/api/pipelines/fan").json()
    assert version["ref"] == "fan@1" and next(n["name"] for n in version["graph"]) == "numbers"
    runs = api.get("/api/pipelines/fan/runs").json()["items"]
    assert [r["id"] for r in runs] == [run.id] and runs[0]["steps"] is None
    one = api.get(f"/api/pipeline-runs/{run.id}").json()
    assert one["status"] == "succeeded"
    for answer, epoch in (
        (one["created_at"], run.created_at),
        (one["ended_at"], run.ended_at),
        (one["steps"][0]["started_at"], run.steps[0].started_at),
        (listed[0]["last_run_at"], run.created_at),
    ):  # ISO 8601 in UTC, the SDK's epoch seconds
        assert answer.endswith("+00:00") and epoch is not None
        assert datetime.fromisoformat(answer).timestamp() == pytest.approx(epoch, abs=1e-6)
    assert [s["name"] for s in one["steps"]] == ["numbers", "power", "power-2", "add_up"]
    logs = api.get(f"/api/pipeline-runs/{run.id}/steps/numbers/logs")
    assert logs.status_code == 200 and logs.text == "making 3 numbers\n"


def test_a_run_is_queued_and_cancelled(api: httpx.Client) -> None:
    sy.pipelines.register(flows.fan)
    queued = api.post("/api/pipelines/fan/runs", json={"params": {"n": 2}})
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert body["status"] == "queued" and body["params"]["n"] == 2
    assert body["trigger"] == {"kind": "api"}
    cancelled = api.post(f"/api/pipeline-runs/{body['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    again = api.post(f"/api/pipeline-runs/{body['id']}/cancel")
    assert again.status_code == 409 and "nothing to cancel" in again.json()["error"]


def test_mistakes_are_named(api: httpx.Client) -> None:
    assert api.get("/api/pipelines/nope").status_code == 404
    assert api.get("/api/pipeline-runs/nope").status_code == 404
    sy.pipelines.register(flows.fan)
    bad = api.post("/api/pipelines/fan/runs", json={"params": {"nope": 1}})
    assert bad.status_code == 422 and "bad parameters" in bad.json()["error"]
    wrong = api.post("/api/pipelines/fan/runs", json={"params": [1, 2]})
    assert wrong.status_code == 422
    run = flows.fan(n=2, width=1)
    missing = api.get(f"/api/pipeline-runs/{run.id}/steps/nope/logs")
    assert missing.status_code == 404 and "no step 'nope'" in missing.json()["error"]
    assert api.get("/api/pipeline-runs?page_size=0").status_code == 422


def test_a_runs_dag_is_nodes_and_edges_and_schedules_are_listed(api: httpx.Client) -> None:
    run = flows.fan(n=3, width=2)
    one = api.get(f"/api/pipeline-runs/{run.id}").json()
    nodes = {n["name"]: n for n in one["dag"]["nodes"]}
    assert set(nodes) == {"numbers", "power", "power-2", "add_up"}
    assert nodes["numbers"]["depth"] == 0 and nodes["add_up"]["depth"] == 2
    assert {nodes["power"]["row"], nodes["power-2"]["row"]} == {0, 1}
    assert all(n["status"] == "succeeded" and n["colour"] for n in nodes.values())
    assert sorted(map(tuple, one["dag"]["edges"])) == [
        ("numbers", "power"), ("numbers", "power-2"), ("power", "add_up"), ("power-2", "add_up"),
    ]  # fmt: skip
    sy.pipelines.schedule("fan", "0 3 * * *", timezone="Europe/Paris")
    sy.datasets.register("loans", make_loans(50, seed=0))
    sy.pipelines.trigger("fan", on="dataset:loans")
    schedules = api.get("/api/pipelines/fan/schedules").json()["items"]
    assert [(s["kind"], s["cron"] or s["on"]) for s in schedules] == [
        ("cron", "0 3 * * *"), ("trigger", "dataset:loans"),
    ]  # fmt: skip
    assert schedules[0]["fired"] == 0 and schedules[0]["last_fired_at"] is None
    assert api.get("/api/pipelines/nope/schedules").status_code == 404


def test_runs_are_paged(api: httpx.Client) -> None:
    ids = [flows.fan(n=1, width=1).id for _ in range(3)]
    first = api.get("/api/pipelines/fan/runs", params={"page_size": 2}).json()
    assert [r["id"] for r in first["items"]] == ids[::-1][:2]
    rest = api.get(
        "/api/pipeline-runs", params={"page_size": 2, "page_token": first["next_page_token"]}
    )
    assert rest.status_code == 422  # a token of another query
    rest = api.get(
        "/api/pipelines/fan/runs", params={"page_size": 2, "page_token": first["next_page_token"]}
    ).json()
    assert [r["id"] for r in rest["items"]] == [ids[0]] and rest["next_page_token"] is None
