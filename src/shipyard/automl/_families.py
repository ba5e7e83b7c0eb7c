"""The table of AutoML families: one :class:`Family` entry each (see ``_family.py``).

The MLP family is searched as an architecture: depth, a width per layer, activation,
dropout, L2 penalty, learning rate and batch size. With PyTorch installed the search builds
Shipyard's PyTorch MLP (``_torch_mlp.py``: dropout, pruning on validation curves); without
it, scikit-learn's MLP (no dropout; its L2 penalty ``alpha`` plays that part). ``sy.train``
builds scikit-learn's MLP for ``mlp`` and the PyTorch one for ``torch_mlp``.

To add a family: write its estimator factory, space, cheap start, grid and portfolio here
(or in ``_families_extra.py``, where CatBoost's, extra-trees' and k-nearest neighbours' are)
and add its :class:`Family` to ``FAMILY_TABLE``; the battery (``shipyard.testing.families``)
checks it.
"""

from __future__ import annotations

from typing import Any

from shipyard.automl import _families_extra as extra
from shipyard.automl import _stops
from shipyard.automl._family import Family
from shipyard.automl._portfolios import PORTFOLIOS
from shipyard.errors import InvalidInput

__all__ = [
    "ESTIMATORS",
    "FAMILIES",
    "FAMILY_TABLE",
    "family_of",
    "get_family",
    "installed",
    "installed_package",
]

CLASSIFICATION = "classification"


def _by_task(task: str, classifier: Any, regressor: Any) -> Any:
    return classifier if task == CLASSIFICATION else regressor


# -- linear -------------------------------------------------------------------------------


def _linear(task: str, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge

    return LogisticRegression(max_iter=1000) if task == CLASSIFICATION else Ridge()


def _linear_key(task: str) -> str:
    return "C" if task == CLASSIFICATION else "alpha"


def _linear_space(trial: Any, task: str) -> dict[str, Any]:
    key = _linear_key(task)
    return {key: trial.suggest_float(f"linear.{key}", 1e-3, 1e2, log=True)}


# -- random forest ------------------------------------------------------------------------


def _forest(task: str, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    kind = _by_task(task, RandomForestClassifier, RandomForestRegressor)
    return kind(n_estimators=200, n_jobs=1, random_state=seed)


def _forest_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("random_forest.n_estimators", 50, 300, log=True),
        "max_depth": trial.suggest_int("random_forest.max_depth", 3, 20),
        "min_samples_leaf": trial.suggest_int("random_forest.min_samples_leaf", 1, 20, log=True),
        "max_features": trial.suggest_float("random_forest.max_features", 0.2, 1.0),
    }


# -- histogram gradient boosting ------------------------------------------------------------


def _hgb(task: str, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    kind = _by_task(task, HistGradientBoostingClassifier, HistGradientBoostingRegressor)
    return kind(random_state=seed)


def _hgb_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("hgb.learning_rate", 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("hgb.max_leaf_nodes", 8, 128, log=True),
        "min_samples_leaf": trial.suggest_int("hgb.min_samples_leaf", 5, 100, log=True),
        "l2_regularization": trial.suggest_float("hgb.l2_regularization", 1e-6, 10.0, log=True),
        "max_iter": trial.suggest_int("hgb.max_iter", 50, 400, log=True),
        "early_stopping": True,  # stops at the validation plateau: bounded trial time
    }


# -- LightGBM -----------------------------------------------------------------------------


def _lightgbm(task: str, seed: int) -> Any:
    import lightgbm as lgb

    kind = _by_task(task, lgb.LGBMClassifier, lgb.LGBMRegressor)
    return kind(n_jobs=1, random_state=seed, verbose=-1)


def _lightgbm_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("lightgbm.learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("lightgbm.num_leaves", 8, 128, log=True),
        "n_estimators": trial.suggest_int("lightgbm.n_estimators", 50, 400, log=True),
        "min_child_samples": trial.suggest_int("lightgbm.min_child_samples", 5, 100, log=True),
        "subsample": trial.suggest_float("lightgbm.subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float("lightgbm.colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("lightgbm.reg_lambda", 1e-6, 10.0, log=True),
    }


# -- XGBoost ------------------------------------------------------------------------------


def _xgboost(task: str, seed: int) -> Any:
    """XGBoost's regressor, or its classifier for any labels (``_labels.py``): XGBoost's own
    takes classes 0..n-1 only."""
    import xgboost as xgb

    from shipyard.automl._labels import XGBLabelClassifier

    kind = _by_task(task, XGBLabelClassifier, xgb.XGBRegressor)
    return kind(n_jobs=1, random_state=seed, tree_method="hist")


def _xgboost_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("xgboost.learning_rate", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int("xgboost.max_depth", 2, 10),
        "n_estimators": trial.suggest_int("xgboost.n_estimators", 50, 400, log=True),
        "min_child_weight": trial.suggest_float("xgboost.min_child_weight", 0.5, 20.0, log=True),
        "subsample": trial.suggest_float("xgboost.subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("xgboost.colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("xgboost.reg_lambda", 1e-6, 10.0, log=True),
    }


# -- MLP (scikit-learn's; searched as PyTorch's when it is installed) ----------------------


def _mlp(task: str, seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    kind = _by_task(task, MLPClassifier, MLPRegressor)
    return kind(hidden_layer_sizes=(64, 64), early_stopping=True, max_iter=300, random_state=seed)


def _torch_mlp(task: str, seed: int) -> Any:
    from shipyard.automl._torch_mlp import TorchMLPClassifier, TorchMLPRegressor, torch_available

    if not torch_available():
        raise InvalidInput("torch_mlp needs PyTorch: pip install 'shipyard[torch]'.")
    kind = _by_task(task, TorchMLPClassifier, TorchMLPRegressor)
    return kind(hidden_layer_sizes=(64, 64), random_state=seed)


def _searched_mlp(task: str, seed: int) -> Any:
    from shipyard.automl._torch_mlp import torch_available

    return (_torch_mlp if torch_available() else _mlp)(task, seed)


def _mlp_space(trial: Any, task: str) -> dict[str, Any]:
    from shipyard.automl._torch_mlp import ACTIVATIONS, torch_available

    depth = trial.suggest_int("mlp.depth", 1, 3)
    widths = tuple(trial.suggest_int(f"mlp.width_{i}", 16, 256, log=True) for i in range(depth))
    if not torch_available():
        return {
            "hidden_layer_sizes": widths,
            "activation": trial.suggest_categorical("mlp.activation", ["relu", "tanh"]),
            "alpha": trial.suggest_float("mlp.l2", 1e-6, 1e-1, log=True),
            "learning_rate_init": trial.suggest_float("mlp.learning_rate", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("mlp.batch_size", [64, 128, 256]),
        }
    return {
        "hidden_layer_sizes": widths,
        "activation": trial.suggest_categorical("mlp.activation", list(ACTIVATIONS)),
        "dropout": trial.suggest_float("mlp.dropout", 0.0, 0.5),
        "weight_decay": trial.suggest_float("mlp.l2", 1e-6, 1e-1, log=True),
        "learning_rate": trial.suggest_float("mlp.learning_rate", 1e-4, 1e-2, log=True),
        "batch_size": trial.suggest_categorical("mlp.batch_size", [64, 128, 256]),
    }


def _mlp_cheap(task: str) -> dict[str, Any]:
    from shipyard.automl._torch_mlp import torch_available

    params: dict[str, Any] = {
        "mlp.depth": 1,
        "mlp.width_0": 32,
        "mlp.activation": "relu",
        "mlp.l2": 1e-4,
        "mlp.learning_rate": 1e-3,
        "mlp.batch_size": 128,
    }
    return {**params, "mlp.dropout": 0.0} if torch_available() else params


# -- the table ----------------------------------------------------------------------------
# Cheap starts: one sound configuration per family; with ``cost``, cheapest families first,
# so that even a short budget scores every family once before the sampler explores. Grids
# (sampler="grid"): a coarse grid over each family's main hyper-parameters.

FAMILY_TABLE: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "linear",
            _linear,
            _linear_space,
            cheap_start=lambda task: {f"linear.{_linear_key(task)}": 1.0},
            grid=lambda task: {f"linear.{_linear_key(task)}": [0.01, 0.1, 1.0, 10.0]},
            portfolio=PORTFOLIOS["linear"],
            cost=0,
            estimators=("LogisticRegression", "Ridge"),
        ),
        Family(
            "random_forest",
            _forest,
            _forest_space,
            cheap_start=lambda task: {
                "random_forest.n_estimators": 50,
                "random_forest.max_depth": 8,
                "random_forest.min_samples_leaf": 5,
                "random_forest.max_features": 0.5,
            },
            grid=lambda task: {
                "random_forest.n_estimators": [100, 300],
                "random_forest.max_depth": [8, 16],
                "random_forest.max_features": [0.3, 0.7],
            },
            portfolio=PORTFOLIOS["random_forest"],
            cost=4,
            missing_values=True,
            estimators=("RandomForest",),
            stop=_stops.grown("n_estimators", lambda m: len(m.estimators_)),
        ),
        Family(
            "hist_gradient_boosting",
            _hgb,
            _hgb_space,
            cheap_start=lambda task: {
                "hgb.learning_rate": 0.1,
                "hgb.max_leaf_nodes": 15,
                "hgb.min_samples_leaf": 20,
                "hgb.l2_regularization": 1e-3,
                "hgb.max_iter": 50,
            },
            grid=lambda task: {
                "hgb.learning_rate": [0.05, 0.15],
                "hgb.max_leaf_nodes": [15, 63],
                "hgb.max_iter": [100, 300],
            },
            portfolio=PORTFOLIOS["hist_gradient_boosting"],
            cost=3,
            missing_values=True,
            categories=True,
            estimators=("HistGradientBoosting",),
            stop=_stops.grown("max_iter", lambda m: m.n_iter_),
        ),
        Family(
            "lightgbm",
            _lightgbm,
            _lightgbm_space,
            cheap_start=lambda task: {
                "lightgbm.learning_rate": 0.1,
                "lightgbm.num_leaves": 15,
                "lightgbm.n_estimators": 50,
                "lightgbm.min_child_samples": 20,
                "lightgbm.subsample": 1.0,
                "lightgbm.colsample_bytree": 1.0,
                "lightgbm.reg_lambda": 1e-3,
            },
            grid=lambda task: {
                "lightgbm.learning_rate": [0.03, 0.1],
                "lightgbm.num_leaves": [15, 63],
                "lightgbm.n_estimators": [100, 300],
            },
            portfolio=PORTFOLIOS["lightgbm"],
            cost=1,
            missing_values=True,
            categories=True,
            estimators=("LGBM",),
            stop=_stops.boosting_rounds,
            needs=("lightgbm",),
        ),
        Family(
            "xgboost",
            _xgboost,
            _xgboost_space,
            cheap_start=lambda task: {
                "xgboost.learning_rate": 0.1,
                "xgboost.max_depth": 4,
                "xgboost.n_estimators": 50,
                "xgboost.min_child_weight": 1.0,
                "xgboost.subsample": 1.0,
                "xgboost.colsample_bytree": 1.0,
                "xgboost.reg_lambda": 1.0,
            },
            grid=lambda task: {
                "xgboost.learning_rate": [0.03, 0.1],
                "xgboost.max_depth": [4, 8],
                "xgboost.n_estimators": [100, 300],
            },
            portfolio=PORTFOLIOS["xgboost"],
            cost=2,
            missing_values=True,
            estimators=("XGB",),  # XGBoost's own, and XGBLabelClassifier
            stop=_stops.xgboost_rounds,
            needs=("xgboost",),
        ),
        Family(
            "mlp",
            _mlp,
            _mlp_space,
            search_build=_searched_mlp,
            cheap_start=_mlp_cheap,
            grid=lambda task: {"mlp.width_0": [32, 128], "mlp.learning_rate": [1e-3, 3e-3]},
            portfolio=PORTFOLIOS["mlp"],
            cost=5,
            estimators=("MLP",),  # scikit-learn's cannot stop: bounded by max_iter
            prunes_curves=True,  # the search's PyTorch MLP, when installed
        ),
        Family(
            "torch_mlp",
            _torch_mlp,  # not searched: the search's mlp family builds it
            estimators=("TorchMLP",),
            stop=_stops.epochs,
            prunes_curves=True,
            needs=("torch",),
        ),
        Family(
            "catboost",
            extra.catboost_estimator,
            extra.catboost_space,
            cheap_start=extra.catboost_cheap,
            grid=extra.catboost_grid,
            portfolio=extra.catboost_portfolio,
            cost=5,
            missing_values=True,
            categories=True,
            estimators=("CatBoost",),  # Shipyard's steps (_catboost.py), and CatBoost's own
            stop=_stops.catboost_rounds,
            needs=("catboost",),
        ),
        Family(
            "extra_trees",
            extra.extra_trees_estimator,
            extra.extra_trees_space,
            cheap_start=extra.extra_trees_cheap,
            grid=extra.extra_trees_grid,
            portfolio=extra.extra_trees_portfolio,
            cost=4,
            estimators=("ExtraTrees",),  # missing values from scikit-learn 1.6 only
            stop=_stops.grown("n_estimators", lambda m: len(m.estimators_)),
        ),
        Family(
            "knn",
            extra.knn_estimator,
            extra.knn_space,
            cheap_start=extra.knn_cheap,
            grid=extra.knn_grid,
            portfolio=extra.knn_portfolio,
            cost=1,
            estimators=("KNeighbors",),  # bounded by its size: nothing to stop
            max_rows=extra.KNN_MAX_ROWS,
        ),
    )
}

ESTIMATORS = tuple(FAMILY_TABLE)
"""Every family ``sy.train`` builds, by name."""


def installed(family: Family) -> bool:
    """Whether the optional packages ``family`` needs are installed."""
    return all(installed_package(package) for package in family.needs)


def installed_package(package: str) -> bool:
    """Whether ``package`` can be imported here."""
    import importlib.util

    return importlib.util.find_spec(package) is not None


FAMILIES = tuple(
    name for name, family in FAMILY_TABLE.items() if family.searched and installed(family)
)
"""The families AutoML searches, by name: the searched ones whose packages are installed
(CatBoost is an optional extra: without it, searches leave its family out)."""


def get_family(name: str) -> Family:
    """A family by name; InvalidInput lists the known ones."""
    try:
        return FAMILY_TABLE[name]
    except KeyError:
        raise InvalidInput(
            f"model must be one of {', '.join(FAMILY_TABLE)}; got {name!r}."
        ) from None


def family_of(model: Any) -> Family | None:
    """The family whose estimators ``model`` is one of (by class name), if any."""
    kind = type(model).__name__
    return next((f for f in FAMILY_TABLE.values() if kind.startswith(f.estimators)), None)
