"""The tracking routes of the platform server, called over HTTP as the web UI and scripts
call them: pages, downsampled histories, comparisons, refusals, and their OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import shipyard as sy
from shipyard.server import create_app
from shipyard.serving import background


@pytest.fixture
def api(home: Path) -> Iterator[httpx.Client]:
    """A platform server in this process over the test's store, and a client of it."""
    with background(create_app()) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture
def runs(home: Path) -> list[str]:
    ids = []
    for n in range(5):
        with sy.start_run(experiment="api", name=f"r{n}") as run:
            run.log_params({"model": "lgbm" if n % 2 else "rf"})
            run.log_metric("auc", 0.5 + n / 10)
        ids.append(run.id)
    return ids


def test_runs_are_listed_in_pages_with_tokens(api: httpx.Client, runs: list[str]) -> None:
    names, token = [], None
    while True:
        params = {"experiment": "api", "order_by": "metrics.auc desc", "page_size": 2}
        answer = api.get("/api/runs", params={**params, "page_token": token} if token else params)
        assert answer.status_code == 200
        page = answer.json()
        names += [r["name"] for r in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert names == ["r4", "r3", "r2", "r1", "r0"]
    first = api.get("/api/runs", params={"filter": "params.model = 'lgbm'", "columns": ""})
    row = first.json()["items"][0]
    assert row["start_time"].endswith("+00:00") and "params.model" not in row
    assert api.get("/api/experiments").json()["items"][0]["run_count"] == 5


def test_a_metric_history_is_downsampled_on_request(api: httpx.Client, home: Path) -> None:
    with sy.start_run(experiment="long") as run:
        for step in range(5_000):
            run.log_metric("train/loss", 1.0 / (step + 1) + (1.0 if step == 2_500 else 0.0))
    path = f"/api/runs/{run.id}/metrics/train/loss"
    full = api.get(path).json()
    assert full["count"] == 5_000 and full["steps"] == list(range(5_000))
    small = api.get(path, params={"max_points": 100}).json()
    assert small["count"] == 5_000 and len(small["values"]) <= 100
    assert small["steps"][0] == 0 and small["steps"][-1] == 4_999
    assert 2_500 in small["steps"]  # the spike survives
    assert api.get(path, params={"max_points": 1}).status_code == 422
    assert api.get(f"/api/runs/{'f' * 32}/metrics/x").status_code == 404


def test_compare_and_one_run(api: httpx.Client, runs: list[str]) -> None:
    answer = api.get("/api/runs/compare", params={"run_id": runs[:2]}).json()
    rows = {r["field"]: r for r in answer["rows"]}
    assert answer["run_ids"] == runs[:2] and rows["params.model"]["differs"]
    assert rows["params.model"]["values"] == ["rf", "lgbm"]
    one = api.get(f"/api/runs/{runs[0][:8]}").json()
    assert one["info"]["id"] == runs[0] and one["metrics"]["auc"]["value"] == 0.5
    assert api.get("/api/runs/compare", params={"run_id": runs[0]}).status_code == 422


def test_bad_writes_are_refused_naming_the_field(api: httpx.Client, runs: list[str]) -> None:
    path = f"/api/runs/{runs[0]}/metrics"
    bad = api.post(path, json={"points": [["auc", 0.1, 1, 1.0], ["auc", "high", 2, 1.0]]})
    assert bad.status_code == 422 and "points[1]" in bad.json()["error"]
    big_step = api.post(path, json={"points": [["auc", 0.1, 2**63, 1.0]]})
    assert big_step.status_code == 422 and "64 bits" in big_step.json()["error"]
    bad_key = api.post(path, json={"points": [["../x", 0.1, 1, 1.0]]})
    assert bad_key.status_code == 422 and "Metric key" in bad_key.json()["error"]
    extra = api.post(path, json={"points": [], "other": 1})
    assert extra.status_code == 422 and "other" in extra.json()["error"]
    param = api.post(f"/api/runs/{runs[0]}/params", json={"params": {"model": "xgb"}})
    assert param.status_code == 409 and "write-once" in param.json()["error"]
    missing = api.post(f"/api/runs/{'f' * 32}/metrics", json={"points": [["a", 1.0, 0, 1.0]]})
    assert missing.status_code == 404
    status = api.post(f"/api/runs/{runs[0]}/finish", json={"status": "running"})
    assert status.status_code == 422 and "not a final status" in status.json()["error"]
    assert api.post(path, json={"points": [["auc", 0.9, 9, 2.0]]}).status_code == 204
    assert sy.get_run(runs[0]).metrics["auc"].value == 0.9


def test_every_tracking_route_declares_a_role_and_documents_its_answers() -> None:
    app = create_app()
    spec = app.openapi()
    prefixes = ("/api/runs", "/api/exp")
    tracked = {p: ops for p, ops in spec["paths"].items() if p.startswith(prefixes)}
    assert len(tracked) >= 12
    for path, operations in tracked.items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert {"401", "403", "422"} <= set(answers), (method, path)
            ok = answers.get("200") or answers.get("204")
            assert ok is not None, (method, path)
    roles = {
        (route.path, method): {getattr(d.call, "role", None) for d in route.dependant.dependencies}
        for route in app.routes
        if getattr(route, "path", "").startswith(prefixes)
        for method in route.methods  # type: ignore[attr-defined]
    }
    for (path, method), found in roles.items():
        want = "viewer" if method == "GET" else "editor"
        assert want in found, (method, path, found)
