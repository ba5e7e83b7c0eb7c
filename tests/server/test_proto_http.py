"""The platform API as a strict HTTP client sees it: ``Allow`` on a 405 names every method
of the path, HEAD works wherever GET does, bodies are strict JSON, a time no calendar holds
is refused at the door (it broke every runs listing afterwards) and a time query takes ISO
8601."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

import shipyard as sy
from shipyard import server, serving
from shipyard.server import create_app


@pytest.fixture
def api(home: Path) -> Iterator[httpx.Client]:
    with sy.start_run(experiment="proto", name="r"):
        pass
    with serving.background(create_app()) as url, httpx.Client(base_url=url) as client:
        yield client


def test_a_405_allows_every_method_of_the_path(api: httpx.Client) -> None:
    # GET /api/runs and POST /api/runs are two routes: the router named only one of them
    answer = api.request("OPTIONS", "/api/runs")
    assert answer.status_code == 405 and answer.json() == {"error": "Method Not Allowed"}
    assert answer.headers["allow"] == "GET, HEAD, POST"
    run_id = api.get("/api/runs").json()["items"][0]["run_id"]
    answer = api.put(f"/api/runs/{run_id}", json={})
    assert answer.status_code == 405 and answer.headers["allow"] == "DELETE, GET, HEAD"
    # the most specific path is the resource: not a dataset called "query", nor a run
    # called "heartbeat" (the paths the OpenAPI description names)
    assert api.get("/api/datasets/query").headers.get("allow") is None  # a dataset lookup
    assert api.request("OPTIONS", "/api/datasets/query").headers["allow"] == "POST"
    assert api.request("OPTIONS", "/api/runs/heartbeat").headers["allow"] == "POST"


def test_head_answers_wherever_get_does(api: httpx.Client) -> None:
    for path in ("/api/runs", "/api/experiments/proto", "/api/health", "/static/ui.css"):
        got, head = api.get(path), api.head(path)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]
        if "content-encoding" not in got.headers:
            assert head.headers["content-length"] == str(len(got.content))
    assert api.head("/api/experiments/nope").status_code == 404


def test_bodies_are_strict_json(api: httpx.Client) -> None:
    sent = {"content-type": "application/json"}
    for body in (b'{"name": NaN}', b'{"name": Infinity}', b'{"name": "x", "n": -Infinity}'):
        answer = api.post("/api/experiments", content=body, headers=sent)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"].startswith("body: not valid JSON")
    answer = api.post("/api/experiments", content=b'{"name": "\xff"}', headers=sent)
    assert answer.status_code == 400
    assert answer.json() == {"error": "body: not valid JSON (it is not UTF-8 text)."}


def test_a_run_time_outside_the_calendar_is_refused_and_listings_keep_working(
    api: httpx.Client,
) -> None:
    experiment = api.get("/api/experiments/proto").json()["id"]
    new = {"experiment_id": experiment, "process": {"host": "h", "pid": 1}}
    for when in (-2.25e15, 1e300, 253402300800):
        answer = api.post("/api/runs", json={**new, "name": "bad", "start_time": when})
        assert answer.status_code == 422, (when, answer.text)
        assert answer.json()["error"].startswith("start_time:")
    run = api.post("/api/runs", json={**new, "name": "ok", "start_time": 0}).json()
    answer = api.post(
        f"/api/runs/{run['id']}/finish", json={"status": "finished", "end_time": -1e15}
    )
    assert answer.status_code == 422 and answer.json()["error"].startswith("end_time:")
    assert api.get("/api/runs").status_code == 200


def test_yes_or_no_fields_take_booleans_only(api: httpx.Client) -> None:
    server.create_user("ana", "viewer")
    for value in (0, 1, "true", "no"):
        answer = api.patch("/api/users/ana", json={"disabled": value})
        assert answer.status_code == 422, (value, answer.text)
        assert answer.json()["error"].startswith("disabled:")
    assert api.patch("/api/users/ana", json={"disabled": True}).json()["disabled"] is True


def test_an_integer_past_64_bits_in_a_stored_body_does_not_break_its_answers(
    api: httpx.Client,
) -> None:
    experiment = api.get("/api/experiments/proto").json()["id"]
    new = {"experiment_id": experiment, "name": "big", "process": {"host": "h", "pid": 1}}
    body = b'{"environment": {"seed": 123456789012345678901234567890}, ' + orjson.dumps(new)[1:]
    created = api.post("/api/runs", content=body, headers={"content-type": "application/json"})
    assert created.status_code == 200, created.text
    answer = api.get(f"/api/runs/{created.json()['id']}")
    assert answer.status_code == 200
    assert answer.json()["info"]["environment"]["seed"] == pytest.approx(1.2345678901234568e29)


def test_an_artifact_path_twice_in_one_batch_keeps_the_later(api: httpx.Client) -> None:
    run_id = api.get("/api/runs").json()["items"][0]["run_id"]
    first, second = "a" * 64, "b" * 64
    batch = [
        {"path": "model.pkl", "digest": first, "size": 3, "kind": "file"},
        {"path": "model.pkl", "digest": second, "size": 4, "kind": "file"},
    ]
    answer = api.post(f"/api/runs/{run_id}/artifacts", json={"artifacts": batch})
    assert answer.status_code == 204, answer.text
    (artifact,) = api.get(f"/api/runs/{run_id}").json()["artifacts"]
    assert artifact["digest"] == second and artifact["size"] == 4


def test_a_traffic_window_ends_at_an_iso_time(home: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from shipyard.data import make_loans

    frame = make_loans(200, seed=0)
    X, y = frame[["age", "income"]], frame["default"]
    sy.models.register("m", LogisticRegression().fit(X, y), X=X, y=y)
    serving.deployments.create("d", {"a": "m@1"})
    with serving.background(create_app()) as url, httpx.Client(base_url=url) as api:
        at: dict[str, str | int] = {"minutes": 2, "until": "2026-12-06T12:00:00+01:00"}
        answer = api.get("/api/deployments/d/traffic", params=at)
        assert answer.status_code == 200, answer.text
        assert answer.json()["until"] == "2026-12-06T11:00:00.000000+00:00"
        epoch = api.get("/api/deployments/d/traffic", params={"until": 1796557200})
        assert epoch.json()["until"] == "2026-12-06T11:40:00.000000+00:00"
        zero = api.get("/api/deployments/d/traffic", params={"until": 0, "minutes": 1})
        assert zero.json()["until"] == "1970-01-01T00:00:00.000000+00:00"
        documented = create_app().openapi()["paths"]["/api/deployments/{name}/traffic"]["get"]
        (until,) = [p for p in documented["parameters"] if p["name"] == "until"]
        kinds = {k.get("format", k["type"]) for k in until["schema"]["anyOf"]}
        assert kinds == {"date-time", "number", "null"}
        for bad in ("garbage", "0001-01-01T00:00:00Z", -1):
            answer = api.get("/api/deployments/d/traffic", params={"until": bad})
            assert answer.status_code == 422 and answer.json()["error"].startswith("until:")


def test_static_files_go_gzipped_to_clients_that_take_it(api: httpx.Client) -> None:
    plain = api.get("/static/plotly.min.js", headers={"accept-encoding": "identity"})
    zipped = api.get("/static/plotly.min.js", headers={"accept-encoding": "br, gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < int(plain.headers["content-length"]) / 2
    assert zipped.content == plain.content  # httpx decoded it
    assert zipped.headers["etag"] != plain.headers["etag"]  # one per representation
    assert "accept-encoding" in zipped.headers["vary"].lower()
    for accept, answer in (("identity", plain), ("gzip", zipped)):
        again = api.get(
            "/static/plotly.min.js",
            headers={"accept-encoding": accept, "if-none-match": answer.headers["etag"]},
        )
        assert again.status_code == 304, accept
    refused = api.get("/static/plotly.min.js", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
