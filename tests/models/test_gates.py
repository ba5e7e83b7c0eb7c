"""Promotion gates: each gate's verdict, promote and set_alias refusing a protected target
with the failed gates, force with a reason (override evidence and audit entry), approvals,
and the move's transaction refusing when the policy or holder moved meanwhile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import text

import shipyard as sy
from shipyard.errors import Conflict, InvalidInput
from shipyard.models import GatesFailed, Policy
from shipyard.models._api import _store
from shipyard.models._policy_rows import Move
from shipyard.models._promote import _exact
from shipyard.store import default_database


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    return x.assign(label=(x["a"] + 0.3 * rng.normal(size=200) > 0).astype(int))


def _setup() -> tuple[str, str, str]:
    """loans@1, and churn@1 (good, champion) and churn@2 (weak: it sees only noise)."""
    frame = _frame()
    data = sy.data.register("loans", frame)
    x, y = frame[["a", "b"]], frame["label"]
    good = sy.models.register(
        "churn", LogisticRegression().fit(x, y), X=x, y=y, datasets=[data.ref],
        metrics={"auc": 0.95}, aliases=["champion"],
    )  # fmt: skip
    noise = pd.DataFrame({"a": np.zeros(200), "b": x["b"]})
    weak = sy.models.register(
        "churn", LogisticRegression().fit(noise, y), X=x, y=y, metrics={"auc": 0.55}
    )
    return data.ref, good.ref, weak.ref


def _audit(action: str) -> list[tuple[str, str | None]]:
    with default_database().read() as conn:
        rows = conn.execute(
            text("SELECT name, reason FROM audit_log WHERE action = :a ORDER BY seq"), {"a": action}
        ).all()
    return [(r.name, r.reason) for r in rows]


def test_a_protected_alias_needs_the_gates_and_force_needs_a_reason(backend: str) -> None:
    _, good, weak = _setup()
    sy.models.set_policy("churn", Policy(min_metric={"auc": 0.8}, approval="editor"))
    report = sy.models.check(weak, "champion")
    assert (report.protected, report.passed, report.holder) == (True, False, good)
    assert [(r.name, r.passed) for r in report.results] == [
        ("min_metric.auc", False),
        ("approval", False),
    ]
    with pytest.raises(GatesFailed) as caught:
        sy.models.set_alias(weak, "champion")
    message = str(caught.value)
    assert "2 of 2 gates failed: min_metric.auc: 0.55 < 0.8; approval: no approval" in message
    assert "\n" not in message and caught.value.http_status == 409
    assert sy.models.get("churn@champion").ref == good  # nothing moved
    with pytest.raises(InvalidInput, match="reason: overriding the gates"):
        sy.models.set_alias(weak, "champion", force=True)
    with pytest.raises(InvalidInput, match="force: expected true or false"):
        sy.models.promote(weak, "production", force="yes", reason="x")  # type: ignore[arg-type]
    assert sy.models.set_alias(weak, "challenger").aliases == ("challenger",)  # unprotected
    assert sy.models.promote(weak, "staging").stage == "staging"
    moved = sy.models.set_alias(weak, "champion", force=True, reason="incident 42")
    assert "champion" in moved.aliases
    override = sy.models.evidence(weak, "override")[0]
    assert override.data == {
        "to": "champion", "failed": ["min_metric.auc", "approval"], "reason": "incident 42",
        "policy_version": 1,
    }  # fmt: skip
    assert _audit("gates-overridden") == [("churn", "incident 42")]
    with pytest.raises(GatesFailed, match="churn@2 for production"):
        sy.models.promote(weak, "production")


def test_without_a_policy_moves_are_as_before(home: Path) -> None:
    _, good, weak = _setup()
    assert sy.models.check(weak, "champion").summary() == "churn@2: no policy, nothing to check."
    assert sy.models.set_alias(weak, "champion").ref == weak
    assert sy.models.promote(good, "production").stage == "production"


def test_each_gate_passes_on_its_evidence(home: Path) -> None:
    data, good, weak = _setup()
    policy = Policy(
        min_metric={"auc": 0.9}, max_metric={"auc": 0.99},
        max_disparity={"demographic_parity_difference": 0.1},
        explanation=True, data_validated=True, card_complete=True, approval="editor",
    )  # fmt: skip
    sy.models.set_policy("churn", policy)
    before = {r.name: r for r in sy.models.check(good).results}
    assert before["max_disparity.demographic_parity_difference"].detail == (
        "no fairness report recorded"
    )
    assert before["explanation"].detail == "no explanation recorded"
    assert before["data_validated"].passed and data in before["data_validated"].detail
    assert before["card_complete"].detail == "missing intended_use and limitations"
    assert not sy.models.check(weak).results[-3].passed  # weak: no training dataset
    sy.models.record_evidence(
        good, "fairness", {"disparities": {"demographic_parity_difference": 0.04}}
    )
    sy.models.record_evidence(good, "explanation", {"method": "linear", "rows": 200})
    sy.models.record_evidence(good, "card", {"intended_use": "churn", "limitations": " "})
    sy.models.record_evidence(good, "approval", {"role": "viewer", "for": None})
    sy.models.approve(weak)  # another version's approval does not count
    mid = {r.name: r for r in sy.models.check(good, "champion").results}
    assert mid["card_complete"].detail == "missing limitations"
    assert mid["approval"].detail == "no approval by editor or higher"
    sy.models.record_evidence(good, "card", {"intended_use": "churn", "limitations": "EU only"})
    sy.models.approve(good, comment="looks fine", for_="staging")  # for another target
    assert not sy.models.check(good, "champion").passed
    sy.models.approve(good, for_="champion")
    report = sy.models.check(good, "champion")
    assert report.passed, report.summary()
    assert report.summary() == "churn@1 for champion: all 7 gates passed."
    sy.models.record_evidence(
        good, "fairness", {"disparities": {"demographic_parity_difference": 0.3}}
    )
    failed = sy.models.check(good, "champion").failed
    assert [(r.name, r.detail) for r in failed] == [
        ("max_disparity.demographic_parity_difference", "0.3 > 0.1")
    ]


def test_max_drop_scores_both_on_the_same_data_once(home: Path) -> None:
    data, good, weak = _setup()
    sy.models.set_policy(
        "churn",
        {"gates": {"max_drop": {"metric": "auc", "by": 0.05, "data": data, "target": "label"}}},
    )
    report = sy.models.check(weak, "champion")
    (result,) = report.results
    assert (
        not result.passed
        and f"against {good}'s" in result.detail
        and "beyond 0.05" in result.detail
    )
    mine = sy.models.evidence(weak, "evaluation")[0].data
    metric = mine["metrics"]["auc"]
    assert mine["data"] == data and mine["rows"] == 200
    assert metric["low"] <= metric["value"] <= metric["high"]
    sy.models.check(weak, "champion")  # reuses both records
    assert len(sy.models.evidence(weak, "evaluation")) == 1
    assert len(sy.models.evidence(good, "evaluation")) == 1
    assert sy.models.check(good, "champion").results[0].detail.endswith("it holds it already")
    sy.models.set_policy(
        "churn",
        {"gates": {"max_drop": {"metric": "auc", "by": 0.05, "data": data, "target": "nope"}}},
    )
    with pytest.raises(InvalidInput, match=r"max_drop\.target: .nope. is not a column of loans@1"):
        sy.models.check(weak, "champion")


def test_the_move_refuses_when_the_policy_or_holder_moved_meanwhile(backend: str) -> None:
    _, good, weak = _setup()
    sy.models.set_policy("churn", Policy())
    store = _store()
    holder = sy.models.get(good).id
    stale = Move("alias", "champion", None, None, checked=True, policy_version=1, holder=holder,
                 guard_holder=True)  # fmt: skip
    sy.models.set_policy("churn", Policy(approval="admin"))
    with pytest.raises(Conflict, match="its policy changed while the gates were checked"):
        store.move(_exact(sy.models.get(weak)), stale)
    moved = Move("alias", "champion", None, None, checked=True, policy_version=2, holder=None,
                 guard_holder=True)  # fmt: skip
    with pytest.raises(Conflict, match="champion moved to another version"):
        store.move(_exact(sy.models.get(weak)), moved)
    assert sy.models.get("churn@champion").ref == good


def test_a_new_version_cannot_take_a_protected_alias_at_registration(home: Path) -> None:
    _setup()
    sy.models.set_policy("churn", Policy(protect=("champion", "production")))
    frame = _frame(1)
    model = LogisticRegression().fit(frame[["a", "b"]], frame["label"])
    with pytest.raises(Conflict, match="aliases: champion, production of model 'churn'"):
        sy.models.register("churn", model, aliases=["champion"], stage="production")
    assert [v.version for v in sy.models.versions("churn")] == [2, 1]
    assert sy.models.register("churn", model, aliases=["challenger"]).version == 3
