"""The audit log through every door: the SDK (local and remote), the CLI and the REST API."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.errors import InvalidInput
from shipyard.governance import audit_log, verify_audit

runner = CliRunner()


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))


def _register(model: LogisticRegression) -> str:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    x = np.zeros((2, 3))
    sy.models.register(name, model, X=x)
    sy.models.register(name, model, X=x)
    sy.models.set_alias(f"{name}@2", "champion", reason="better on march")
    return name


def test_sdk_lists_filters_pages_and_verifies(mode: str, model: LogisticRegression) -> None:
    name = _register(model)
    found = audit_log(kind="model", name=name)
    assert [e.action for e in found][-2:] == ["registered", "registered"]
    alias = found[0]
    assert alias.version == 2 and alias.reason == "better on march"
    assert alias.target == f"model:{name}@2" and alias.after is not None
    if mode == "remote":  # the server names where the change came from
        assert alias.origin == "http 127.0.0.1"
    first = audit_log(kind="model", name=name, limit=1)
    rest = audit_log(kind="model", name=name, after=first[0].seq)
    assert [e.seq for e in first + rest] == [e.seq for e in found]
    assert audit_log(kind="model", name=name, version=1)[0].action == "registered"
    assert len(audit_log(kind="model", name=name, limit=5000)) == 3  # pages of 1,000 remotely
    report = verify_audit()
    assert report.ok and report.entries >= 3 and report.head_hash == audit_log(limit=1)[0].hash
    assert verify_audit(head=found[0].hash).ok
    with pytest.raises(InvalidInput, match="limit"):
        audit_log(limit=0)
    with pytest.raises(InvalidInput, match="head"):
        verify_audit(head="not-a-hash")


def test_cli_list_verify_head_and_tampering(home: Path, model: LogisticRegression) -> None:
    name = _register(model)
    listed = runner.invoke(app, ["audit", "list", "--model", name, "--json"])
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.output)
    assert [e["action"] for e in entries][-1] == "registered" and len(entries) == 3
    table = runner.invoke(app, ["audit", "list", "--model", name, "--limit", "2"])
    assert "better on march" in table.output and "More: --after" in table.output
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact: 3 entries" in ok.output
    head = runner.invoke(app, ["audit", "head"])
    assert head.output.split() == ["3", entries[0]["hash"]]
    with sqlite3.connect(home / "shipyard.db") as conn:
        conn.execute("update audit_log set actor = 'mallory' where seq = 2")
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "BROKEN at entry 2 (edited)" in broken.output.replace("\n", " ")


def test_rest_api_pages_with_tokens(remote: str, model: LogisticRegression) -> None:
    name = _register(model)
    with httpx.Client(base_url=remote) as client:
        first = client.get("/api/audit", params={"kind": "model", "name": name, "page_size": 2})
        assert first.status_code == 200
        page = first.json()
        assert len(page["items"]) == 2 and page["items"][0]["at"].endswith("+00:00")
        token = page["next_page_token"]
        params = {"kind": "model", "name": name, "page_size": 2, "page_token": token}
        second = client.get("/api/audit", params=params).json()
        assert [e["action"] for e in second["items"]] == ["registered"]
        assert second["next_page_token"] is None
        params["kind"] = "dataset"  # a token from another query is refused
        assert client.get("/api/audit", params=params).status_code == 422
        verdict = client.get("/api/audit/verify").json()
        assert verdict["ok"] is True and verdict["broken"] is None
        bad = client.get("/api/audit/verify", params={"head": "zz"})
        assert bad.status_code == 422 and "head" in bad.json()["error"]


def test_signed_in_caller_and_address_are_recorded(home: Path) -> None:
    from shipyard import server, serving

    server.create_user("boss", "admin")
    server.create_user("ed", "editor")
    boss, ed = server.create_token("boss"), server.create_token("ed")
    with serving.background(server.create_app(auth=True)) as url, httpx.Client(base_url=url) as c:
        made = c.post("/api/keys", json={"name": "ci"}, headers={"authorization": f"Bearer {boss}"})
        assert made.status_code == 201, made.text
        refused = c.get("/api/audit", headers={"authorization": f"Bearer {ed}"})
        assert refused.status_code == 403  # the log is the admin's
        listed = c.get(
            "/api/audit", params={"kind": "key"}, headers={"authorization": f"Bearer {boss}"}
        )
    entry = listed.json()["items"][0]
    assert (entry["action"], entry["name"]) == ("created", "ci")
    assert (entry["actor"], entry["origin"]) == ("user:boss", "http 127.0.0.1")
