"""ONNX export of every family ``sy.train`` builds, on data with numbers, low- and
high-cardinality text, categories, dates, booleans and missing values: the export passes
the parity check, and the ONNX form predicts what the native model does on rows with
nulls and unseen values. A step no converter handles is refused in one line naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import shipyard as sy
from shipyard.automl import DateParts, estimator
from shipyard.models import ExportRefused, infer_signature
from shipyard.models._flavors import get_flavor

# every test on a store of its own (SHIPYARD_HOME in a temporary folder), never the working
# folder's: a .shipyard there (the quick start's, in CI) would otherwise receive these models
pytestmark = pytest.mark.usefixtures("home")

ROWS = 240
FAMILIES = [
    "linear",
    "random_forest",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
    "mlp",
    "extra_trees",
    "knn",
]
SMALL: dict[str, dict[str, Any]] = {  # fewer trees and epochs: the file runs in seconds
    "random_forest": {"n_estimators": 15, "max_depth": 6},
    "hist_gradient_boosting": {"max_iter": 15},
    "lightgbm": {"n_estimators": 15, "num_leaves": 8},
    "xgboost": {"n_estimators": 15, "max_depth": 3},
    "mlp": {"hidden_layer_sizes": (16,), "max_iter": 100},
    "torch_mlp": {"hidden_layer_sizes": (16,), "max_epochs": 15},
    "extra_trees": {"n_estimators": 15, "max_depth": 6},
    # CatBoost's ONNX has no category features: the text columns' codes as numbers
    "catboost": {"iterations": 15, "native_categories": False},
}


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 500.0, rows).round(2)
    amount[rng.random(rows) < 0.1] = np.nan
    plan = rng.choice(["basic", "plus", "pro", None], rows, p=[0.4, 0.3, 0.2, 0.1])
    city = rng.choice([f"city_{i:02d}" for i in range(40)], rows)  # > 30 values: wide
    # hours apart from 1969 to 1971: the epoch's floor division and every part move
    seconds = rng.integers(-400 * 86_400, 400 * 86_400, rows)
    joined = pd.Series(pd.to_datetime(seconds, unit="s"))
    joined[rng.random(rows) < 0.05] = pd.NaT
    tier = pd.Categorical(rng.choice(["gold", "bronze", None], rows, p=[0.5, 0.4, 0.1]))
    score = np.nan_to_num(amount, nan=800.0) / 500 + (plan == "pro") + rng.normal(0, 0.5, rows)
    return pd.DataFrame(
        {
            "amount": amount,
            "visits": rng.poisson(3, rows),
            "plan": pd.array(plan, dtype=object),
            "tier": tier,  # a category column, with nulls
            "city": city,
            "joined": joined,
            "mobile": rng.random(rows) < 0.3,
            "autopay": pd.array(  # nullable booleans
                np.where(rng.random(rows) < 0.1, None, rng.random(rows) < 0.5), dtype="boolean"
            ),
            "score": score,
        }
    )


def _target(frame: pd.DataFrame, task: str) -> pd.Series:
    score = frame["score"]
    if task == "binary":
        return (score > score.median()).astype(int)
    if task == "multiclass":
        codes = pd.Series(np.digitize(score, score.quantile([0.33, 0.66])))
        return codes.map({0: "low", 1: "mid", 2: "high"})
    return score * 10.0


def _unusual(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with nulls in every nullable column and text values training never saw."""
    rows = frame.iloc[:6].copy()
    rows["amount"] = np.nan
    rows["joined"] = rows["joined"].where(rows.index % 2 == 0)  # NaT in every other row
    rows["autopay"] = pd.array([None, True, None, False, None, None], dtype="boolean")
    rows["plan"] = [None, "enterprise", "", "basic", None, "trial"]
    rows["city"] = ["nowhere", "city_00", "city_99", "x", "city_05", "elsewhere"]
    rows["tier"] = pd.Categorical([None, "gold", None, "bronze", None, None], ["bronze", "gold"])
    return rows


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # few epochs
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("family", [*FAMILIES, "torch_mlp", "catboost"])
def test_every_family_exports_and_predicts_like_the_native_model(family: str, task: str) -> None:
    if family in ("torch_mlp", "catboost"):
        needed = {"torch_mlp": "torch", "catboost": "catboost"}[family]
        pytest.importorskip(needed, reason=f"the {family} family needs {needed}")
    frame = _frame(ROWS, seed=1)
    target = _target(frame, task)  # text labels for multiclass, XGBoost's included
    data = frame.drop(columns="score").assign(target=target)
    kind = "regression" if task == "regression" else "classification"
    model = estimator(family, kind, seed=0).set_params(**SMALL.get(family, {}))
    result = sy.train(model, data=data, target="target", seed=0)
    version = sy.models.register(f"{family}-{task}", result)

    exported = sy.models.export(version.ref, "onnx")

    report = exported.exports["onnx"].report
    assert report["max_diff"] <= report["atol"], report
    assert report["label_agreement"] in (None, 1.0), report
    rows = _unusual(frame.drop(columns="score"))
    onnx = sy.models.load(version.ref, format="onnx")
    native = sy.models.load(version.ref)
    if kind == "regression":
        np.testing.assert_allclose(onnx.predict(rows), native.predict(rows), rtol=1e-4)
    else:
        assert list(onnx.predict(rows)) == list(native.predict(rows))
        np.testing.assert_allclose(onnx.predict_proba(rows), native.predict_proba(rows), atol=1e-4)


def test_encodings_each_export() -> None:
    """One-hot, ordinal and target encoding of every text column, chosen explicitly."""
    frame = _frame(ROWS, seed=2)
    data = frame.drop(columns="score").assign(target=_target(frame, "multiclass"))
    rows = _unusual(frame.drop(columns="score"))
    for encoding in ("onehot", "ordinal", "target"):
        result = sy.train("linear", data=data, target="target", preprocess=encoding)
        version = sy.models.register(f"linear-{encoding}", result)
        sy.models.export(version.ref, "onnx")
        onnx = sy.models.load(version.ref, format="onnx")
        np.testing.assert_allclose(
            onnx.predict_proba(rows), result.model.predict_proba(rows), atol=1e-4
        )


def test_a_text_column_mostly_null_exports_with_each_encoding() -> None:
    """Null is the most frequent text: the imputer's statistic is None (scikit-learn keeps
    the column and its nulls), not an empty column the graph drops."""
    frame = _frame(ROWS, seed=4)
    plan = [value if i % 3 == 0 else None for i, value in enumerate(frame["plan"])]
    frame["plan"] = pd.Series(plan, dtype=object)  # None, as JSON records give
    data = frame.drop(columns="score").assign(target=_target(frame, "binary"))
    rows = _unusual(frame.drop(columns="score"))
    for encoding in ("onehot", "ordinal", "target"):
        result = sy.train("linear", data=data, target="target", preprocess=encoding)
        version = sy.models.register(f"sparse-{encoding}", result)
        sy.models.export(version.ref, "onnx")
        onnx = sy.models.load(version.ref, format="onnx")
        native = sy.models.load(version.ref)
        np.testing.assert_allclose(onnx.predict_proba(rows), native.predict_proba(rows), atol=1e-4)


def test_dates_with_a_time_zone_export_and_split_on_utc_parts() -> None:
    """A zone-aware date column: the model trains on the parts the signature serves (UTC),
    so its ONNX form passes the parity check and an instant predicts the same in any zone."""
    frame = _frame(ROWS, seed=5)
    frame["joined"] = frame["joined"].dt.tz_localize("UTC").dt.tz_convert("Europe/Paris")
    data = frame.drop(columns="score").assign(target=_target(frame, "binary"))
    result = sy.train("linear", data=data, target="target", seed=0)
    version = sy.models.register("zoned", result)

    sy.models.export(version.ref, "onnx")

    rows = frame.drop(columns="score").iloc[:20]
    elsewhere = rows.assign(joined=rows["joined"].dt.tz_convert("America/New_York"))
    onnx = sy.models.load(version.ref, format="onnx")
    native = result.model.predict_proba(rows)
    np.testing.assert_allclose(result.model.predict_proba(elsewhere), native)
    np.testing.assert_allclose(onnx.predict_proba(rows), native, atol=1e-4)


@pytest.mark.parametrize("family", ["linear", "lightgbm"])
def test_columns_named_with_spaces_quotes_and_unicode_export(family: str) -> None:
    """skl2onnx spells the graph's inputs in C style (``income_amount``): they still feed the
    columns they came from."""
    frame = _frame(ROWS, seed=3)
    names = {"amount": "loan amount", "plan": 'plän "q\'"', "city": "1 city", "visits": "a-b"}
    data = frame.drop(columns="score").rename(columns=names)
    data["target"] = _target(frame, "binary")
    result = sy.train(family, data=data, target="target", seed=0)
    version = sy.models.register(f"odd-names-{family}", result)

    sy.models.export(version.ref, "onnx")

    rows = _unusual(frame.drop(columns="score")).rename(columns=names)
    onnx = sy.models.load(version.ref, format="onnx")
    native = result.model.predict_proba(rows)
    np.testing.assert_allclose(onnx.predict_proba(rows), native, atol=1e-4)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_a_vote_of_trained_models_exports_as_sy_automl_builds_its_ensemble(task: str) -> None:
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    frame = _frame(ROWS, seed=3)
    data = frame.drop(columns="score").assign(target=_target(frame, task))
    members = [
        (family, sy.train(family, data=data, target="target", seed=0).model)
        for family in ("linear", "hist_gradient_boosting")
    ]
    X, y = data.drop(columns="target"), data["target"]
    vote = (
        VotingRegressor(members)
        if task == "regression"
        else VotingClassifier(members, voting="soft", flatten_transform=False)
    ).fit(X, y)
    version = sy.models.register(f"vote-{task}", vote, X=X, y=y)
    sy.models.export(version.ref, "onnx")
    onnx = sy.models.load(version.ref, format="onnx")
    rows = _unusual(frame.drop(columns="score"))
    if task == "regression":
        np.testing.assert_allclose(onnx.predict(rows), vote.predict(rows), rtol=1e-4)
    else:
        np.testing.assert_allclose(onnx.predict_proba(rows), vote.predict_proba(rows), atol=1e-4)


class Doubler(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A custom step no ONNX converter knows."""

    def fit(self, X: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X, dtype=float) * 2


def test_a_step_without_a_converter_is_refused_in_one_line_naming_it() -> None:
    frame = _frame(ROWS, seed=3)
    X, y = frame[["amount", "visits"]].fillna(0.0), _target(frame, "binary")
    prep = ColumnTransformer([("double", Doubler(), ["amount", "visits"])])
    model = Pipeline([("prep", prep), ("model", LogisticRegression())]).fit(X, y)
    version = sy.models.register("custom", model, X=X, y=y, serialization="pickle")

    with pytest.raises(ExportRefused) as refused:
        sy.models.export(version.ref, "onnx")

    message = str(refused.value)
    assert "\n" not in message
    assert (
        "cannot convert the Pipeline: step 'prep/double' (Doubler) has no ONNX converter" in message
    )


def test_a_step_its_converter_refuses_is_named_with_the_reason_in_one_line() -> None:
    frame = _frame(ROWS, seed=3)
    X, y = frame[["amount", "visits"]].fillna(0.0), _target(frame, "binary")
    prep = ColumnTransformer([("log", FunctionTransformer(np.log1p), ["amount", "visits"])])
    model = Pipeline([("prep", prep), ("model", LogisticRegression())]).fit(X, y)
    version = sy.models.register("logs", model, X=X, y=y)

    with pytest.raises(ExportRefused) as refused:
        sy.models.export(version.ref, "onnx")

    message = str(refused.value)
    assert "\n" not in message
    assert "step 'prep/log' (FunctionTransformer) cannot be written as ONNX" in message
    assert "not supported unless the transform function is None" in message
    assert refused.value.report["step"] == "prep/log"


def test_date_parts_in_the_graph_equal_pandas_over_centuries() -> None:
    """Leap years, century rules, times before 1970 and nulls: the graph's integer calendar
    gives pandas' parts exactly."""
    import onnxruntime as ort

    rng = np.random.default_rng(4)
    seconds = rng.integers(-70 * 365 * 86_400, 130 * 365 * 86_400, 2_000)
    edges = pd.to_datetime(
        ["1900-02-28 23:59:59", "1900-03-01 00:00:00", "2000-02-29 12:00:00", "1969-12-31 23:59:59"]
    )
    when = pd.Series(np.concatenate([pd.to_datetime(seconds, unit="s"), edges, [pd.NaT]]))
    frame = pd.DataFrame({"when": when, "also": when.iloc[::-1].to_numpy()})
    model = Pipeline([("prep", ColumnTransformer([("dates", DateParts(), ["when", "also"])]))])
    model.fit(frame)
    data, _ = get_flavor("sklearn").to_onnx(model, infer_signature(frame))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feed = {c: frame[c].to_numpy().astype("datetime64[s]").view(np.int64)[:, None] for c in frame}

    got = session.run(None, feed)[0]

    np.testing.assert_array_equal(got, model.transform(frame).astype(np.float32))


def test_served_through_onnx_with_dates_and_nulls_as_json(tmp_path: Path) -> None:
    """Serving runs the stored ONNX form on JSON records: ISO dates, nulls, unseen text."""
    import httpx

    from shipyard import serving

    frame = _frame(ROWS, seed=5)
    data = frame.drop(columns="score").assign(target=_target(frame, "binary"))
    model = estimator("lightgbm", "classification").set_params(**SMALL["lightgbm"])
    version = sy.models.register("served", sy.train(model, data=data, target="target"))
    sy.models.export(version.ref, "onnx")
    rows = _unusual(frame.drop(columns="score"))
    records = json.loads(rows.to_json(orient="records", date_format="iso"))
    app = serving.create_app(version.ref, poll=0, log_dir=tmp_path)

    with serving.background(app) as url, httpx.Client(base_url=url) as client:
        answer = client.post("/predict", json={"records": records}).json()

    native = sy.models.load(version.ref)
    np.testing.assert_allclose(answer["probabilities"], native.predict_proba(rows), atol=1e-5)
    assert answer["predictions"] == native.predict(rows).tolist()


def test_a_text_imputer_with_indicators_is_refused_in_one_line_naming_it() -> None:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    X = pd.DataFrame({"city": ["a", None, "b", "a", "b", None] * 20})
    y = pd.Series([0, 1, 0, 1, 0, 1] * 20)
    text = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent", add_indicator=True)),
            ("encode", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    model = Pipeline(
        [
            ("prep", ColumnTransformer([("text", text, ["city"])])),
            ("clf", LogisticRegression()),
        ]
    ).fit(X, y)
    version = sy.models.register("text-indicator", model, X=X, y=y)
    with pytest.raises(ExportRefused) as refused:
        sy.models.export(version.ref, "onnx")
    message = str(refused.value)
    assert "\n" not in message and "prep/text/impute" in message
    assert "indicators of text columns have no ONNX form" in message
