"""No way around a deployment's promotion gates: creating a deployment, pointing a route at
another version or replacing its policy cannot give a version the policy refuses the
majority of production traffic (a canary's small share stays allowed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.errors import InvalidInput
from shipyard.models import GatesFailed, Policy
from shipyard.serving import deployments


def test_no_route_change_gives_a_refused_version_the_majority(home: Path) -> None:
    x = pd.DataFrame({"a": np.random.default_rng(0).normal(size=40)})
    y = x["a"] > 0
    for auc in (0.95, 0.6):
        sy.models.register("churn", LogisticRegression().fit(x, y), X=x, metrics={"auc": auc})
    sy.models.set_policy("churn", Policy(min_metric={"auc": 0.9}))
    with pytest.raises(GatesFailed, match="route 'a' would serve 100% of traffic: churn@2"):
        deployments.create("d", {"a": "churn@2"})
    made = deployments.create("d", {"a": "churn@1", "b": "churn@2"}, split={"a": 100, "b": 0})
    with pytest.raises(GatesFailed, match="route 'a' would serve 100% of traffic"):
        deployments.set_route("d", "a", "churn@2")
    with pytest.raises(GatesFailed, match="route 'b' would serve 100% of traffic"):
        deployments.set_policy("d", "fixed", split={"a": 0, "b": 100})
    assert deployments.get("d").revision == made.revision
    deployments.set_route("d", "b", "churn@2")  # no traffic: allowed
    canary = deployments.create(
        "c", {"base": "churn@1", "new": "churn@2"}, policy="canary", baseline="base",
        candidate="new",
    )  # fmt: skip
    assert canary.split["new"] < 50


def test_a_posted_decision_cannot_give_a_refused_version_the_majority(home: Path) -> None:
    x = pd.DataFrame({"a": np.random.default_rng(0).normal(size=40)})
    y = x["a"] > 0
    for auc in (0.95, 0.6):
        sy.models.register("churn", LogisticRegression().fit(x, y), X=x, metrics={"auc": auc})
    made = deployments.create(
        "c", {"base": "churn@1", "new": "churn@2"}, policy="canary", baseline="base",
        candidate="new",
    )  # fmt: skip
    sy.models.set_policy("churn", Policy(min_metric={"auc": 0.9}))
    store = deployments.default_store()
    decided = store.record_decision(
        "c", made.revision, made.policy, {"base": 0.0, "new": 100.0}, "canary-step",
        {"why": "a client says so"}, made.id,
    )  # fmt: skip
    assert decided is not None and decided.split == made.split
    event = deployments.history("c")[0]
    assert event.kind == "canary-held" and "given the majority" in event.detail["evidence"]["why"]
    half = store.record_decision(
        "c", decided.revision, made.policy, {"base": 50.0, "new": 50.0}, "canary-step", {},
        made.id,
    )  # fmt: skip
    assert half is not None and half.split == {"base": 50.0, "new": 50.0}  # not the majority


def test_a_promotion_decision_without_its_candidate_is_a_one_line_error(home: Path) -> None:
    x = pd.DataFrame({"a": np.random.default_rng(0).normal(size=40)})
    sy.models.register("churn", LogisticRegression().fit(x, x["a"] > 0), X=x)
    made = deployments.create("d", {"a": "churn@1", "b": "churn@1"}, split={"a": 100, "b": 0})
    with pytest.raises(InvalidInput, match=r"^policy\.candidate: a canary-promoted decision"):
        deployments.default_store().record_decision(
            "d", made.revision, {"kind": "fixed"}, {"a": 0.0, "b": 100.0}, "canary-promoted", {}
        )
    assert deployments.get("d").revision == made.revision
