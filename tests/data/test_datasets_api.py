"""The datasets API (``/api/datasets``) on a real server in this process, over a store the
SDK filled: pages, a version's details, profile, rows, diff, lineage graph, and SQL behind
the editor role that reads only the versions it names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import shipyard as sy
from shipyard.data import make_loans
from shipyard.errors import Unauthorized
from shipyard.server import create_app
from shipyard.serving import background


@dataclass(frozen=True)
class Caller:
    """Who a token stands for, as the server's ``authenticate`` hook answers it."""

    name: str
    role: str


TOKENS = {"v": Caller("vic", "viewer"), "e": Caller("eve", "editor")}


def _authenticate(token: str) -> Caller:
    """The app's token check (``app.state.authenticate``): two users, one role each."""
    if token not in TOKENS:
        raise Unauthorized("token: unknown.")
    return TOKENS[token]


@pytest.fixture
def api(home: Path) -> Iterator[httpx.Client]:
    """A client of a server whose callers are a viewer (token ``v``) and an editor (``e``),
    over a store with two versions of ``loans``, a derived dataset and a model on it."""
    from sklearn.dummy import DummyClassifier

    first = sy.datasets.register("loans", make_loans(300, seed=1), aliases=["golden"])
    sy.datasets.register("loans", make_loans(300, seed=2, drift=1.0).drop(columns=["income"]))
    sy.datasets.query("SELECT region, count(*) AS n FROM loans@1 GROUP BY 1", register_as="regions")
    frame = first.to_pandas()
    X, y = frame[["age"]], frame["default"]
    sy.models.register("churn", DummyClassifier().fit(X, y), X=X, datasets=["loans@1"])
    app = create_app()
    app.state.authenticate = _authenticate
    with background(app) as url, httpx.Client(base_url=f"{url}/api") as client:
        client.headers["Authorization"] = "Bearer e"
        yield client


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_listings_are_pages(api: httpx.Client) -> None:
    first = _ok(api.get("/datasets", params={"page_size": 1}))
    assert [d["name"] for d in first["items"]] == ["loans"] and first["next_page_token"]
    second = _ok(
        api.get("/datasets", params={"page_size": 1, "page_token": first["next_page_token"]})
    )
    assert [d["name"] for d in second["items"]] == ["regions"] and second["next_page_token"] is None
    assert second["items"][0]["created_at"].endswith("+00:00")
    versions = _ok(api.get("/datasets/loans/versions"))["items"]
    assert [v["ref"] for v in versions] == ["loans@2", "loans@1"]
    assert versions[0]["checks"] == "failed" and versions[0]["flagged"] is True


def test_a_version_shows_schema_checks_tags_and_aliases(api: httpx.Client) -> None:
    golden = _ok(api.get("/datasets/loans/versions/golden"))
    assert golden["ref"] == "loans@1" and golden["aliases"] == ["golden"]
    assert "income" in {c["name"] for c in golden["schema"]["columns"]}
    flagged = _ok(api.get("/datasets/loans/versions/latest"))
    assert flagged["validation"]["ok"] is False and "failed its checks" in flagged["warning"]
    assert _ok(api.get("/datasets/loans/default"))["ref"] == "loans@1"
    missing = api.get("/datasets/loans/versions/7")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "Dataset 'loans' has no version 7 (latest is 2). Try: shipyard data versions loans"
    }
    assert api.get("/datasets/9bad/versions/1").status_code == 422


def test_profile_rows_and_diff(api: httpx.Client) -> None:
    profile = _ok(api.get("/datasets/loans/versions/1/profile"))
    income = next(c for c in profile["columns"] if c["name"] == "income")
    assert profile["rows"] == 300 and sum(income["histogram"]["counts"]) == income["count"]
    page = _ok(
        api.get(
            "/datasets/loans/versions/1/rows",
            params={"page_size": 250, "columns": ["age", "region"]},
        )
    )
    assert [c["name"] for c in page["columns"]] == ["age", "region"] and page["total"] == 300
    assert len(page["items"]) == 250 and page["next_page_token"]
    rest = _ok(
        api.get(
            "/datasets/loans/versions/1/rows",
            params={
                "page_size": 250,
                "columns": ["age", "region"],
                "page_token": page["next_page_token"],
            },
        )
    )
    assert len(rest["items"]) == 50 and rest["next_page_token"] is None
    frame = sy.datasets.get("loans@1").to_pandas()
    assert [row[0] for row in page["items"] + rest["items"]] == frame["age"].tolist()
    times = _ok(api.get("/datasets/loans/versions/1/rows", params={"page_size": 1}))
    assert isinstance(times["items"][0][1], str)  # applied_at, as ISO 8601
    wrong = api.get("/datasets/loans/versions/1/rows", params={"columns": ["nope"]})
    assert wrong.status_code == 422 and "no column 'nope'" in wrong.json()["error"]
    changed = _ok(api.get("/datasets/loans/diff", params={"a": "1", "b": "loans@2"}))
    assert changed["schema_changes"] == ["column 'income' removed (was float64)"]
    assert changed["rows"] == [300, 300] and changed["same_content"] is False


def test_lineage_is_a_graph_of_versions_runs_and_models(api: httpx.Client) -> None:
    graph = _ok(api.get("/datasets/loans/versions/1/lineage"))
    kinds = {n["id"]: n["kind"] for n in graph["nodes"]}
    assert kinds == {"loans@1": "dataset", "regions@1": "dataset", "model:churn@1": "model"}
    edges = {(e["source"], e["target"], e["kind"]) for e in graph["edges"]}
    assert edges == {("loans@1", "regions@1", "derived"), ("loans@1", "model:churn@1", "trained")}


def test_sql_reads_only_the_versions_it_names(api: httpx.Client) -> None:
    answer = _ok(
        api.post(
            "/datasets/query", json={"sql": "SELECT age FROM loans@1 ORDER BY age", "max_rows": 10}
        )
    )
    assert (
        answer["truncated"] is True and len(answer["rows"]) == 10 and answer["read"] == ["loans@1"]
    )
    assert answer["columns"] == [{"name": "age", "type": "int64"}]
    blob = str(sy.datasets.get("loans@2").path())
    refused = [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname'), loans@1",
        f"SELECT * FROM read_parquet('{blob}'), loans@1",  # another version's file
        "SELECT * FROM glob('/*')",
        "COPY (SELECT * FROM loans@1) TO '/tmp/stolen.csv'",
        "ATTACH '/tmp/other.db'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
    ]
    for sql in refused:
        answer = api.post("/datasets/query", json={"sql": sql})
        assert answer.status_code == 422, (sql, answer.text)
        assert set(answer.json()) == {"error"}
    assert not Path("/tmp/stolen.csv").exists()


def test_sql_stops_at_its_time_limit(api: httpx.Client) -> None:
    slow = "SELECT count(*) FROM range(1000000000000) a, loans@1"
    answer = api.post("/datasets/query", json={"sql": slow, "timeout": 0.5})
    assert answer.status_code == 422 and "time limit of 0.5 s" in answer.json()["error"]


def test_roles_viewers_read_editors_change_and_query(api: httpx.Client) -> None:
    viewer = {"Authorization": "Bearer v"}
    assert api.get("/datasets/loans/versions/1", headers=viewer).status_code == 200
    query = {"sql": "SELECT count(*) FROM loans@1"}
    assert api.post("/datasets/query", json=query, headers=viewer).status_code == 403
    assert (
        api.post("/datasets/query", json=query, headers={"Authorization": "Bearer x"}).status_code
        == 401
    )
    labels = {"aliases": ["best"], "tags": {"k": "v"}}
    version = _ok(api.get("/datasets/loans/versions/1"))["id"]
    assert (
        api.post(f"/dataset-versions/{version}/labels", json=labels, headers=viewer).status_code
        == 403
    )
    labelled = _ok(api.post(f"/dataset-versions/{version}/labels", json=labels))
    assert labelled["aliases"] == ["best", "golden"] and labelled["tags"] == {"k": "v"}


def test_bad_values_are_one_line_naming_the_field(api: httpx.Client) -> None:
    version = _ok(api.get("/datasets/loans/versions/1"))["id"]
    cases = [
        (api.put("/datasets/loans/policy", json={"policy": "maybe"}), "policy must be one of"),
        (api.post(f"/dataset-versions/{version}/labels", json={"aliases": ["v3"]}), "is reserved"),
        (api.post(f"/dataset-versions/{version}/labels", json={"tags": {"a": "\x00"}}), "NUL"),
        (api.post("/datasets/loans/aliases/x", json={}), "exactly one of version"),
        (api.post("/datasets/query", json={"sql": ""}), "sql"),
        (api.get("/datasets/loans/diff", params={"a": "1"}), "b"),
    ]
    for answer, words in cases:
        assert answer.status_code == 422, answer.text
        assert words in answer.json()["error"] and "\n" not in answer.json()["error"]
    assert api.post("/datasets/loans/aliases/x", json={"version": 1}).json()["aliases"] == [
        "golden",
        "x",
    ]
    assert api.delete("/datasets/loans/aliases/x").status_code == 204
    assert api.delete("/datasets/loans/aliases/x").status_code == 404


def test_every_route_declares_a_role_and_documents_its_errors(api: httpx.Client) -> None:
    """No token: 401; a viewer reads but changes nothing (403); each answer documented."""
    paths = api.get(api.base_url.copy_with(path="/openapi.json")).json()["paths"]
    mine = {p: ops for p, ops in paths.items() if p.startswith(("/api/dataset", "/api/transforms"))}
    assert len([m for ops in mine.values() for m in ops]) >= 25
    values = {"name": "loans", "selector": "1", "alias": "x", "input_key": "k"}
    for path, operations in mine.items():
        url = path.removeprefix("/api")
        for key in ("name", "selector", "alias", "input_key", "version_id", "transform_id"):
            url = url.replace("{" + key + "}", values.get(key, "x"))
        for method, operation in operations.items():
            assert {"401", "403", "422"} <= set(operation["responses"]), (method, path)
            anonymous = api.request(method, url, headers={"Authorization": ""}, json={})
            assert anonymous.status_code == 401, (method, path, anonymous.text)
            viewer = api.request(method, url, headers={"Authorization": "Bearer v"}, json={})
            if method == "get":
                assert viewer.status_code != 403, (method, path)
            else:
                assert viewer.status_code == 403, (method, path, viewer.text)
