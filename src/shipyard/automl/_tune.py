"""``sy.tune``: Optuna over one estimator's hyper-parameters (or any objective), tracked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from shipyard import tracking
from shipyard.automl._problem import (
    build_pipeline,
    check_target,
    clone_pipeline,
    encoding_for,
    make_splits,
    read_frame,
    score,
    split_target,
    task_of,
)
from shipyard.automl._search import LOWER_IS_BETTER, check_counts, default_metric, load_optuna
from shipyard.errors import InvalidInput

__all__ = ["tune"]

SAMPLERS = ("tpe", "random", "grid")


def tune(
    model: Any,
    space: Mapping[str, Any],
    *,
    n_trials: int = 20,
    sampler: str = "tpe",
    target: str | None = None,
    dataset: Any = None,
    data: pd.DataFrame | None = None,
    metric: str | None = None,
    direction: str = "minimize",
    folds: int = 3,
    seed: int = 0,
    experiment: str = "tune",
) -> pd.DataFrame:
    """Tune a model's hyper-parameters (or any objective) with Optuna, every trial tracked.

    ``space`` maps a parameter to a list (choices), ``(low, high)`` (ints or floats), or
    ``(low, high, "log")``. ``model`` is an estimator (scored by cross-validation on
    ``dataset``/``data`` and ``target``, preprocessing inside) or a function taking the
    parameters as a dict and returning a number to ``direction``-optimise.

    Returns:
        The trials, best first: params, score, state and run id.
    """
    check_counts(n_trials, folds, 0, seed)
    optuna = load_optuna()
    if sampler not in SAMPLERS:
        raise InvalidInput(f"sampler must be one of {SAMPLERS}; got {sampler!r}.")
    _check_space(space)
    if callable(model) and not hasattr(model, "fit"):
        score = model
        if direction not in ("minimize", "maximize"):
            raise InvalidInput(f"direction must be 'minimize' or 'maximize'; got {direction!r}.")
    else:
        score, direction = _cv_objective(model, target, dataset, data, metric, folds, seed)
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "grid": lambda: optuna.samplers.GridSampler(_grid(space), seed=seed),
    }
    study = optuna.create_study(direction=direction, sampler=samplers[sampler]())

    def objective(trial: Any) -> float:
        params = {name: _suggest(trial, name, spec) for name, spec in space.items()}
        with tracking.start_run(name=f"trial-{trial.number}") as run:
            run.log_params(params)
            value = float(score(params))
            run.log_metric("score", value)
            trial.set_user_attr("run_id", str(run.id))
        return value

    with tracking.start_run(experiment=experiment, name="tune") as parent:
        parent.log_params({"n_trials": n_trials, "sampler": sampler, "direction": direction})
        study.optimize(objective, n_trials=n_trials)
        parent.log_metric("best_score", float(study.best_value))
        board = (
            pd.DataFrame(
                [
                    {
                        **t.params,
                        "score": t.value,
                        "state": t.state.name.lower(),
                        "run_id": t.user_attrs.get("run_id"),
                    }
                    for t in study.trials
                ]
            )
            .sort_values("score", ascending=direction == "minimize")
            .reset_index(drop=True)
        )
        parent.log_artifact(board, name="trials.parquet")
    return board


def _check_space(space: Mapping[str, Any]) -> None:
    if not isinstance(space, Mapping) or not space:
        raise InvalidInput("space must be a non-empty dict of parameter -> choices or range.")
    for name, spec in space.items():
        ok = (isinstance(spec, list) and spec) or (
            isinstance(spec, tuple)
            and len(spec) in (2, 3)
            and all(isinstance(v, (int, float)) for v in spec[:2])
            and spec[0] < spec[1]
            and (len(spec) == 2 or spec[2] == "log")
        )
        if not ok:
            raise InvalidInput(
                f"space[{name!r}] must be a list of choices, (low, high) or (low, high, 'log'); "
                f"got {spec!r}."
            )


def _suggest(trial: Any, name: str, spec: Any) -> Any:
    if isinstance(spec, list):
        return trial.suggest_categorical(name, spec)
    low, high, *rest = spec
    log = bool(rest)
    if isinstance(low, int) and isinstance(high, int):
        return trial.suggest_int(name, low, high, log=log)
    return trial.suggest_float(name, float(low), float(high), log=log)


def _grid(space: Mapping[str, Any]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            grid[name] = spec
        elif isinstance(spec[0], int) and isinstance(spec[1], int) and spec[1] - spec[0] <= 20:
            grid[name] = list(range(spec[0], spec[1] + 1))
        else:
            raise InvalidInput(
                f"sampler='grid' needs choices for {name!r}: give a list, or an int range of at "
                "most 21 values."
            )
    return grid


def _cv_objective(
    model: Any,
    target: str | None,
    dataset: Any,
    data: pd.DataFrame | None,
    metric: str | None,
    folds: int,
    seed: int,
) -> tuple[Callable[[dict[str, Any]], float], str]:
    if target is None:
        raise InvalidInput("Tuning an estimator needs target= and dataset= or data=.")
    frame, _ = read_frame(dataset, data)
    features, y = split_target(frame, target)
    task = task_of(model, y)
    check_target(features, y, target, task)
    chosen = metric or default_metric(task, y)
    splits = make_splits(features, y, task, "kfold", 0.2, folds, None, seed)
    base = build_pipeline(model, features, encoding_for("auto", model))

    def objective(params: dict[str, Any]) -> float:
        values = []
        for train_rows, test_rows in splits:
            fitted = clone_pipeline(base)
            fitted.set_params(**{f"model__{k}": v for k, v in params.items()})
            fitted.fit(features.iloc[train_rows], y.iloc[train_rows])
            values.append(score(fitted, features.iloc[test_rows], y.iloc[test_rows], task)[chosen])
        return float(np.mean(values))

    return objective, "minimize" if chosen in LOWER_IS_BETTER else "maximize"
