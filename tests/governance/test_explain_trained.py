"""Models ``sy.train`` builds (preprocessing inside a Pipeline) explained per input column,
and ``result.register`` recording the global explanation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import shipyard as sy
from shipyard.data import make_loans
from shipyard.governance._explain_methods import shap_module, source_map

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


def test_one_hot_columns_sum_back_to_their_source(store: Path) -> None:
    frame = make_loans(600, seed=2)[[*FEATURES, "default"]]
    result = sy.train("linear", data=frame, target="default", preprocess="onehot", seed=1)
    version = result.register("loans-linear")
    recorded = sy.governance.explanation(version.ref)
    assert recorded is not None and recorded.method == "linear" and recorded.data == "sample"
    assert recorded.permutation is not None and recorded.scoring == "accuracy"
    assert set(recorded.features) == set(FEATURES)

    rows = frame[FEATURES].head(5)
    e = sy.explain(version.ref, rows)
    pipeline = result.model
    pre, estimator = pipeline[:-1], pipeline[-1]
    names = list(pre.get_feature_names_out())
    assert len(names) > len(FEATURES)  # region is one-hot encoded
    owners = source_map(names, e.features)
    assert owners is not None
    background = sy.models.sample(version.ref)[e.features]
    shap = shap_module()
    masker = shap.maskers.Independent(pre.transform(background), max_samples=100)
    encoded = shap.LinearExplainer(estimator, masker)(pre.transform(rows)).values
    for i in range(len(e.features)):
        columns = [j for j, owner in enumerate(owners) if owner == i]
        np.testing.assert_allclose(e.values[:, i], encoded[:, columns].sum(axis=1), atol=1e-9)
    p = pipeline.predict_proba(rows)[:, 1]
    total = e.values.sum(axis=1) + e.base_value
    np.testing.assert_allclose(total, np.log(p / (1 - p)), atol=1e-6)


def test_source_map_names_each_encoded_column_s_input() -> None:
    inputs = ["age", "region", "region_code", "applied_at"]
    names = [
        "num__age",
        "missingindicator_age",
        "region_north",
        "region_code_7",
        "applied_at_year",
        "cat__region_south",
    ]
    assert source_map(names, inputs) == [0, 0, 1, 2, 3, 1]
    assert source_map(["mystery"], inputs) is None


@pytest.mark.parametrize("family", ["random_forest", "hist_gradient_boosting"])
def test_tree_families_add_up_through_their_preprocessing(store: Path, family: str) -> None:
    frame = make_loans(400, seed=3)[[*FEATURES, "default"]]
    result = sy.train(family, data=frame, target="default", seed=1)
    version = sy.models.register(f"loans-{family.replace('_', '-')}", result)
    rows = frame[FEATURES].head(4)
    e = sy.explain(version.ref, rows)
    assert e.method == "tree" and e.features == FEATURES
    p = result.model.predict_proba(rows)[:, 1]
    want = p if e.output == "probability" else np.log(p / (1 - p))
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_value, want, atol=1e-6)
