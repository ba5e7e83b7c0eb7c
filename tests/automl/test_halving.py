"""Successive halving on larger data: low-fidelity rungs on subsamples of fold 0 first,
scored apart from the folds (never in a trial's scores or its out-of-fold predictions)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

import shipyard as sy
from shipyard.automl._executors import LocalExecutor
from shipyard.automl._fitting import subsample
from shipyard.automl._oof import OutOfFold, fold_score
from shipyard.automl._presets import PRESETS
from shipyard.automl._problem import make_splits
from shipyard.automl._search import load_optuna
from shipyard.automl._study import Search, run_study, rungs_of


def _search(rows: int, **changes: Any) -> tuple[Search, pd.DataFrame, pd.Series]:
    X, y = make_classification(rows, 8, n_informative=5, random_state=0)
    features = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    target = pd.Series(y)
    splits = make_splits(features, target, "classification", "kfold", 0.2, 3, None, 0)
    search = Search(
        ["linear", "lightgbm"], splits, "classification", "auc", "tpe", 0, 14,
        time.monotonic(), 300.0, None, oof=OutOfFold(target, "classification", "auc", splits, 20),
        halving_rows=1000, rung_rows=100,
    )  # fmt: skip
    return replace(search, **changes), features, target


@pytest.fixture(scope="module")
def halved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Search, Any]:
    """One search over 1,500 rows with rungs from 1,000 rows: 1/9 and 1/3 of fold 0's
    1,000 training rows (111 and 333 rows), then the folds."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(home))
        from shipyard.config import reset_settings

        reset_settings()
        search, features, y = _search(1500)
        with sy.start_run(name="search") as parent:
            study = run_study(load_optuna(), search, parent, LocalExecutor(features, y))
        reset_settings()
    return search, study


def test_rungs_only_on_data_large_enough() -> None:
    search, _, _ = _search(1500)
    assert rungs_of(search) == (1 / 9, 1 / 3)
    assert rungs_of(replace(search, rung_rows=200)) == (1 / 3,)  # 111 rows is too few
    assert rungs_of(replace(search, halving_rows=2000)) == ()
    assert rungs_of(replace(search, sampler="grid")) == ()
    no_halving = replace(PRESETS["best"], halving=False)
    assert rungs_of(replace(search, preset=no_halving)) == ()


def test_trials_climb_rungs_and_only_the_best_reach_the_folds(halved: Any) -> None:
    _, study = halved
    found = study.get_trials(deepcopy=False)
    assert len(found) == 14
    for trial in found:
        steps = sorted(trial.intermediate_values)
        assert steps[0] == 1  # every trial starts on the smallest rung
        assert set(steps) <= {1, 3, 9, 10, 11}
    complete = [t for t in found if t.state.name == "COMPLETE"]
    assert complete and sorted(complete[0].intermediate_values) == [1, 3, 9, 10, 11]
    assert any(max(t.intermediate_values) < 9 for t in found)  # pruned on a rung


def test_rung_scores_stay_out_of_the_folds_and_the_out_of_fold_matrix(halved: Any) -> None:
    search, study = halved
    oof = search.oof
    complete = {t.number: t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
    assert oof.predictions and set(oof.predictions) <= set(complete)
    for number, matrix in oof.predictions.items():
        trial = complete[number]
        assert len(trial.user_attrs["folds"]) == 3
        assert not np.isnan(matrix).any()
        assert fold_score(oof, matrix) == pytest.approx(trial.value, rel=1e-6)
        assert trial.intermediate_values[11] == pytest.approx(trial.value)  # the folds' mean


def test_subsamples_are_seeded_ordered_and_keep_every_class() -> None:
    y = pd.Series(["a"] * 97 + ["b"] * 2 + ["c"])
    rows = np.arange(100)
    picked = subsample(rows, y, 0.1, 0, "classification")
    assert np.array_equal(picked, subsample(rows, y, 0.1, 0, "classification"))
    assert np.all(np.diff(picked) > 0) and set(picked) <= set(rows)
    assert set(y.iloc[picked]) == {"a", "b", "c"}
    assert 10 <= len(picked) <= 10 + 2 * 3  # and two rows of each class
    assert np.array_equal(subsample(rows, y, 1.0, 0, "classification"), rows)
    assert len(subsample(rows, pd.Series(np.arange(100.0)), 1 / 3, 0, "regression")) == 33


def test_the_same_seed_gives_the_same_halved_search(halved: Any, home: Path) -> None:
    _, study = halved
    search, features, y = _search(1500)
    with sy.start_run(name="again") as parent:
        again = run_study(load_optuna(), search, parent, LocalExecutor(features, y))

    def seen(s: Any) -> list[Any]:
        return [(t.params, t.state.name, t.value) for t in s.get_trials(deepcopy=False)]

    assert seen(again) == seen(study)
