"""Data quality of a current window against a reference: what a drift test does not say.

Per column: the share of missing values on each side, values outside the reference's range
(numbers), values the reference never had (categories), columns missing or of another kind,
and rows outside the data schema (the reference dataset's current one, or one given): wrong
types, values past its bounds, categories or pattern, missing where it allows none. Computed
from the same prepared columns as drift (sorted values, category counts); the schema through
``shipyard.data.validate``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput
from shipyard.monitoring._drift import Reference, _prepare, _table, _union

__all__ = ["current_schema", "quality"]

# a few values just past the reference's extremes are normal in a new sample: the issue is
# raised above this share (the share itself is always reported)
OUT_OF_RANGE = 0.01


def quality(
    reference: Any,
    current: Any,
    *,
    categorical: Sequence[str] = (),
    schema: Any = None,
    workers: int = 0,
) -> pd.DataFrame:
    """One row per column: ``issue`` (empty when none), missing shares, the share of
    current values outside the reference's range, unseen in it, or outside the schema, and
    examples.

    Args:
        reference, current: DataFrames, Arrow tables or dataset references (``reference``
            also a prepared :class:`Reference`).
        categorical: columns to treat as categories although they hold numbers.
        schema: a ``shipyard.data.Schema`` the current rows should satisfy (default: when
            the reference is a dataset version, its dataset's current schema). Past a share
            of 1% of the rows (any wrong type at all), its failures are the column's issue.
        workers: threads preparing columns (0: one per core).
    """
    if schema is None:
        schema = _schema_of(reference)
    prepared = (
        reference
        if isinstance(reference, Reference)
        else Reference.prepare(reference, categorical=categorical, workers=workers)
    )
    table = _table(current, "current")
    current_columns = _prepare(table, set(categorical) | set(prepared.categorical), workers)
    outside = _schema_failures(schema, table) if schema is not None else {}
    rows = [
        _row(name, prepared.columns.get(name), current_columns.get(name), outside)
        for name in _union(prepared.columns, table)
    ]
    return pd.DataFrame(rows)


def _row(
    name: str, ref: Any, cur: Any, outside: dict[str, tuple[float, list[str], str]]
) -> dict[str, Any]:
    """One column's row: its missing shares, what is out of range, unseen or outside the
    schema, and its issue (the first found)."""
    row: dict[str, Any] = {
        "column": name,
        "issue": "",
        "reference_missing": ref.missing if ref else None,
        "current_missing": cur.missing if cur else None,
        "out_of_range": 0.0,
        "unseen": 0.0,
        "out_of_schema": 0.0,
        "examples": "",
    }
    if ref is None or cur is None:
        row["issue"] = "missing in the " + ("reference" if ref is None else "current window")
    elif ref.kind != cur.kind:
        row["issue"] = f"{ref.kind} in the reference, {cur.kind} now"
    elif ref.kind == "numeric" and ref.sorted is not None and cur.sorted is not None:
        if len(ref.sorted) and len(cur.sorted):
            low, high = ref.sorted[0], ref.sorted[-1]
            below = int(np.searchsorted(cur.sorted, low, side="left"))
            above = len(cur.sorted) - int(np.searchsorted(cur.sorted, high, side="right"))
            row["out_of_range"] = (below + above) / len(cur.sorted)
            if row["out_of_range"] > OUT_OF_RANGE:
                row["issue"] = "values outside the reference's range"
                row["examples"] = ", ".join(
                    f"{v:.4g}" for v in [*cur.sorted[:below][:2], *cur.sorted[::-1][:above][:2]]
                )
    elif ref.counts is not None and cur.counts is not None:
        unseen = {v: n for v, n in cur.counts.items() if v not in ref.counts}
        total = sum(cur.counts.values())
        row["unseen"] = sum(unseen.values()) / total if total else 0.0
        if unseen:
            row["issue"] = "categories the reference never had"
            common = sorted(unseen.items(), key=lambda item: -item[1])[:3]
            row["examples"] = ", ".join(str(value) for value, _ in common)
    if (
        not row["issue"]
        and cur is not None
        and ref is not None
        and cur.missing > max(ref.missing * 2, ref.missing + 0.05)
    ):
        row["issue"] = "more missing values than the reference"
    if name in outside:
        share, checks, message = outside[name]
        row["out_of_schema"] = share
        if not row["issue"] and (share > OUT_OF_RANGE or "type" in checks):
            row["issue"] = f"rows outside the schema ({', '.join(checks)})"
            row["examples"] = message
    return row


def _schema_of(reference: Any) -> Any:
    """When the reference is a dataset version, its dataset's current schema (expectations
    edited since the version was stored included); else None."""
    from shipyard import data as datasets

    if isinstance(reference, str):
        reference = datasets.resolve(reference)
    if hasattr(reference, "to_arrow") and hasattr(reference, "ref"):  # a DatasetVersion
        return current_schema(reference.name)
    return None


def _whole_numbers_as_ints(
    table: Any, columns: Sequence[Any]
) -> tuple[Any, dict[str, tuple[int, str, bool]]]:
    """The schema's columns of the table, with float columns cast to integers where the
    schema wants integers (NaN taken as missing): a missing value turns a pandas integer
    column into floats, the inference log keeps a JSON null as NaN, and JSON may send 30.0
    for 30; none is a wrong type. Values that are no whole number (2.5, inf) are set aside
    as missing and returned per column: (how many, an example, whether the column had
    missing values of its own), the type failures."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays, wrong = [], {}
    for column in columns:
        values = table.column(column.name)
        if column.dtype == "int" and pa.types.is_floating(values.type):
            values = pc.if_else(pc.is_nan(values), pa.scalar(None, values.type), values)
            had_missing = values.null_count > 0
            whole = pc.and_(pc.is_finite(values), pc.equal(pc.floor(values), values))
            bad = pc.invert(pc.fill_null(whole, True))  # nulls are not wrong-typed
            count = pc.sum(bad).as_py() or 0
            if count:
                example = str(pc.filter(values, bad)[0].as_py())
                wrong[column.name] = (count, example, had_missing)
                values = pc.if_else(bad, pa.scalar(None, values.type), values)
            values = pc.cast(values, pa.int64())
        arrays.append(values)
    return pa.table(arrays, names=[c.name for c in columns]), wrong


def current_schema(dataset: str) -> Any:
    """A dataset's current data schema, or None when it has none."""
    from shipyard import data as datasets

    try:
        return datasets.schema(dataset)
    except InvalidInput:  # no schema yet
        return None


def _schema_failures(schema: Any, table: Any) -> dict[str, tuple[float, list[str], str]]:
    """Per column of the table the schema describes: the share of rows failing it (the
    most failing any one check), which checks failed and the first failure's message.
    Uniqueness is not asked of a window of traffic (the same applicant may come twice);
    columns missing on either side are quality's own finding."""
    from shipyard.data import Schema, validate

    if not isinstance(schema, Schema):
        raise InvalidInput(f"schema must be a shipyard.data.Schema; got {type(schema).__name__}.")
    present = set(table.column_names)
    columns = tuple(c for c in schema.columns if c.name in present)
    if not columns or table.num_rows == 0:
        return {}
    subset = Schema(tuple(dataclasses.replace(c, unique=False) for c in columns))
    values, wrong = _whole_numbers_as_ints(table, columns)
    report = validate(values, subset)
    failing: dict[str, tuple[int, list[str], str]] = {
        name: (count, ["type"], f"Column {name!r} should hold int values; {count:,} row(s) "
               f"hold other numbers (e.g. {example}).")
        for name, (count, example, _) in wrong.items()
    }  # fmt: skip
    for failure in report.failures:
        if failure.column is None:
            continue
        if failure.check == "nullable" and failure.column in wrong and not wrong[failure.column][2]:
            continue  # the only missing values are the wrong-typed ones set aside above
        rows, checks, message = failing.get(failure.column, (0, [], failure.message))
        # a row may fail several checks: the most any one check fails is a lower bound of
        # the rows outside the schema (exact when one check fails) and never counts twice
        failing[failure.column] = (max(rows, failure.rows), [*checks, failure.check], message)
    return {
        name: (rows / table.num_rows, checks, message)
        for name, (rows, checks, message) in failing.items()
    }
