"""Policies, gate checks, approvals and overrides over HTTP: remote mode's SDK through a
real platform server, and the roles a server with auth asks for each."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard import server, serving
from shipyard.errors import InvalidInput
from shipyard.models import GatesFailed, Policy
from shipyard.server import create_app


def _register(name: str) -> str:
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.normal(size=50)})
    y = (x["a"] > 0).astype(int)
    return sy.models.register(name, LogisticRegression().fit(x, y), X=x, metrics={"auc": 0.9}).ref


def test_remote_mode_checks_the_gates_on_the_server(remote: str) -> None:
    ref = _register("remote-churn")
    made = sy.models.set_policy(
        "remote-churn", "protect: [champion]\ngates: {min_metric: {auc: 0.8}, approval: admin}"
    )
    assert made.version == 1 and made.source is not None
    assert sy.models.policy("remote-churn") == made
    assert [p.version for p in sy.models.policies("remote-churn")] == [1]
    report = sy.models.check(ref, "champion")
    assert [(r.name, r.passed) for r in report.results] == [
        ("min_metric.auc", True),
        ("approval", False),
    ]
    with pytest.raises(GatesFailed, match="1 of 2 gates failed: approval"):
        sy.models.set_alias(ref, "champion")
    with pytest.raises(InvalidInput, match="reason: overriding"):
        sy.models.set_alias(ref, "champion", force=True)
    with pytest.raises(InvalidInput, match=r"policy\.gates\.approval"):
        sy.models.set_policy("remote-churn", {"gates": {"approval": "boss"}})
    approval = sy.models.approve(ref, comment="ok", for_="champion")
    assert approval.data == {"role": "admin", "comment": "ok", "for": "champion"}
    assert sy.models.set_alias(ref, "champion").aliases == ("champion",)
    assert sy.models.promote(ref, "production").stage == "production"  # not protected


def test_roles_for_policies_approvals_and_overrides(home: Path) -> None:
    ref = _register("churn")
    sy.models.set_policy("churn", Policy(approval="editor"))
    tokens = {}
    for role in ("viewer", "editor", "admin"):
        server.create_user(f"the-{role}", role)
        tokens[role] = server.create_token(f"the-{role}")
    with serving.background(create_app(auth=True)) as url:

        def call(role: str, method: str, path: str, **body: object) -> httpx.Response:
            headers = {"authorization": f"Bearer {tokens[role]}"}
            return httpx.request(method, f"{url}/api/models/churn{path}", headers=headers,
                                 json=body if method != "GET" else None, timeout=30)  # fmt: skip

        assert call("editor", "PUT", "/policy", policy={"gates": {}}).status_code == 403
        bad = call("admin", "PUT", "/policy", policy={"gates": {"approval": 1}})
        assert bad.status_code == 422 and "policy.gates.approval" in bad.json()["error"]
        assert call("viewer", "GET", "/policies").json()["items"][0]["version"] == 1
        assert call("viewer", "GET", "/versions/1/gates").status_code == 403
        refused = call("editor", "POST", "/aliases/champion", version=1)
        assert (
            refused.status_code == 409
            and "approval: no approval by editor" in (refused.json()["error"])
        )
        forced = call("editor", "POST", "/aliases/champion", version=1, force=True, reason="x")
        assert forced.status_code == 403 and "needs the admin role" in forced.json()["error"]
        viewer = call("viewer", "POST", "/versions/1/approvals", comment="me too")
        assert viewer.status_code == 201 and viewer.json()["data"]["role"] == "viewer"
        gates = call("editor", "GET", "/versions/1/gates?to=champion").json()
        assert gates["passed"] is False
        editor = call("editor", "POST", "/versions/1/approvals", **{"for": "champion"})
        assert editor.json()["created_by"] == "user:the-editor"
        assert call("editor", "POST", "/aliases/champion", version=1).status_code == 200
        admin = call("admin", "POST", "/versions/1/stage", stage="production", force=True,
                     reason="weekend fix")  # fmt: skip
        assert admin.status_code == 200  # the editor approved it for champion only
    assert sy.models.get("churn@production").ref == ref
    (override,) = sy.models.evidence(ref, "override")
    assert override.created_by == "user:the-admin"
    assert override.data["failed"] == ["approval"] and override.data["to"] == "production"
