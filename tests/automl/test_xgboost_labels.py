"""The xgboost family takes any class labels: text, strings and integers other than 0..n-1
train, register, load back without trust, export to ONNX and answer the original labels."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

import shipyard as sy
from shipyard.automl import XGBLabelClassifier, estimator
from shipyard.automl._fitting import fit_within
from shipyard.data import make_loans

pytest.importorskip("xgboost")

DROP = ["application_id"]
SMALL = {"n_estimators": 20, "max_depth": 3}


def _loans(case: str, rows: int = 600) -> tuple[pd.DataFrame, str, list[object]]:
    """Loans with a target of the case's kind, and its labels sorted."""
    frame = make_loans(rows, seed=1)
    if case == "text":  # five regions, a category column of text
        return frame, "region", sorted(frame["region"].astype(str).unique())
    default = frame.pop("default")
    if case == "strings":
        return frame.assign(repaid=default.map({0: "yes", 1: "no"})), "repaid", ["no", "yes"]
    return frame.assign(grade=default.map({0: 3, 1: 7})), "grade", [3, 7]


@pytest.mark.parametrize("case", ["text", "strings", "integers"])
def test_train_register_load_and_onnx_answer_the_original_labels(home: Path, case: str) -> None:
    frame, target, labels = _loans(case)
    dataset = sy.datasets.register("loans", frame).ref
    model = estimator("xgboost", "classification").set_params(**SMALL)
    result = sy.train(model, dataset=dataset, target=target, drop=DROP, seed=0)
    assert result.task == "classification" and 0.0 <= result.metrics["accuracy"] <= 1.0
    assert list(result.model.classes_) == labels

    version = sy.models.register("labels", result)
    assert version.flavor == "sklearn" and version.flavor_meta["format"] == "skops"
    assert list(version.signature.classes) == labels
    rows = make_loans(40, seed=7)  # raw rows: the target and extra columns are ignored
    native = sy.models.load(version.ref)  # no trust asked: skops builds only known types
    predicted = native.predict(rows)
    assert set(predicted) <= set(labels)
    assert list(predicted) == list(result.model.predict(rows[result.features]))

    exported = sy.models.export(version.ref, "onnx")
    report = exported.exports["onnx"].report
    assert report["max_diff"] <= report["atol"], report
    assert report["label_agreement"] in (None, 1.0), report
    onnx = sy.models.load(version.ref, format="onnx")
    assert list(onnx.predict(rows)) == list(predicted)
    np.testing.assert_allclose(onnx.predict_proba(rows), native.predict_proba(rows), atol=1e-5)


def test_sy_train_by_family_name_on_a_text_target(home: Path) -> None:
    """The reported failure: ``sy.train("xgboost", target=<text column>)``."""
    frame, target, labels = _loans("text", rows=400)
    dataset = sy.datasets.register("loans", frame).ref
    result = sy.train("xgboost", dataset=dataset, target=target, drop=DROP, split="kfold", folds=2)
    assert list(result.model.classes_) == labels
    assert set(result.model.predict(frame[result.features])) <= set(labels)
    run = sy.get_run(result.run_id)
    assert run.params["model"] == "XGBLabelClassifier" and run.params["model.n_jobs"] == "1"


def test_automl_searches_xgboost_on_string_labels(home: Path) -> None:
    frame, target, labels = _loans("strings", rows=400)
    result = sy.automl(
        data=frame, target=target, drop=DROP, families=["xgboost"], n_trials=2, time_budget=60
    )
    trials = result.leaderboard[result.leaderboard["trial"] >= 0]  # an ensemble row may lead
    assert list(trials["state"]) == ["complete", "complete"]
    assert set(result.best.model.predict(frame.drop(columns=[target]))) <= set(labels)


def test_served_through_onnx_answers_the_original_labels(home: Path, tmp_path: Path) -> None:
    import httpx

    from shipyard import serving

    frame, target, labels = _loans("text")
    model = estimator("xgboost", "classification").set_params(**SMALL)
    version = sy.models.register("served", sy.train(model, data=frame, target=target, drop=DROP))
    sy.models.export(version.ref, "onnx")
    rows = make_loans(10, seed=8)
    records = json.loads(rows.to_json(orient="records", date_format="iso"))
    app = serving.create_app(version.ref, poll=0, log_dir=tmp_path)

    with serving.background(app) as url, httpx.Client(base_url=url) as client:
        answer = client.post("/predict", json={"records": records}).json()

    native = sy.models.load(version.ref)
    assert set(answer["predictions"]) <= set(labels)
    assert answer["predictions"] == native.predict(rows).tolist()


def test_parameters_reach_the_inner_model_and_clone_keeps_them() -> None:
    model = XGBLabelClassifier(n_jobs=1).set_params(max_depth=2, n_estimators=7)
    assert model.get_params()["max_depth"] == 2 and model.get_params()["n_jobs"] == 1
    assert "learning_rate" in model.get_params()  # the XGBClassifier's defaults too
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    X = np.arange(40, dtype=float).reshape(20, 2)
    copy.fit(X, [3, 7] * 10)
    assert copy.model_.get_params()["max_depth"] == 2
    assert copy.get_booster().num_boosted_rounds() == 7
    assert copy.predict_proba(X).shape == (20, 2)


def test_a_fit_stops_at_its_deadline_and_keeps_no_clock() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 8))
    y = np.where(X[:, 0] + rng.normal(size=3000) > 0, "yes", "no")
    model = XGBLabelClassifier(n_estimators=100_000, n_jobs=1)
    pipeline = Pipeline([("model", model)])
    started = time.time()
    assert fit_within(pipeline, X, y, deadline=started + 1.0) == "deadline"
    assert time.time() - started < 1.0 + 1.0  # the slack is for a loaded machine
    assert model.get_params()["callbacks"] is None
    assert model.model_.get_params()["callbacks"] is None
    assert set(pipeline.predict(X)) == {"no", "yes"}


@pytest.mark.parametrize("labels", [("no", "yes"), (False, True), (3, 7, 11)], ids=str)
def test_a_bare_classifier_fitted_on_a_frame_exports(home: Path, labels: tuple) -> None:
    """Registered on its own, fitted on named columns (the graph takes one matrix)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    cuts = [0.0] if len(labels) == 2 else [-0.5, 0.5]
    y = pd.Series([labels[i] for i in np.digitize(X["a"], cuts)])
    model = XGBLabelClassifier(n_estimators=10, n_jobs=1).fit(X, y)
    version = sy.models.register("bare", model, X=X, y=y)

    report = sy.models.export(version.ref, "onnx").exports["onnx"].report

    assert report["max_diff"] <= report["atol"] and report["label_agreement"] == 1.0, report
    onnx = sy.models.load(version.ref, format="onnx")
    assert list(onnx.predict(X)) == list(model.predict(X))
    assert list(model.get_booster().feature_names) == ["a", "b", "c"]  # the model is unchanged
