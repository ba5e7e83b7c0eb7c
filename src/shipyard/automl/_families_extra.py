"""The estimators, spaces, cheap starts, grids and portfolios of three more AutoML families:
``catboost``, ``extra_trees`` and ``knn`` (their entries are at the end of the table in
``_families.py``).

- CatBoost (Prokhorenkova et al. 2018): symmetric trees, ordered boosting, category columns
  natively; Shipyard's step (``_catboost.py``) runs it on one thread. An optional package
  (``pip install 'shipyard[catboost]'``): without it the family is left out of the default
  search.
- Extremely randomised trees (Geurts, Ernst & Wehenkel 2006, scikit-learn's ExtraTrees):
  random split points make each tree cheaper than a random forest's and the average
  smoother; grown in chunks like the random forest, so a fit stops at a deadline.
- k-nearest neighbours on the scaled, one-hot encoded columns: different errors from the
  trees' (useful to an ensemble), strong on small data, slow to predict on large data, so
  searched up to ``KNN_MAX_ROWS`` training rows.

Portfolios list strong configurations, best first; each says where its values come from.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidInput

__all__ = [
    "KNN_MAX_ROWS",
    "catboost_cheap",
    "catboost_estimator",
    "catboost_grid",
    "catboost_portfolio",
    "catboost_space",
    "extra_trees_cheap",
    "extra_trees_estimator",
    "extra_trees_grid",
    "extra_trees_portfolio",
    "extra_trees_space",
    "knn_cheap",
    "knn_estimator",
    "knn_grid",
    "knn_portfolio",
    "knn_space",
]

CLASSIFICATION = "classification"
KNN_MAX_ROWS = 20_000  # each prediction measures its distance to every training row


# -- CatBoost -----------------------------------------------------------------------------


def catboost_estimator(task: str, seed: int) -> Any:
    """Shipyard's CatBoost step for the task; InvalidInput when CatBoost is missing."""
    from shipyard.automl._catboost import (
        CatBoostTabularClassifier,
        CatBoostTabularRegressor,
        catboost_available,
    )

    if not catboost_available():
        raise InvalidInput("catboost needs CatBoost: pip install 'shipyard[catboost]'.")
    kind = CatBoostTabularClassifier if task == CLASSIFICATION else CatBoostTabularRegressor
    # max_ctr_complexity=1: no combinations of category columns; on loans they took
    # twice the fit time for 0.0004 AUC (0.8017 against 0.8013; 500 trees, 4,000 rows)
    return kind(
        iterations=300, learning_rate=0.1, max_ctr_complexity=1, thread_count=1, random_state=seed
    )


def catboost_space(trial: Any, task: str) -> dict[str, Any]:
    # ranges of CatBoost's parameter-tuning guide (l2_leaf_reg, random_strength; depth up to
    # 8 of its 4-10, and up to 800 trees: one thread, the whole search's budget)
    return {
        "iterations": trial.suggest_int("catboost.iterations", 50, 800, log=True),
        "learning_rate": trial.suggest_float("catboost.learning_rate", 0.01, 0.3, log=True),
        "depth": trial.suggest_int("catboost.depth", 4, 8),  # 10: ~4x the time of 8
        "l2_leaf_reg": trial.suggest_float("catboost.l2_leaf_reg", 1.0, 30.0, log=True),
        "random_strength": trial.suggest_float("catboost.random_strength", 0.1, 10.0, log=True),
    }


def catboost_cheap(task: str) -> dict[str, Any]:
    return {
        "catboost.iterations": 100,
        "catboost.learning_rate": 0.15,
        "catboost.depth": 6,
        "catboost.l2_leaf_reg": 3.0,
        "catboost.random_strength": 1.0,
    }


def catboost_grid(task: str) -> dict[str, list[Any]]:
    return {
        "catboost.learning_rate": [0.05, 0.15],
        "catboost.depth": [4, 8],
        "catboost.iterations": [200, 600],
    }


def catboost_portfolio(task: str) -> list[dict[str, Any]]:
    """CatBoost's documented defaults (depth 6, l2_leaf_reg 3, random_strength 1, about
    0.03-0.1 learning rate for 1,000 trees), then the shallower, and the deeper and more
    regularised, points of CatBoost's parameter-tuning guide; fewer, faster trees than
    1,000 at one thread, so each fits within a short budget."""
    points = [
        (500, 0.06, 6, 3.0, 1.0),  # the defaults, at half the trees and a faster rate
        (300, 0.1, 4, 1.0, 1.0),  # shallow and fast: small data
        (500, 0.05, 8, 10.0, 2.0),  # deeper, more regularised: interactions
        (200, 0.15, 6, 3.0, 1.0),  # the cheap start's neighbour, for larger data
    ]
    names = ("iterations", "learning_rate", "depth", "l2_leaf_reg", "random_strength")
    return [{f"catboost.{n}": v for n, v in zip(names, point, strict=True)} for point in points]


# -- extremely randomised trees -----------------------------------------------------------


def extra_trees_estimator(task: str, seed: int) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    kind = ExtraTreesClassifier if task == CLASSIFICATION else ExtraTreesRegressor
    return kind(n_estimators=200, n_jobs=1, random_state=seed)


def extra_trees_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("extra_trees.n_estimators", 50, 500, log=True),
        "max_depth": trial.suggest_int("extra_trees.max_depth", 4, 32, log=True),
        "min_samples_leaf": trial.suggest_int("extra_trees.min_samples_leaf", 1, 20, log=True),
        "max_features": trial.suggest_float("extra_trees.max_features", 0.1, 1.0),
    }


def extra_trees_cheap(task: str) -> dict[str, Any]:
    return {
        "extra_trees.n_estimators": 50,
        "extra_trees.max_depth": 12,
        "extra_trees.min_samples_leaf": 2,
        "extra_trees.max_features": 0.5,
    }


def extra_trees_grid(task: str) -> dict[str, list[Any]]:
    return {
        "extra_trees.n_estimators": [100, 300],
        "extra_trees.min_samples_leaf": [1, 5],
        "extra_trees.max_features": [0.3, 0.8],
    }


def extra_trees_portfolio(task: str) -> list[dict[str, Any]]:
    """Geurts, Ernst & Wehenkel 2006 (Extremely randomized trees, Machine Learning 63):
    K = sqrt(p) features per split and n_min = 2 for classification, K = p and n_min = 5
    for regression, fully grown trees (depth 32 here: unbounded at these sizes); then
    scikit-learn's defaults' neighbours with more smoothing (larger leaves) and half the
    features, which random-forest tunability studies (Probst, Boulesteix & Bischl 2019)
    find the most useful knobs."""
    paper = (300, 32, 1, 0.3) if task == CLASSIFICATION else (300, 32, 3, 1.0)
    points = [paper, (300, 32, 2, 0.5), (300, 16, 5, 0.7), (150, 32, 1, 1.0)]
    names = ("n_estimators", "max_depth", "min_samples_leaf", "max_features")
    return [{f"extra_trees.{n}": v for n, v in zip(names, point, strict=True)} for point in points]


# -- k-nearest neighbours -----------------------------------------------------------------


def knn_estimator(task: str, seed: int) -> Any:
    """Uniform weights only: with ``weights="distance"`` scikit-learn gives a row at distance
    0 all the weight, where skl2onnx's converter divides by that 0, so the ONNX export of a
    model would disagree on its own training rows (and be refused)."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    kind = KNeighborsClassifier if task == CLASSIFICATION else KNeighborsRegressor
    return kind(n_neighbors=15, n_jobs=1)


def knn_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "n_neighbors": trial.suggest_int("knn.n_neighbors", 1, 100, log=True),
        "p": trial.suggest_categorical("knn.p", [1, 2]),  # Manhattan, Euclidean
    }


def knn_cheap(task: str) -> dict[str, Any]:
    return {"knn.n_neighbors": 15, "knn.p": 2}


def knn_grid(task: str) -> dict[str, list[Any]]:
    return {"knn.n_neighbors": [5, 15, 40], "knn.p": [1, 2]}


def knn_portfolio(task: str) -> list[dict[str, Any]]:
    """scikit-learn's default (k = 5, Euclidean; also AutoGluon's uniform ``KNN`` model),
    then larger k, which averages noisier targets, and Manhattan distance, which one-hot
    columns and outliers sway less (our choices; odd k, so two classes cannot tie)."""
    return [
        {"knn.n_neighbors": 5, "knn.p": 2},
        {"knn.n_neighbors": 15, "knn.p": 2},
        {"knn.n_neighbors": 31, "knn.p": 1},
        {"knn.n_neighbors": 9, "knn.p": 1},
    ]
