"""Validate a table against a :class:`Schema`: every failure is reported, none is raised.

Library decision: the value checks run on Pandera (``pandera.pandas``, 0.35 checked with
pandas 3.1, numpy 2.4 and pyarrow 25, no warnings). Each schema column becomes a
``pandera.Column`` without a dtype (``nullable``, ``unique``, and ``ge``/``le``/``isin``
built-in checks plus a ``str.fullmatch`` check for ``regex``); ``strict=True`` reports
extra columns and ``required`` columns report missing ones; ``lazy=True`` collects every
failure, and its ``failure_cases`` frame is grouped into our :class:`Failure` list.

Three things stay here, on purpose:

* the type check: our types are logical families (any integer dtype is ``int``, integers
  are fine as ``float``, ``string`` and ``category`` storage are interchangeable), which
  Pandera's exact-dtype check cannot express. It reads the dtype once per column; only an
  object column of the wrong type is scanned value by value, to count and show the values
  of the wrong type. Value checks are skipped for a column of the wrong type.
* user checks: Pandera reports a failing DataFrame-level check as one failure case per
  *cell* of each failing row (rows × columns entries), which would make a check failing
  on half of a million-row table cost millions of entries. We run them directly (one
  vectorised call each) and count the ``False`` rows.
* Pandera's global switches (``PANDERA_VALIDATION_ENABLED``/``_DEPTH``) are pinned on for
  the call, so an environment variable cannot silently turn validation off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shipyard.data._infer import as_frame, family, type_names
from shipyard.data._schema import ColumnSchema, Schema, parse_bound
from shipyard.errors import InvalidInput

__all__ = ["Check", "Failure", "ValidationReport", "validate"]

Check = Callable[[pd.DataFrame], "pd.Series | bool"]
"""A user check: a boolean Series per row (True = ok, null = failed) or one bool."""

MAX_SAMPLES = 5
_COLUMN_ORDER = {
    c: i for i, c in enumerate(("type", "nullable", "min", "max", "categories", "unique", "regex"))
}
_PANDERA_NAMES = {"not_nullable": "nullable", "field_uniqueness": "unique"}
# Which data families each schema type accepts ("empty": an object column of nulls only).
_ACCEPTS = {
    "int": ("int", "empty"),
    "float": ("float", "int", "empty"),
    "string": ("string", "category", "empty"),
    "category": ("category", "string", "empty"),
    "bool": ("bool", "empty"),
    "datetime": ("datetime", "empty"),
}


@dataclass(frozen=True)
class Failure:
    """One failed expectation.

    Attributes:
        check: ``type``, ``nullable``, ``min``, ``max``, ``categories``, ``unique``,
            ``regex``, ``missing_column``, ``unexpected_column`` or a user check's name.
        column: the column concerned, or None for a table-level user check.
        rows: how many rows fail (every row for a missing/unexpected column or a failed
            table-level check; for ``unique``, every row sharing its value with another).
        samples: up to 5 distinct offending values, JSON-friendly (whole rows as dicts for
            a table-level user check).
        message: names the column, the expectation and what was seen.
    """

    check: str
    column: str | None
    rows: int
    samples: list[Any]
    message: str


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate`: the rows checked and every failure found."""

    rows: int
    failures: list[Failure]

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    def to_frame(self) -> pd.DataFrame:
        """One row per failure, with the :class:`Failure` fields as columns.

        Returns:
            The frame (no rows when the report is ok).
        """
        names = [f.name for f in dataclasses.fields(Failure)]
        return pd.DataFrame([dataclasses.asdict(f) for f in self.failures], columns=names)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``rows``, ``ok`` and ``failures`` (a list of dicts)."""
        return {
            "rows": self.rows,
            "ok": self.ok,
            "failures": [dataclasses.asdict(f) for f in self.failures],
        }

    def summary(self) -> str:
        """Readable multi-line text: a verdict, then one line per failure."""
        if self.ok:
            return f"Validation passed: {self.rows:,} rows, no failures."
        lines = [f"Validation failed: {len(self.failures)} failure(s) in {self.rows:,} rows."]
        lines += [f"- [{f.check}] {f.message}" for f in self.failures]
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        """Raise if anything failed.

        Raises:
            InvalidInput: with :meth:`summary` as the message.
        """
        if not self.ok:
            raise InvalidInput(self.summary())


def validate(
    data: pa.Table | pd.DataFrame,
    schema: Schema,
    checks: Mapping[str, tuple[str | None, Check]] | None = None,
) -> ValidationReport:
    """Check ``data`` against ``schema`` and user ``checks``, reporting every failure.

    Args:
        data: an Arrow table or pandas DataFrame.
        schema: the expectations.
        checks: name -> (column or None, function of the DataFrame returning a boolean
            Series, True = ok, or one bool). A check that raises or returns something else
            is reported as a failure of that check.

    Returns:
        The report; failures are ordered missing/unexpected columns first, then by schema
        column and check, then user checks.

    Raises:
        InvalidInput: ``data`` is not a table, ``schema`` is not a Schema, or ``checks`` is
            malformed.

    Example:
        >>> from shipyard.data import infer_schema
        >>> frame = pd.DataFrame({"age": [30, 41]})
        >>> schema = infer_schema(frame).with_column("age", max=40)
        >>> validate(frame, schema).failures[0].message
        "Column 'age' should be <= 40; 1 row(s) above it (e.g. 41)."
    """
    if not isinstance(schema, Schema):
        raise InvalidInput(f"schema must be a Schema, got {type(schema).__name__}.")
    user = _user_checks(checks)
    frame = as_frame(data)
    failures: list[Failure] = []
    for col in schema.columns:
        if col.name in frame.columns:
            failure = _type_failure(col, frame[col.name])
            if failure is not None:
                failures.append(failure)
    wrong_type = {f.column for f in failures}
    failures += _pandera_failures(frame, schema, wrong_type)
    position = {name: i for i, name in enumerate(schema.names)}
    failures.sort(
        key=lambda f: (
            f.check not in ("missing_column", "unexpected_column"),
            position.get(f.column or "", len(position)),
            _COLUMN_ORDER.get(f.check, 0),
        )
    )
    for name, (column, function) in user.items():
        failure = _run_user_check(frame, name, column, function)
        if failure is not None:
            failures.append(failure)
    return ValidationReport(len(frame), failures)


def _user_checks(checks: object) -> dict[str, tuple[str | None, Check]]:
    if checks is None:
        return {}
    if not isinstance(checks, Mapping):
        raise InvalidInput(
            f"checks must map a name to (column or None, function), got {type(checks).__name__}."
        )
    out: dict[str, tuple[str | None, Check]] = {}
    for name, spec in checks.items():
        if (
            not isinstance(name, str)
            or not isinstance(spec, tuple)
            or len(spec) != 2
            or not (spec[0] is None or isinstance(spec[0], str))
            or not callable(spec[1])
        ):
            raise InvalidInput(
                f"Check {name!r} must be given as (column name or None, function), got {spec!r}."
            )
        out[name] = spec
    return out


def _type_failure(col: ColumnSchema, series: pd.Series) -> Failure | None:
    seen = family(series)
    if seen in _ACCEPTS[col.dtype]:
        return None
    values = series.dropna()
    if series.dtype == np.dtype(object):
        fits = _fits(col.dtype)
        values = values[~values.map(fits).astype(bool)]
        seen = f"object values of type {', '.join(type_names(series))}"
    else:
        seen = f"dtype {series.dtype}"
    samples = _samples(values)
    return Failure(
        "type",
        col.name,
        len(values),
        samples,
        f"Column {col.name!r} should hold {col.dtype} values but has {seen}; "
        f"{len(values):,} row(s) of the wrong type{_eg(samples)}. Convert the column or "
        f"change the schema, e.g. schema.with_column({col.name!r}, dtype=...).",
    )


def _fits(dtype: str) -> Callable[[object], bool]:
    """Whether one Python value fits a schema type (object columns only)."""
    allowed: tuple[type, ...] = {
        "int": (int, np.integer),
        "float": (int, float, np.integer, np.floating),
        "bool": (bool, np.bool_),
        "datetime": (dt.datetime, np.datetime64),
    }.get(dtype, (str,))
    if dtype in ("int", "float"):
        return lambda v: isinstance(v, allowed) and not isinstance(v, (bool, np.bool_))
    return lambda v: isinstance(v, allowed)


def _pandera_failures(
    frame: pd.DataFrame, schema: Schema, wrong_type: set[str | None]
) -> list[Failure]:
    import pandera.pandas as pdr
    from pandera.config import ValidationDepth, config_context
    from pandera.errors import SchemaErrors

    kinds: dict[str, list[str]] = {}  # our check name by pandera check_number, per column
    columns = {}
    for col in schema.columns:
        checks: list[Any] = []
        kinds[col.name] = []
        if col.name in frame.columns and col.name not in wrong_type:
            where = f"column {col.name!r}"
            if col.min is not None:
                bound = _align(parse_bound(where, "min", col.dtype, col.min), frame[col.name])
                checks.append(pdr.Check.ge(bound))
                kinds[col.name].append("min")
            if col.max is not None:
                bound = _align(parse_bound(where, "max", col.dtype, col.max), frame[col.name])
                checks.append(pdr.Check.le(bound))
                kinds[col.name].append("max")
            if col.categories is not None:
                checks.append(pdr.Check.isin(list(col.categories)))
                kinds[col.name].append("categories")
            if col.regex is not None:
                checks.append(pdr.Check(_fullmatch(col.regex), name="regex"))
                kinds[col.name].append("regex")
        columns[col.name] = pdr.Column(
            None, checks=checks, nullable=col.nullable, unique=col.unique, required=True
        )
    checker = pdr.DataFrameSchema(columns, strict=True)
    with config_context(validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            checker.validate(frame, lazy=True)
        except SchemaErrors as exc:
            return _from_cases(exc.failure_cases, frame, schema, kinds)
    return []


def _fullmatch(pattern: str) -> Callable[[pd.Series], pd.Series]:
    return lambda s: s.str.fullmatch(pattern)


def _align(bound: Any, series: pd.Series) -> Any:
    """A datetime bound in the column's time zone (naive bounds are the column's wall time)."""
    if not isinstance(bound, pd.Timestamp):
        return bound
    tz = getattr(series.dtype, "tz", None)
    if tz is not None and bound.tzinfo is None:
        return bound.tz_localize(tz)
    if tz is None and bound.tzinfo is not None:
        return bound.tz_convert("UTC").tz_localize(None)
    return bound


def _from_cases(
    cases: pd.DataFrame, frame: pd.DataFrame, schema: Schema, kinds: dict[str, list[str]]
) -> list[Failure]:
    rows = len(frame)
    failures = []
    structural = cases["check"].isin(["column_in_dataframe", "column_in_schema"])
    for check, name in cases.loc[structural, ["check", "failure_case"]].itertuples(index=False):
        if check == "column_in_dataframe":
            col = schema.column(name)
            message = (
                f"Column {name!r} ({col.dtype}, {'nullable' if col.nullable else 'not null'}) "
                f"is in the schema but missing from the data."
            )
            failures.append(Failure("missing_column", name, rows, [], message))
        else:
            samples = _samples(frame[name])
            message = (
                f"Column {name!r} ({family(frame[name])}) is in the data but not in the schema"
                f"{_eg(samples)}; drop it or add it to the schema."
            )
            failures.append(Failure("unexpected_column", name, rows, samples, message))
    groups = cases[~structural].groupby(["column", "check"], sort=False, dropna=False)
    for (column, raw), group in groups:
        number = group["check_number"].iloc[0]
        if raw in _PANDERA_NAMES:
            check = _PANDERA_NAMES[raw]
        elif pd.notna(number) and int(number) < len(kinds[column]):
            check = kinds[column][int(number)]
        else:  # not one we asked for; keep Pandera's name
            check = str(raw)
        if group["index"].isna().all():  # the check raised instead of returning a mask
            reason = group["failure_case"].iloc[0]
            message = f"Column {column!r}: check {check!r} could not run: {reason}."
            failures.append(Failure(check, column, rows, [], message))
            continue
        samples = _samples(group["failure_case"])
        message = _message(schema.column(column), check, len(group), samples)
        failures.append(Failure(check, column, len(group), samples, message))
    return failures


def _message(col: ColumnSchema, check: str, count: int, samples: list[Any]) -> str:
    e_g = _eg(samples)
    name = repr(col.name)
    if check == "nullable":
        return f"Column {name} should have no nulls; {count:,} row(s) are null."
    if check == "min":
        return f"Column {name} should be >= {col.min}; {count:,} row(s) below it{e_g}."
    if check == "max":
        return f"Column {name} should be <= {col.max}; {count:,} row(s) above it{e_g}."
    if check == "unique":
        return f"Column {name} should be unique; {count:,} row(s) share a value{e_g}."
    if check == "regex":
        return f"Column {name} should fully match {col.regex!r}; {count:,} row(s) do not{e_g}."
    if check == "categories":
        allowed = list(col.categories or ())
        more = len(allowed) - 10
        shown = f"{allowed[:10]}" + (f" and {more} more" if more > 0 else "")
        return (
            f"Column {name} should be one of {shown}; {count:,} row(s) hold other values: "
            f"{samples}."
        )
    return f"Column {name} failed check {check!r} on {count:,} row(s){e_g}."


def _run_user_check(
    frame: pd.DataFrame, name: str, column: str | None, function: Check
) -> Failure | None:
    """Run one user check; None when it passes."""
    rows = len(frame)
    where = f"Check {name!r}" + (f" on column {column!r}" if column else "")
    try:
        result = function(frame.copy(deep=False))
    except Exception as exc:  # a user function: report it, keep validating
        return Failure(name, column, rows, [], f"{where} raised {type(exc).__name__}: {exc}")
    if isinstance(result, (bool, np.bool_)):
        return None if result else Failure(name, column, rows, [], f"{where} failed for the table.")
    try:
        passed = pd.array(result, dtype="boolean").fillna(False).to_numpy(dtype=bool)
    except (TypeError, ValueError) as exc:
        return Failure(
            name,
            column,
            rows,
            [],
            f"{where} returned {type(result).__name__}; expected a boolean Series "
            f"(True = ok) or one bool ({exc}).",
        )
    if passed.shape != (rows,):
        return Failure(
            name,
            column,
            rows,
            [],
            f"{where} returned {len(passed):,} values for {rows:,} rows; expected one per row.",
        )
    if passed.all():
        return None
    failed = frame[~passed]
    if column is not None and column in frame.columns:
        samples = _samples(failed[column])
    else:
        samples = [_jsonable(r) for r in failed.head(MAX_SAMPLES).to_dict("records")]
    return Failure(
        name,
        column,
        len(failed),
        samples,
        f"{where} failed on {len(failed):,} row(s){_eg(samples)}.",
    )


def _samples(values: pd.Series) -> list[Any]:
    """Up to MAX_SAMPLES distinct values, in order of appearance, JSON-friendly."""
    with contextlib.suppress(TypeError):  # unhashable objects keep their repeats
        values = values.drop_duplicates()
    return [_jsonable(v) for v in values.head(MAX_SAMPLES).tolist()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (str, int, bool)):
        return value
    return str(value)


def _eg(samples: list[Any]) -> str:
    shown = [s for s in samples if not isinstance(s, dict)]
    return f" (e.g. {', '.join(repr(s) for s in shown)})" if shown else ""
