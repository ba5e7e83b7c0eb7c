"""The catboost, extra_trees and knn families (their ONNX export, for every task, is in
tests/models/test_onnx_families.py): CatBoost stops at a deadline, reads category columns
natively, registers without trust (skops) and is explained by its own TreeSHAP."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline

import shipyard as sy
from shipyard.automl import FAMILIES, estimator
from shipyard.automl._families import FAMILY_TABLE, family_of, installed
from shipyard.automl._family import Family
from shipyard.automl._fitting import fit_within
from shipyard.data import make_loans
from shipyard.errors import ShipyardError

DROP = ["application_id"]
TARGETS = {"classification": "default", "regression": "income"}


def _catboost() -> None:
    pytest.importorskip("catboost")


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(300, seed=1)


def test_catboost_stops_at_its_deadline() -> None:
    _catboost()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 8))
    y = np.where(X[:, 0] + rng.normal(size=2000) > 0, "yes", "no")
    model = estimator("catboost", "classification").set_params(iterations=100_000)
    pipeline = Pipeline([("model", model)])
    started = time.time()
    assert fit_within(pipeline, X, y, deadline=started + 1.0) == "deadline"
    assert time.time() - started < 1.0 + 2.0  # the slack is for a loaded machine
    assert 0 < model.tree_count_ < 100_000
    assert set(pipeline.predict(X)) == {"no", "yes"}


def test_catboost_reads_category_columns_natively_and_keeps_them_off_onnx(
    home: Path, loans: pd.DataFrame
) -> None:
    _catboost()
    model = estimator("catboost", "classification").set_params(iterations=30)
    result = sy.train(model, data=loans, target="default", drop=DROP, seed=0)
    step = result.model[-1]
    categories = ["gender", "education", "home_ownership", "purpose", "region"]
    assert step.cat_features == categories and len(step.categorical_) == len(categories)
    version = sy.models.register("native-categories", result)
    assert version.flavor_meta["format"] == "skops"  # the model as bytes: no trust asked
    rows = make_loans(20, seed=7)
    assert list(sy.models.load(version.ref).predict(rows)) == list(result.model.predict(rows))

    with pytest.raises(ShipyardError, match="no category features") as refused:
        sy.models.export(version.ref, "onnx")
    assert "\n" not in str(refused.value)


def test_a_bare_catboost_step_takes_a_frame_with_text_and_missing_categories() -> None:
    _catboost()
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=300), "city": rng.choice(["a", "b", "c"], 300)})
    X.loc[::10, "city"] = None  # a missing category is a category of its own
    y = (X["city"].eq("a") ^ (X["x"] > 1)).astype(int)
    model = estimator("catboost", "classification").set_params(iterations=50).fit(X, y)
    assert model.categorical_ == [1]
    assert (model.predict(X) == y).mean() > 0.9


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_catboost_is_explained_by_its_own_tree_shap(
    home: Path, loans: pd.DataFrame, task: str
) -> None:
    _catboost()
    model = estimator("catboost", task).set_params(iterations=30)
    result = sy.train(model, data=loans, target=TARGETS[task], drop=DROP, seed=0)
    version = sy.models.register(f"explained-{task}", result)
    rows = make_loans(5, seed=7)[result.features]

    e = sy.explain(version.ref, rows)

    assert e.method == "tree"
    total = e.values.sum(axis=1) + e.base_value
    if task == "classification":
        p = result.model.predict_proba(rows)[:, 1]
        np.testing.assert_allclose(total, np.log(p / (1 - p)), atol=1e-5)
    else:
        np.testing.assert_allclose(total, result.model.predict(rows), rtol=1e-5)


def test_extra_trees_are_their_own_family_and_knn_is_for_small_data() -> None:
    assert family_of(ExtraTreesClassifier()) is FAMILY_TABLE["extra_trees"]
    assert family_of(RandomForestClassifier()) is FAMILY_TABLE["random_forest"]
    assert FAMILY_TABLE["knn"].max_rows == 20_000
    assert {"extra_trees", "knn"} <= set(FAMILIES)
    for name in ("catboost", "extra_trees", "knn"):
        for task in ("classification", "regression"):
            assert FAMILY_TABLE[name].portfolio(task), f"{name}: a portfolio"


def test_a_family_whose_package_is_missing_is_not_searched_by_default() -> None:
    missing = Family("ghost", lambda task, seed: None, needs=("no_such_package_here",))
    assert not installed(missing)
    assert installed(FAMILY_TABLE["knn"])
    assert ("catboost" in FAMILIES) == installed(FAMILY_TABLE["catboost"])
