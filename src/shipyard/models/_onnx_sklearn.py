"""ONNX converters for the scikit-learn steps skl2onnx mishandles, used in its place.

- ``SimpleImputer``: skl2onnx drops ``add_indicator``'s columns from the output shape, and
  refuses text columns whose missing value is NaN (pandas' null). Here: numbers are
  imputed where NaN (or the declared missing value), text where it is :data:`NULL_TEXT`
  (how the feed passes a null), columns with no statistic are dropped as scikit-learn does,
  and the indicator columns follow.
- ``OneHotEncoder`` of numbers or booleans whose categories hold a null (a nullable
  boolean column): skl2onnx casts categories to integers and fails on NaN. Here each
  category is compared (NaN by ``IsNaN``), dropped ones left out; others go to skl2onnx.
- ``TargetEncoder``: skl2onnx converts binary and continuous targets only. Here every
  target type, multiclass included (one column per feature and class, in scikit-learn's
  order); unknown values get the target mean, as in scikit-learn.

Imported only while a model is converted (skl2onnx and scikit-learn are loaded then).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from skl2onnx.common._registration import get_converter, get_shape_calculator
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from skl2onnx.operator_converters.common import concatenate_variables
from skl2onnx.proto import onnx_proto
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, TargetEncoder

from shipyard.models._onnx import NULL_TEXT

__all__ = ["REPLACED"]

ML = "ai.onnx.ml"


def _imputer_columns(op: Any) -> tuple[np.ndarray, list[int]]:
    """Kept columns (those with a statistic, unless empty ones are kept) and indicator ones."""
    stats = np.asarray(op.statistics_, dtype=object)
    # as scikit-learn: only NaN marks an empty column; None is a text column's most
    # frequent value (its nulls), kept and filled with itself
    empty = np.array([_is_null(v) and v is not None for v in stats], dtype=bool)
    kept = np.arange(len(stats)) if op.keep_empty_features else np.flatnonzero(~empty)
    indicator = getattr(op, "indicator_", None)
    flagged = [] if indicator is None else [int(i) for i in indicator.features_]
    return kept, flagged


def imputer_shape(operator: Any) -> None:
    kept, flagged = _imputer_columns(operator.raw_operator)
    kind = type(operator.inputs[0].type)
    if kind is StringTensorType and flagged:
        # ONNX has no text-null test to build the indicator from; _naming turns this into the
        # one-line refusal that names the step (Shipyard's own preprocessing never builds it)
        raise ValueError("missing-value indicators of text columns have no ONNX form")
    rows = operator.inputs[0].get_first_dimension()
    out = kind if kind in (FloatTensorType, StringTensorType) else FloatTensorType
    operator.outputs[0].type = out([rows, len(kept) + len(flagged)])


def convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    op = operator.raw_operator
    kept, flagged = _imputer_columns(op)
    text = isinstance(operator.inputs[0].type, StringTensorType)
    x = concatenate_variables(scope, operator.inputs, container)
    missing = _name(scope, "missing")
    if text:
        key = NULL_TEXT if _is_null(op.missing_values) else str(op.missing_values)
        codes = _name(scope, "missing_code")
        container.add_node(
            "LabelEncoder", [x], [codes], op_domain=ML, op_version=2,
            keys_strings=[key], values_int64s=[1], default_int64=0,
        )  # fmt: skip
        container.add_node("Cast", [codes], [missing], to=onnx_proto.TensorProto.BOOL)
    elif _is_null(op.missing_values):
        container.add_node("IsNaN", [x], [missing])
    else:
        value = _constant(scope, container, np.array([op.missing_values], np.float32))
        container.add_node("Equal", [x, value], [missing])
    stats = np.asarray(op.statistics_, dtype=object)
    if text:
        # a None statistic fills nulls with None: the encoders after it spell it "None"
        texts = [str(v) for v in stats]
        fill = _constant(scope, container, np.array(texts, dtype=object))
    else:
        fill = _constant(scope, container, np.asarray(stats, dtype=np.float32))
    filled = _name(scope, "filled")
    container.add_node("Where", [missing, fill, x], [filled])
    parts = [_columns(scope, container, filled, kept, len(stats))]
    if flagged:
        flags = _columns(scope, container, missing, np.asarray(flagged), -1)
        as_float = _name(scope, "indicator")
        container.add_node("Cast", [flags], [as_float], to=onnx_proto.TensorProto.FLOAT)
        parts.append(as_float)
    container.add_node("Concat", parts, [operator.outputs[0].full_name], axis=1)


def _onehot_kept(operator: Any) -> list[list[Any]] | None:
    """Each feature's output categories, when Shipyard converts this encoder (numbers with
    a null category); None when skl2onnx does."""
    op = operator.raw_operator
    numeric = not isinstance(operator.inputs[0].type, StringTensorType)
    nulls = any(_is_null(c) for cats in op.categories_ for c in cats)
    if not (numeric and nulls) or getattr(op, "_infrequent_enabled", False):
        return None
    drops = op.drop_idx_ if op.drop_idx_ is not None else [None] * len(op.categories_)
    return [
        [c for i, c in enumerate(cats) if drop is None or i != drop]
        for cats, drop in zip(op.categories_, drops, strict=True)
    ]


def onehot_shape(operator: Any) -> None:
    kept = _onehot_kept(operator)
    if kept is None:
        get_shape_calculator("SklearnOneHotEncoder")(operator)
        return
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([rows, sum(map(len, kept))])


def convert_onehot(scope: Any, operator: Any, container: Any) -> None:
    kept = _onehot_kept(operator)
    if kept is None:
        get_converter("SklearnOneHotEncoder")(scope, operator, container)
        return
    x = concatenate_variables(scope, operator.inputs, container)
    parts = []
    for feature, categories in enumerate(kept):
        column = _columns(scope, container, x, np.array([feature]), -1)
        for category in categories:
            hit = _name(scope, "is_category")
            if _is_null(category):
                container.add_node("IsNaN", [column], [hit])
            else:
                value = _constant(scope, container, np.array([float(category)], np.float32))
                container.add_node("Equal", [column, value], [hit])
            flag = _name(scope, "onehot")
            container.add_node("Cast", [hit], [flag], to=onnx_proto.TensorProto.FLOAT)
            parts.append(flag)
    container.add_node("Concat", parts, [operator.outputs[0].full_name], axis=1)


def target_encoder_shape(operator: Any) -> None:
    op = operator.raw_operator
    rows = operator.inputs[0].get_first_dimension()
    per_feature = len(op.classes_) if op.target_type_ == "multiclass" else 1
    operator.outputs[0].type = FloatTensorType([rows, len(op.categories_) * per_feature])


def convert_target_encoder(scope: Any, operator: Any, container: Any) -> None:
    op = operator.raw_operator
    text = isinstance(operator.inputs[0].type, StringTensorType)
    x = concatenate_variables(scope, operator.inputs, container)
    classes = len(op.classes_) if op.target_type_ == "multiclass" else 1
    means = np.atleast_1d(np.asarray(op.target_mean_, dtype=np.float64))
    parts = []
    for feature, categories in enumerate(op.categories_):
        column = _columns(scope, container, x, np.array([feature]), -1)
        keys: dict[str, Any]
        rows = list(range(len(categories)))
        if text:
            names = [NULL_TEXT if _is_null(c) else str(c) for c in categories]
            nulls = [i for i, c in enumerate(categories) if _is_null(c)]
            if nulls and "None" not in names:  # an imputer's None statistic fills "None"
                names.append("None")
                rows.append(nulls[0])
            keys = {"keys_strings": names}
        else:
            keys = {"keys_floats": np.asarray(categories, dtype=np.float32)}
        for k in range(classes):
            encoded = _name(scope, "target_encoded")
            values = np.asarray(op.encodings_[feature * classes + k], np.float32)[rows]
            container.add_node(
                "LabelEncoder", [column], [encoded], op_domain=ML, op_version=2, **keys,
                values_floats=values,
                default_float=float(means[k % len(means)]),
            )  # fmt: skip
            parts.append(encoded)
    container.add_node("Concat", parts, [operator.outputs[0].full_name], axis=1)


# -- graph helpers ---------------------------------------------------------------------


def _name(scope: Any, hint: str) -> str:
    return str(scope.get_unique_variable_name(hint))


def _constant(scope: Any, container: Any, values: np.ndarray) -> str:
    name = _name(scope, "const")
    if values.dtype == object:
        data = [str(v).encode() for v in values]
        container.add_initializer(name, onnx_proto.TensorProto.STRING, list(values.shape), data)
    elif values.dtype == np.int64:
        container.add_initializer(
            name, onnx_proto.TensorProto.INT64, list(values.shape), values.tolist()
        )
    else:
        container.add_initializer(
            name, onnx_proto.TensorProto.FLOAT, list(values.shape), values.tolist()
        )
    return name


def _columns(scope: Any, container: Any, x: str, columns: np.ndarray, width: int) -> str:
    """Columns ``columns`` of ``x`` (``x`` itself when they are all ``width`` columns)."""
    if len(columns) == width and np.array_equal(columns, np.arange(width)):
        return x
    indices = _constant(scope, container, np.asarray(columns, dtype=np.int64))
    out = _name(scope, "columns")
    container.add_node("Gather", [x, indices], [out], axis=1)
    return out


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


#: type -> (converter, shape calculator), used instead of skl2onnx's
REPLACED: dict[type, tuple[Any, Any]] = {
    SimpleImputer: (convert_imputer, imputer_shape),
    OneHotEncoder: (convert_onehot, onehot_shape),
    TargetEncoder: (convert_target_encoder, target_encoder_shape),
}
