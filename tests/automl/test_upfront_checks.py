"""sy.train, sy.automl and sy.tune refuse bad arguments before they read data or track
anything, and a split that cannot be made is explained for the split asked for."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.data import make_loans
from shipyard.errors import InvalidInput


def _nothing_tracked() -> None:
    assert sy.search_runs().empty


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_trials": 0}, "n_trials must be a whole number of at least 1"),
        ({"n_trials": 2.5}, "n_trials must be a whole number"),
        ({"folds": 1}, "folds must be a whole number of at least 2"),
        ({"ensemble": -1}, "ensemble must be a whole number"),
        ({"seed": -1}, "seed must be a whole number from 0 to 4294967295"),
        ({"seed": 2**40}, "seed must be a whole number"),
        ({"time_budget": math.inf}, "time_budget must be a positive number"),
        ({"time_budget": math.nan}, "time_budget must be a positive number"),
        ({"executor": "threads"}, "executor must be one of"),
        ({"workers": 0, "executor": "processes"}, "workers must be at least 1"),
    ],
)
def test_automl_refuses_before_reading_the_data(home: Path, kwargs: dict, message: str) -> None:
    # the dataset does not exist: the argument is named first, so it was checked first
    with pytest.raises(InvalidInput, match=message):
        sy.automl(dataset="nosuch@1", target="default", **kwargs)
    _nothing_tracked()


def test_automl_refuses_a_metric_of_the_other_task_before_tracking(home: Path) -> None:
    data = make_loans(200, seed=1)
    with pytest.raises(InvalidInput, match="metric 'rmse' is not available"):
        sy.automl(data=data, target="default", metric="rmse", n_trials=1)
    _nothing_tracked()


def test_train_refuses_a_bad_seed_or_family_before_reading_the_data(home: Path) -> None:
    with pytest.raises(InvalidInput, match="seed must be a whole number"):
        sy.train("linear", dataset="nosuch@1", target="default", seed=-1)
    with pytest.raises(InvalidInput, match="model must be one of"):
        sy.train("svm", dataset="nosuch@1", target="default")
    _nothing_tracked()


def test_a_holdout_on_an_id_column_says_so_not_use_fewer_folds(home: Path) -> None:
    data = make_loans(200, seed=2)
    with pytest.raises(InvalidInput) as raised:
        sy.train("linear", data=data, target="application_id", drop=["applied_at"])
    said = str(raised.value)
    assert "a holdout needs 2 rows of each class" in said and "looks like an id" in said
    assert "folds" not in said
    with pytest.raises(InvalidInput, match=r"5 folds need 5 rows of each\. Use fewer folds"):
        rare = data.assign(default=[0] * 197 + [1] * 3)
        sy.train("linear", data=rare, target="default", split="kfold", drop=["application_id"])
    _nothing_tracked()


def test_tune_refuses_zero_trials_before_tracking(home: Path) -> None:
    with pytest.raises(InvalidInput, match="n_trials must be a whole number of at least 1"):
        sy.tune(lambda p: p["x"], {"x": (0.0, 1.0)}, n_trials=0)
    _nothing_tracked()
