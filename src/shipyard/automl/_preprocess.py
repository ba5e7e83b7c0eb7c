"""Preprocessing built from the data's column types, to live inside the registered model.

Serving then applies exactly the transforms training did: the fitted ColumnTransformer is the
first step of the model's Pipeline, never a copy re-implemented at inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from shipyard.automl._onnx import convert_date_parts, date_parts_shape
from shipyard.errors import InvalidInput
from shipyard.models import register_onnx_step

__all__ = ["ENCODINGS", "DateParts", "column_kinds", "make_preprocessor"]

ENCODINGS = ("onehot", "ordinal", "target")
MAX_ONEHOT = 30  # text columns with more distinct values are target- or ordinal-encoded


class DateParts(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Datetime columns as numbers a model can split on: year, month, day, weekday, hour.

    A scikit-learn transformer with no learned state (``fit`` only records the columns), so
    it is saved with the model and serves exactly as it trained; its ONNX form computes the
    same parts in the graph (``_onnx.py``).
    """

    PARTS = ("year", "month", "day", "dayofweek", "hour")

    def fit(self, X: Any, y: Any = None) -> DateParts:
        self.columns_ = [str(c) for c in pd.DataFrame(X).columns]
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = pd.DataFrame(X)
        out = []
        for column in frame.columns:
            values = pd.to_datetime(frame[column])
            if values.dt.tz is not None:  # the parts of UTC, as the signature serves them
                values = values.dt.tz_convert("UTC")
            for part in self.PARTS:
                attribute = "day_of_week" if part == "dayofweek" else part
                out.append(getattr(values.dt, attribute).astype("float64").to_numpy())
        return np.column_stack(out) if out else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.columns_
        return np.asarray([f"{c}_{p}" for c in names for p in self.PARTS], dtype=object)


register_onnx_step(DateParts, convert_date_parts, date_parts_shape)


def column_kinds(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Feature columns by kind: ``numeric``, ``boolean``, ``categorical``, ``datetime``."""
    kinds: dict[str, list[str]] = {"numeric": [], "boolean": [], "categorical": [], "datetime": []}
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
            kinds["categorical"].append(str(name))
        elif pd.api.types.is_bool_dtype(dtype):
            kinds["boolean"].append(str(name))
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kinds["datetime"].append(str(name))
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds["numeric"].append(str(name))
        else:
            raise InvalidInput(
                f"Column {name!r} has dtype {dtype}, which training does not know how to "
                "encode; expected numbers, booleans, text, categories or datetimes."
            )
    return kinds


def make_preprocessor(
    frame: pd.DataFrame,
    *,
    encoding: str = "onehot",
    scale: bool = True,
    categorical: Sequence[str] = (),
) -> Any:
    """A ColumnTransformer for these columns, fitted later with the model.

    Numbers: median imputation (with a missing-value indicator when a column has nulls) and,
    with ``scale``, standardisation. Booleans: one 0/1 column. Text and categories: the most
    frequent value for nulls, then one-hot (unknown values ignored; columns with more than 30
    values are target-encoded), ordinal (unknown values as -1) or target encoding. Datetimes:
    their parts (median imputation with indicators when a date is missing; scaled with
    ``scale``).

    Args:
        frame: the training features (not the target).
        encoding: ``onehot``, ``ordinal`` or ``target`` for text and category columns.
        scale: standardise numbers (linear models and MLPs need it; trees do not).
        categorical: numeric columns to treat as categories (codes, ids).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
        TargetEncoder,
    )

    if encoding not in ENCODINGS:
        raise InvalidInput(f"encoding must be one of {ENCODINGS}; got {encoding!r}.")
    kinds = column_kinds(frame)
    forced = [str(c) for c in categorical]
    unknown = [c for c in forced if c not in frame.columns]
    if unknown:
        raise InvalidInput(f"categorical names columns the data lacks: {unknown}.")
    kinds["numeric"] = [c for c in kinds["numeric"] if c not in forced]
    kinds["categorical"] += [c for c in forced if c not in kinds["categorical"]]

    steps: list[tuple[str, Any, list[str]]] = []
    if kinds["numeric"]:
        has_nulls = bool(frame[kinds["numeric"]].isna().to_numpy().any())
        numeric = [SimpleImputer(strategy="median", add_indicator=has_nulls)]
        if scale:
            numeric.append(StandardScaler())
        steps.append(("numeric", make_pipeline(*numeric), kinds["numeric"]))
    if kinds["boolean"]:
        flags = OneHotEncoder(drop="if_binary", handle_unknown="ignore", sparse_output=False)
        steps.append(("boolean", flags, kinds["boolean"]))
    text = kinds["categorical"]
    wide = [c for c in text if frame[c].nunique() > MAX_ONEHOT]
    onehot = [c for c in text if c not in wide] if encoding == "onehot" else []
    ordinal = text if encoding == "ordinal" else []
    target = [c for c in text if c not in onehot and c not in ordinal]
    if onehot:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        steps.append(("onehot", make_pipeline(_most_frequent(), encoder), onehot))
    if ordinal:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        steps.append(("ordinal", make_pipeline(_most_frequent(), encoder), ordinal))
    if target:
        steps.append(("target", make_pipeline(_most_frequent(), TargetEncoder()), target))
    if kinds["datetime"]:
        dated: list[Any] = [DateParts()]
        if frame[kinds["datetime"]].isna().to_numpy().any():  # no NaN reaches the model
            dated.append(SimpleImputer(strategy="median", add_indicator=True))
        if scale:
            dated.append(StandardScaler())
        steps.append(
            ("dates", make_pipeline(*dated) if len(dated) > 1 else dated[0], kinds["datetime"])
        )
    if not steps:
        raise InvalidInput("There are no feature columns to train on.")
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)


def _most_frequent() -> Any:
    from sklearn.impute import SimpleImputer

    return SimpleImputer(strategy="most_frequent")
