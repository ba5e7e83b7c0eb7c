"""How fits already running stop at a deadline: the ``stop`` of each family that can.

LightGBM, XGBoost and CatBoost stop through a callback between boosting rounds; random forests and
histogram gradient boosting grow in chunks (``warm_start``, which gives the same model as
one fit when nothing stops it); the PyTorch MLP checks after each epoch. Each stops when
the next round, tree or epoch would end past the deadline (at the pace measured so far), so
a fold ends before the deadline, not one step after it. Deadlines are ``time.time()``
values, so they hold in worker processes and on Ray nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "CHUNK_TREES",
    "boosting_rounds",
    "catboost_rounds",
    "epochs",
    "grown",
    "xgboost_rounds",
]

CHUNK_TREES = 10  # the most trees or boosting rounds grown between two looks at the clock


def boosting_rounds(
    model: Any, X: Any, y: Any, deadline: float | None, curve_bar: Sequence[float] | None
) -> str | None:
    """LightGBM: a callback between rounds."""
    if deadline is None:
        model.fit(X, y)
        return None
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


def xgboost_rounds(
    model: Any, X: Any, y: Any, deadline: float | None, curve_bar: Sequence[float] | None
) -> str | None:
    """XGBoost: a training callback between rounds."""
    if deadline is None:
        model.fit(X, y)
        return None
    from xgboost.callback import TrainingCallback

    class Clock(TrainingCallback):
        stopped = False
        started = time.time()

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            now = time.time()
            assert deadline is not None
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


def catboost_rounds(
    model: Any, X: Any, y: Any, deadline: float | None, curve_bar: Sequence[float] | None
) -> str | None:
    """CatBoost (Shipyard's step, ``_catboost.py``): a callback after each iteration, whose
    ``False`` ends the fit with the trees grown so far."""
    if deadline is None:
        model.fit(X, y)
        return None

    class Clock:
        stopped = False
        started = time.time()

        def after_iteration(self, info: Any) -> bool:
            now = time.time()
            assert deadline is not None
            self.stopped = now + (now - self.started) / (info.iteration + 1) >= deadline
            return not self.stopped

    clock = Clock()
    model.fit(X, y, callbacks=[clock])
    return "deadline" if clock.stopped and model.tree_count_ < model.iterations else None


def epochs(
    model: Any, X: Any, y: Any, deadline: float | None, curve_bar: Sequence[float] | None
) -> str | None:
    """The PyTorch MLP: it looks at the clock (and the curve bar) after each epoch."""
    model.fit(X, y, deadline=deadline, curve_bar=curve_bar)
    return model.stopped_ if model.stopped_ in ("deadline", "pruned") else None


def grown(size: str, count: Callable[[Any], int]) -> Callable[..., str | None]:
    """A stop that grows ``size`` trees (or iterations) in chunks; ``count`` reads how many
    the fitted model has."""

    def stop(
        model: Any, X: Any, y: Any, deadline: float | None, curve_bar: Sequence[float] | None
    ) -> str | None:
        if deadline is None:
            model.fit(X, y)
            return None
        return _grow(model, X, y, deadline, size, count)

    return stop


def _grow(
    model: Any, X: Any, y: Any, deadline: float, size: str, count: Callable[[Any], int]
) -> str | None:
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
            if count(model) < target:  # stopped on its own (early stopping)
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
