"""What the split of serving promises at its edges: FastAPI's own answers as JSON, the log
in object storage, stores on any database, and ``serving.deployments`` holding only what
users call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard import serving
from shipyard.config import reset_settings
from shipyard.data import make_loans
from shipyard.errors import Conflict, NotFound
from shipyard.serving._auth import Keyring, SQLKeyStore
from shipyard.serving._log import InferenceLog, default_folder
from shipyard.store import Database


def test_unknown_paths_and_methods_answer_json(served: Any) -> None:
    missing = httpx.get(served.url + "/no-such-thing")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    wrong = httpx.get(served.url + "/predict")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}
    fine = httpx.get(served.url + "/v2/health/live")
    assert fine.status_code == 200


def _log_rows(log: InferenceLog, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        columns = {"x": np.array([float(i)]), "tag": np.array([f"t{i}"], dtype=object)}
        log.request(f"r{i}", "main", "m", 1, 0.001, columns, np.array([i % 2]), None)
        log.request(f"r{i}", "b", "m", 2, 0.002, columns, np.array([1]), None, shadow=True)


def test_the_log_lives_in_object_storage(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Path(default_folder()) == home / "inference"  # beside local artifacts
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", "memory://shipyard-test/artifacts")
    reset_settings()
    assert default_folder() == "memory://shipyard-test/artifacts/inference"
    log = InferenceLog.of("scores")
    assert not log.exists()
    _log_rows(log, 30)
    log.feedback("r1", label=1)
    log.close()  # never started: written in this thread
    assert log.exists() and log.location == "memory://shipyard-test/artifacts/inference/scores"
    answered = serving.read_requests("scores", last=10, shadow=False).to_pandas()
    assert list(answered["request_id"]) == [f"r{i}" for i in range(20, 30)]
    assert len(InferenceLog.of("scores").answered()) == 30
    assert len(serving.read_requests("scores", shadow=True)) == 30
    assert InferenceLog.inputs(log.answered()) == ["x", "tag"]
    assert serving.read_feedback("scores").to_pylist()[0]["request_id"] == "r1"


def test_the_log_writer_starts_on_start_only(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path, "d", flush_seconds=0.05)
    assert log._thread is None  # the constructor only stores
    log.start()
    _log_rows(log, 5)
    log.close()
    assert len(serving.read_requests("d", tmp_path)) == 10


@pytest.fixture
def two_databases(home: Path) -> tuple[Database, Database]:
    frame = make_loans(200, seed=0)
    X, y = frame[["age", "income"]], frame["default"]
    sy.models.register("fraud", LogisticRegression(max_iter=300).fit(X, y), X=X, y=y)
    return Database(f"sqlite:///{home / 'one.db'}"), Database(f"sqlite:///{home / 'two.db'}")


def test_stores_take_their_database(two_databases: tuple[Database, Database]) -> None:
    one, two = (serving.deployments.SQLDeploymentStore(d) for d in two_databases)
    one.create("d", {"a": "fraud@1"})
    assert [d.name for d in one.list_deployments()] == ["d"] and two.names() == []
    with pytest.raises(NotFound):
        two.get("d")
    assert one.promote("d", "a").revision == 2
    keys = SQLKeyStore(two_databases[1])
    key = keys.create("k", ["predict"])
    with pytest.raises(Conflict):
        keys.create("k")
    ring = Keyring(keys, ttl=60)
    assert ring.loaded is None  # nothing read until a key is checked
    found = ring.find(key)
    assert found is not None and found.name == "k"
    assert SQLKeyStore(two_databases[0]).keys() == []


def test_deployments_holds_only_what_users_call() -> None:
    public = set(serving.deployments.__all__)
    assert {"create", "get", "promote", "rollback", "served"} <= public
    for internal in ("select", "insert", "update", "json"):  # SQL stays in the store
        assert internal not in public and not hasattr(serving.deployments, internal)
    assert "default_database" not in public
