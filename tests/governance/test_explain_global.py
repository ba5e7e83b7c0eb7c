"""Global explanations: mean |SHAP| and permutation importance, recorded as evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.errors import InvalidInput
from shipyard.governance._explain_methods import shap_module

SEED = 3


def frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["tenure", "usage", "noise"])
    X["plan"] = rng.choice(["basic", "pro", "team"], size=n)
    logit = 2 * X["tenure"] - X["usage"] + (X["plan"] == "pro") * 1.5
    X["churned"] = (logit + rng.normal(scale=0.3, size=n) > 0).astype(int)
    return X


@pytest.fixture(scope="module")
def model(store: Path) -> tuple[str, pd.DataFrame, object]:
    import lightgbm as lgb

    data = frame()
    X = data.drop(columns="churned").astype({"plan": "category"})
    booster = lgb.LGBMClassifier(n_estimators=25, n_jobs=1, verbose=-1, random_state=SEED)
    booster.fit(X, data["churned"])
    version = sy.models.register("churn", booster, X=X, y=data["churned"])
    return version.ref, X, booster


def test_global_explanation_is_recorded_and_equals_shap(model: tuple) -> None:
    ref, X, booster = model
    assert sy.governance.explanation(ref) is None
    result = sy.governance.explain_global(ref)
    assert result.data == "sample" and result.rows == len(X) and result.scoring == "accuracy"
    sample = sy.models.sample(ref)[list(X.columns)].astype({"plan": X["plan"].dtype})
    expected = np.abs(shap_module().TreeExplainer(booster)(sample).values).mean(axis=0)
    got = [result.mean_abs_shap[c] for c in X.columns]
    np.testing.assert_allclose(got, expected, atol=1e-9)
    assert result.top(1)[0][0] == "tenure"
    assert result.permutation is not None
    assert result.permutation["tenure"]["mean"] > result.permutation["noise"]["mean"]
    assert len(result.sample["shap"]) == 200 and len(result.sample["values"][0]) == 4
    recorded = sy.governance.explanation(ref)
    assert recorded is not None and recorded.to_dict() == result.to_dict()
    assert sy.models.evidence(ref, "explanation")[0].data["method"] == "tree"
    assert result.figure()["data"][0]["y"][-1] == "tenure"


def test_on_a_dataset_version_with_its_target(model: tuple) -> None:
    ref, _, _ = model
    sy.data.register("churn-eval", frame(300).astype({"plan": "category"}))
    result = sy.governance.explain_global(ref, "churn-eval@1", target="churned", rows=100)
    assert result.data == "churn-eval@1" and result.rows == 100
    assert result.permutation is not None and set(result.permutation) == {
        "tenure", "usage", "noise", "plan"
    }  # fmt: skip


def test_bad_arguments_are_refused_in_one_line(model: tuple) -> None:
    ref, _, _ = model
    with pytest.raises(InvalidInput, match="target: the data has no column 'nope'"):
        sy.governance.explain_global(ref, "churn-eval@1", target="nope")
    with pytest.raises(InvalidInput, match="rows: expected a positive integer"):
        sy.governance.explain_global(ref, rows=0)
    with pytest.raises(InvalidInput, match="data: expected a dataset version"):
        sy.governance.explain_global(ref, 42)
