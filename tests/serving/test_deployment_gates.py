"""Deployments' promotion and a canary's self-promotion check the promotion policy of the
model version they put on all traffic: a promote is refused (nothing moves), a canary holds
at its split and records why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.models import GatesFailed, Policy
from shipyard.serving import deployments


def _two_versions() -> None:
    x = pd.DataFrame({"a": np.random.default_rng(0).normal(size=40)})
    y = x["a"] > 0
    for auc in (0.95, 0.6):
        sy.models.register("churn", LogisticRegression().fit(x, y), X=x, metrics={"auc": auc})


def test_promote_refuses_a_version_the_policy_refuses(home: Path) -> None:
    _two_versions()
    deployments.create("d", {"a": "churn@1", "b": "churn@2"}, split={"a": 100, "b": 0})
    sy.models.set_policy("churn", Policy(min_metric={"auc": 0.9}))
    with pytest.raises(GatesFailed) as caught:
        deployments.promote("d", "b", reason="try")
    assert str(caught.value).startswith(
        "Deployment 'd' route 'b': churn@2 for production: 1 of 1 gates failed: "
        "min_metric.auc: 0.6 < 0.9"
    )
    assert deployments.get("d").split == {"a": 100.0, "b": 0.0}
    assert deployments.promote("d", "a").split == {"a": 100.0, "b": 0.0}  # churn@1 passes
    sy.models.promote("churn@2", "production", force=True, reason="vendor model, signed off")
    assert deployments.promote("d", "b").split == {"a": 0.0, "b": 100.0}  # overridden
    deployments.promote("d", "a")
    sy.models.set_policy("churn", Policy(protect=("champion",), min_metric={"auc": 0.9}))
    assert deployments.promote("d", "b").split == {"a": 0.0, "b": 100.0}  # not protected


def test_a_canary_holds_instead_of_promoting_a_refused_version(home: Path) -> None:
    _two_versions()
    made = deployments.create(
        "c", {"base": "churn@1", "new": "churn@2"}, policy="canary", baseline="base",
        candidate="new",
    )  # fmt: skip
    sy.models.set_policy("churn", Policy(min_metric={"auc": 0.9}))
    store = deployments.default_store()
    promoted = {**made.policy, "status": "promoted", "step": len(made.policy["steps"]) - 1}
    decided = store.record_decision(
        "c", made.revision, promoted, {"base": 0.0, "new": 100.0}, "canary-promoted",
        {"why": "nothing significantly worse"}, made.id,
    )  # fmt: skip
    assert decided is not None
    assert decided.policy["status"] == "held" and decided.split == made.split
    event = deployments.history("c")[0]
    assert event.kind == "canary-held"
    assert event.detail["evidence"]["gates"]["failed"][0]["name"] == "min_metric.auc"
    assert "held, not promoted: churn@2 for production" in event.detail["evidence"]["why"]
    sy.models.set_policy("churn", Policy(min_metric={"auc": 0.5}))
    again = deployments.get("c")
    running = {**again.policy, "status": "promoted"}
    done = store.record_decision(
        "c", again.revision, running, {"base": 0.0, "new": 100.0}, "canary-promoted", {}, again.id
    )
    assert done is not None and done.policy["status"] == "promoted"
    assert done.split == {"base": 0.0, "new": 100.0}
