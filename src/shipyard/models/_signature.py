"""Model signatures: the columns a model takes (types, allowed categories) and what it returns.

Inferred from training data at registration, checked on every prediction. Checking is written
by hand rather than with pandera: a one-row request must be validated in microseconds, and
pandera's per-call overhead is milliseconds. Validation turns any accepted input (DataFrame,
Arrow table, one record as a dict, a dict of columns, a list of records, a 2-D array) into
one NumPy array per input column, in signature order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput

__all__ = ["ColumnSpec", "Signature", "infer_signature"]

TYPES = ("int", "float", "bool", "string", "category", "datetime")
TASKS = ("classification", "regression")
MAX_SHOWN = 10

Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its type, whether it may hold nulls, and for categories their values.

    Attributes:
        name: column name.
        type: one of ``int``, ``float``, ``bool``, ``string``, ``category``, ``datetime``.
        nullable: whether nulls are accepted (float columns always accept NaN).
        categories: the allowed values of a ``category`` column, in the training order.
    """

    name: str
    type: str
    nullable: bool = False
    categories: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise InvalidInput(
                f"Signature column {self.name!r}: field 'type' must be one of {TYPES}, "
                f"got {self.type!r}."
            )
        if self.type == "category" and self.categories is None:
            raise InvalidInput(
                f"Signature column {self.name!r}: a category column needs field 'categories' "
                "(its allowed values)."
            )
        if self.categories is not None:
            values = tuple(_plain(c) for c in self.categories)
            if not (
                all(isinstance(c, str) for c in values)
                or all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in values)
            ):
                raise InvalidInput(
                    f"Signature column {self.name!r}: field 'categories' must hold only text or "
                    f"only numbers, got {list(values)[:MAX_SHOWN]}."
                )
            object.__setattr__(self, "categories", values)
            if len(set(self.categories)) != len(self.categories):
                raise InvalidInput(
                    f"Signature column {self.name!r}: field 'categories' repeats values "
                    f"({list(self.categories)[:MAX_SHOWN]}); each category must appear once."
                )
            object.__setattr__(self, "_allowed", frozenset(self.categories))
            object.__setattr__(self, "_codes", {c: i for i, c in enumerate(self.categories)})
            object.__setattr__(self, "_dtype", pd.CategoricalDtype(list(self.categories)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return out


@dataclass(frozen=True)
class Signature:
    """What a model takes and returns.

    Attributes:
        inputs: input columns in the order the model was trained on.
        task: ``classification``, ``regression`` or None when unknown.
        classes: the class labels of a classifier, in the order of its probabilities.
        target: the name of the column the model predicts, when known.

    Example:
        >>> import pandas as pd
        >>> sig = infer_signature(pd.DataFrame({"age": [30, 40], "city": ["a", "b"]}))
        >>> [c.type for c in sig.inputs]
        ['int', 'string']
        >>> sig.validate({"age": 31, "city": "b"})["age"]
        array([31])
    """

    inputs: tuple[ColumnSpec, ...]
    task: str | None = None
    classes: tuple[Any, ...] | None = None
    target: str | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))
        if self.task is not None and self.task not in TASKS:
            raise InvalidInput(f"Signature field 'task' must be one of {TASKS}, got {self.task!r}.")
        names = [c.name for c in self.inputs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidInput(f"Signature input names must be unique; repeated: {repeated}.")
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})

    @property
    def names(self) -> list[str]:
        """Input column names in order."""
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :meth:`from_dict` reads it back."""
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "task": self.task,
            "classes": None if self.classes is None else [_plain(c) for c in self.classes],
            "target": self.target,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Read the form :meth:`to_dict` writes."""
        try:
            inputs = tuple(
                ColumnSpec(
                    c["name"], c["type"], bool(c.get("nullable", False)), c.get("categories")
                )
                for c in data["inputs"]
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput(
                f"Signature must have 'inputs': a list of {{name, type}} objects ({exc})."
            ) from exc
        classes = data.get("classes")
        return cls(
            inputs,
            data.get("task"),
            None if classes is None else tuple(classes),
            data.get("target"),
        )

    def outputs(self) -> list[dict[str, Any]]:
        """The output schema: the prediction, and class probabilities for a classifier."""
        if self.task == "classification" and self.classes is not None:
            kind = _value_type(self.classes)
            return [
                {"name": "prediction", "type": kind},
                {
                    "name": "probabilities",
                    "type": "float",
                    "shape": [len(self.classes)],
                    "classes": [_plain(c) for c in self.classes],
                },
            ]
        return [{"name": "prediction", "type": "float" if self.task == "regression" else "any"}]

    # -- validation -------------------------------------------------------------------

    def validate(self, data: Any) -> Columns:
        """Check ``data`` against the inputs; one array per input column, in order.

        Columns the signature does not name are ignored. Integral floats are accepted for
        ``int`` columns (JSON has one number type); anything else of the wrong type fails.

        Raises:
            InvalidInput: a missing column, a value of the wrong type, an unknown category,
                or a null where none is allowed; the message names the column.
        """
        raw = _columns(data, self)
        out: Columns = {}
        rows = -1
        for spec in self.inputs:
            values = raw.get(spec.name, _MISSING)
            if values is _MISSING:
                more = ", ..." if len(self.inputs) > MAX_SHOWN else ""
                raise InvalidInput(
                    f"Missing column {spec.name!r} (expected {spec.type}). The model takes: "
                    f"{', '.join(self.names[:MAX_SHOWN])}{more}."
                )
            array = _check(spec, values)
            if rows == -1:
                rows = len(array)
            elif len(array) != rows:
                raise InvalidInput(
                    f"Column {spec.name!r} has {len(array)} values; the other columns have {rows}."
                )
            out[spec.name] = array
        if rows == 0:
            raise InvalidInput("The input has no rows; send at least one row to predict.")
        return out

    def frame(self, columns: Columns) -> pd.DataFrame:
        """A DataFrame of validated columns, with the dtypes the model was trained on."""
        data: dict[str, Any] = {}
        for spec in self.inputs:
            values = columns[spec.name]
            if spec.type == "category":
                data[spec.name] = _as_categorical(spec, values)
            else:
                data[spec.name] = values
        return pd.DataFrame(data, copy=False)


_MISSING: Any = object()


def _as_categorical(spec: ColumnSpec, values: np.ndarray) -> pd.Categorical:
    """Validated values as a Categorical with the training categories."""
    dtype: pd.CategoricalDtype = spec._dtype  # type: ignore[attr-defined]
    if len(values) > 64:
        return pd.Categorical(values, dtype=dtype)
    codes: dict[str, int] = spec._codes  # type: ignore[attr-defined]
    return pd.Categorical.from_codes(
        np.fromiter((codes.get(v, -1) for v in values), dtype=np.int64, count=len(values)),
        dtype=dtype,
    )


def infer_signature(
    X: Any, y: Any = None, *, model: Any = None, target: str | None = None
) -> Signature:
    """The signature of a model trained on ``X`` (and ``y``).

    Columns with the pandas ``category`` dtype keep their categories as the allowed values.
    The task and classes come from the model (``classes_``) when it has them, else from ``y``.

    Args:
        X: training inputs: DataFrame, Arrow table, dict of columns or 2-D array.
        y: training targets, optional.
        model: the fitted model, optional; its ``classes_`` and ``feature_names_in_`` are used.
        target: the name of the predicted column, optional (defaults to ``y.name``).

    Raises:
        InvalidInput: a column of a type signatures do not support.
    """
    frame = _model_columns(_as_frame(X, model), model)
    inputs = tuple(_spec(str(name), frame[name]) for name in frame.columns)
    classes = getattr(model, "classes_", None)
    task: str | None = None
    if classes is not None:
        task = "classification"
    elif model is not None and _is_regressor(model):
        task = "regression"
    elif y is not None and np.ndim(y) == 1:
        labels = pd.Series(np.asarray(y))
        if labels.dtype.kind in "biuO" or isinstance(labels.dtype, pd.CategoricalDtype):
            task, classes = "classification", np.sort(labels.dropna().unique())
        elif labels.dtype.kind == "f":
            task = "regression"
    if target is None and isinstance(y, pd.Series) and y.name is not None:
        target = str(y.name)
    return Signature(
        inputs, task, None if classes is None else tuple(_plain(c) for c in classes), target
    )


def _is_regressor(model: Any) -> bool:
    if getattr(model, "_estimator_type", None) == "regressor":
        return True
    try:
        from sklearn.base import is_regressor

        return bool(is_regressor(model))
    except Exception:
        return False


def _as_frame(X: Any, model: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if hasattr(X, "to_pandas") and hasattr(X, "schema"):
        return X.to_pandas()
    if isinstance(X, Mapping):
        return pd.DataFrame({k: np.atleast_1d(v) for k, v in X.items()})
    array = np.asarray(X)
    if array.ndim != 2:
        raise InvalidInput(
            f"X must be a table (DataFrame, Arrow table, dict of columns or 2-D array), "
            f"got an array of {array.ndim} dimensions."
        )
    names = getattr(model, "feature_names_in_", None)
    if names is None or len(names) != array.shape[1]:
        names = [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=[str(n) for n in names])


def fitted_columns(model: Any) -> list[str] | None:
    """The column names a fitted model takes, in its order, when it knows them."""
    try:
        names = getattr(model, "feature_names_in_", None)
        if names is None and type(model).__module__.startswith("lightgbm"):
            booster = getattr(model, "booster_", model)
            names = booster.feature_name() if hasattr(booster, "feature_name") else None
        if names is None and type(model).__module__.startswith("xgboost"):
            booster = model.get_booster() if hasattr(model, "get_booster") else model
            names = getattr(booster, "feature_names", None)
    except (AttributeError, ValueError):  # not fitted: its flavor says so when saving
        return None
    return None if names is None else [str(n) for n in names]


def _model_columns(frame: pd.DataFrame, model: Any) -> pd.DataFrame:
    """``frame`` restricted to the model's own columns, in the model's order."""
    names = fitted_columns(model) if model is not None else None
    if names is None or list(frame.columns) == names:
        return frame
    present = {str(c) for c in frame.columns}
    missing = [n for n in names if n not in present]
    if missing:
        raise InvalidInput(
            f"X lacks columns the model was fitted on: {missing[:MAX_SHOWN]}. Pass the "
            "training inputs as X."
        )
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return frame[names]


def _spec(name: str, series: pd.Series) -> ColumnSpec:
    dtype = series.dtype
    nulls = bool(series.isna().any())
    if isinstance(dtype, pd.CategoricalDtype):
        return ColumnSpec(name, "category", nulls, tuple(dtype.categories))
    kind = getattr(dtype, "kind", "O")
    if kind == "b" or str(dtype) == "boolean":
        return ColumnSpec(name, "bool", nulls)
    if kind in "iu":
        return ColumnSpec(name, "int", nulls)
    if kind == "f":
        return ColumnSpec(name, "float", nulls)
    if kind == "M":
        return ColumnSpec(name, "datetime", nulls)
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    types = {
        "string": "string",
        "empty": "string",
        "integer": "int",
        "floating": "float",
        "mixed-integer-float": "float",
        "boolean": "bool",
        "datetime": "datetime",
        "datetime64": "datetime",
    }
    if inferred not in types:
        raise InvalidInput(
            f"Column {name!r} holds {inferred} values, which signatures do not support; "
            f"expected one of {TYPES}. Convert the column first."
        )
    return ColumnSpec(name, types[inferred], nulls)


def _columns(data: Any, sig: Signature) -> Mapping[str, Any]:
    """The input as a mapping of column name to a sequence of values."""
    if isinstance(data, pd.DataFrame):
        get = getattr(data, "_get_column_array", None)
        index = {str(c): i for i, c in enumerate(data.columns)}
        if len(index) != data.shape[1]:
            names = [str(c) for c in data.columns]
            repeated = sorted({n for n in names if names.count(n) > 1})
            raise InvalidInput(f"The input repeats column names: {repeated[:MAX_SHOWN]}.")
        if get is None:
            return {str(c): data[c].array for c in data.columns}
        return {c: get(i) for c, i in index.items() if c in sig._index}
    if isinstance(data, Mapping):
        first = next(iter(data.values()), None)
        if first is None or (np.ndim(first) == 0 and not isinstance(first, (list, tuple))):
            return {str(k): [v] for k, v in data.items()}  # one record
        return {str(k): v for k, v in data.items()}
    if hasattr(data, "schema") and hasattr(data, "column_names"):  # Arrow table / batch
        return {n: data.column(n).to_numpy(zero_copy_only=False) for n in data.column_names}
    if isinstance(data, Sequence) and data and isinstance(data[0], Mapping):
        names = sig.names
        present = {k for record in data for k in record}
        return {n: [record.get(n) for record in data] for n in names if n in present}
    if isinstance(data, (np.ndarray, Sequence)):
        array = np.asarray(data, dtype=object if not isinstance(data, np.ndarray) else None)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.shape[1] != len(sig.inputs):
            raise InvalidInput(
                f"An array input must have one column per model input ({len(sig.inputs)}: "
                f"{', '.join(sig.names[:MAX_SHOWN])}), got shape {array.shape}."
            )
        return {n: array[:, i] for i, n in enumerate(sig.names)}
    raise InvalidInput(
        f"Model input must be a DataFrame, Arrow table, dict, list of records or 2-D array, "
        f"got {type(data).__name__}."
    )


def _check(spec: ColumnSpec, raw: Any) -> np.ndarray:
    if isinstance(raw, pd.Categorical):
        return _categorical(spec, raw)
    if type(raw) is list and len(raw) == 1:  # one record, as serving sends: no object arrays
        value = raw[0]
        scalar = type(value)
        if spec.type == "float" and (scalar is float or scalar is int):
            return np.array([value], dtype=np.float64)
        if spec.type == "int" and scalar is int and -(2**63) <= value < 2**63:
            return np.array([value], dtype=np.int64)
        if scalar is str and spec.type in ("string", "category"):
            allowed: frozenset[Any] | None = getattr(spec, "_allowed", None)
            if allowed is None or value in allowed:
                return np.array([value], dtype=object)
    values: np.ndarray = (
        raw
        if isinstance(raw, np.ndarray)
        else np.asarray(raw, dtype=object if isinstance(raw, list) else None)
    )
    if values.ndim != 1:
        values = values.reshape(-1)
    kind = values.dtype.kind
    name, want = spec.name, spec.type
    if want == "float":
        if kind in "fiu":
            return values.astype(np.float64, copy=False)
        if kind == "O":
            return _numbers(spec, values, float_ok=True)
    elif want == "int":
        if kind == "i":
            return values.astype(np.int64, copy=False)
        if kind == "u":
            if values.size and values.max() > np.iinfo(np.int64).max:
                raise InvalidInput(
                    f"Column {spec.name!r}: expected int values, got {_plain(values.max())!r}, "
                    "outside the 64-bit integer range."
                )
            return values.astype(np.int64)
        if kind == "f":
            return _integral(spec, values)
        if kind == "O":
            return _numbers(spec, values, float_ok=False)
    elif want == "bool":
        if kind == "b":
            return values
        if kind == "O" and all(isinstance(v, (bool, np.bool_)) or _null(v) for v in values):
            return _nulls_ok(spec, values)
    elif want in ("string", "category"):
        if kind in "UT":
            values = values.astype(object)
            kind = "O"
        if kind == "O" or (want == "category" and kind in "iuf"):
            return _text(spec, values.astype(object))
    elif want == "datetime":
        if kind == "M":
            return _nulls_ok(spec, values)
        if kind in "OU":
            try:
                parsed = pd.to_datetime(pd.Series(values), errors="raise").to_numpy()
            except (ValueError, TypeError) as exc:
                raise InvalidInput(
                    f"Column {name!r}: expected datetime values, got {_sample(values)} ({exc})."
                ) from exc
            return _nulls_ok(spec, parsed)
    raise InvalidInput(
        f"Column {name!r}: expected {want} values, got {_described(values)} such as "
        f"{_sample(values)}."
    )


def _numbers(spec: ColumnSpec, values: np.ndarray, *, float_ok: bool) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if _null(v):
            out[i] = math.nan
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
            v, (bool, np.bool_)
        ):
            out[i] = v
        else:
            raise InvalidInput(
                f"Column {spec.name!r}: expected {spec.type} values, got {type(v).__name__} {v!r}."
            )
    return out if float_ok else _integral(spec, out)


def _integral(spec: ColumnSpec, values: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    if missing.any():
        if not spec.nullable:
            raise InvalidInput(
                f"Column {spec.name!r}: expected int values, got a null at row "
                f"{int(np.argmax(missing))}; the model was trained without nulls here."
            )
        return values  # nulls stay NaN in a float column, as pandas would hold them
    rounded = np.round(values)
    outside = ~np.isfinite(values) | (np.abs(values) > 2.0**63 - 1024)
    if outside.any():
        raise InvalidInput(
            f"Column {spec.name!r}: expected int values, got {_plain(values[outside][0])!r}, "
            "outside the 64-bit integer range."
        )
    if not np.array_equal(rounded, values):
        bad = values[rounded != values][0]
        raise InvalidInput(f"Column {spec.name!r}: expected int values, got {_plain(bad)!r}.")
    return values.astype(np.int64)


def _categorical(spec: ColumnSpec, values: pd.Categorical) -> np.ndarray:
    """A pandas Categorical: its categories are checked once per dtype, not every value."""
    if spec.type not in ("string", "category"):
        return _check(spec, np.asarray(values, dtype=object))
    dtype = values.dtype
    seen = getattr(spec, "_seen", None)
    if seen is None or seen[0] is not dtype:
        categories = np.asarray([_plain(c) for c in dtype.categories], dtype=object)
        allowed: frozenset[Any] | None = getattr(spec, "_allowed", None)
        unknown = [c for c in categories if allowed is not None and c not in allowed]
        seen = (dtype, categories, frozenset(unknown))
        object.__setattr__(spec, "_seen", seen)
    codes = values.codes
    out: np.ndarray = seen[1][codes]
    if seen[2] or codes.min(initial=0) < 0:
        out[codes < 0] = None
        _text(spec, out)  # unknown categories or nulls: the per-value check says which
    return out


def _text(spec: ColumnSpec, values: np.ndarray) -> np.ndarray:
    """Text values (or the values of a category column), each checked once."""
    allowed: frozenset[Any] | None = getattr(spec, "_allowed", None)
    if len(values) > 64:  # check each distinct value once
        distinct = pd.unique(values)
        if len(distinct) < len(values):
            _text(spec, np.asarray(distinct, dtype=object))
            return values
    for v in values:
        if _null(v):
            if not spec.nullable:
                raise InvalidInput(
                    f"Column {spec.name!r}: expected {spec.type} values, got a null; the model "
                    "was trained without nulls here."
                )
        elif allowed is not None and not isinstance(v, bool):
            if v not in allowed:
                shown = ", ".join(repr(c) for c in (spec.categories or ())[:MAX_SHOWN])
                raise InvalidInput(
                    f"Column {spec.name!r}: unknown category {v!r} (allowed: {shown}"
                    f"{', ...' if len(allowed) > MAX_SHOWN else ''})."
                )
        elif not isinstance(v, str):
            raise InvalidInput(
                f"Column {spec.name!r}: expected {spec.type} values, got {type(v).__name__} {v!r}."
            )
    return values


def _nulls_ok(spec: ColumnSpec, values: np.ndarray) -> np.ndarray:
    if not spec.nullable and pd.isna(values).any():
        raise InvalidInput(
            f"Column {spec.name!r}: expected {spec.type} values, got a null; the model was "
            "trained without nulls here."
        )
    return values


def _null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def _described(values: np.ndarray) -> str:
    if values.dtype.kind == "O":
        kinds = sorted({type(v).__name__ for v in values[:100] if not _null(v)})
        return " and ".join(kinds) or "nulls"
    return {
        "b": "bool",
        "i": "int",
        "u": "int",
        "f": "float",
        "M": "datetime",
        "U": "string",
        "T": "string",
    }.get(values.dtype.kind, str(values.dtype))


def _sample(values: np.ndarray) -> str:
    shown = [repr(_plain(v)) for v in values[:3]]
    return ", ".join(shown)


def _value_type(values: Sequence[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) for v in values):
        return "float"
    return "string"


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value
