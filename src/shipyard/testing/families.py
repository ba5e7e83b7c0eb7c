"""The contract every AutoML family keeps, checked on tiny data.

For each entry of the family table and each task it claims, the battery checks that its
estimator builds and fits inside the preprocessing pipeline (and takes missing values or
category columns as they are when it claims to), that a trial's parameters
sampled from its space fit, that its cheap start and grid name parameters of its space and
fit, and that a fit stops at a deadline already past when the family claims a ``stop``.

Run it over the table (as ``tests/automl/test_family_contract.py`` does)::

    @pytest.mark.parametrize("family, task", families.cases(), ids=families.case_id)
    def test_family(family, task):
        families.check_family(family, task)
"""

from __future__ import annotations

import functools
import importlib.util
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.automl._families import FAMILY_TABLE, family_of
from shipyard.automl._family import Family
from shipyard.automl._fitting import fit_within
from shipyard.automl._problem import build_pipeline, encoding_for
from shipyard.automl._spaces import make_pipeline, suggest

__all__ = [
    "TASKS",
    "case_id",
    "cases",
    "check_budget_stop",
    "check_builds",
    "check_capabilities",
    "check_cheap_start",
    "check_entry",
    "check_family",
    "check_trial",
    "tiny_data",
]

TASKS = ("classification", "regression")
ROWS = 120


@functools.cache
def tiny_data(task: str) -> tuple[pd.DataFrame, pd.Series]:
    """120 rows of four numbers and a category column, with a binary or numeric target."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(ROWS, 4)), columns=[f"x{i}" for i in range(4)])
    X["colour"] = pd.Categorical(rng.choice(["red", "green", "blue"], ROWS))
    signal = X["x0"] - 0.5 * X["x1"] + (X["colour"] == "red") * 0.8
    if task == "classification":
        return X, pd.Series((signal > signal.median()).astype(int), name="target")
    return X, pd.Series(signal + rng.normal(scale=0.1, size=ROWS), name="target")


def cases() -> list[tuple[Family, str]]:
    """Every (family, task) pair the table claims, for ``pytest.mark.parametrize``."""
    return [(family, task) for family in FAMILY_TABLE.values() for task in family.tasks]


def case_id(value: Any) -> str:
    """A readable test id: the family's name, or the task."""
    return str(getattr(value, "name", value))


def _needs(family: Family) -> None:
    missing = [p for p in family.needs if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"the {family.name} family needs {missing}")


def check_entry(family: Family) -> None:
    """The entry is well formed: its name is its key, its tasks are known, its estimators
    are found back as this family, its grid and cheap start use its space's parameters."""
    # an entry checked before it joins the table (a plugin's) passes; a taken name does not
    assert FAMILY_TABLE.get(family.name, family) is family, f"{family.name}: name taken"
    assert family.tasks and set(family.tasks) <= set(TASKS), family.tasks
    assert isinstance(family.cost, int)
    assert family.estimators, "estimators: class-name prefixes of its estimators"
    if not family.searched:
        assert family.search_build is None, "search_build only for searched families"
        return
    for task in family.tasks:
        space = set(_trial_params(family, task))
        assert set(family.cheap_start(task)) <= space, "cheap start outside the space"
        assert set(family.grid(task)) <= space, "grid outside the space"


def _trial_params(family: Family, task: str) -> dict[str, Any]:
    """The parameters a random trial samples from the family's space."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    trial.suggest_categorical("family", [family.name])
    suggest(trial, family.name, task, 0)
    return {k: v for k, v in trial.params.items() if k != "family"}


def _fits(pipeline: Any, task: str) -> None:
    X, y = tiny_data(task)
    assert fit_within(pipeline, X, y) is None, "a fit without a deadline finishes"
    predicted = np.asarray(pipeline.predict(X))
    assert predicted.shape == (ROWS,)
    if task == "classification":
        assert set(np.unique(predicted)) <= {0, 1}
    else:
        assert np.isfinite(predicted.astype(float)).all()


def check_builds(family: Family, task: str) -> None:
    """``build`` gives an unfitted estimator that fits inside the pipeline and predicts."""
    _needs(family)
    model = family.build(task, 0)
    assert hasattr(model, "fit") and hasattr(model, "get_params")
    assert family_of(model) is family, f"{type(model).__name__} is not found as {family.name}"
    X, _ = tiny_data(task)
    _fits(build_pipeline(model, X, encoding_for("auto", model)), task)


def check_capabilities(family: Family, task: str) -> None:
    """What the family claims its estimator takes as it is: missing values, categories."""
    _needs(family)
    X, y = tiny_data(task)
    numbers = X.drop(columns="colour")
    if family.missing_values:
        holes = numbers.mask(np.arange(ROWS)[:, None] % 7 == np.arange(4)[None, :])
        family.build(task, 0).fit(holes, y)  # no imputer in front
    if family.categories:
        family.build(task, 0).fit(X, y)  # the category column as it is


def check_trial(family: Family, task: str) -> None:
    """A trial's parameters, sampled from the space, build a pipeline that fits."""
    if not family.searched:
        return
    _needs(family)
    X, _ = tiny_data(task)
    params = {"family": family.name, **_trial_params(family, task)}
    _fits(make_pipeline(params, task, 0, X), task)


def check_cheap_start(family: Family, task: str) -> None:
    """The cheap start is a complete configuration that fits."""
    if not family.searched:
        return
    _needs(family)
    X, _ = tiny_data(task)
    _fits(make_pipeline({"family": family.name, **family.cheap_start(task)}, task, 0, X), task)


def check_budget_stop(family: Family, task: str) -> None:
    """A family that claims a ``stop`` stops a fit whose deadline has passed, early."""
    if family.stop is None:
        return
    _needs(family)
    X, y = tiny_data(task)
    if family.searched:
        pipeline = make_pipeline({"family": family.name, **family.cheap_start(task)}, task, 0, X)
    else:
        model = family.build(task, 0)
        pipeline = build_pipeline(model, X, encoding_for("auto", model))
    assert fit_within(pipeline, X, y, deadline=time.time() - 1) == "deadline"
    assert np.asarray(pipeline.predict(X)).shape == (ROWS,), "a model cut short still predicts"


def check_family(family: Family, task: str) -> None:
    """Every check above, for one family and task."""
    check_entry(family)
    check_builds(family, task)
    check_capabilities(family, task)
    check_trial(family, task)
    check_cheap_start(family, task)
    check_budget_stop(family, task)
