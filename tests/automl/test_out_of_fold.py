"""Out-of-fold predictions kept by a search: they reproduce each trial's score."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

import shipyard as sy
from shipyard.automl._executors import LocalExecutor
from shipyard.automl._oof import OutOfFold, fold_score
from shipyard.automl._problem import make_splits
from shipyard.automl._search import load_optuna
from shipyard.automl._study import Search, run_study


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_each_kept_trial_reproduces_its_score(home: Path, task: str) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    if task == "regression":
        y = X.pop("petal length (cm)")
    metric = "accuracy" if task == "classification" else "rmse"
    splits = make_splits(X, y, task, "kfold", 0.2, 3, None, 0)
    oof = OutOfFold(y, task, metric, splits, keep=3)
    search = Search(
        ["linear", "random_forest"], splits, task, metric, "tpe", 0, 6,
        time.monotonic(), 60.0, None, oof=oof,
    )  # fmt: skip
    with sy.start_run(name="search") as parent:
        study = run_study(load_optuna(), search, parent, LocalExecutor(X, y))
    complete = {t.number: t.value for t in study.get_trials() if t.state.name == "COMPLETE"}
    assert 0 < len(oof.predictions) <= 3
    assert oof.ranked()[0] == (min if metric == "rmse" else max)(complete, key=complete.get)
    for number, matrix in oof.predictions.items():
        assert not np.isnan(matrix).any()
        assert fold_score(oof, matrix) == pytest.approx(complete[number], rel=1e-6)
    if task == "classification":
        matrix = next(iter(oof.predictions.values()))
        assert matrix.shape == (len(y), 3)
        assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-5)
        assert oof.classes == sorted(pd.unique(y))
