"""Fairness reports: the group metrics and disparities ARE Fairlearn's MetricFrame's on the
same rows (compared exactly), with bootstrap intervals, small groups reported, sensitive
attributes declared on a dataset or a model version, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    mean_prediction,
    selection_rate,
    true_positive_rate,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, mean_absolute_error, zero_one_loss
from typer.testing import CliRunner

import shipyard as sy
from shipyard import governance
from shipyard.cli import app
from shipyard.config import reset_settings
from shipyard.errors import InvalidInput

FEATURES = ["income", "score"]


def biased(n: int, seed: int) -> pd.DataFrame:
    """Applications where ``income`` depends on ``gender`` (so a model is unfair by proxy),
    a small ``nonbinary`` group, a ``region`` for intersections, and ``approved`` (0/1)."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["female", "male", "nonbinary"], n, p=[0.48, 0.48, 0.04])
    income = rng.normal(0, 1, n) + np.where(gender == "male", 1.0, 0.0)
    score = rng.normal(0, 1, n)
    approved = (income + score + rng.normal(0, 1, n) > 0.7).astype(np.int64)
    region = rng.choice(["north", "south"], n)
    amount = 10 * income + 5 * score + rng.normal(0, 1, n)
    tier = np.select([score + income < -0.5, score + income < 1.0], ["low", "mid"], "high")
    frame = {"income": income, "score": score, "gender": gender, "region": region}
    return pd.DataFrame({**frame, "approved": approved, "amount": amount, "tier": tier})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One store for the module: dataset ``apps@1`` (declares ``gender`` sensitive), binary
    classifier ``loan@1``, three-class ``tier@1`` and regressor ``amount@1`` (declares
    ``region``)."""
    root = tmp_path_factory.mktemp("fairness") / "home"
    with pytest.MonkeyPatch.context() as patch:
        for var in [k for k in os.environ if k.startswith("SHIPYARD_")]:
            patch.delenv(var)
        patch.setenv("SHIPYARD_HOME", str(root))
        reset_settings()
        try:
            df = biased(1200, seed=1)
            sy.datasets.register("apps", df, tags={"sensitive": "gender"})
            classifier = LogisticRegression().fit(df[FEATURES], df["approved"])
            sy.models.register("loan", classifier, X=df[FEATURES], y=df["approved"])
            tiers = LogisticRegression().fit(df[FEATURES], df["tier"])
            sy.models.register("tier", tiers, X=df[FEATURES], y=df["tier"])
            regressor = LinearRegression().fit(df[FEATURES], df["amount"])
            sy.models.register("amount", regressor, X=df[FEATURES], tags={"sensitive": "region"})
        finally:
            reset_settings()
    yield root


@pytest.fixture
def shared(store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pd.DataFrame]:
    """This test on the module's store; the dataset's rows."""
    for var in [k for k in os.environ if k.startswith("SHIPYARD_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("SHIPYARD_HOME", str(store))
    reset_settings()
    try:
        yield sy.datasets.get("apps@1").to_pandas()
    finally:
        reset_settings()


def test_group_metrics_and_intervals_equal_fairlearns_metricframe(shared: pd.DataFrame) -> None:
    report = governance.fairness(
        "loan@1",
        "apps@1",
        target="approved",
        sensitive=["gender", "region"],
        boot=10,
        seed=3,
        record=False,
    )
    y_true = shared["approved"].to_numpy()
    y_pred = sy.models.load("loan@1").predict(shared)
    features = shared[["gender", "region"]]
    expected = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "accuracy": accuracy_score,
            "count": count,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=features,
        n_boot=10,
        ci_quantiles=[0.025, 0.975],
        random_state=3,
    )
    low, high = expected.by_group_ci
    assert report.task == "binary" and report.rows == len(shared) == 1200
    assert len(report.groups) == 6  # 3 genders x 2 regions
    for group in report.groups:
        key = (group.group["gender"], group.group["region"])
        assert group.count == expected.by_group.loc[key, "count"]
        for name, metric in group.metrics.items():
            assert metric.value == expected.by_group.loc[key, name]
            assert metric.low == low.loc[key, name]
            assert metric.high == high.loc[key, name]
    for name, value in report.overall.items():
        assert value == expected.overall[name]
    assert report.disparities == {
        "demographic_parity_difference": demographic_parity_difference(
            y_true, y_pred, sensitive_features=features
        ),
        "demographic_parity_ratio": demographic_parity_ratio(
            y_true, y_pred, sensitive_features=features
        ),
        "equalized_odds_difference": equalized_odds_difference(
            y_true, y_pred, sensitive_features=features
        ),
    }
    assert report.disparities["demographic_parity_difference"] > 0.2  # unfair by proxy


def test_the_datasets_declared_attribute_is_used_and_the_report_is_recorded(
    shared: pd.DataFrame,
) -> None:
    before = len(sy.models.evidence("loan@1", "fairness"))
    report = governance.fairness("loan@1", "apps@1", target="approved", boot=0)
    assert report.sensitive == ("gender",) and report.data == "apps@1"
    assert [g.group["gender"] for g in report.groups] == ["female", "male", "nonbinary"]
    for group in report.groups:  # no bootstrap: values, no intervals
        assert all(m.low is None and m.high is None for m in group.metrics.values())
    recorded = sy.models.evidence("loan@1", "fairness")
    assert len(recorded) == before + 1
    data = recorded[0].data
    assert data["sensitive"] == ["gender"] and data["target"] == "approved"
    assert set(data["disparities"]) == {
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
    }
    assert set(data["groups"][0]["metrics"]["accuracy"]) == {"value", "low", "high"}
    assert governance.fairness_report("loan@1") == report
    figures = report.figures()
    assert len(figures["groups"]["data"]) == 4
    assert all(len(trace["y"]) == 3 for trace in figures["groups"]["data"])
    assert len(figures["disparities"]["data"][0]["x"]) == 3


def test_intervals_are_present_and_ordered_and_small_groups_are_reported(
    shared: pd.DataFrame,
) -> None:
    report = governance.fairness(
        "loan@1",
        shared,
        target="approved",
        sensitive="gender",
        boot=10,
        min_group_size=100,
        record=False,
    )
    assert report.data is None
    small = [g for g in report.groups if g.small]
    assert [g.group["gender"] for g in small] == ["nonbinary"]  # reported, not hidden
    assert 0 < small[0].count < 100
    assert any("nonbinary" in note and "min_group_size" in note for note in report.notes)
    for group in report.groups:
        for name, metric in group.metrics.items():
            assert metric.low is not None and metric.high is not None, name
            assert metric.low <= metric.high
            assert metric.low >= 0.0 and metric.high <= 1.0
    frame = report.frame()
    assert list(frame["small"]) == [False, False, True]
    assert {"selection_rate_low", "selection_rate_high", "count"} <= set(frame.columns)


def test_a_regressor_reports_error_per_group_equal_to_metricframe(shared: pd.DataFrame) -> None:
    report = governance.fairness("amount@1", "apps@1", target="amount", boot=0, record=False)
    assert report.task == "regression" and report.sensitive == ("region",)  # the model's tag
    y_pred = sy.models.load("amount@1").predict(shared)
    expected = MetricFrame(
        metrics={"error": mean_absolute_error, "mean_prediction": mean_prediction},
        y_true=shared["amount"].to_numpy(np.float64),
        y_pred=y_pred,
        sensitive_features=shared[["region"]],
    )
    for group in report.groups:
        for name in ("error", "mean_prediction"):
            assert group.metrics[name].value == expected.by_group.loc[group.group["region"], name]
    assert report.disparities == {
        "error_difference": expected.difference()["error"],
        "error_ratio": expected.ratio()["error"],
    }


def test_a_multiclass_model_reports_accuracy_and_error_equal_to_metricframe(
    shared: pd.DataFrame,
) -> None:
    report = governance.fairness(
        "tier@1", "apps@1", target="tier", sensitive="gender", boot=10, record=False
    )
    assert report.task == "multiclass" and report.positive_label is None
    y_pred = sy.models.load("tier@1").predict(shared)
    expected = MetricFrame(
        metrics={"accuracy": accuracy_score, "error": zero_one_loss},
        y_true=shared["tier"].to_numpy(),
        y_pred=y_pred,
        sensitive_features=shared[["gender"]],
        n_boot=10,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    low, high = expected.by_group_ci
    for group in report.groups:
        key = group.group["gender"]
        for name in ("accuracy", "error"):
            assert group.metrics[name].value == expected.by_group.loc[key, name]
            assert group.metrics[name].low == low.loc[key, name]
            assert group.metrics[name].high == high.loc[key, name]
    assert report.disparities == {
        "error_difference": expected.difference()["error"],
        "error_ratio": expected.ratio()["error"],
    }


def test_a_continuous_sensitive_column_is_refused_before_any_work(shared: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match=r"sensitive: 1200 groups \(at most 200\)"):
        governance.fairness("loan@1", "apps@1", target="approved", sensitive="income")


def test_the_cli_prints_the_report_and_records_it(shared: pd.DataFrame) -> None:
    args = "models fairness loan@1 -d apps@1 -t approved -s gender -s region --boot 0 --json"
    before = len(sy.models.evidence("loan@1", "fairness"))
    done = CliRunner().invoke(app, args.split())
    assert done.exit_code == 0, done.output
    shown = json.loads(done.output)
    assert shown["sensitive"] == ["gender", "region"] and len(shown["groups"]) == 6
    assert shown == sy.models.evidence("loan@1", "fairness")[0].data
    assert len(sy.models.evidence("loan@1", "fairness")) == before + 1
    table = CliRunner().invoke(app, [*args.split()[:-1], "--no-record"])
    assert table.exit_code == 0 and "demographic_parity_difference" in table.output
    assert "nonbinary" in table.output
    assert len(sy.models.evidence("loan@1", "fairness")) == before + 1


def test_null_sensitive_values_form_their_own_group(shared: pd.DataFrame) -> None:
    rows = shared.copy()
    rows["gender"] = rows["gender"].astype(object)
    rows.loc[:9, "gender"] = None
    report = governance.fairness(
        "loan@1", rows, target="approved", sensitive="gender", boot=0, record=False
    )
    missing = [g for g in report.groups if g.group["gender"] == "(missing)"]
    assert missing and missing[0].count == 10 and missing[0].small
    assert any("10 rows with no 'gender'" in note for note in report.notes)


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"sensitive": "race"}, "sensitive: column 'race' is not in the data"),
        ({"sensitive": ["gender", "gender"]}, "sensitive: a column is named twice"),
        ({"sensitive": [3]}, "sensitive: expected a column name or a list of names"),
        ({"target": "outcome"}, "target: column 'outcome' is not in the data"),
        ({"confidence": 1.5}, "confidence: expected a number between 0 and 1"),
        ({"min_group_size": 0}, "min_group_size: expected a whole number >= 1"),
        ({"boot": 3}, "boot: expected 0 (no intervals) or at least 10"),
        ({"seed": -1}, "seed: expected a whole number >= 0"),
        ({"data": 42}, "data: expected a dataset version"),
    ],
)
def test_bad_input_is_one_line_and_records_nothing(
    shared: pd.DataFrame, kwargs: dict[str, object], said: str
) -> None:
    before = len(sy.models.evidence("loan@1"))
    arguments: dict[str, object] = {"target": "approved", "sensitive": "gender", "boot": 0}
    arguments.update(kwargs)
    data = arguments.pop("data", "apps@1")
    with pytest.raises(InvalidInput) as raised:
        governance.fairness("loan@1", data, **arguments)  # type: ignore[arg-type]
    message = str(raised.value)
    assert said in message and "\n" not in message
    assert len(sy.models.evidence("loan@1")) == before


def test_no_sensitive_attribute_given_or_declared_is_refused(shared: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match=r"sensitive: none given, and neither loan@1"):
        governance.fairness("loan@1", shared, target="approved")


def test_a_target_read_back_as_floats_with_gaps_matches_integer_classes(
    shared: pd.DataFrame,
) -> None:
    rows = shared.assign(approved=shared["approved"].astype(np.float64))
    rows.loc[:4, "approved"] = np.nan
    report = governance.fairness(
        "loan@1", rows, target="approved", sensitive="gender", boot=0, record=False
    )
    assert report.rows == 1195 and report.positive_label == 1
    assert any("5 rows without a 'approved' value were left out" in n for n in report.notes)
    y_pred = sy.models.load("loan@1").predict(rows.loc[5:])
    assert report.disparities["demographic_parity_difference"] == (
        demographic_parity_difference(
            rows.loc[5:, "approved"].to_numpy(np.int64),
            y_pred,
            sensitive_features=rows.loc[5:, "gender"],
        )
    )


def test_target_values_the_model_never_saw_are_refused(shared: pd.DataFrame) -> None:
    rows = shared.assign(approved=shared["approved"] + 1)  # 1 and 2: 2 is no class
    with pytest.raises(InvalidInput, match=r"target: values 2 of column 'approved'"):
        governance.fairness("loan@1", rows, target="approved", sensitive="gender")


def test_the_report_is_recorded_on_every_store(backend: str) -> None:
    df = biased(300, seed=2)
    sy.datasets.register("apps", df)
    model = LogisticRegression().fit(df[FEATURES], df["approved"])
    sy.models.register(
        "loan", model, X=df[FEATURES], y=df["approved"], tags={"sensitive": "gender"}
    )
    report = governance.fairness("loan@1", "apps@1", target="approved", boot=0)
    assert report.sensitive == ("gender",)  # declared on the model version
    assert governance.fairness_report("loan@1") == report
    assert governance.fairness_report("loan") is not None
    assert [e.kind for e in sy.models.evidence("loan@1")] == ["fairness"]
