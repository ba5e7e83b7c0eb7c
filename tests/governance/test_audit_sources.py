"""Each kind of state change appends its audit entry, in its own transaction: deployments,
API keys, users and tokens, datasets, models, monitors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard import monitoring, server, serving
from shipyard.governance import audit_log, verify_audit
from shipyard.serving import deployments


def _actions(kind: str, name: str) -> list[str]:
    return [e.action for e in reversed(audit_log(kind=kind, name=name))]


def test_every_capability_appends_to_one_chain(home: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    frame["y"] = (frame["a"] > 0).astype(int)
    sy.data.register("loans", frame)
    sy.data.set_alias("loans@1", "train")
    model = LogisticRegression().fit(frame[["a", "b"]], frame["y"])
    sy.models.register("churn", model, X=frame[["a", "b"]])
    deployments.create("api", {"main": "churn@1"})
    deployments.set_route("api", "main", "churn@1", reason="same again")
    deployments.delete("api")
    serving.create_key("ci", ["predict"])
    serving.revoke_key("ci")
    server.create_user("ann", "editor")
    token = server.create_token("ann")
    server.revoke_token(token[:12])
    server.disable_user("ann")
    monitoring.create_monitor("drift", dataset="loans", reference="loans@1")
    monitoring.delete_monitor("drift")
    sy.models.delete_model("churn")

    assert _actions("dataset", "loans") == ["registered", "alias"]
    assert _actions("deployment", "api") == ["created", "route", "deleted"]
    assert _actions("key", "ci") == ["created", "revoked"]
    assert _actions("user", "ann") == [
        "created", "token-created", "token-revoked", "disabled",
    ]  # fmt: skip
    assert _actions("monitor", "drift") == ["created", "deleted"]
    assert _actions("model", "churn")[-1] == "model-deleted"
    route = audit_log(kind="deployment", name="api", limit=2)[1]
    assert route.reason == "same again" and route.after is not None
    report = verify_audit()
    assert report.ok and report.entries == report.head_seq >= 14
