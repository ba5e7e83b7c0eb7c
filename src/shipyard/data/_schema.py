"""Dataset schemas: which columns a table has, their types and their allowed values.

A :class:`Schema` is a frozen value: JSON round-trippable (``to_dict``/``from_dict``),
edited by copy (``with_column``), compared (``diff``), proposed from data by
``infer_schema`` (``_infer``) and checked against data by ``validate`` (``_checks``).

Types are logical, not storage dtypes: ``int`` accepts any integer dtype (numpy, pandas
nullable, Arrow), ``float`` any float or integer dtype, ``datetime`` any unit and time zone,
and ``string`` and ``category`` both hold text labels, so either storage is accepted for
either (the ``categories`` check enforces the allowed values). Numeric bounds are kept as
given (``int`` stays ``int``, so large ids keep their precision); datetime bounds are ISO
8601 strings.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInput, NotFound

__all__ = ["DTYPES", "ColumnSchema", "Schema"]

DTYPES = ("int", "float", "string", "category", "bool", "datetime")
FORMAT_VERSION = 1

ORDERED = ("int", "float", "datetime")
_TEXT = ("string", "category")
_FIELDS = ("name", "dtype", "nullable", "min", "max", "categories", "unique", "regex")
_REQUIRED = ("name", "dtype", "nullable")


@dataclass(frozen=True)
class ColumnSchema:
    """What one column must hold; checked on construction.

    Attributes:
        name: column name.
        dtype: one of ``int``, ``float``, ``string``, ``category``, ``bool``, ``datetime``.
        nullable: whether nulls (``None``, ``NaN``, ``NaT``) are allowed.
        min: lowest allowed value (numbers; ISO 8601 strings for datetime columns).
        max: highest allowed value.
        categories: allowed values of a ``string`` or ``category`` column.
        unique: whether every non-null value must be distinct.
        regex: pattern each value of a ``string``/``category`` column must fully match.

    Raises:
        InvalidInput: a field has the wrong type, or does not apply to ``dtype``.

    Example:
        >>> ColumnSchema("age", "int", nullable=False, min=18, max=100).max
        100
    """

    name: str
    dtype: str
    nullable: bool
    min: float | str | None = None
    max: float | str | None = None
    categories: tuple[str, ...] | None = None
    unique: bool = False
    regex: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.categories, list):
            object.__setattr__(self, "categories", tuple(self.categories))
        for field in ("min", "max"):
            value = getattr(self, field)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                object.__setattr__(self, field, int(value))
            elif isinstance(value, numbers.Real) and not isinstance(value, bool):
                object.__setattr__(self, field, float(value))
        _check_column(self)


@dataclass(frozen=True)
class Schema:
    """The columns a table must have, in order; column names are unique."""

    columns: tuple[ColumnSchema, ...]

    def __post_init__(self) -> None:
        if isinstance(self.columns, list):
            object.__setattr__(self, "columns", tuple(self.columns))
        if not isinstance(self.columns, tuple) or not all(
            isinstance(c, ColumnSchema) for c in self.columns
        ):
            raise InvalidInput("Schema columns must be a tuple of ColumnSchema.")
        names = [c.name for c in self.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidInput(f"Schema column names must be unique; repeated: {repeated}.")

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema:
        """The schema of one column.

        Args:
            name: column name.

        Returns:
            Its :class:`ColumnSchema`.

        Raises:
            NotFound: no column has that name (the message lists the known ones).
        """
        for col in self.columns:
            if col.name == name:
                return col
        raise NotFound(f"Schema has no column {name!r}; known columns: {self.names}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``Schema.from_dict(s.to_dict()) == s``.

        Returns:
            ``{"format_version": 1, "columns": [{field: value, ...}, ...]}``.
        """
        columns = []
        for col in self.columns:
            item = dataclasses.asdict(col)
            if col.categories is not None:
                item["categories"] = list(col.categories)
            columns.append(item)
        return {"format_version": FORMAT_VERSION, "columns": columns}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Rebuild a schema from :meth:`to_dict` output (e.g. parsed JSON).

        Args:
            data: the mapping.

        Returns:
            The schema.

        Raises:
            InvalidInput: a field is missing, unknown or invalid; the message names it
                (e.g. ``columns[2].min``).
        """
        if not isinstance(data, Mapping):
            raise InvalidInput(f"A schema must be a mapping, got {type(data).__name__}.")
        unknown = sorted(set(data) - {"format_version", "columns"})
        if unknown:
            raise InvalidInput(
                f"Schema field {unknown[0]!r} is unknown; expected 'format_version', 'columns'."
            )
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise InvalidInput(
                f"Schema field 'format_version' is {version!r}; this Shipyard reads version "
                f"{FORMAT_VERSION}. Upgrade shipyard to read it."
            )
        items = data.get("columns")
        if not isinstance(items, (list, tuple)):
            raise InvalidInput(f"Schema field 'columns' must be a list, got {items!r}.")
        columns = []
        for i, item in enumerate(items):
            where = f"columns[{i}]"
            if not isinstance(item, Mapping):
                raise InvalidInput(f"Schema field {where} must be a mapping, got {item!r}.")
            unknown = [k for k in item if k not in _FIELDS]
            if unknown:
                raise InvalidInput(
                    f"Schema field {where}.{unknown[0]} is unknown; expected one of {_FIELDS}."
                )
            missing = [k for k in _REQUIRED if k not in item]
            if missing:
                raise InvalidInput(f"Schema field {where}.{missing[0]} is missing.")
            try:
                columns.append(ColumnSchema(**item))
            except InvalidInput as exc:
                raise InvalidInput(f"Schema field {where}: {exc}") from exc
        return cls(tuple(columns))

    def with_column(self, name: str, /, **changes: Any) -> Schema:
        """A copy with one column's fields changed.

        Args:
            name: column to edit (positional, so ``name=`` in ``changes`` renames it).
            **changes: new field values, e.g. ``min=18, max=100``.

        Returns:
            The edited schema (this one is unchanged).

        Raises:
            NotFound: no column has that name.
            InvalidInput: an unknown field, or a value that does not fit the column.

        Example:
            >>> s = Schema((ColumnSchema("age", "int", nullable=False),))
            >>> s.with_column("age", min=18, max=100).column("age").min
            18
        """
        current = self.column(name)
        unknown = sorted(set(changes) - set(_FIELDS))
        if unknown:
            raise InvalidInput(
                f"Cannot change field {unknown[0]!r} of column {name!r}: not a column field; "
                f"expected one of {_FIELDS}."
            )
        edited = dataclasses.replace(current, **changes)
        return Schema(tuple(edited if c.name == name else c for c in self.columns))

    def diff(self, other: Schema) -> list[str]:
        """Human-readable changes from this schema to ``other``.

        Args:
            other: the newer schema.

        Returns:
            One line per change: added/removed columns, then per column type, nullability,
            range, categories, uniqueness and regex changes. Empty when equal.

        Example:
            >>> a = Schema((ColumnSchema("age", "int", nullable=False),))
            >>> a.diff(a.with_column("age", nullable=True))
            ["column 'age': now nullable"]
        """
        theirs = {c.name: c for c in other.columns}
        mine = {c.name: c for c in self.columns}
        lines = [
            f"added column {c.name!r} ({c.dtype}, {'nullable' if c.nullable else 'not null'})"
            for c in other.columns
            if c.name not in mine
        ]
        lines += [f"removed column {c.name!r}" for c in self.columns if c.name not in theirs]
        for col in self.columns:
            if col.name in theirs:
                lines += [f"column {col.name!r}: {d}" for d in _column_diff(col, theirs[col.name])]
        return lines


def _check_column(col: ColumnSchema) -> None:
    if not isinstance(col.name, str) or not col.name:
        raise InvalidInput(f"Column field 'name' must be a non-empty string, got {col.name!r}.")
    where = f"column {col.name!r}"
    if col.dtype not in DTYPES:
        raise InvalidInput(f"{where}: field 'dtype' must be one of {DTYPES}, got {col.dtype!r}.")
    for field in ("nullable", "unique"):
        if not isinstance(getattr(col, field), bool):
            raise InvalidInput(
                f"{where}: field {field!r} must be true or false, got {getattr(col, field)!r}."
            )
    _check_bounds(col, where)
    if col.categories is not None:
        _check_categories(col, where)
    if col.regex is not None:
        if col.dtype not in _TEXT:
            raise InvalidInput(
                f"{where}: field 'regex' applies to string and category columns, not {col.dtype}."
            )
        if not isinstance(col.regex, str):
            raise InvalidInput(f"{where}: field 'regex' must be a string, got {col.regex!r}.")
        try:
            re.compile(col.regex)
        except re.error as exc:
            raise InvalidInput(
                f"{where}: field 'regex' {col.regex!r} does not compile: {exc}."
            ) from exc


def _check_bounds(col: ColumnSchema, where: str) -> None:
    given = {f: v for f, v in (("min", col.min), ("max", col.max)) if v is not None}
    if given and col.dtype not in ORDERED:
        field = next(iter(given))
        raise InvalidInput(
            f"{where}: field {field!r} applies to int, float and datetime columns, not {col.dtype}."
        )
    parsed = {f: parse_bound(where, f, col.dtype, v) for f, v in given.items()}
    if len(parsed) == 2:
        try:
            inverted = bool(parsed["min"] > parsed["max"])
        except TypeError as exc:
            raise InvalidInput(
                f"{where}: fields 'min' ({col.min!r}) and 'max' ({col.max!r}) must both "
                "have a time zone or both lack one."
            ) from exc
        if inverted:
            raise InvalidInput(
                f"{where}: field 'min' ({col.min!r}) is greater than field 'max' ({col.max!r})."
            )


def parse_bound(where: str, field: str, dtype: str, value: object) -> Any:
    """A bound as a comparable value: a number, or a ``pandas.Timestamp`` for datetimes.

    Raises:
        InvalidInput: not a finite number (numeric columns) or an ISO 8601 string.
    """
    if dtype == "datetime":
        import pandas as pd  # here, not at the top: reading a schema needs no pandas

        try:
            stamp = pd.Timestamp(value) if isinstance(value, str) else pd.NaT
        except ValueError:
            stamp = pd.NaT
        if pd.isna(stamp):
            raise InvalidInput(
                f"{where}: field {field!r} must be an ISO 8601 date-time string, got {value!r}."
            )
        return stamp
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{where}: field {field!r} must be a finite number, got {value!r}.")
    return value


def _check_categories(col: ColumnSchema, where: str) -> None:
    cats = col.categories
    if col.dtype not in _TEXT:
        raise InvalidInput(
            f"{where}: field 'categories' applies to string and category columns, not {col.dtype}."
        )
    if not isinstance(cats, tuple) or not all(isinstance(c, str) for c in cats):
        raise InvalidInput(f"{where}: field 'categories' must be a list of strings, got {cats!r}.")
    if not cats:
        raise InvalidInput(f"{where}: field 'categories' is empty; use null to allow any value.")
    repeated = sorted({c for c in cats if cats.count(c) > 1})
    if repeated:
        raise InvalidInput(f"{where}: field 'categories' repeats {repeated}.")


def _column_diff(old: ColumnSchema, new: ColumnSchema) -> list[str]:
    lines = []
    if old.dtype != new.dtype:
        lines.append(f"type {old.dtype} -> {new.dtype}")
    if old.nullable != new.nullable:
        lines.append("now nullable" if new.nullable else "no longer nullable")
    for field in ("min", "max"):
        before, after = getattr(old, field), getattr(new, field)
        if before != after:
            lines.append(f"{field} {_show(before)} -> {_show(after)}")
    if old.categories != new.categories:
        if old.categories is None or new.categories is None:
            lines.append(f"categories {_show(old.categories)} -> {_show(new.categories)}")
        else:
            added = [c for c in new.categories if c not in old.categories]
            removed = [c for c in old.categories if c not in new.categories]
            parts = [f"added {added}"] if added else []
            parts += [f"removed {removed}"] if removed else []
            lines.append("categories " + ("; ".join(parts) if parts else "reordered"))
    if old.unique != new.unique:
        lines.append("now unique" if new.unique else "no longer unique")
    if old.regex != new.regex:
        lines.append(f"regex {_show(old.regex)} -> {_show(new.regex)}")
    return lines


def _show(value: object) -> str:
    return "none" if value is None else repr(list(value) if isinstance(value, tuple) else value)
