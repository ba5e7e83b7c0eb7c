"""Schemas proposed from data: the schema type of a column, and a schema that a table
satisfies (:func:`infer_schema`); also the pandas view of a table that validation reads."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api import types as ptypes

from shipyard.data._schema import DTYPES, ORDERED, ColumnSchema, Schema
from shipyard.errors import InvalidInput

__all__ = ["as_frame", "family", "infer_schema", "type_names"]

MAX_INFERRED_CATEGORIES = 50
MAX_CATEGORY_RATIO = 0.5

# pandas.api.types.infer_dtype kinds of object columns, as schema types.
_OBJECT_KINDS = {
    "string": "string",
    "empty": "empty",
    "integer": "int",
    "floating": "float",
    "mixed-integer-float": "float",
    "decimal": "float",
    "boolean": "bool",
    "datetime": "datetime",
    "datetime64": "datetime",
}
_ARROW_NULLABLE: dict[pa.DataType, Any] = {
    getattr(pa, name.lower())(): ptypes.pandas_dtype(name)
    for name in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")
} | {pa.bool_(): pd.BooleanDtype()}


def infer_schema(data: pa.Table | pd.DataFrame) -> Schema:
    """Propose a schema that ``data`` satisfies.

    Args:
        data: an Arrow table or pandas DataFrame.

    Returns:
        The schema: dtype per column; nullable if any null is present; min/max of numeric
        and datetime columns (not of integer identifiers, whose range means nothing);
        categories of category columns and of string columns with at most 50 distinct
        values making up at most half the rows; ``unique`` for integer and string columns
        whose values are all distinct and non-null; no regex.

    Raises:
        InvalidInput: a column mixes value types or has an unsupported dtype.

    Example:
        >>> column = infer_schema(pd.DataFrame({"id": [3, 1, 2]})).column("id")
        >>> column.dtype, column.min, column.max, column.unique
        ('int', None, None, True)
    """
    frame = as_frame(data)
    return Schema(tuple(_infer_column(str(name), frame[name]) for name in frame.columns))


def as_frame(data: object) -> pd.DataFrame:
    """A pandas view of ``data`` with string column names and a fresh RangeIndex.

    Arrow integers and booleans become pandas nullable dtypes (so nulls keep the type) and
    dates become datetimes. No data is copied for pandas input.

    Raises:
        InvalidInput: not a table, or duplicate column names.
    """
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        frame = data.to_pandas(types_mapper=_ARROW_NULLABLE.get, date_as_object=False)
    elif isinstance(data, pd.DataFrame):
        frame = data
    else:
        raise InvalidInput(
            f"Expected a pyarrow.Table or pandas.DataFrame, got {type(data).__name__}."
        )
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"Column names must be unique; repeated: {repeated}.")
    return frame.set_axis(names, axis=1).reset_index(drop=True)


def family(series: pd.Series) -> str:
    """The schema type a column's data has: one of DTYPES, ``empty``, ``mixed`` or a dtype.

    Object columns are classified by their values (``empty`` when all null).
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if ptypes.is_bool_dtype(dtype):
        return "bool"
    if ptypes.is_integer_dtype(dtype):
        return "int"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if dtype == np.dtype(object):
        return _OBJECT_KINDS.get(ptypes.infer_dtype(series, skipna=True), "mixed")
    if ptypes.is_string_dtype(dtype):
        return "string"
    return str(dtype)


def type_names(series: pd.Series) -> list[str]:
    """Sorted Python type names of the non-null values of an object column.

    Calls ``type`` once per value, so it is only used on the error path.
    """
    kinds = pd.unique(series.dropna().map(type).to_numpy())
    return sorted({k.__name__ for k in kinds})


def _infer_column(name: str, series: pd.Series) -> ColumnSchema:
    kind = family(series)
    if kind == "mixed":
        raise InvalidInput(
            f"Column {name!r} mixes value types ({', '.join(type_names(series))}); a column "
            f"needs one type. Convert it first, e.g. df[{name!r}] = df[{name!r}].astype(str)."
        )
    dtype = "string" if kind == "empty" else kind
    if dtype not in DTYPES:
        raise InvalidInput(
            f"Column {name!r} has dtype {kind}, which schemas do not support; expected data "
            f"of one of {DTYPES}. Convert the column first."
        )
    rows = len(series)
    nulls = int(series.isna().sum())
    low = high = None
    if dtype in ORDERED and nulls < rows:
        low, high = _bound_of(dtype, series.min()), _bound_of(dtype, series.max())
    categories = None
    if dtype == "category":
        labels = series.cat.categories
        if len(labels) and ptypes.infer_dtype(labels, skipna=False) == "string":
            categories = tuple(str(c) for c in labels)
    elif dtype == "string" and rows:
        distinct = series.nunique(dropna=True)
        if 0 < distinct <= MAX_INFERRED_CATEGORIES and distinct / rows <= MAX_CATEGORY_RATIO:
            categories = tuple(sorted(str(v) for v in series.dropna().unique()))
    unique = dtype in ("int", "string") and rows > 0 and nulls == 0 and bool(series.is_unique)
    if unique and dtype == "int":
        low = high = None  # an identifier: new rows bring new ids, so its range means nothing
    return ColumnSchema(
        name, dtype, nullable=nulls > 0, min=low, max=high, categories=categories, unique=unique
    )


def _bound_of(dtype: str, value: Any) -> float | str | None:
    if dtype == "datetime":
        return str(pd.Timestamp(value).isoformat())
    if dtype == "int":
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None
