"""The retraining pipeline's gate step applies the model's promotion policy to the holdout
scores (its metric gates), beside its own tolerance and gate functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.pipelines._retraining_steps import GateBlocked, _gate


def _evaluation(candidate: float, champion: float) -> dict[str, Any]:
    return {
        "metric": "auc",
        "higher_is_better": True,
        "candidate": {"auc": candidate, "accuracy": 0.8},
        "champion": {"auc": champion, "accuracy": 0.8},
        "champion_ref": "churn@1",
        "holdout_rows": 100,
        "dataset": "loans@2",
        "task": "binary",
    }


def test_the_gate_step_applies_the_models_policy(home: Path) -> None:
    x = pd.DataFrame({"a": np.random.default_rng(0).normal(size=40)})
    sy.models.register("churn", LogisticRegression().fit(x, x["a"] > 0), X=x)
    passed = _gate(_evaluation(0.85, 0.86), 0.05, (), "d")  # no policy: the tolerance only
    assert passed["policy"] == {"version": None, "passed": True, "failed": []}
    sy.models.set_policy(
        "churn",
        {"gates": {"min_metric": {"auc": 0.9}, "max_metric": {"holdout_accuracy": 0.9},
                   "max_drop": {"metric": "auc", "by": 0.005, "data": "loans@1",
                                "target": "y"}}},
    )  # fmt: skip
    with pytest.raises(GateBlocked) as caught:
        _gate(_evaluation(0.85, 0.86), 0.05, (), "d")
    message = str(caught.value)
    assert "policy gate min_metric.auc: 0.85 < 0.9" in message
    assert "policy gate max_drop: auc 0.85 against 0.86: a change of -0.01" in message
    assert "max_metric" not in message  # holdout_accuracy 0.8 <= 0.9
    sy.models.set_policy("churn", {"gates": {"min_metric": {"auc": 0.8}}})
    assert _gate(_evaluation(0.85, 0.86), 0.05, (), "d")["policy"]["passed"] is True
