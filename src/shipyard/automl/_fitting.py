"""Fitting one fold of a search trial within a deadline.

A search keeps its time budget only if a fit already running can stop. Each kind of
estimator stops its own way: LightGBM and XGBoost through a callback between boosting
rounds; random forests and histogram gradient boosting grow in chunks (``warm_start``,
which gives the same model as one fit when nothing stops it); the PyTorch MLP checks after
each epoch. Each stops when the next round, tree or epoch would end past the deadline (at
the pace measured so far), so a fold ends before the deadline, not one step after it. The
MLP also stops when its validation curve is worse than ``curve_bar`` (pruning on curves).
scikit-learn's MLP cannot be stopped; its fits are bounded by ``max_iter``.

Deadlines are ``time.time()`` values, so they hold in worker processes and on Ray nodes.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["FoldOutcome", "fit_within"]

CHUNK_TREES = 10  # the most trees or boosting rounds grown between two looks at the clock


@dataclass(frozen=True)
class FoldOutcome:
    """One fold's scores and how its fit ended."""

    scores: dict[str, float]
    stopped: str | None = None  # "deadline" or "pruned" when the fit did not finish
    curve: list[float] = field(default_factory=list)  # validation curve (PyTorch MLP)


def fit_within(
    pipeline: Any,
    X: pd.DataFrame,
    y: Any,
    deadline: float | None = None,
    curve_bar: Sequence[float] | None = None,
) -> str | None:
    """Fit ``pipeline`` (preprocessing, then ``model``); None when it finished, otherwise why
    it stopped early (``deadline`` or ``pruned``): the model is then usable but cut short."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # a trial that stops early is scored as it is; its warning is noise in a search
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = pipeline.steps[-1][1]
        inputs = pipeline[:-1].fit_transform(X, y) if len(pipeline.steps) > 1 else X
        return _fit_model(model, inputs, y, deadline, curve_bar)


def _fit_model(
    model: Any, X: Any, y: Any, deadline: float | None, curve_bar: Sequence[float] | None
) -> str | None:
    kind = type(model).__name__
    if kind.startswith("TorchMLP"):
        model.fit(X, y, deadline=deadline, curve_bar=curve_bar)
        return model.stopped_ if model.stopped_ in ("deadline", "pruned") else None
    if deadline is None:
        model.fit(X, y)
        return None
    if kind.startswith("LGBM"):
        return _fit_lightgbm(model, X, y, deadline)
    if kind.startswith("XGB"):
        return _fit_xgboost(model, X, y, deadline)
    if kind.startswith(("RandomForest", "ExtraTrees")):
        return _grow(model, X, y, deadline, "n_estimators", lambda m: len(m.estimators_))
    if kind.startswith("HistGradientBoosting"):
        return _grow(model, X, y, deadline, "max_iter", lambda m: m.n_iter_)
    model.fit(X, y)
    return None


def _fit_lightgbm(model: Any, X: Any, y: Any, deadline: float) -> str | None:
    from lightgbm.callback import EarlyStopException

    stopped: list[str] = []

    started = time.time()

    def clock(env: Any) -> None:
        now = time.time()
        per_round = (now - started) / (env.iteration - env.begin_iteration + 1)
        if now + per_round >= deadline and env.iteration + 1 < env.end_iteration:
            stopped.append("deadline")
            raise EarlyStopException(env.iteration, env.evaluation_result_list)

    model.fit(X, y, callbacks=[clock])
    return stopped[0] if stopped else None


def _fit_xgboost(model: Any, X: Any, y: Any, deadline: float) -> str | None:
    from xgboost.callback import TrainingCallback

    class Clock(TrainingCallback):
        stopped = False
        started = time.time()

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            now = time.time()
            self.stopped = now + (now - self.started) / (epoch + 1) >= deadline
            return self.stopped

    clock = Clock()
    model.set_params(callbacks=[clock])
    try:
        model.fit(X, y)
    finally:
        model.set_params(callbacks=None)  # the fitted model keeps no reference to the clock
    rounds = model.get_booster().num_boosted_rounds()
    return "deadline" if clock.stopped and rounds < model.get_params()["n_estimators"] else None


def _grow(model: Any, X: Any, y: Any, deadline: float, size: str, grown: Any) -> str | None:
    """Fit with ``warm_start`` in chunks until ``size`` is reached, the model stops on its
    own (early stopping) or the next tree would end past the deadline. Chunks start at two
    trees and adapt to the measured time per tree, up to CHUNK_TREES."""
    total = int(model.get_params()[size])
    warm = model.get_params()["warm_start"]
    stopped = None
    started = time.time()
    try:
        model.set_params(warm_start=True)
        target = 0
        chunk = min(2, total)
        while target < total:
            target = min(total, target + chunk)
            model.set_params(**{size: target})
            model.fit(X, y)
            if grown(model) < target:  # stopped on its own (early stopping)
                break
            per_tree = (time.time() - started) / target
            left = deadline - time.time()
            if target < total and left < per_tree:
                stopped = "deadline"
                break
            chunk = max(1, min(CHUNK_TREES, int(left / per_tree)))
    finally:
        model.set_params(warm_start=warm)
        if stopped is None:
            model.set_params(**{size: total})
    return stopped
