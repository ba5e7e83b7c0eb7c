"""A model registered without ``X`` gets the signature it records about itself (issue 18):
scikit-learn's ``feature_names_in_`` / ``n_features_in_`` and fitted encoders' categories,
LightGBM's and XGBoost's feature names and categories, ``classes_`` and the estimator type.
Each such version loads and predicts a record, is checked by serving, and exports to ONNX
(on rows made from its signature, since it has no sample)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

import shipyard as sy
from shipyard import serving
from shipyard.data import make_loans
from shipyard.errors import InvalidInput

NUMERIC = ["age", "income", "credit_score", "debt_to_income"]
CATEGORIES = ["region", "purpose"]


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(400, seed=11)


@pytest.fixture(scope="module")
def X(loans: pd.DataFrame) -> pd.DataFrame:
    """Numbers and pandas categories."""
    return loans[NUMERIC + CATEGORIES]


@pytest.fixture(scope="module")
def y(loans: pd.DataFrame) -> pd.Series:
    return loans["default"]


def _text(X: pd.DataFrame) -> pd.DataFrame:
    """The categories as plain text, as a CSV gives them."""
    return X.astype({c: str for c in CATEGORIES})


def _pipeline(X: pd.DataFrame, y: pd.Series) -> Any:
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=500))]).fit(_text(X), y)


def _forest(X: pd.DataFrame, y: pd.Series) -> Any:
    return RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(X[NUMERIC], y)


def _lightgbm(X: pd.DataFrame, y: pd.Series) -> Any:
    return lgb.LGBMClassifier(n_estimators=10, n_jobs=1, verbose=-1).fit(X, y)


def _xgboost(X: pd.DataFrame, y: pd.Series) -> Any:
    return xgb.XGBClassifier(
        n_estimators=10, max_depth=3, n_jobs=1, enable_categorical=True, tree_method="hist"
    ).fit(X, y)


FAMILIES: dict[str, Callable[[pd.DataFrame, pd.Series], Any]] = {
    "sklearn-pipeline": _pipeline,
    "sklearn-forest": _forest,
    "lightgbm": _lightgbm,
    "xgboost": _xgboost,
}


def _record(sig: Any, X: pd.DataFrame) -> dict[str, Any]:
    """The first training row, as a JSON record."""
    row = X.iloc[0]
    return {n: (str(row[n]) if n in CATEGORIES else float(row[n])) for n in sig.names}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_registered_without_x_it_predicts_serves_and_exports(home, family, X, y):
    model = FAMILIES[family](X, y)
    v = sy.models.register("churn", model)
    sig = v.signature
    assert sig is not None and v.sample_digest is None
    assert sig.names == (NUMERIC if family == "sklearn-forest" else NUMERIC + CATEGORIES)
    assert (sig.task, sig.classes) == ("classification", (0, 1))
    for spec in sig.inputs:
        if spec.name in CATEGORIES:
            assert spec.type == "category"
            assert spec.categories == tuple(X[spec.name].cat.categories)
        else:
            assert spec.type == "float"
        # nulls: only where the model handles them itself (LightGBM and XGBoost do)
        assert spec.nullable is (family in ("lightgbm", "xgboost"))

    record = _record(sig, X)
    frame = X.iloc[:1] if family != "sklearn-pipeline" else _text(X.iloc[:1])
    want = model.predict(frame[sig.names])
    np.testing.assert_array_equal(sy.models.load("churn@1").predict(record), want)

    exported = sy.models.export("churn@1", "onnx")
    report = exported.exports["onnx"].report
    assert report["sample"] == "synthetic" and report["rows"] == 500
    assert report["label_agreement"] == 1.0

    bad_type, no_income = (
        {**record, "age": "old"},
        {k: v for k, v in record.items() if k != "income"},
    )
    fine, wrong, missing = asyncio.run(
        _post(serving.create_app("churn@1", poll=0), [record, bad_type, no_income])
    )
    assert fine.status_code == 200, fine.text
    assert wrong.status_code == 422 and "'age'" in wrong.json()["error"]
    assert missing.status_code == 422 and "Missing column 'income'" in missing.json()["error"]


async def _post(app: Any, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Each body posted to the app's ``/predict`` in turn, the app started and stopped."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return [await client.post("/predict", json=body) for body in bodies]


def test_only_a_count_gives_positional_names(home, X, y):
    array = X[NUMERIC].to_numpy()
    income = X["income"].to_numpy()
    ridge = Ridge().fit(array, y)
    boosted = lgb.LGBMRegressor(n_estimators=5, n_jobs=1, verbose=-1).fit(array, income)
    trees = xgb.XGBRegressor(n_estimators=5, max_depth=2, n_jobs=1).fit(array, income)
    for name, model, names in (
        ("ridge", ridge, [f"x{i}" for i in range(4)]),  # fed one matrix: any names do
        ("boosted", boosted, [f"Column_{i}" for i in range(4)]),  # LightGBM's own names
        ("trees", trees, [f"x{i}" for i in range(4)]),
    ):
        sig = sy.models.register(name, model).signature
        assert sig is not None and sig.names == names and sig.task == "regression"
        record = dict(zip(names, array[0].tolist(), strict=True))
        got = sy.models.load(name).predict(record)
        np.testing.assert_allclose(got, model.predict(array[:1]), rtol=1e-6)
    report = sy.models.export("ridge", "onnx").exports["onnx"].report
    assert report["sample"] == "synthetic" and report["max_diff"] < 1e-4


def test_imputers_make_columns_nullable_and_encoders_give_categories(home, X, y):
    frame = _text(X)
    categories = make_pipeline(SimpleImputer(strategy="most_frequent"), OrdinalEncoder())
    prep = ColumnTransformer(
        [("cat", categories, CATEGORIES), ("num", SimpleImputer(), NUMERIC[:2])],
        remainder="passthrough",
    )
    model = make_pipeline(prep, HistGradientBoostingClassifier(max_iter=5)).fit(frame, y)
    sig = sy.models.register("imputed", model).signature
    assert sig is not None
    nullable = {c.name: c.nullable for c in sig.inputs}
    # imputed: the categories and the first two numbers; the passthrough ones are not
    assert nullable == {
        **dict.fromkeys(NUMERIC[:2] + CATEGORIES, True),
        **{n: False for n in NUMERIC[2:]},
    }
    region = sig.inputs[sig.names.index("region")]
    assert region.type == "category" and "north" in (region.categories or ())
    loaded = sy.models.load("imputed")
    record = {**_record(sig, X), "region": None, "income": None}
    assert loaded.predict(record).shape == (1,)
    with pytest.raises(InvalidInput, match=r"'credit_score'.*null"):
        loaded.predict({**record, "credit_score": None})


def test_a_bare_hist_gradient_boosting_takes_nulls_and_its_categories(home, X, y):
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    sig = sy.models.register("hgb", model).signature
    assert sig is not None
    by_name = {c.name: c for c in sig.inputs}
    assert all(by_name[n].nullable and by_name[n].type == "float" for n in NUMERIC)
    assert by_name["purpose"].categories == tuple(X["purpose"].cat.categories)
    record = {**_record(sig, X), "age": None}
    np.testing.assert_array_equal(
        sy.models.load("hgb").predict(record), model.predict(X.iloc[:1].assign(age=np.nan))
    )
    with pytest.raises(InvalidInput, match="'region'"):
        sy.models.load("hgb").predict({**record, "region": "atlantis"})


def test_given_rows_still_win_and_export_takes_data(home, X, y):
    model = _forest(X, y)
    with_x = sy.models.register("forest", model, X=X[NUMERIC], y=y)
    assert with_x.sample_digest is not None
    assert "sample" not in sy.models.export("forest@1", "onnx").exports["onnx"].report
    sy.models.register("forest", model)
    report = sy.models.export("forest@2", "onnx", data=X).exports["onnx"].report
    assert "sample" not in report and report["rows"] == len(X)
