"""``sy.train``: preprocessing inside the model, splits, tracking, registration, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.automl import column_kinds, make_preprocessor
from shipyard.automl._problem import make_splits
from shipyard.data import make_loans
from shipyard.errors import InvalidInput

DROP = ["application_id"]


@pytest.fixture
def loans(home: Path) -> str:
    return sy.datasets.register("loans", make_loans(1200, seed=0)).ref


def test_kfold_tracks_every_fold_and_refits_on_all_rows(loans: str) -> None:
    result = sy.train(
        "lightgbm", dataset=loans, target="default", drop=DROP, split="kfold", folds=3
    )
    assert result.task == "classification" and len(result.fold_metrics) == 3
    assert 0.6 < result.metrics["auc"] <= 1.0
    run = sy.get_run(result.run_id)
    assert run.params["split"] == "kfold" and run.params["folds"] == "3"
    assert run.metrics["auc"].value == pytest.approx(result.metrics["auc"])
    folds = sy.get_metric_history(result.run_id, "fold_auc")
    assert [p.step for p in folds] == [0, 1, 2]
    assert {a.path for a in run.artifacts} >= {"confusion_matrix.json"}
    # lineage: the run read the dataset version
    assert [v.ref for v in sy.datasets.run_inputs(result.run_id)] == [loans]
    # the refitted model saw every row
    assert result.model[-1].n_features_in_ > 0


def test_the_registered_model_carries_its_preprocessing(loans: str) -> None:
    result = sy.train("linear", dataset=loans, target="default", drop=DROP)
    version = sy.models.register("churn", result)
    assert version.run_id == result.run_id and version.datasets == (loans,)
    assert version.metrics["auc"] == pytest.approx(result.metrics["auc"])
    assert "application_id" not in version.signature.names
    assert "applied_at" in version.signature.names  # dates become parts inside the model
    raw = make_loans(20, seed=7)  # raw rows, extra columns and all
    loaded = sy.models.load("churn@1")
    np.testing.assert_allclose(
        loaded.predict_proba(raw), result.model.predict_proba(raw[result.features])
    )


def test_time_ordered_holdout_tests_on_the_latest_rows() -> None:
    frame = make_loans(400, seed=1)
    splits = make_splits(
        frame, frame["default"], "classification", "holdout", 0.25, 5, "applied_at", 0
    )
    ((train_rows, test_rows),) = splits
    times = frame["applied_at"].to_numpy()
    assert times[train_rows].max() <= times[test_rows].min()
    assert len(test_rows) == 100
    folds = make_splits(frame, frame["default"], "classification", "kfold", 0.2, 4, "applied_at", 0)
    for train_rows, test_rows in folds:
        assert times[train_rows].max() <= times[test_rows].min()


def test_stratified_holdout_keeps_the_class_balance() -> None:
    frame = make_loans(1000, seed=2)
    ((_, test_rows),) = make_splits(
        frame, frame["default"], "classification", "holdout", 0.2, 5, None, 0
    )
    overall = frame["default"].mean()
    assert frame["default"].iloc[test_rows].mean() == pytest.approx(overall, abs=0.01)


def test_regression_on_a_dataframe(home: Path) -> None:
    frame = make_loans(800, seed=3)
    result = sy.train(
        "hist_gradient_boosting", data=frame, target="income", drop=["application_id"]
    )
    assert result.task == "regression" and result.dataset is None
    assert result.metrics["r2"] > 0.2
    run = sy.get_run(result.run_id)
    assert "residuals.parquet" in {a.path for a in run.artifacts}


def test_preprocessor_by_column_kind() -> None:
    frame = make_loans(200, seed=4).drop(columns=["default"])
    frame["flag"] = frame["age"] > 40
    kinds = column_kinds(frame)
    assert "region" in kinds["categorical"] and "applied_at" in kinds["datetime"]
    assert "flag" in kinds["boolean"] and "income" in kinds["numeric"]
    for encoding in ("onehot", "ordinal", "target"):
        pre = make_preprocessor(frame, encoding=encoding)
        out = pre.fit_transform(frame, (frame["age"] > 40).astype(int))
        assert out.shape[0] == 200 and not np.isnan(np.asarray(out, dtype=float)).any()
    with pytest.raises(InvalidInput, match="encoding"):
        make_preprocessor(frame, encoding="hash")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "nope"}, "target 'nope' is not a column"),
        ({"target": "default", "split": "bootstrap"}, "split must be one of"),
        ({"target": "default", "split": "kfold", "folds": 1}, "folds must be at least 2"),
        ({"target": "default", "test_size": 1.5}, "test_size"),
        ({"target": "default", "time_column": "nope"}, "time_column 'nope'"),
    ],
)
def test_bad_arguments_name_the_cause(home: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        sy.train("linear", data=make_loans(100, seed=5), drop=DROP, **kwargs)


def test_bad_targets_and_data_name_the_cause(home: Path) -> None:
    frame = make_loans(60, seed=6)
    one_class = frame.assign(default=0)
    with pytest.raises(InvalidInput, match="one class only"):
        sy.train("linear", data=one_class, target="default", drop=DROP)
    leaky = frame.assign(copy_of_target=frame["default"])
    with pytest.raises(InvalidInput, match="'copy_of_target' is identical to the target"):
        sy.train("linear", data=leaky, target="default", drop=DROP)
    with pytest.raises(InvalidInput, match="Too few rows"):
        sy.train("linear", data=frame.head(8), target="default", drop=DROP, split="kfold")
    with pytest.raises(InvalidInput, match="exactly one of"):
        sy.train("linear", target="default")
    with pytest.raises(InvalidInput, match="model must be one of"):
        sy.train("svm", data=frame, target="default")
    missing = frame.assign(default=frame["default"].astype(float))
    missing.loc[0, "default"] = np.nan
    with pytest.raises(InvalidInput, match="missing values"):
        sy.train("linear", data=missing, target="default", drop=DROP)
    assert "train" not in [e.name for e in sy.list_experiments()]  # nothing was tracked


def test_an_estimator_object_and_no_preprocessing(home: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    frame = make_loans(300, seed=8)
    numeric = frame[["age", "income", "credit_score", "default"]]
    result = sy.train(
        RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=1),
        data=numeric,
        target="default",
        preprocess=None,
    )
    assert list(result.model.named_steps) == ["model"]
    assert sy.get_run(result.run_id).params["model.n_estimators"] == "20"
    assert isinstance(result.sample, pd.DataFrame)


def test_train_command_prints_folds_and_registers(loans: str) -> None:
    import json

    from typer.testing import CliRunner

    from shipyard.cli import app

    runner = CliRunner()
    args = ["train", "linear", "-d", loans, "-t", "default", "--drop", "application_id"]
    shown = runner.invoke(app, [*args, "--split", "kfold", "--folds", "3"])
    assert shown.exit_code == 0, shown.output
    assert "mean" in shown.output and "auc" in shown.output
    out = runner.invoke(app, [*args, "--register", "churn", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["registered"] == "churn@1" and data["task"] == "classification"
    bad = runner.invoke(app, ["train", "linear", "-d", loans, "-t", "nope"])
    assert bad.exit_code == 1 and "target 'nope' is not a column" in bad.output


def test_drop_must_name_existing_columns(home: Path) -> None:
    with pytest.raises(InvalidInput, match="drop names columns the data lacks: \\['nope'\\]"):
        sy.train("linear", data=make_loans(100, seed=5), target="default", drop=["nope"])


def test_a_nullable_boolean_target_predicts_booleans() -> None:
    """pandas' ``boolean`` (as read from Parquet) and ``Int64`` targets: the model predicts
    the labels it was given, not scikit-learn's floats 0.0 and 1.0."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 120)})
    flags = frame["x"] + rng.normal(0, 0.5, 120) > 0
    for labels in (pd.array(flags, dtype="boolean"), pd.array(flags.astype(int), dtype="Int64")):
        result = sy.train("linear", data=frame.assign(t=labels), target="t")
        predicted = result.model.predict(frame.head(4))
        assert predicted.dtype.kind in "bi", predicted
        assert set(result.model.classes_) == {False, True}
