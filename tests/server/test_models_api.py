"""The model registry's REST routes on a real server: the UI's buttons (stage, alias,
rollback), listings in pages, history, compare, lineage, export, deletes, refused input as
one-line errors, and answers that match what the OpenAPI description says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard as sy
from shipyard import serving
from shipyard.data import make_loans
from shipyard.errors import Unauthorized
from shipyard.models import ModelStore
from shipyard.server import create_app
from shipyard.server._access import Caller
from shipyard.server._model_shapes import (
    CompareOut,
    EventPage,
    LineageOut,
    ModelOut,
    ModelPage,
    Rolledback,
    VersionOut,
    VersionPage,
)
from shipyard.store import default_database
from shipyard.testing.backends import new_model_version

NUMERIC = ["age", "income", "credit_score"]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving.background(create_app()) as url:
        yield url


@pytest.fixture
def api(server: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    """A client of the server, whose user (who acts without auth) is ``tester``."""
    monkeypatch.setenv("SHIPYARD_USER", "tester")
    with httpx.Client(base_url=f"{server}/api", timeout=60) as client:
        yield client


def _records(count: int, name: str = "churn") -> None:
    store = ModelStore(default_database())
    for _ in range(count):
        store.add_version(name, new_model_version())


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert isinstance(message, str) and "\n" not in message
    return message


def test_the_ui_buttons_move_stages_aliases_and_roll_back(api: httpx.Client) -> None:
    _records(2)
    for version in (1, 2):
        body = {"stage": "production", "reason": "go"}
        moved = _ok(api.post(f"/models/churn/versions/{version}/stage", json=body))
        assert VersionOut.model_validate(moved).stage == "production"
    back = Rolledback.model_validate(
        _ok(api.post("/models/churn/rollback", json={"reason": "bad"}))
    )
    assert (back.previous, back.version.version, back.version.stage) == (2, 1, "production")
    named = _ok(api.post("/models/churn/aliases/champion", json={"version": 2, "reason": "best"}))
    assert named["aliases"] == ["champion"] and named["version"] == 2
    again = _ok(api.post("/models/churn/aliases/champion", json={"version": "latest"}))
    assert again["version"] == 2
    assert api.delete("/models/churn/aliases/champion").status_code == 204
    assert "no alias 'champion' to remove" in _error(
        api.delete("/models/churn/aliases/champion"), 404
    )
    events = EventPage.model_validate(_ok(api.get("/models/churn/events"))).items
    assert [(e.kind, e.before, e.after, e.actor) for e in events[:4]] == [
        ("alias-removed", "champion@2", None, "tester"),
        ("alias", None, "champion@2", "tester"),
        ("rollback", "archived", "production", "tester"),
        ("stage", "production", "archived", "tester"),
    ]
    assert events[1].reason == "best" and events[2].reason == "bad"
    assert "T" in events[0].at and events[0].at.endswith("+00:00")


def test_the_actor_a_client_names_is_recorded_without_auth(api: httpx.Client) -> None:
    _records(1)
    body = {"stage": "staging", "reason": "try", "actor": "ann"}
    _ok(api.post("/models/churn/versions/1/stage", json=body))
    _ok(api.post("/models/churn/aliases/gold", json={"version": 1, "actor": None}))
    (alias, stage, _) = _ok(api.get("/models/churn/events"))["items"]
    assert (alias["actor"], stage["actor"]) == (None, "ann")


def test_listings_come_in_pages(api: httpx.Client) -> None:
    _records(3)
    _records(1, "other")
    first = VersionPage.model_validate(_ok(api.get("/models/churn/versions?page_size=2")))
    assert [v.version for v in first.items] == [3, 2] and first.next_page_token
    second = _ok(api.get("/models/churn/versions", params={"page_token": first.next_page_token}))
    assert [v["version"] for v in second["items"]] == [1] and second["next_page_token"] is None
    stolen = api.get("/models/other/versions", params={"page_token": first.next_page_token})
    assert "page_token" in _error(stolen, 422)
    found = ModelPage.model_validate(_ok(api.get("/models?page_size=1")))
    assert [m.name for m in found.items] == ["churn"] and found.next_page_token
    one = ModelOut.model_validate(_ok(api.get("/models/churn")))
    assert (one.versions, one.latest, one.production) == (3, 3, None)
    assert "No model named 'ghost'" in _error(api.get("/models/ghost"), 404)


def test_versions_are_read_by_number_alias_stage_and_id(api: httpx.Client) -> None:
    _records(2)
    _ok(api.post("/models/churn/versions/v1/stage", json={"stage": "production"}))
    _ok(api.post("/models/churn/aliases/gold", json={"version": "1"}))
    selectors = ("1", "v2", "latest", "gold", "production")
    by = {s: _ok(api.get(f"/models/churn/versions/{s}"))["version"] for s in selectors}
    assert by == {"1": 1, "v2": 2, "latest": 2, "gold": 1, "production": 1}
    version_id = _ok(api.get("/models/churn/versions/gold/id"))["id"]
    assert _ok(api.get(f"/model-versions/{version_id}"))["ref"] == "churn@1"
    assert "has no version 9 (latest is 2)" in _error(api.get("/models/churn/versions/9"), 404)
    assert "versions run from 1" in _error(api.get("/models/churn/versions/0"), 422)
    assert "No model version with id 'nope'" in _error(api.get("/model-versions/nope"), 404)


def test_refused_input_is_one_line_naming_the_field(api: httpx.Client) -> None:
    _records(1)
    good = {"flavor": "sklearn", "digest": "0" * 64, "size": 1}
    assert _ok(api.post("/models/churn/versions", json=good), 201)["version"] == 2
    refused = {
        "digest": {**good, "digest": "xyz"},
        "stage must be one of": {**good, "stage": "prod"},
        "Alias 'latest' is reserved": {**good, "aliases": ["latest"]},
        "tag key": {**good, "tags": {"a\nb": "x"}},
        "metrics": {**good, "metrics": {"auc": "high"}},
        "surprise": {**good, "surprise": 1},
        "Signature": {**good, "signature": {"inputs": [{"name": "a", "type": "blob"}]}},
    }
    for field, body in refused.items():
        assert field in _error(api.post("/models/churn/versions", json=body), 422), field
    unknown = {**good, "datasets": ["0" * 32]}
    missing = api.post("/models/churn/versions", json=unknown)
    assert "datasets: no dataset version" in _error(missing, 404)
    _error(api.post("/models/churn/versions", json={**good, "run_id": "0" * 32}), 404)
    with sy.start_run(experiment="registry") as run:
        pass
    by_prefix = {**good, "run_id": run.id[:12]}
    assert _ok(api.post("/models/churn/versions", json=by_prefix), 201)["run_id"] == run.id
    assert "stage must be one of" in _error(
        api.post("/models/churn/versions/1/stage", json={"stage": "live"}), 422
    )
    assert "Model name 'a b'" in _error(api.get("/models/a b/versions"), 422)
    text = {"Content-Type": "text/plain"}
    form = api.post("/models/churn/rollback", content=b"reason=x", headers=text)
    assert form.status_code == 415 or "JSON" in _error(form, 422)


def test_deletes_keep_the_rules(api: httpx.Client) -> None:
    _records(2)
    _ok(api.post("/models/churn/versions/2/stage", json={"stage": "production"}))
    assert "is in use (stage production)" in _error(api.delete("/models/churn/versions/2"), 409)
    gone = _ok(api.delete("/models/churn/versions/2", params={"force": True, "reason": "bad"}))
    assert gone["version"] == 2
    assert _ok(api.get("/models/churn/events"))["items"][0]["kind"] == "deleted"
    assert _ok(api.delete("/models/churn")) == {"name": "churn", "versions": 1}
    assert _ok(api.get("/models"))["items"] == []


def test_compare_lineage_and_export_of_a_trained_model(api: httpx.Client) -> None:
    frame = make_loans(300, seed=0)
    sy.datasets.register("loans", frame)
    with sy.start_run(experiment="registry") as run:
        X, y = frame[NUMERIC], frame["default"]
        model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        sy.log_params({"C": 1.0})
        sy.log_metrics({"auc": 0.8})
        sy.models.register("churn", model, X=X, y=y, datasets=["loans@1"])
    sy.models.register("churn", model, X=X, y=y, metrics={"auc": 0.9})

    table = CompareOut.model_validate(_ok(api.get("/models/churn/compare?versions=1&versions=2")))
    assert table.columns == ["churn@1", "churn@2"]
    rows = {r.field: r for r in table.rows}
    assert rows["metrics.auc"].values == [0.8, 0.9] and rows["metrics.auc"].differs
    assert rows["flavor"].values == ["sklearn", "sklearn"] and not rows["flavor"].differs
    assert rows["params.C"].values == ["1.0", None]
    assert all(r.differs for r in table.rows[:3])
    assert "versions: " in _error(api.get("/models/churn/compare?versions=1"), 422)
    expected = pd.Index(sy.models.compare(["churn@1", "churn@2"]).index).tolist()
    assert [r.field for r in table.rows] == expected

    found = LineageOut.model_validate(_ok(api.get("/models/churn/versions/1/lineage")))
    assert found.run is not None and found.run.id == run.id and found.run.params == {"C": "1.0"}
    assert found.run.metrics == {"auc": 0.8} and found.run.experiment == "registry"
    assert [d.ref for d in found.datasets] == ["loans@1"] and found.datasets[0].rows == 300
    bare = _ok(api.get("/models/churn/versions/2/lineage"))
    assert (bare["run"], bare["datasets"]) == (None, [])

    done = VersionOut.model_validate(
        _ok(api.post("/models/churn/versions/1/export", json={"format": "onnx"}))
    )
    assert done.exports["onnx"].report["max_abs_diff"] < 1e-4
    assert sy.models.load("churn@1", format="onnx").format == "onnx"
    exported = _ok(api.get("/models/churn/events"))["items"][0]
    assert (exported["kind"], exported["after"], exported["actor"]) == (
        "exported",
        "onnx",
        "tester",
    )
    refused = api.post("/models/churn/versions/1/export", json={"format": "pmml"})
    assert "format must be one of" in _error(refused, 422)


def test_the_openapi_description_documents_every_answer(server: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    operations = [
        (path, method, op)
        for path, item in spec["paths"].items()
        if path.startswith(("/api/models", "/api/model-versions"))
        for method, op in item.items()
    ]
    assert len(operations) == 25
    for path, method, op in operations:
        codes = set(op["responses"])
        assert {"401", "403", "404", "422"} <= codes, (path, method)
        if method != "get":
            assert {"409", "415"} <= codes, (path, method)
        success = sorted(c for c in codes if c.startswith("2"))
        assert len(success) == 1, (path, method)
        if success != ["204"]:
            assert "$ref" in str(op["responses"][success[0]]["content"]), (path, method)


@pytest.fixture
def signed(home: Path) -> Iterator[str]:
    """A server whose callers are signed in by token: alice edits, vic views, root admins."""
    users = {
        "t-alice": Caller("alice", "editor"),
        "t-vic": Caller("vic", "viewer"),
        "t-root": Caller("root", "admin"),
    }

    def authenticate(token: str) -> Caller:
        if token not in users:
            raise Unauthorized("token: unknown or revoked.")
        return users[token]

    app = create_app()
    app.state.authenticate = authenticate
    with serving.background(app) as url:
        yield f"{url}/api"


def _as(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def test_with_auth_the_signed_in_user_acted_and_roles_are_kept(signed: str) -> None:
    good = {"flavor": "sklearn", "digest": "0" * 64, "size": 1, "created_by": "mallory"}
    with httpx.Client(base_url=signed, timeout=60) as api:
        assert _error(api.get("/models"), 401)
        assert _error(api.post("/models/churn/versions", json=good, headers=_as("t-vic")), 403)
        made = _ok(api.post("/models/churn/versions", json=good, headers=_as("t-alice")), 201)
        assert made["created_by"] == "user:alice"
        body = {"stage": "production", "reason": "go", "actor": "mallory"}
        _ok(api.post("/models/churn/versions/1/stage", json=body, headers=_as("t-alice")))
        alias = {"version": 1, "actor": "mallory"}
        _ok(api.post("/models/churn/aliases/gold", json=alias, headers=_as("t-alice")))
        events = _ok(api.get("/models/churn/events", headers=_as("t-vic")))["items"]
        assert {e["actor"] for e in events} == {"user:alice"}
        assert _error(api.delete("/models/churn", headers=_as("t-alice")), 403)
        assert _ok(api.delete("/models/churn", headers=_as("t-root")))["versions"] == 1
