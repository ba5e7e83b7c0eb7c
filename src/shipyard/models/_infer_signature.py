"""Signatures read from a fitted model when no training data is given (issue 18).

A model often records its own inputs: scikit-learn's ``feature_names_in_`` (or only
``n_features_in_``), fitted encoders' categories inside a ``ColumnTransformer``, LightGBM's
feature names and ``pandas_categorical``, XGBoost's feature names, types and categories.
:func:`model_signature` builds the signature from them; the classes come from
``classes_`` and the task from the estimator type.

Whether a column may hold nulls cannot be seen without data, so the rule is the safe one:
a numeric column is nullable only where the model handles missing values itself (LightGBM,
XGBoost, a bare HistGradientBoosting) or an imputer in front of it fills them; a category
column only where its encoder learnt a missing category or an imputer fills it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.models._signature import ColumnSpec, Signature, _is_regressor
from shipyard.models._validate import plain

__all__ = ["model_signature", "selected_columns"]

_IMPUTERS = ("SimpleImputer", "KNNImputer", "IterativeImputer")
_ENCODERS = ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder")
_NATIVE_NAN = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


def model_signature(model: Any) -> Signature | None:
    """The signature ``model`` records about itself, or None when it records nothing.

    Raises:
        InvalidInput: the model has categorical inputs whose categories it does not keep
            (the message says to pass ``X=``).
    """
    module = type(model).__module__
    inputs: list[ColumnSpec] | None
    if module.startswith("lightgbm"):
        inputs = _lightgbm_inputs(model)
    elif module.startswith("xgboost"):
        inputs = _xgboost_inputs(model)
    elif _is_sklearn(model):
        inputs = _sklearn_inputs(model)
    else:
        return None
    if not inputs:
        return None
    classes = getattr(model, "classes_", None)
    task = "classification" if classes is not None else None
    if task is None and _is_regressor(model):
        task = "regression"
    kept = None if classes is None else tuple(plain(c) for c in classes)
    return Signature(tuple(inputs), task, kept)


# -- scikit-learn -------------------------------------------------------------------------


def _is_sklearn(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return isinstance(model, BaseEstimator)


class _Found:
    """What the leading steps of a pipeline say about its input columns."""

    def __init__(self) -> None:
        self.categories: dict[str, tuple[tuple[Any, ...], bool]] = {}  # name -> (values, null)
        self.imputed: set[str] = set()


def _sklearn_inputs(model: Any) -> list[ColumnSpec] | None:
    """Float columns named by ``feature_names_in_`` (``x0``, ``x1``... with only
    ``n_features_in_``: such a model is fed one matrix, whatever the names), categories
    where a fitted encoder sees a column directly."""
    try:
        names = getattr(model, "feature_names_in_", None)
        width = getattr(model, "n_features_in_", None)
    except AttributeError:  # a property of an unfitted step
        return None
    if names is not None:
        columns = [str(n) for n in names]
    elif isinstance(width, (int, np.integer)) and width > 0:
        columns = [f"x{i}" for i in range(int(width))]
    else:
        return None
    found = _Found()
    _scan(model, columns, found)
    native = type(model).__name__ in _NATIVE_NAN
    specs = []
    for name in columns:
        if name in found.categories:
            values, null = found.categories[name]
            specs.append(ColumnSpec(name, "category", null or name in found.imputed, values))
        else:
            specs.append(ColumnSpec(name, "float", native or name in found.imputed))
    return specs


def _scan(step: Any, columns: list[str], found: _Found) -> None:
    """Record the categories and imputations that ``step`` applies to ``columns`` before
    anything reshapes them (a pipeline's leading imputers, then its first other step)."""
    kind = type(step).__name__
    if kind == "Pipeline":
        for _, sub in step.steps:
            if sub in (None, "passthrough"):
                continue
            _scan(sub, columns, found)
            if type(sub).__name__ not in _IMPUTERS:
                return
    elif kind in _IMPUTERS:
        found.imputed.update(columns)
    elif kind in _ENCODERS:
        for name, values in zip(columns, getattr(step, "categories_", ()), strict=False):
            _category(name, values, found)
    elif kind == "ColumnTransformer":
        for _, transformer, selected in getattr(step, "transformers_", ()):
            if transformer not in ("drop", "passthrough"):
                _scan(transformer, selected_columns(selected, columns), found)
    elif kind in _NATIVE_NAN and getattr(step, "_preprocessor", None) is not None:
        _scan(step._preprocessor, columns, found)  # its encoder of category columns


def selected_columns(selected: Any, columns: list[str]) -> list[str]:
    """The names a ColumnTransformer's fitted column selection picks."""
    if isinstance(selected, (str, int, np.integer)):
        selected = [selected]
    if isinstance(selected, slice):
        return columns[selected]
    picked = list(selected)
    if picked and all(isinstance(p, (bool, np.bool_)) for p in picked):
        return [c for c, keep in zip(columns, picked, strict=False) if keep]
    return [columns[int(p)] if isinstance(p, (int, np.integer)) else str(p) for p in picked]


def _category(name: str, values: Any, found: _Found) -> None:
    """A column an encoder learnt categories for: those (nulls aside) are the allowed ones."""
    kept = tuple(plain(v) for v in values if not _null(v))
    try:
        ColumnSpec(name, "category", False, kept)
    except InvalidInput:  # mixed text and numbers: not a category column a signature takes
        return
    found.categories[name] = (kept, len(kept) < len(values))


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


# -- LightGBM and XGBoost -----------------------------------------------------------------


def _lightgbm_inputs(model: Any) -> list[ColumnSpec]:
    """The booster's feature names; ``pandas_categorical`` gives its category columns'
    values. Every column is nullable: LightGBM handles missing values."""
    booster = getattr(model, "booster_", model)
    names = [str(n) for n in booster.feature_name()]
    trained = getattr(booster, "pandas_categorical", None) or []
    positions = _lightgbm_categorical(booster) if trained else []
    if len(positions) != len(trained):
        raise InvalidInput(
            f"The {type(model).__name__} records {len(trained)} category lists for "
            f"{len(positions)} categorical features; register it with X=<training inputs>."
        )
    pairs = zip(positions, trained, strict=True)
    categories = {names[p]: tuple(plain(v) for v in c) for p, c in pairs}
    return [_booster_column(name, categories.get(name)) for name in names]


def _lightgbm_categorical(booster: Any) -> list[int]:
    """The positions of a booster's categorical features, from its parameters."""
    given = booster.params.get("categorical_feature")
    if isinstance(given, Sequence) and not isinstance(given, str):
        return sorted(int(p) for p in given)
    line = re.search(r"^\[categorical_feature: ([0-9,]*)\]$", booster.model_to_string(), re.M)
    return sorted(int(p) for p in line.group(1).split(",") if p) if line else []


def _xgboost_inputs(model: Any) -> list[ColumnSpec]:
    """The booster's feature names (``x0``... when it has none: it is fed one matrix) and
    types (``c``: category, with the values the booster keeps since XGBoost 3.1). Every
    column is nullable: XGBoost handles missing values."""
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    width = int(booster.num_features())
    names = [str(n) for n in booster.feature_names or [f"x{i}" for i in range(width)]]
    types = list(booster.feature_types or ["float"] * width)
    categories: dict[str, tuple[Any, ...]] = {}
    if "c" in types:
        categories = _xgboost_categories(booster)
    missing = [n for n, t in zip(names, types, strict=True) if t == "c" and n not in categories]
    if missing:
        raise InvalidInput(
            f"The {type(model).__name__}'s categorical features {missing} do not record "
            "their categories; register it with X=<training inputs>."
        )
    return [_booster_column(name, categories.get(name)) for name in names]


def _xgboost_categories(booster: Any) -> dict[str, tuple[Any, ...]]:
    try:
        pairs = booster.get_categories(export_to_arrow=True).to_arrow()
    except (AttributeError, TypeError, ValueError):  # XGBoost before 3.1 keeps none
        return {}
    return {
        str(name): tuple(plain(v) for v in values.to_pylist())
        for name, values in pairs or ()
        if values is not None
    }


def _booster_column(name: str, categories: tuple[Any, ...] | None) -> ColumnSpec:
    if categories is None:
        return ColumnSpec(name, "float", True)
    return ColumnSpec(name, "category", True, categories)
