"""Rows made from a signature, for the export check of a version registered without data.

An ONNX export is kept only if it predicts what the native model does on sample rows. A
version registered without ``X`` (its signature read from the model) has no rows, so they
are made: each category column takes its allowed values, each numeric column values on
both sides of every split threshold the model's trees use (the midpoints between adjacent
thresholds, and beyond the first and last: never a threshold itself, where float32 could
round either way), or standard normal values when the model has no trees (a linear model
agrees or not whatever the inputs). No nulls are made. The export report says
``"sample": "synthetic"``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from shipyard.models._infer_signature import selected_columns
from shipyard.models._signature import Signature

__all__ = ["SYNTHETIC_ROWS", "synthetic_rows"]

SYNTHETIC_ROWS = 500

# thresholds closer than this (relative) are one split for float32: no midpoint between
_FLOAT32_GAP = 1e-5


def synthetic_rows(signature: Signature, native: Any, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows the signature accepts, spread over the model's split thresholds."""
    rng = np.random.default_rng(seed)
    splits = split_values(native, signature.names)
    scales = scaled_ranges(native, signature.names)
    data: dict[str, Any] = {}
    for spec in signature.inputs:
        if spec.categories is not None:
            picks = rng.integers(len(spec.categories), size=rows)
            data[spec.name] = [spec.categories[i] for i in picks]
        elif spec.type == "bool":
            data[spec.name] = rng.integers(2, size=rows).astype(bool)
        elif spec.type == "string":
            data[spec.name] = [f"s{i}" for i in rng.integers(5, size=rows)]
        elif spec.type == "datetime":
            days = rng.integers(0, 3650, size=rows)
            data[spec.name] = pd.Timestamp("2020-01-01") + pd.to_timedelta(days, unit="D")
        else:
            centre, spread = scales.get(spec.name, (0.0, 1.0))
            values = _around(splits.get(spec.name, []), rng, rows) * spread + centre
            data[spec.name] = np.round(values) if spec.type == "int" else values
    return pd.DataFrame(data)


def _around(thresholds: list[float], rng: np.random.Generator, rows: int) -> np.ndarray:
    """Values on both sides of every threshold (standard normal without thresholds)."""
    cuts = np.unique(np.asarray([t for t in thresholds if np.isfinite(t)], dtype=np.float64))
    if not len(cuts):
        return rng.standard_normal(rows)
    step = max(1.0, float(np.abs(cuts).max()) * 0.1)
    points = [cuts[0] - step, cuts[-1] + step]
    for low, high in itertools.pairwise(cuts):
        if high - low > _FLOAT32_GAP * max(1.0, abs(low), abs(high)):
            points.append((low + high) / 2)
    return np.asarray(points)[rng.integers(len(points), size=rows)]


def scaled_ranges(native: Any, names: list[str]) -> dict[str, tuple[float, float]]:
    """Column name -> (centre, spread) of a scaler that sees the raw column first (alone or
    in a ColumnTransformer, after imputers), so made values look like the training data."""
    found: dict[str, tuple[float, float]] = {}
    try:
        _scalers(native, names, found)
    except (AttributeError, IndexError, TypeError, ValueError):  # an unusual layout: none
        return {}
    return found


def _scalers(step: Any, names: list[str], found: dict[str, tuple[float, float]]) -> None:
    kind = type(step).__name__
    if kind == "Pipeline":
        for _, sub in step.steps:
            _scalers(sub, names, found)
            if not type(sub).__name__.endswith("Imputer"):
                return
    elif kind == "ColumnTransformer":
        for _, transformer, selected in step.transformers_:
            if transformer not in ("drop", "passthrough"):
                _scalers(transformer, selected_columns(selected, names), found)
    elif kind in _SCALERS:
        centre, spread = (np.asarray(getattr(step, a), dtype=float) for a in _SCALERS[kind])
        if kind == "MinMaxScaler":  # (min, max): the middle, half the width
            centre, spread = (centre + spread) / 2, (spread - centre) / 2
        for name, c, s in zip(names, centre, spread, strict=False):
            found[name] = (float(c), float(s) if s > 0 else 1.0)


_SCALERS = {
    "StandardScaler": ("mean_", "scale_"),
    "RobustScaler": ("center_", "scale_"),
    "MinMaxScaler": ("data_min_", "data_max_"),
}


def split_values(native: Any, names: list[str]) -> dict[str, list[float]]:
    """Column name -> the numeric thresholds the model's trees split it at (empty when the
    model has no trees, or its splits are not on its raw inputs, as in a pipeline)."""
    module = type(native).__module__
    try:
        if module.startswith(("lightgbm", "xgboost")):
            return _booster_splits(native, names)
        return _sklearn_splits(native, names)
    except (AttributeError, KeyError, ValueError, TypeError):  # an unusual model: no splits
        return {}


def _booster_splits(native: Any, names: list[str]) -> dict[str, list[float]]:
    booster = getattr(native, "booster_", None) or (
        native.get_booster() if hasattr(native, "get_booster") else native
    )
    trees = booster.trees_to_dataframe()
    if "split_feature" in trees:  # LightGBM
        numeric = trees[trees["decision_type"] == "<="]
        feature, threshold = numeric["split_feature"], numeric["threshold"]
    else:  # XGBoost
        numeric = trees[trees["Split"].notna()]
        feature, threshold = numeric["Feature"], numeric["Split"]
    found: dict[str, list[float]] = defaultdict(list)
    positional = {f"f{i}": n for i, n in enumerate(names)}  # a booster without names
    for name, value in zip(feature.astype(str), threshold.astype(float), strict=True):
        found[positional.get(name, name)].append(value)
    return dict(found)


def _sklearn_splits(native: Any, names: list[str]) -> dict[str, list[float]]:
    trees: list[Any] = []
    if hasattr(native, "tree_"):
        trees = [native.tree_]
    elif hasattr(native, "estimators_"):
        trees = [e.tree_ for e in np.ravel(native.estimators_) if hasattr(e, "tree_")]
    found: dict[str, list[float]] = defaultdict(list)
    for tree in trees:
        for feature, threshold in zip(tree.feature, tree.threshold, strict=True):
            if feature >= 0:
                found[names[feature]].append(float(threshold))
    for stage in getattr(native, "_predictors", []):  # HistGradientBoosting
        for predictor in stage:
            nodes = predictor.nodes
            numeric = ~nodes["is_leaf"].astype(bool) & ~nodes["is_categorical"].astype(bool)
            for feature, threshold in zip(
                nodes["feature_idx"][numeric], nodes["num_threshold"][numeric], strict=True
            ):
                found[names[int(feature)]].append(float(threshold))
    return dict(found)
