"""Model signatures: the columns a model takes (types, allowed categories) and what it returns.

Inferred from training data at registration, checked on every prediction. Checking is written
by hand rather than with pandera: a one-row request must be validated in microseconds, and
pandera's per-call overhead is milliseconds. Validation turns any accepted input (DataFrame,
Arrow table, one record as a dict, a dict of columns, a list of records, a 2-D array) into
one NumPy array per input column, in signature order.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput
from shipyard.models._validate import MAX_SHOWN, as_categorical, check, columns_of, plain

__all__ = ["ColumnSpec", "Signature", "infer_signature"]

TYPES = ("int", "float", "bool", "string", "category", "datetime")
TASKS = ("classification", "regression")

Columns = dict[str, np.ndarray]


class RowColumns(dict[str, np.ndarray]):
    """Validated columns of float inputs that also hold their values as one float64 matrix
    (``matrix``: rows × ``names``, each column a view of it), so that a one-row request is
    converted once, and a model fed one matrix takes it whole."""

    __slots__ = ("matrix", "names")

    def __init__(self, names: tuple[str, ...], matrix: np.ndarray) -> None:
        super().__init__(zip(names, matrix.T, strict=True))
        self.names = names
        self.matrix = matrix


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its type, whether it may hold nulls, and for categories their values.

    Attributes:
        name: column name.
        type: one of ``int``, ``float``, ``bool``, ``string``, ``category``, ``datetime``.
        nullable: whether nulls (``None``, ``NaN``, ``NaT``) are accepted, for every type:
            inferred as whether the training data held any.
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
            values = tuple(plain(c) for c in self.categories)
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
        floats = all(c.type == "float" for c in self.inputs) and len(names) > 0
        object.__setattr__(self, "_floats", tuple(names) if floats else None)
        if floats:
            object.__setattr__(self, "_pick", operator.itemgetter(*names))

    @property
    def names(self) -> list[str]:
        """Input column names in order."""
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :meth:`from_dict` reads it back."""
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "task": self.task,
            "classes": None if self.classes is None else [plain(c) for c in self.classes],
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
                    "classes": [plain(c) for c in self.classes],
                },
            ]
        return [{"name": "prediction", "type": "float" if self.task == "regression" else "any"}]

    # -- validation -------------------------------------------------------------------

    def record_columns(self, record: dict[str, Any]) -> RowColumns | None:
        """One record of JSON numbers for a signature of float columns only, converted in one
        step (a one-row request's fast path, ~3x cheaper than parsing and :meth:`validate`);
        None when :meth:`validate` must decide: another signature, a key that is not an
        input, a value that is not a number, a missing value or a NaN."""
        # (a signature unpickled from before these were set has neither: no fast path)
        names: tuple[str, ...] | None = getattr(self, "_floats", None)
        if names is None or len(record) != len(names):
            return None
        try:
            values = self._pick(record)  # type: ignore[attr-defined]
        except KeyError:
            return None
        if len(names) == 1:
            values = (values,)
        if not set(map(type, values)) <= _NUMBERS:
            return None
        try:
            row = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond float64: validate names it
            return None
        if math.isnan(sum(values)):  # a NaN (or inf - inf): validate's rule decides
            return None
        return RowColumns(names, row.reshape(1, -1))

    def validate(self, data: Any) -> Columns:
        """Check ``data`` against the inputs; one array per input column, in order.

        Columns the signature does not name are ignored. Integral floats are accepted for
        ``int`` columns (JSON has one number type); anything else of the wrong type fails.

        Raises:
            InvalidInput: a missing column, a value of the wrong type, an unknown category,
                or a null where none is allowed; the message names the column.
        """
        raw = columns_of(data, self)
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
            array = check(spec, values)
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
                data[spec.name] = as_categorical(spec, values)
            elif spec.type == "bool" and values.dtype.kind == "O":  # nulls: pandas' own
                data[spec.name] = pd.array(values, dtype="boolean")  # nullable booleans
            else:
                data[spec.name] = values
        return pd.DataFrame(data, copy=False)


_MISSING: Any = object()
_NUMBERS = frozenset({int, float})  # exactly: bool is not a number here


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
        inputs, task, None if classes is None else tuple(plain(c) for c in classes), target
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


def _value_type(values: Sequence[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) for v in values):
        return "float"
    return "string"
