"""Search spaces: each model family's hyper-parameters as Optuna suggestions.

The MLP family is searched as an architecture: depth, a width per layer, activation,
dropout, L2 penalty, learning rate and batch size. With PyTorch installed the family builds
Shipyard's PyTorch MLP (``_torch_mlp.py``: dropout, pruning on validation curves); without
it, scikit-learn's MLP (no dropout; its L2 penalty ``alpha`` plays that part).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.automl._torch_mlp import ACTIVATIONS, torch_available
from shipyard.automl._train import estimator

__all__ = ["FAMILIES", "cheap_starts", "grid_points", "suggest"]

FAMILIES = ("linear", "random_forest", "hist_gradient_boosting", "lightgbm", "xgboost", "mlp")


def _linear(trial: Any, task: str) -> dict[str, Any]:
    key = "C" if task == "classification" else "alpha"
    return {key: trial.suggest_float(f"linear.{key}", 1e-3, 1e2, log=True)}


def _forest(trial: Any, task: str) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("random_forest.n_estimators", 50, 300, log=True),
        "max_depth": trial.suggest_int("random_forest.max_depth", 3, 20),
        "min_samples_leaf": trial.suggest_int("random_forest.min_samples_leaf", 1, 20, log=True),
        "max_features": trial.suggest_float("random_forest.max_features", 0.2, 1.0),
    }


def _hgb(trial: Any, task: str) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("hgb.learning_rate", 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("hgb.max_leaf_nodes", 8, 128, log=True),
        "min_samples_leaf": trial.suggest_int("hgb.min_samples_leaf", 5, 100, log=True),
        "l2_regularization": trial.suggest_float("hgb.l2_regularization", 1e-6, 10.0, log=True),
        "max_iter": trial.suggest_int("hgb.max_iter", 50, 400, log=True),
        "early_stopping": True,  # stops at the validation plateau: bounded trial time
    }


def _lightgbm(trial: Any, task: str) -> dict[str, Any]:
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


def _xgboost(trial: Any, task: str) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("xgboost.learning_rate", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int("xgboost.max_depth", 2, 10),
        "n_estimators": trial.suggest_int("xgboost.n_estimators", 50, 400, log=True),
        "min_child_weight": trial.suggest_float("xgboost.min_child_weight", 0.5, 20.0, log=True),
        "subsample": trial.suggest_float("xgboost.subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("xgboost.colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("xgboost.reg_lambda", 1e-6, 10.0, log=True),
    }


def _mlp(trial: Any, task: str) -> dict[str, Any]:
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


_SPACES: dict[str, Callable[[Any, str], dict[str, Any]]] = {
    "linear": _linear,
    "random_forest": _forest,
    "hist_gradient_boosting": _hgb,
    "lightgbm": _lightgbm,
    "xgboost": _xgboost,
    "mlp": _mlp,
}


def suggest(trial: Any, family: str, task: str, seed: int) -> Any:
    """An unfitted estimator of ``family`` with hyper-parameters the trial suggests."""
    kind = "torch_mlp" if family == "mlp" and torch_available() else family
    model = estimator(kind, task, seed)
    return model.set_params(**_SPACES[family](trial, task))


# Where a search starts: one cheap, sound configuration per family, cheapest families first,
# so that even a short budget scores every family once before the sampler explores.
_CHEAP: dict[str, dict[str, Any]] = {
    "linear": {},
    "lightgbm": {
        "lightgbm.learning_rate": 0.1,
        "lightgbm.num_leaves": 15,
        "lightgbm.n_estimators": 50,
        "lightgbm.min_child_samples": 20,
        "lightgbm.subsample": 1.0,
        "lightgbm.colsample_bytree": 1.0,
        "lightgbm.reg_lambda": 1e-3,
    },
    "xgboost": {
        "xgboost.learning_rate": 0.1,
        "xgboost.max_depth": 4,
        "xgboost.n_estimators": 50,
        "xgboost.min_child_weight": 1.0,
        "xgboost.subsample": 1.0,
        "xgboost.colsample_bytree": 1.0,
        "xgboost.reg_lambda": 1.0,
    },
    "hist_gradient_boosting": {
        "hgb.learning_rate": 0.1,
        "hgb.max_leaf_nodes": 15,
        "hgb.min_samples_leaf": 20,
        "hgb.l2_regularization": 1e-3,
        "hgb.max_iter": 50,
    },
    "random_forest": {
        "random_forest.n_estimators": 50,
        "random_forest.max_depth": 8,
        "random_forest.min_samples_leaf": 5,
        "random_forest.max_features": 0.5,
    },
    "mlp": {
        "mlp.depth": 1,
        "mlp.width_0": 32,
        "mlp.activation": "relu",
        "mlp.l2": 1e-4,
        "mlp.learning_rate": 1e-3,
        "mlp.batch_size": 128,
    },
}


def cheap_starts(families: list[str], task: str) -> list[dict[str, Any]]:
    """The first trials of a search over ``families``: a cheap configuration of each."""
    starts = []
    for family in _CHEAP:
        if family in families:
            params = dict(_CHEAP[family])
            if family == "mlp" and torch_available():
                params["mlp.dropout"] = 0.0
            if family == "linear":
                params["linear.C" if task == "classification" else "linear.alpha"] = 1.0
            starts.append({"family": family, **params})
    return starts


# sampler="grid": a coarse grid over each family's main hyper-parameters (the others at
# their cheap start), tried in turn across families so a short budget still sees them all.
_GRID: dict[str, dict[str, list[Any]]] = {
    "linear": {},  # its one parameter is set per task below
    "lightgbm": {
        "lightgbm.learning_rate": [0.03, 0.1],
        "lightgbm.num_leaves": [15, 63],
        "lightgbm.n_estimators": [100, 300],
    },
    "xgboost": {
        "xgboost.learning_rate": [0.03, 0.1],
        "xgboost.max_depth": [4, 8],
        "xgboost.n_estimators": [100, 300],
    },
    "hist_gradient_boosting": {
        "hgb.learning_rate": [0.05, 0.15],
        "hgb.max_leaf_nodes": [15, 63],
        "hgb.max_iter": [100, 300],
    },
    "random_forest": {
        "random_forest.n_estimators": [100, 300],
        "random_forest.max_depth": [8, 16],
        "random_forest.max_features": [0.3, 0.7],
    },
    "mlp": {"mlp.width_0": [32, 128], "mlp.learning_rate": [1e-3, 3e-3]},
}


def grid_points(families: list[str], task: str) -> list[dict[str, Any]]:
    """Every point of the coarse grid of ``families``, interleaved across families."""
    import itertools

    starts = {start["family"]: start for start in cheap_starts(families, task)}
    per_family: list[list[dict[str, Any]]] = []
    for family in _CHEAP:
        if family not in families:
            continue
        axes = dict(_GRID[family])
        if family == "linear":
            axes = {
                "linear.C" if task == "classification" else "linear.alpha": [0.01, 0.1, 1.0, 10.0]
            }
        names = list(axes)
        points = [
            {**starts[family], **dict(zip(names, values, strict=True))}
            for values in itertools.product(*(axes[n] for n in names))
        ]
        per_family.append(points)
    return [p for group in itertools.zip_longest(*per_family) for p in group if p is not None]
