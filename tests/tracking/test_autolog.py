"""scikit-learn autologging: outermost fits are tracked, inner fits are not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard as sy


@pytest.fixture
def autologging(home: Path) -> Iterator[None]:
    assert sy.autolog() > 50
    yield
    sy.autolog(disable=True)


def test_fit_outside_a_run_starts_and_ends_one(autologging: None) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    found = sy.search_runs("default")
    assert len(found) == 1  # the pipeline's steps were not logged again
    row = found.iloc[0]
    assert row["status"] == "finished"
    assert row["tags.estimator"] == "sklearn.pipeline.Pipeline"
    assert row["params.training_rows"] == "569"
    assert row["metrics.training_score"] > 0.95


def test_fit_inside_a_run_logs_to_it(autologging: None) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    with sy.start_run(experiment="grid") as run:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        GridSearchCV(model, {"logisticregression__C": [0.1, 1.0]}, cv=2).fit(x, y)
        LogisticRegression(C=0.5, max_iter=5000).fit(x[:, :3], y)  # a second fit: child run
    data = sy.get_run(run.id)
    assert data.tags["estimator"].endswith("GridSearchCV")
    assert "fit_time" in data.metrics
    assert data.params["cv"] == "2"
    found = sy.search_runs("grid")
    assert len(found) == 2
    child = found[found["parent_id"] == run.id].iloc[0]
    assert child["params.C"] == "0.5"


def test_failed_fit_marks_its_own_run_failed(autologging: None) -> None:
    with pytest.raises(ValueError):
        LogisticRegression().fit(np.array([[1.0], [2.0]]), np.array([1, 1]))
    assert sy.search_runs("default").iloc[0]["status"] == "failed"


def test_disable_restores_plain_fit(home: Path) -> None:
    sy.autolog()
    assert sy.autolog(disable=True) > 50
    x, y = load_breast_cancer(return_X_y=True)
    LogisticRegression(max_iter=5000).fit(x[:, :3], y)
    assert sy.list_experiments() == []
