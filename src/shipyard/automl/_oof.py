"""Out-of-fold predictions of a search's trials: what its ensemble is built from.

Every trial is scored on the same folds, so the predictions each trial made on each fold's
held-out rows line up, row for row, across trials: one matrix per trial (class
probabilities in ``classes`` order, or predicted values for regression). The store keeps
those of the best ``keep`` complete trials only (memory: rows x classes x keep floats).
With time-ordered folds the first rows are never held out: ``covered`` says which rows are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.automl._problem import LOWER_IS_BETTER, score_values

__all__ = ["OutOfFold", "fold_score"]


@dataclass
class OutOfFold:
    """The out-of-fold predictions of the best ``keep`` complete trials, by trial number.

    Attributes:
        y: the target, every row.
        task: ``classification`` or ``regression``.
        metric: what the search optimises (which trials are best).
        splits: the search's folds (train rows, held-out rows).
        keep: how many trials' predictions to keep (0: none).
        classes: the classes in column order (classification), sorted.
        predictions: trial number -> (rows, classes) probabilities or (rows,) values.
        values: trial number -> the trial's cross-validated score.
    """

    y: pd.Series
    task: str
    metric: str
    splits: list[tuple[np.ndarray, np.ndarray]]
    keep: int
    classes: list[Any] = field(default_factory=list)
    predictions: dict[int, np.ndarray] = field(default_factory=dict)
    values: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task == "classification" and not self.classes:
            self.classes = sorted(pd.unique(self.y))

    @property
    def covered(self) -> np.ndarray:
        """The rows some fold holds out, in order (every row with shuffled k-fold)."""
        return np.unique(np.concatenate([test for _, test in self.splits]))

    def empty(self) -> np.ndarray:
        """A matrix to fill fold by fold (NaN where no fold predicted)."""
        shape = (len(self.y), len(self.classes)) if self.task == "classification" else len(self.y)
        return np.full(shape, np.nan)

    def place(self, matrix: np.ndarray, fold: int, values: np.ndarray, classes: Any) -> None:
        """Put one fold's predictions (columns in ``classes`` order) in their rows."""
        rows = self.splits[fold][1]
        if self.task != "classification":
            matrix[rows] = values
            return
        matrix[rows] = 0.0
        for column, label in enumerate(list(classes)):
            matrix[rows, self.classes.index(label)] = values[:, column]

    def add(self, number: int, value: float, matrix: np.ndarray) -> None:
        """Keep a complete trial's predictions if it is among the best ``keep``."""
        if self.keep <= 0:
            return
        self.predictions[number] = matrix
        self.values[number] = value
        if len(self.predictions) > self.keep:
            worst = max(self.values, key=lambda n: self._rank_key(self.values[n]))
            del self.predictions[worst], self.values[worst]

    def _rank_key(self, value: float) -> float:
        """Larger is worse."""
        return value if self.metric in LOWER_IS_BETTER else -value

    def ranked(self) -> list[int]:
        """Kept trial numbers, best first."""
        return sorted(self.values, key=lambda n: (self._rank_key(self.values[n]), n))


def fold_score(oof: OutOfFold, matrix: np.ndarray, metric: str | None = None) -> float:
    """The mean over folds of ``metric`` (the search's by default) of predictions laid out
    like the store's: the same number a trial reports, from its predictions alone."""
    metric = metric or oof.metric
    scores = [_fold_metric(oof, matrix[test], oof.y.iloc[test], metric) for _, test in oof.splits]
    return float(np.mean(scores))


def _fold_metric(oof: OutOfFold, values: np.ndarray, y: pd.Series, metric: str) -> float:
    classes: Sequence[Any] | None = oof.classes if oof.task == "classification" else None
    return score_values(y, values, oof.task, list(classes) if classes else None)[metric]
