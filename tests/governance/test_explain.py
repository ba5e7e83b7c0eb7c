"""Local explanations equal the ``shap`` library's and add up to the model's output."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.errors import InvalidInput
from shipyard.governance._explain_methods import shap_module

shap = shap_module()

SEED = 7


def numbers(n: int = 300, classes: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(SEED)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["age", "income", "debt", "score"])
    z = X["age"] - 0.5 * X["income"] + 0.3 * X["debt"] * X["score"]
    y = np.digitize(z, np.quantile(z, np.linspace(0, 1, classes + 1)[1:-1]))
    return X, y


def silent(function: Any, *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args)


def check_additive(e: sy.governance.Explanation, output: np.ndarray) -> None:
    np.testing.assert_allclose(e.values.sum(axis=1) + np.asarray(e.base_value), output, atol=1e-6)
    np.testing.assert_allclose(e.prediction, output, atol=1e-6)


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_lightgbm_equals_shap_and_adds_up(store: Path) -> None:
    import lightgbm as lgb

    X, y = numbers()
    model = lgb.LGBMClassifier(n_estimators=30, n_jobs=1, verbose=-1, random_state=SEED)
    model.fit(X, y)
    sy.models.register("lgb", model, X=X, y=y)
    rows = X.head(5)
    e = sy.explain("lgb@1", rows)
    expected = silent(shap.TreeExplainer(model).shap_values, rows)
    np.testing.assert_allclose(e.values, np.asarray(expected), atol=1e-9)
    assert (e.method, e.output, e.note) == ("tree", "log-odds", None)
    check_additive(e, logit(model.predict_proba(rows)[:, 1]))
    assert set(e.to_dict()["rows"][0]["contributions"]) == set(X.columns)


def test_xgboost_multiclass_equals_shap(store: Path) -> None:
    import xgboost as xgb

    X, y = numbers(classes=3)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1, random_state=SEED)
    model.fit(X, y)
    sy.models.register("xgb", model, X=X, y=y)
    rows = X.head(4)
    e = sy.explain("xgb@1", rows)
    expected = shap.TreeExplainer(model)(rows)
    np.testing.assert_allclose(e.values, expected.values, atol=1e-5)
    np.testing.assert_allclose(e.base_value, expected.base_values[0], atol=1e-5)
    assert e.values.shape == (4, 4, 3) and e.classes == [0, 1, 2]
    margin = model.predict(rows, output_margin=True)
    check_additive(e, margin)


def test_random_forest_explains_the_positive_probability(store: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = numbers()
    model = RandomForestClassifier(n_estimators=15, max_depth=5, random_state=SEED).fit(X, y)
    sy.models.register("forest", model, X=X, y=y)
    rows = X.head(5)
    e = sy.explain("forest@1", rows)
    expected = shap.TreeExplainer(model)(rows)
    np.testing.assert_allclose(e.values, expected.values[:, :, 1], atol=1e-9)
    assert e.output == "probability"
    check_additive(e, model.predict_proba(rows)[:, 1])


def test_logistic_pipeline_sums_one_hot_columns_back(store: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = numbers()
    X["region"] = np.where(X["age"] > 0.3, "north", np.where(X["debt"] > 0, "south", "east"))
    encode = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income", "debt", "score"]),
            ("cat", OneHotEncoder(sparse_output=False), ["region"]),
        ],
        verbose_feature_names_out=False,
    )
    model = make_pipeline(encode, LogisticRegression()).fit(X, y)
    sy.models.register("logit", model, X=X, y=y)
    rows = X.head(6)
    e = sy.explain("logit@1", rows)
    background = sy.models.sample("logit@1")[list(X.columns)]
    explainer = shap.LinearExplainer(
        model[-1], shap.maskers.Independent(model[:-1].transform(background), max_samples=100)
    )
    encoded = explainer(model[:-1].transform(rows)).values
    names = list(model[:-1].get_feature_names_out())
    region = [i for i, n in enumerate(names) if n.startswith("region_")]
    assert len(region) == 3
    np.testing.assert_allclose(e.values[:, 4], encoded[:, region].sum(axis=1), atol=1e-9)
    np.testing.assert_allclose(e.values[:, :4], encoded[:, :4], atol=1e-9)
    assert e.features == ["age", "income", "debt", "score", "region"]
    assert e.method == "linear"
    check_additive(e, logit(model.predict_proba(rows)[:, 1]))


class Scorer(sy.models.PythonModel):
    """A hand-written model: a logistic score of two columns."""

    def predict_proba(self, df: Any) -> np.ndarray:
        z = df["age"].to_numpy(np.float64) - 0.5 * df["income"].to_numpy(np.float64)
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    def predict(self, df: Any) -> np.ndarray:
        return (self.predict_proba(df)[:, 1] > 0.5).astype(np.int64)


def test_a_python_model_falls_back_to_a_model_agnostic_method(store: Path) -> None:
    X, y = numbers(n=120)
    sy.models.register("python", Scorer(), X=X, y=y)
    rows = X.head(3)
    e = sy.explain("python@1", rows)
    assert e.method == "exact" and e.output == "probability"
    assert e.note is not None and "model-agnostic" in e.note
    background = sy.models.sample("python@1")[list(X.columns)].head(100)

    def f(matrix: np.ndarray) -> np.ndarray:
        return Scorer().predict_proba(pd.DataFrame(matrix, columns=X.columns))[:, 1]

    kernel = shap.KernelExplainer(f, background.to_numpy())
    expected = kernel.shap_values(rows.to_numpy(), nsamples=2**4, silent=True)
    np.testing.assert_allclose(e.values, expected, atol=1e-9)
    assert e.base_value == pytest.approx(kernel.expected_value)
    check_additive(e, Scorer().predict_proba(rows)[:, 1])
    assert abs(e.values[:, 2:]).max() < 1e-12  # columns it ignores contribute nothing


def test_bad_rows_are_refused_in_one_line(store: Path) -> None:
    with pytest.raises(InvalidInput, match="rows must be"):
        sy.explain("lgb@1", "age=3")
    with pytest.raises(InvalidInput, match="income"):
        sy.explain("lgb@1", {"age": 1.0, "debt": 0.0, "score": 0.0})


def test_a_model_without_an_exact_method_says_so_and_matches_shap_kernel(store: Path) -> None:
    from sklearn.neighbors import KNeighborsRegressor

    X, _ = numbers(n=150)
    y = X["age"] * 2 + X["debt"]
    model = KNeighborsRegressor(n_neighbors=5).fit(X, y)
    sy.models.register("knn", model, X=X, y=y)
    rows = X.head(2)
    e = sy.explain("knn@1", rows)
    assert e.method == "exact" and e.output == "raw"
    assert e.note is not None and "KNeighborsRegressor" in e.note
    background = sy.models.sample("knn@1")[list(X.columns)].head(100).to_numpy()

    def f(matrix: np.ndarray) -> np.ndarray:
        return model.predict(pd.DataFrame(matrix, columns=X.columns))

    expected = shap.KernelExplainer(f, background).shap_values(
        rows.to_numpy(), nsamples=2**4, silent=True
    )
    np.testing.assert_allclose(e.values, expected, atol=1e-9)
    check_additive(e, model.predict(rows))


def test_a_model_shap_refuses_falls_back_and_says_why(store: Path) -> None:
    from sklearn.ensemble import AdaBoostClassifier

    X, y = numbers(n=150)
    model = AdaBoostClassifier(n_estimators=5, random_state=SEED).fit(X, y)
    sy.models.register("ada", model, X=X, y=y)
    e = sy.explain("ada@1", X.head(2))
    assert e.method == "exact" and e.output == "probability"
    assert e.note is not None and e.note.startswith("shap's exact method failed on this model")
    check_additive(e, model.predict_proba(X.head(2))[:, 1])
