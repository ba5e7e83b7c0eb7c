"""Checking inputs against a signature: any accepted input in, one NumPy array per column out.

Written by hand rather than with pandera: a one-row request must be validated in
microseconds, and pandera's per-call overhead is milliseconds. Each column is checked in
one vectorised pass; a one-record dict and a pandas Categorical take shortcuts, since they
are what serving and DataFrames send.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput


class ColumnSpec(Protocol):
    """What checking needs of a signature column (``_signature.ColumnSpec``)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def nullable(self) -> bool: ...

    @property
    def categories(self) -> tuple[Any, ...] | None: ...


class Signature(Protocol):
    """What checking needs of a signature (``_signature.Signature``)."""

    @property
    def inputs(self) -> tuple[ColumnSpec, ...]: ...

    @property
    def names(self) -> list[str]: ...

    @property
    def _index(self) -> dict[str, int]: ...


MAX_SHOWN = 10


def as_categorical(spec: ColumnSpec, values: np.ndarray) -> pd.Categorical:
    """Validated values as a Categorical with the training categories."""
    dtype: pd.CategoricalDtype = spec._dtype  # type: ignore[attr-defined]
    if len(values) > 64:
        return pd.Categorical(values, dtype=dtype)
    codes: dict[str, int] = spec._codes  # type: ignore[attr-defined]
    return pd.Categorical.from_codes(
        np.fromiter((codes.get(v, -1) for v in values), dtype=np.int64, count=len(values)),
        dtype=dtype,
    )


def columns_of(data: Any, sig: Signature) -> Mapping[str, Any]:
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
        # (a list is never one record's value; np.ndim would refuse a ragged one)
        if first is None or (not isinstance(first, (list, tuple)) and np.ndim(first) == 0):
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


_NUMBERS = frozenset({int, float, type(None)})


def check(spec: ColumnSpec, raw: Any) -> np.ndarray:
    """One column checked against its spec, as a 1-D array.

    One rule for nulls, every type alike: ``None``, ``NaN``, ``NaT`` and ``pd.NA`` are
    accepted only where the signature says the column is nullable (training data held
    missing values there); elsewhere the column and the rows are named. Float columns are
    checked with one vectorised ``isnan`` (a float column holds its nulls as NaN).
    """
    if isinstance(raw, pd.Categorical):
        return _categorical(spec, raw)
    if type(raw) is list and len(raw) == 1:  # one record, as serving sends: no object arrays
        value = raw[0]
        scalar = type(value)
        if spec.type == "float" and (scalar is int or (scalar is float and value == value)):
            return np.array([value], dtype=np.float64)
        if spec.type == "int" and scalar is int and -(2**63) <= value < 2**63:
            return np.array([value], dtype=np.int64)
        if scalar is str and spec.type in ("string", "category"):
            allowed: frozenset[Any] | None = getattr(spec, "_allowed", None)
            if allowed is None or value in allowed:
                return np.array([value], dtype=object)
    if type(raw) is list and spec.type in ("float", "int"):
        numbers = _json_numbers(spec, raw)
        if numbers is not None:
            return _no_nan(spec, numbers) if spec.type == "float" else numbers
    values = _typed(spec, _one_dimension(spec, raw))
    return _no_nan(spec, values) if spec.type == "float" else values


def _no_nan(spec: ColumnSpec, values: np.ndarray) -> np.ndarray:
    """A float column: NaN (a null) refused unless the column is nullable."""
    if not spec.nullable:
        missing = np.isnan(values)
        if missing.any():
            raise null_error(spec, missing)
    return values


def null_error(spec: ColumnSpec, missing: np.ndarray) -> InvalidInput:
    """The error for nulls in a column trained without them: the column and the rows."""
    rows = np.flatnonzero(missing)
    shown = ", ".join(str(r) for r in rows[:MAX_SHOWN])
    more = f" and {len(rows) - MAX_SHOWN} more" if len(rows) > MAX_SHOWN else ""
    return InvalidInput(
        f"Column {spec.name!r}: expected {spec.type} values, got a null at "
        f"{'rows' if len(rows) > 1 else 'row'} {shown}{more}; the model was trained without "
        "nulls here."
    )


def _json_numbers(spec: ColumnSpec, raw: list[Any]) -> np.ndarray | None:
    """Columns of JSON numbers (and nulls): one conversion in C instead of a check per
    value; the types are checked first, so nothing but numbers gets through (else None)."""
    kinds = set(map(type, raw))
    if not kinds <= _NUMBERS:
        return None
    if spec.type == "int" and kinds == {int}:
        with contextlib.suppress(OverflowError):  # beyond 64 bits: refused later
            return np.array(raw, dtype=np.int64)  # exact, not through float64
    numbers = np.array(raw, dtype=np.float64)  # None becomes NaN
    return numbers if spec.type == "float" else _integral(spec, numbers)


def _one_dimension(spec: ColumnSpec, raw: Any) -> np.ndarray:
    """The column as a 1-D array (a one-column matrix is flattened)."""
    if isinstance(raw, np.ndarray):
        values: np.ndarray = raw
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.reshape(-1)  # a one-column matrix
    else:
        values = (
            np.fromiter(raw, dtype=object, count=len(raw))  # one value per row, even a list
            if isinstance(raw, list)
            else np.asarray(raw)
        )
    if values.ndim != 1:
        raise InvalidInput(
            f"Column {spec.name!r}: expected one value per row, got an array of shape "
            f"{values.shape}."
        )
    return values


def _typed(spec: ColumnSpec, values: np.ndarray) -> np.ndarray:
    """The values converted to the column's type, or InvalidInput naming what they are."""
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
                    f"Column {spec.name!r}: expected int values, got {plain(values.max())!r}, "
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
            raise null_error(spec, missing)
        return values  # nulls stay NaN in a float column, as pandas would hold them
    rounded = np.round(values)
    outside = ~np.isfinite(values) | (np.abs(values) > 2.0**63 - 1024)
    if outside.any():
        raise InvalidInput(
            f"Column {spec.name!r}: expected int values, got {plain(values[outside][0])!r}, "
            "outside the 64-bit integer range."
        )
    if not np.array_equal(rounded, values):
        bad = values[rounded != values][0]
        raise InvalidInput(f"Column {spec.name!r}: expected int values, got {plain(bad)!r}.")
    return values.astype(np.int64)


def _categorical(spec: ColumnSpec, values: pd.Categorical) -> np.ndarray:
    """A pandas Categorical: its categories are checked once per dtype, not every value."""
    if spec.type not in ("string", "category"):
        return check(spec, np.asarray(values, dtype=object))
    dtype = values.dtype
    seen = getattr(spec, "_seen", None)
    if seen is None or seen[0] is not dtype:
        categories = np.asarray([plain(c) for c in dtype.categories], dtype=object)
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


def _text(spec: ColumnSpec, values: np.ndarray, whole: np.ndarray | None = None) -> np.ndarray:
    """Text values (or the values of a category column), each checked once.

    ``whole`` is the column when ``values`` are its distinct values: errors name its rows.
    """
    allowed: frozenset[Any] | None = getattr(spec, "_allowed", None)
    nested = next((v for v in values if isinstance(v, (list, dict, tuple, set))), None)
    if nested is not None:
        raise InvalidInput(
            f"Column {spec.name!r}: expected single {spec.type} values, got "
            f"{type(nested).__name__} {str(nested)[:40]}."
        )
    if len(values) > 64:  # check each distinct value once
        distinct = pd.unique(values)
        if len(distinct) < len(values):
            _text(spec, np.asarray(distinct, dtype=object), values)
            return values
    for v in values:
        if _null(v):
            if not spec.nullable:
                column = values if whole is None else whole
                raise null_error(spec, np.asarray(pd.isna(column), dtype=bool))
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
    if not spec.nullable:
        missing = pd.isna(values)
        if missing.any():
            raise null_error(spec, np.asarray(missing, dtype=bool))
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
    shown = [repr(plain(v)) for v in values[:3]]
    return ", ".join(shown)


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value
