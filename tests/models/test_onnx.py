"""ONNX export: real models on the loans data, converted, checked against the native
predictor, quantized, and served from stored meta or from a raw graph."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.data import make_loans
from shipyard.errors import InvalidInput
from shipyard.models._convert import export_onnx
from shipyard.models._flavors import Predictor, get_flavor
from shipyard.models._onnx import ExportRefused, ExportResult, OnnxPredictor
from shipyard.models._quantize import quantize_int8
from shipyard.models._signature import ColumnSpec, Signature, infer_signature

CATEGORIES = ["gender", "education", "home_ownership", "purpose", "region"]


@dataclass(frozen=True)
class Loans:
    X: pd.DataFrame
    y: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.X.columns if c not in CATEGORIES]


@pytest.fixture(scope="module")
def loans() -> Loans:
    df = make_loans(1_500, seed=0).drop(columns=["application_id", "applied_at"])
    train, test = df.iloc[:1_000], df.iloc[1_000:]
    return Loans(
        train.drop(columns="default"),
        train["default"],
        test.drop(columns="default"),
        test["default"],
    )


def _preprocess(numeric: list[str]) -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
            ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
        ]
    )


def _native(model: Any, flavor: str, signature: Signature) -> Predictor:
    """The flavor's own predictor, over the model as the registry would load it."""
    f = get_flavor(flavor)
    saved = f.save(model)
    loaded = model if flavor == "sklearn" else f.load(saved.data, saved.meta)
    predictor: Predictor = f.predictor(loaded, saved.meta, signature)
    return predictor


def _export(
    model: Any, flavor: str, X: pd.DataFrame, y: pd.Series, X_test: pd.DataFrame
) -> tuple[ExportResult, Signature, dict[str, np.ndarray], Predictor]:
    signature = infer_signature(X, y, model=model)
    sample = signature.validate(X_test)
    reference = _native(model, flavor, signature)
    return export_onnx(model, flavor, signature, reference, sample), signature, sample, reference


def _assert_faithful(
    result: ExportResult, signature: Signature, sample: dict[str, np.ndarray], reference: Predictor
) -> OnnxPredictor:
    """The stored form (JSON meta) predicts what the native model does; the report says so."""
    report = result.report
    assert result.format == "onnx"
    assert report["rows"] == len(next(iter(sample.values())))
    assert report["max_diff"] <= 1e-4
    assert report["size_bytes"] == len(result.data)
    assert report["latency_p50_us"] > 0
    json.dumps(report)
    onnx = OnnxPredictor(result.data, json.loads(json.dumps(result.meta)), signature)
    want = reference.predict_proba(sample)
    got = onnx.predict_proba(sample)
    if want is None:
        assert got is None
        assert report["label_agreement"] is None
    else:
        assert got is not None and got.dtype == np.float64
        np.testing.assert_allclose(got, want, atol=1e-4)
        assert report["label_agreement"] >= 0.999
        assert np.mean(onnx.predict(sample) == np.asarray(reference.predict(sample))) >= 0.999
    return onnx


def test_pipeline_with_column_transformer_takes_one_input_per_column(loans: Loans) -> None:
    model = Pipeline(
        [("prep", _preprocess(loans.numeric)), ("clf", LogisticRegression(max_iter=1_000))]
    ).fit(loans.X, loans.y)
    result, signature, sample, reference = _export(model, "sklearn", loans.X, loans.y, loans.X_test)
    onnx = _assert_faithful(result, signature, sample, reference)
    inputs = {f["name"]: f["dtype"] for f in result.meta["inputs"]}
    assert list(inputs) == signature.names
    assert inputs["purpose"] == "string" and inputs["age"] == "float32"
    assert result.report["converter"].startswith("skl2onnx ")
    assert result.report["max_abs_diff"] < 1e-5
    record = signature.validate(loans.X_test.iloc[0].to_dict())
    assert onnx.predict(record).tolist() == reference.predict(record).tolist()


def test_hist_gradient_boosting_on_numeric_columns_takes_one_matrix(loans: Loans) -> None:
    X, X_test = loans.X[loans.numeric], loans.X_test[loans.numeric]
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, loans.y)
    assert X["employment_years"].isna().any()  # missing values take the trees' default path
    result, signature, sample, reference = _export(model, "sklearn", X, loans.y, X_test)
    _assert_faithful(result, signature, sample, reference)
    (matrix,) = result.meta["inputs"]
    assert matrix["columns"] == signature.names and matrix["dtype"] == "float32"


@pytest.mark.parametrize("flavor", ["sklearn", "xgboost"])
def test_regressor_difference_is_relative_to_the_prediction_scale(
    loans: Loans, flavor: str
) -> None:
    X, X_test = loans.X.drop(columns="income"), loans.X_test.drop(columns="income")
    if flavor == "sklearn":
        numeric = [c for c in loans.numeric if c != "income"]
        X, X_test = X[numeric].fillna(0.0), X_test[numeric].fillna(0.0)
        model: Any = RandomForestRegressor(n_estimators=15, min_samples_leaf=5, n_jobs=1)
    else:
        model = xgb.XGBRegressor(n_estimators=20, n_jobs=1, enable_categorical=True)
    model.fit(X, loans.X["income"])
    result, signature, sample, reference = _export(model, flavor, X, loans.X["income"], X_test)
    _assert_faithful(result, signature, sample, reference)
    report = result.report
    assert report["scale"] > 10_000  # incomes, where float32 rounding alone exceeds 1e-4
    assert report["max_diff"] == pytest.approx(report["max_abs_diff"] / report["scale"])


def test_mlp_quantizes_to_a_smaller_model_with_the_same_accuracy(loans: Loans) -> None:
    X, X_test = loans.X[loans.numeric], loans.X_test[loans.numeric]
    mlp = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=30, random_state=0)
    model = make_pipeline(SimpleImputer(), StandardScaler(), mlp)
    with warnings.catch_warnings():  # a short fit; convergence is not what is tested
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, loans.y)
    result, signature, sample, reference = _export(model, "sklearn", X, loans.y, X_test)
    _assert_faithful(result, signature, sample, reference)

    small = quantize_int8(result, signature, sample, loans.y_test.to_numpy())
    report = small.report
    assert small.format == "onnx-int8"
    assert report["size_bytes_int8"] == len(small.data)
    assert report["size_bytes_int8"] * 2.5 < report["size_bytes_float"]
    assert report["metric"] == "accuracy" and report["metric_against"] == "labels"
    assert report["drop"] <= 0.01
    assert report["latency_p50_us_int8"] > 0 and report["batch_1000_p50_ms_int8"] > 0
    int8 = OnnxPredictor(small.data, json.loads(json.dumps(small.meta)), signature)
    assert np.mean(int8.predict(sample) == loans.y_test.to_numpy()) == report["metric_int8"]

    unlabelled = quantize_int8(result, signature, sample).report
    assert unlabelled["metric_against"] == "float model"
    assert unlabelled["metric_float"] == 1.0


def _categorical_splits(booster: lgb.Booster) -> int:
    def count(node: dict[str, Any]) -> int:
        if "decision_type" not in node:
            return 0
        here = node["decision_type"] == "=="
        return here + count(node["left_child"]) + count(node["right_child"])

    return sum(count(tree["tree_structure"]) for tree in booster.dump_model()["tree_info"])


def test_lightgbm_categorical_splits_survive_conversion(loans: Loans) -> None:
    model = lgb.LGBMClassifier(n_estimators=30, n_jobs=1, verbose=-1, random_state=0)
    model.fit(loans.X, loans.y)
    assert _categorical_splits(model.booster_) > 0
    result, signature, sample, reference = _export(
        model, "lightgbm", loans.X, loans.y, loans.X_test
    )
    _assert_faithful(result, signature, sample, reference)
    assert result.report["converter"].startswith("onnxmltools ")
    region = next(c for c in signature.inputs if c.name == "region")
    assert result.meta["codes"]["region"] == list(region.categories or ())

    booster = get_flavor("lightgbm").load(model.booster_.model_to_string().encode(), {})
    from_booster = export_onnx(booster, "lightgbm", signature, reference, sample)
    assert from_booster.report["max_diff"] <= 1e-4


def test_xgboost_categorical_model_converts(loans: Loans) -> None:
    model = xgb.XGBClassifier(
        n_estimators=30, n_jobs=1, enable_categorical=True, tree_method="hist", max_cat_to_onehot=1
    ).fit(loans.X, loans.y)
    trees = json.loads(model.get_booster().save_raw("json"))["learner"]["gradient_booster"]
    assert any(tree["categories_nodes"] for tree in trees["model"]["trees"])
    result, signature, sample, reference = _export(model, "xgboost", loans.X, loans.y, loans.X_test)
    _assert_faithful(result, signature, sample, reference)
    assert model.get_booster().feature_names[0] == "age"  # the caller's model is untouched


@pytest.mark.parametrize("flavor", ["sklearn", "lightgbm"])
def test_multiclass_with_text_labels(loans: Loans, flavor: str) -> None:
    X, X_test = loans.X.drop(columns="purpose"), loans.X_test.drop(columns="purpose")
    y = loans.X["purpose"].astype(str).rename("purpose")
    if flavor == "sklearn":
        numeric = [c for c in X.columns if c not in CATEGORIES]
        prep = ColumnTransformer(
            [
                (
                    "categories",
                    OneHotEncoder(handle_unknown="ignore"),
                    [c for c in CATEGORIES if c != "purpose"],
                ),
                ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            ]
        )
        model: Any = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1_000))])
    else:
        model = lgb.LGBMClassifier(n_estimators=10, n_jobs=1, verbose=-1, random_state=0)
    model.fit(X, y)
    result, signature, sample, reference = _export(model, flavor, X, y, X_test)
    onnx = _assert_faithful(result, signature, sample, reference)
    assert len(signature.classes or ()) == 6
    assert set(onnx.predict(sample)) <= set(signature.classes or ())


def test_disagreeing_reference_is_refused_with_the_figures(loans: Loans) -> None:
    model = Pipeline(
        [("prep", _preprocess(loans.numeric)), ("clf", LogisticRegression(max_iter=1_000))]
    ).fit(loans.X, loans.y)
    other = Pipeline(
        [("prep", _preprocess(loans.numeric)), ("clf", LogisticRegression(C=0.001))]
    ).fit(loans.X, loans.y)
    signature = infer_signature(loans.X, loans.y, model=model)
    sample = signature.validate(loans.X_test)
    with pytest.raises(ExportRefused, match=r"max difference .* \(allowed 0\.0001\)") as caught:
        export_onnx(model, "sklearn", signature, _native(other, "sklearn", signature), sample)
    report = caught.value.report
    assert report["max_diff"] > 1e-4 and report["rows"] == len(loans.X_test)
    assert caught.value.http_status == 422


def test_category_codes_that_would_not_line_up_are_refused(loans: Loans) -> None:
    model = lgb.LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1).fit(loans.X, loans.y)
    signature = infer_signature(loans.X, loans.y, model=model)
    shuffled = Signature(
        tuple(
            ColumnSpec(c.name, c.type, c.nullable, tuple(reversed(c.categories)))
            if c.categories
            else c
            for c in signature.inputs
        ),
        signature.task,
        signature.classes,
    )
    sample = shuffled.validate(loans.X_test)
    with pytest.raises(ExportRefused, match="category codes would not line up"):
        export_onnx(model, "lightgbm", shuffled, _native(model, "lightgbm", shuffled), sample)


def test_quantizing_a_tree_model_is_refused(loans: Loans) -> None:
    X, X_test = loans.X[loans.numeric], loans.X_test[loans.numeric]
    model = HistGradientBoostingClassifier(max_iter=5).fit(X, loans.y)
    result, signature, sample, _ = _export(model, "sklearn", X, loans.y, X_test)
    with pytest.raises(ExportRefused, match=r"Nothing to quantize: .*MLPs") as caught:
        quantize_int8(result, signature, sample)
    assert "TreeEnsembleClassifier" in caught.value.report["operators"]


class _Threshold(ClassifierMixin, BaseEstimator):
    """A classifier skl2onnx has never heard of."""

    def fit(self, X: Any, y: Any) -> _Threshold:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X), dtype=int)


def test_converter_failures_are_clear_refusals(loans: Loans) -> None:
    X = loans.X[loans.numeric].to_numpy()
    model = _Threshold().fit(X, loans.y)
    signature = infer_signature(X, loans.y, model=model)
    sample = signature.validate(X[:5])
    reference = get_flavor("sklearn").predictor(model, {"feature_names": False}, signature)
    with pytest.raises(ExportRefused, match=r"skl2onnx \S+ cannot convert the _Threshold") as e:
        export_onnx(model, "sklearn", signature, reference, sample)
    assert "error" in e.value.report
    with pytest.raises(ExportRefused, match="supports the flavors sklearn, lightgbm"):
        export_onnx(model, "python", signature, reference, sample)
    text = Signature((ColumnSpec("city", "string"),), "classification", (0, 1))
    with pytest.raises(ExportRefused, match=r"text columns \['city'\]"):
        export_onnx(LogisticRegression(), "sklearn", text, reference, {"city": np.array(["a"])})


def test_raw_model_proto_without_meta(loans: Loans) -> None:
    """A user's own conversion, ZipMap and all, runs from the graph alone."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    y = np.where(loans.y == 1, "default", "repaid")
    model = Pipeline(
        [("prep", _preprocess(loans.numeric)), ("clf", LogisticRegression(max_iter=1_000))]
    ).fit(loans.X, y)
    signature = infer_signature(loans.X, y, model=model)
    types = [
        (
            c.name,
            StringTensorType([None, 1]) if c.type == "category" else FloatTensorType([None, 1]),
        )
        for c in signature.inputs
    ]
    proto = to_onnx(model, initial_types=types)  # ZipMap on: probabilities as dicts
    sample = signature.validate(loans.X_test)
    want = model.predict_proba(loans.X_test)

    onnx = OnnxPredictor(proto.SerializeToString(), {}, signature)
    np.testing.assert_allclose(onnx.predict_proba(sample), want, atol=1e-5)
    assert onnx.predict(sample).tolist() == model.predict(loans.X_test).tolist()

    flipped = Signature(signature.inputs, "classification", ("repaid", "default"))
    reordered = OnnxPredictor(proto.SerializeToString(), {}, flipped)
    np.testing.assert_allclose(reordered.predict_proba(sample), want[:, ::-1], atol=1e-5)

    exported = export_onnx(proto, "onnx", signature, _native(model, "sklearn", signature), sample)
    assert exported.report["converter"] == "none"


def test_raw_matrix_model_feeds_category_codes(loans: Loans) -> None:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = lgb.LGBMClassifier(n_estimators=10, n_jobs=1, verbose=-1).fit(loans.X, loans.y)
    types = [("features", FloatTensorType([None, loans.X.shape[1]]))]
    proto = onnxmltools.convert_lightgbm(model, initial_types=types)  # ZipMap on
    signature = infer_signature(loans.X, loans.y, model=model)
    onnx = OnnxPredictor(proto.SerializeToString(), {}, signature)
    sample = signature.validate(loans.X_test)
    np.testing.assert_allclose(
        onnx.predict_proba(sample), model.predict_proba(loans.X_test), atol=1e-5
    )
    assert onnx.meta["inputs"][0]["name"] == "features"

    narrow = Signature(signature.inputs[:3], "classification", (0, 1))
    with pytest.raises(InvalidInput, match="fit neither layout"):
        OnnxPredictor(proto.SerializeToString(), {}, narrow)
