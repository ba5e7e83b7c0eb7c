"""Portfolios: strong configurations of each family, tried before the sampler explores.

Each family's portfolio is an ordered list (best first) of trial parameters inside its
search space (``_families.py``); a preset says how many of each a search tries. The values
are our own, chosen from what public work found to do well across many tabular data sets,
then fitted to our spaces (fewer trees at a higher learning rate where the source grows
thousands):

- Probst, Boulesteix & Bischl 2019, "Tunability: importance of hyperparameters of machine
  learning algorithms" (JMLR 20(53)): data-driven defaults over 38 OpenML sets (ranger:
  mtry about a quarter of the features, min.node.size 1, about 70 % of the rows per tree;
  xgboost: deep trees, a small eta, subsample ~0.85, colsample ~0.75, lambda ~1; glmnet:
  little regularisation).
- The libraries' own defaults and tuning guides: LightGBM's "Parameters Tuning" page
  (num_leaves below 2^max_depth, bagging and feature fraction, min_data_in_leaf against
  over-fitting), XGBoost's "Notes on Parameter Tuning", scikit-learn's
  HistGradientBoosting defaults (learning_rate 0.1, max_leaf_nodes 31,
  min_samples_leaf 20).
- Zero-shot portfolios: Wang et al. 2022, FLAML's "zero-shot AutoML with pretrained
  models" (ICML), and Salinas & Erickson 2023, "TabRepo" (AutoGluon's portfolio): a few
  diverse configurations beat many samples of one default; large-leaf, small-rate boosting
  and bagged deep forests recur among the strongest.

Names are the trial parameters' (``<family>.<name>``), as in cheap starts. Nothing here
imports the family table (it imports us).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PORTFOLIOS"]

CLASSIFICATION = "classification"


def _rows(names: tuple[str, ...], prefix: str, *rows: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [{f"{prefix}.{n}": v for n, v in zip(names, row, strict=True)} for row in rows]


def _linear(task: str) -> list[dict[str, Any]]:
    # glmnet's tuned default regularises little (Tunability); then a ladder around it
    key = "linear.C" if task == CLASSIFICATION else "linear.alpha"
    values = [10.0, 1.0, 0.1, 100.0, 0.01] if task == CLASSIFICATION else [0.1, 1.0, 10.0, 0.01]
    return [{key: v} for v in values]


_FOREST = ("n_estimators", "max_depth", "min_samples_leaf", "max_features")


def _random_forest(task: str) -> list[dict[str, Any]]:
    # Tunability's ranger: deep trees, min node 1, about a quarter of the features per split
    # (classification); regression forests do well with more features per split.
    if task == CLASSIFICATION:
        rows = [
            (300, 20, 1, 0.25),
            (300, 20, 2, 0.5),
            (200, 16, 1, 0.8),
            (300, 12, 4, 0.3),
            (200, 20, 3, 0.7),
            (150, 10, 8, 0.5),
            (300, 20, 1, 0.2),
            (100, 8, 2, 0.9),
        ]
    else:
        rows = [
            (300, 20, 2, 0.5),
            (300, 20, 1, 1.0),
            (200, 16, 5, 0.33),
            (300, 12, 3, 0.8),
            (200, 20, 1, 0.25),
            (150, 10, 10, 0.6),
            (300, 20, 4, 0.7),
            (100, 8, 2, 1.0),
        ]
    return _rows(_FOREST, "random_forest", *rows)


_HGB = ("learning_rate", "max_leaf_nodes", "min_samples_leaf", "l2_regularization", "max_iter")


def _hgb(task: str) -> list[dict[str, Any]]:
    # scikit-learn's defaults first (more iterations: early stopping bounds them)
    rows = [
        (0.1, 31, 20, 1e-6, 200),
        (0.05, 63, 10, 1.0, 400),
        (0.15, 15, 40, 0.1, 150),
        (0.03, 31, 20, 1e-3, 400),
        (0.08, 127, 5, 5.0, 300),
        (0.2, 8, 80, 1e-4, 100),
        (0.05, 16, 10, 0.01, 400),
        (0.1, 48, 30, 3.0, 250),
    ]
    return _rows(_HGB, "hgb", *rows)


_GBM = (
    "learning_rate",
    "num_leaves",
    "n_estimators",
    "min_child_samples",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
)


def _lightgbm(task: str) -> list[dict[str, Any]]:
    # LightGBM's defaults, then large-leaf small-rate (TabRepo/AutoGluon-style), bagged ones
    rows = [
        (0.1, 31, 100, 20, 1.0, 1.0, 1e-6),
        (0.05, 63, 300, 10, 0.8, 0.8, 1.0),
        (0.03, 127, 400, 5, 0.9, 0.9, 0.1),
        (0.1, 15, 200, 40, 0.7, 0.6, 3.0),
        (0.2, 31, 60, 30, 0.8, 0.5, 1e-3),
        (0.02, 31, 400, 20, 0.7, 0.7, 10.0),
        (0.07, 96, 150, 15, 0.6, 0.9, 0.01),
        (0.15, 8, 300, 60, 0.9, 0.5, 0.5),
    ]
    return _rows(_GBM, "lightgbm", *rows)


_XGB = (
    "learning_rate",
    "max_depth",
    "n_estimators",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
)


def _xgboost(task: str) -> list[dict[str, Any]]:
    # a moderate default; Tunability's deep, slow, bagged xgboost scaled to 400 rounds;
    # XGBoost's own defaults; then shallow and regularised variants
    rows = [
        (0.1, 6, 200, 1.0, 0.85, 0.8, 1.0),
        (0.05, 10, 400, 2.0, 0.85, 0.75, 1.0),
        (0.3, 6, 100, 1.0, 1.0, 1.0, 1.0),
        (0.03, 4, 400, 5.0, 0.7, 0.6, 3.0),
        (0.15, 3, 300, 1.0, 0.8, 0.9, 0.1),
        (0.08, 8, 200, 10.0, 0.6, 0.5, 5.0),
        (0.02, 6, 400, 1.0, 0.9, 0.9, 1e-3),
        (0.2, 10, 80, 3.0, 0.75, 0.7, 10.0),
    ]
    return _rows(_XGB, "xgboost", *rows)


def _mlp(task: str) -> list[dict[str, Any]]:
    # widths, activation, L2, learning rate, batch size, dropout (PyTorch's MLP only)
    from shipyard.automl._torch_mlp import torch_available

    rows = [
        ((128, 128), "relu", 1e-4, 1e-3, 128, 0.1),
        ((256, 128, 64), "relu", 1e-5, 1e-3, 256, 0.2),
        ((256,), "tanh", 1e-3, 3e-3, 64, 0.0),
        ((64, 64), "relu", 1e-2, 3e-3, 128, 0.0),
        ((128, 64), "tanh", 1e-5, 5e-4, 64, 0.3),
        ((32, 32, 32), "relu", 1e-3, 1e-3, 64, 0.1),
    ]
    found = []
    for widths, activation, l2, rate, batch, dropout in rows:
        params: dict[str, Any] = {"mlp.depth": len(widths)}
        params.update({f"mlp.width_{i}": w for i, w in enumerate(widths)})
        params.update({"mlp.activation": activation, "mlp.l2": l2, "mlp.learning_rate": rate})
        params["mlp.batch_size"] = batch
        if torch_available():
            params["mlp.dropout"] = dropout
        found.append(params)
    return found


PORTFOLIOS = {
    "linear": _linear,
    "random_forest": _random_forest,
    "hist_gradient_boosting": _hgb,
    "lightgbm": _lightgbm,
    "xgboost": _xgboost,
    "mlp": _mlp,
}
"""Each family's portfolio function, ``task -> [trial params]`` (best first)."""
