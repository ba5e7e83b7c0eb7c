"""Fitting one fold of a search trial within a deadline.

A search keeps its time budget only if a fit already running can stop. Each family stops
its fits its own way (its ``stop``, in ``_stops.py``): the family of an estimator is found
by its class name. The PyTorch MLP also stops when its validation curve is worse than
``curve_bar`` (pruning on curves). scikit-learn's MLP cannot be stopped; its fits are
bounded by ``max_iter``.

Deadlines are ``time.time()`` values, so they hold in worker processes and on Ray nodes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.automl._families import family_of

__all__ = ["FoldOutcome", "fit_within", "subsample"]


@dataclass(frozen=True)
class FoldOutcome:
    """One fold's scores and how its fit ended."""

    scores: dict[str, float]
    stopped: str | None = None  # "deadline" or "pruned" when the fit did not finish
    curve: list[float] = field(default_factory=list)  # validation curve (PyTorch MLP)
    # the held-out rows' predictions (``predict_values``: probabilities in ``classes``
    # order, or values) for the search's ensemble; None when not asked for
    predictions: Any = None
    classes: list[Any] = field(default_factory=list)


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
    family = family_of(model)
    if family is None or family.stop is None:
        model.fit(X, y)
        return None
    return family.stop(model, X, y, deadline, curve_bar)


def subsample(rows: np.ndarray, y: Any, fraction: float, seed: int, task: str) -> np.ndarray:
    """A seeded ``fraction`` of ``rows`` (a low-fidelity rung of successive halving), in
    their order; for classification, every class of ``rows`` keeps two rows (or all it has),
    so the rung's model predicts the same classes as the full fit."""
    if fraction >= 1.0:
        return rows
    count = max(1, round(len(rows) * fraction))
    picked = np.random.default_rng(seed).permutation(len(rows))[:count]
    if task == "classification":
        labels = np.asarray(y)[rows].astype(str)
        for label in np.unique(labels):
            picked = np.union1d(picked, np.flatnonzero(labels == label)[:2])
    return rows[np.sort(picked)]
