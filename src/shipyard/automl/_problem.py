"""The learning problem shared by ``train``, ``automl`` and ``tune``.

Reading the data (a dataset version or a DataFrame), separating the target and checking it,
the task, the pipeline around an estimator (its preprocessing inside), the splits, and the
scores every fold reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shipyard import data as datasets_api
from shipyard.automl._preprocess import ENCODINGS, column_kinds, make_preprocessor
from shipyard.errors import InvalidInput

__all__ = [
    "LOWER_IS_BETTER",
    "TREES",
    "build_pipeline",
    "check_target",
    "clone_pipeline",
    "encoding_for",
    "is_tree",
    "make_splits",
    "predict_values",
    "read_frame",
    "score",
    "score_values",
    "split_target",
    "task_of",
]

TREES = ("Forest", "Boost", "Tree", "LGBM", "XGB")
LOWER_IS_BETTER = ("rmse", "mae", "log_loss")  # metrics a search minimises


def read_frame(dataset: Any, data: pd.DataFrame | None) -> tuple[pd.DataFrame, str | None]:
    if (dataset is None) == (data is None):
        raise InvalidInput("Give exactly one of dataset='name@version' or data=<DataFrame>.")
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise InvalidInput(f"data must be a DataFrame, got {type(data).__name__}.")
        return data.reset_index(drop=True), None
    version = datasets_api.resolve(dataset) if isinstance(dataset, str) else dataset
    if not isinstance(version, datasets_api.DatasetVersion):
        raise InvalidInput(
            f"dataset must be a reference like 'loans@3' or a DatasetVersion, got "
            f"{type(dataset).__name__}."
        )
    return version.to_pandas(), version.ref


def split_target(
    frame: pd.DataFrame, target: str, drop: tuple[str, ...] | list[str] = ()
) -> tuple[pd.DataFrame, pd.Series]:
    """(features, target) of a frame: the target must exist and have no missing values."""
    if target not in frame.columns:
        raise InvalidInput(
            f"target {target!r} is not a column of the data (columns: "
            f"{', '.join(map(str, frame.columns[:20]))})."
        )
    missing = [c for c in drop if c not in frame.columns]
    if missing:
        raise InvalidInput(f"drop names columns the data lacks: {missing}.")
    y = frame[target]
    if y.isna().any():
        raise InvalidInput(
            f"target {target!r} has {int(y.isna().sum())} missing values; drop those rows first."
        )
    if isinstance(y.dtype, pd.BooleanDtype) or str(y.dtype) in _NULLABLE_INTS:
        y = y.astype(y.dtype.numpy_dtype)  # scikit-learn reads these as floats (0.0, 1.0)
    return frame.drop(columns=[target, *drop]), y


_NULLABLE_INTS = {f"{kind}{bits}" for kind in ("Int", "UInt") for bits in (8, 16, 32, 64)}


def task_of(model: Any, y: pd.Series) -> str:
    if model is not None:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
    if y.dtype.kind == "f" and y.nunique() > 20:
        return "regression"
    return "classification"


def check_target(features: pd.DataFrame, y: pd.Series, target: str, task: str) -> None:
    if task == "classification" and y.nunique() < 2:
        raise InvalidInput(
            f"target {target!r} has one class only ({y.iloc[0]!r}); a classifier needs two."
        )
    for column in features.columns:
        values = features[column]
        if len(values) and values.astype(str).equals(y.astype(str)):
            raise InvalidInput(
                f"Column {column!r} is identical to the target {target!r}: it leaks the answer. "
                f"Drop it (drop=[{column!r}])."
            )


def encoding_for(preprocess: str | None, model: Any) -> str | None:
    if preprocess is None:
        return None
    if preprocess == "auto":
        return "ordinal" if is_tree(model) else "onehot"
    if preprocess not in ENCODINGS:
        raise InvalidInput(f"preprocess must be 'auto', None or one of {ENCODINGS}.")
    return preprocess


def is_tree(model: Any) -> bool:
    return any(word in type(model).__name__ for word in TREES)


def build_pipeline(model: Any, features: pd.DataFrame, encoding: str | None) -> Any:
    from sklearn.pipeline import Pipeline

    if encoding is None:
        return Pipeline([("model", model)])
    pre = make_preprocessor(features, encoding=encoding, scale=not is_tree(model))
    natively = getattr(model, "take_categories", None)  # CatBoost's step (``_catboost.py``)
    categories = column_kinds(features)["categorical"] if encoding == "ordinal" else []
    if natively is not None and natively(categories):
        pre.set_output(transform="pandas")  # the model finds its columns by name
    return Pipeline([("preprocess", pre), ("model", model)])


def make_splits(
    features: pd.DataFrame,
    y: pd.Series,
    task: str,
    split: str,
    test_size: float,
    folds: int,
    time_column: str | None,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import (
        KFold,
        StratifiedKFold,
        TimeSeriesSplit,
        train_test_split,
    )

    rows = np.arange(len(features))
    if split == "kfold" and folds < 2:
        raise InvalidInput(f"folds must be at least 2, got {folds}.")
    if split == "holdout" and not 0 < test_size < 1:
        raise InvalidInput(f"test_size must be between 0 and 1, got {test_size}.")
    needed = folds if split == "kfold" else 2
    smallest = int(y.value_counts().min()) if task == "classification" else len(y)
    if len(y) < 2 * needed or smallest < needed:
        raise InvalidInput(_too_few(y, task, split, needed, smallest))
    if time_column is not None:
        if time_column not in features.columns:
            raise InvalidInput(f"time_column {time_column!r} is not a feature column.")
        order = np.argsort(features[time_column].to_numpy(), kind="stable")
        if split == "kfold":
            return [(order[a], order[b]) for a, b in TimeSeriesSplit(folds).split(order)]
        cut = round(len(order) * (1 - test_size))
        return [(order[:cut], order[cut:])]
    stratify = y if task == "classification" else None
    if split == "kfold":
        kind = StratifiedKFold if task == "classification" else KFold
        splitter = kind(folds, shuffle=True, random_state=seed)
        return list(splitter.split(features, y))
    train_rows, test_rows = train_test_split(
        rows, test_size=test_size, random_state=seed, stratify=stratify
    )
    return [(np.sort(train_rows), np.sort(test_rows))]


def _too_few(y: pd.Series, task: str, split: str, needed: int, smallest: int) -> str:
    """Why ``split`` cannot be made of ``y``, and what to change, fitting that split."""
    if task == "classification" and len(y) >= 2 * needed:
        classes = y.nunique()
        said = (
            f"target {y.name!r} has {classes:,} classes in {len(y):,} rows and the rarest has "
            f"{smallest}; "
        )
        if split == "kfold":
            return said + f"{needed} folds need {needed} rows of each. Use fewer folds."
        if classes > len(y) // 2:
            return said + (
                "a holdout needs 2 rows of each class. It looks like an id or a continuous "
                "value: choose another target, or train a regressor (task='regression')."
            )
        return said + "a holdout needs 2 rows of each class. Drop the rarest classes' rows."
    what = f"{needed} folds" if split == "kfold" else "a holdout"
    return f"Too few rows for {what} ({len(y)} rows); need at least {2 * needed}."


def check_metric(metric: str, task: str) -> None:
    """InvalidInput when ``metric`` is not one ``score`` computes for ``task``."""
    known = METRICS[task]
    if metric not in known:
        raise InvalidInput(
            f"metric {metric!r} is not available for this {task} task; choose from "
            f"{', '.join(known)}."
        )


def check_seed(seed: Any) -> int:
    """A seed NumPy and scikit-learn take: a whole number from 0 to 2**32 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (0 <= seed < 2**32):
        raise InvalidInput(f"seed must be a whole number from 0 to {2**32 - 1}; got {seed!r}.")
    return int(seed)


METRICS = {
    "classification": ("auc", "accuracy", "f1", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
"""The metrics ``score`` computes for each task."""


def clone_pipeline(pipeline: Any) -> Any:
    from sklearn.base import clone

    return clone(pipeline)


def score(model: Any, X: pd.DataFrame, y: pd.Series, task: str) -> dict[str, float]:
    """Every metric of ``task`` for a fitted model on ``X`` against ``y``."""
    if task == "regression":
        return score_values(y, model.predict(X), task)
    classes = list(getattr(model, "classes_", sorted(pd.unique(y))))
    proba = model.predict_proba(X) if hasattr(model, "predict_proba") else None
    return score_values(y, proba, task, classes, labels=model.predict(X))


def predict_values(model: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    """What a model's predictions are kept as for ensembles: the predicted values
    (regression), or the class probabilities in ``model.classes_`` order (one-hot of its
    predictions for a classifier without ``predict_proba``)."""
    if task == "regression":
        return np.asarray(model.predict(X), dtype=np.float64)
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))
    classes = list(model.classes_)
    predicted = np.asarray(model.predict(X))
    return np.stack([predicted == c for c in classes], axis=1).astype(np.float64)


def score_values(
    y: Any,
    values: np.ndarray | None,
    task: str,
    classes: list[Any] | None = None,
    labels: Any = None,
) -> dict[str, float]:
    """Every metric of ``task`` from predictions: the predicted values (regression), or the
    class probabilities in ``classes`` order (``labels``: the predicted classes, by default
    the most probable). A classifier's probabilities may be None when ``labels`` are given
    (no auc or log_loss then)."""
    from sklearn import metrics as m

    if task == "regression":
        assert values is not None
        return {
            "rmse": float(np.sqrt(m.mean_squared_error(y, values))),
            "mae": float(m.mean_absolute_error(y, values)),
            "r2": float(m.r2_score(y, values)),
        }
    y = pd.Series(np.asarray(y))
    classes = list(classes if classes is not None else sorted(pd.unique(y)))
    if labels is None:
        assert values is not None
        labels = np.asarray(classes, dtype=object)[np.argmax(values, axis=1)]
        labels = pd.Series(labels).astype(y.dtype, errors="ignore").to_numpy()
    f1 = (
        m.f1_score(y, labels, pos_label=classes[-1])
        if len(classes) == 2
        else m.f1_score(y, labels, average="macro")
    )
    scores = {"accuracy": float(m.accuracy_score(y, labels)), "f1": float(f1)}
    if values is not None:
        # rows sum to one up to their float type's rounding (float32 from some models):
        # log_loss checks at float64's precision
        values = np.asarray(values, dtype=np.float64)
        values = values / values.sum(axis=1, keepdims=True)
        if len(classes) == 2:
            scores["auc"] = float(m.roc_auc_score(y == classes[1], values[:, 1]))
        elif set(y.unique()) == set(classes):
            scores["auc"] = float(m.roc_auc_score(y, values, multi_class="ovr", labels=classes))
        elif y.nunique() > 1:  # a (time-ordered) fold without some class: those present
            present = [i for i, c in enumerate(classes) if (y == c).any()]
            scores["auc"] = float(
                np.mean([m.roc_auc_score(y == classes[i], values[:, i]) for i in present])
            )
        scores["log_loss"] = float(m.log_loss(y, values, labels=classes))
    return scores
