"""A page of a version's rows, read in batches: a preview never loads the whole file."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from shipyard.errors import InvalidInput

__all__ = ["jsonable", "read_rows", "table_rows"]

BATCH = 1024


def read_rows(path: Path, offset: int, limit: int, columns: Sequence[str] = ()) -> pa.Table:
    """Rows ``offset`` to ``offset + limit`` of a Parquet file (only ``columns`` if given):
    the row groups before ``offset`` are skipped by their metadata, the rest read in small
    batches, so memory stays bounded by ``limit`` whatever the file's size."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    known = pf.schema_arrow.names
    missing = [c for c in columns if c not in known]
    if missing:
        raise InvalidInput(f"columns: no column {missing[0]!r} (columns: {', '.join(known)}).")
    wanted = list(columns) or None
    start, at = 0, 0  # the first chosen group's first row; the current group's
    groups: list[int] = []
    for group in range(pf.metadata.num_row_groups):
        rows = pf.metadata.row_group(group).num_rows
        if at + rows > offset and at < offset + limit:
            start = start if groups else at
            groups.append(group)
        at += rows
    batches: list[pa.RecordBatch] = []
    skip, need = offset - start, limit
    if groups and need > 0:
        for batch in pf.iter_batches(batch_size=BATCH, row_groups=groups, columns=wanted):
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            part = batch.slice(skip, need)
            skip, need = 0, need - part.num_rows
            batches.append(part)
            if need <= 0:
                break
    schema = (
        pf.schema_arrow if wanted is None else pa.schema([pf.schema_arrow.field(c) for c in wanted])
    )
    return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()


def jsonable(value: Any) -> Any:
    """A value from Arrow as JSON can carry it: times as ISO 8601, decimals as strings,
    bytes as base64, durations as seconds, NaN and infinities as null."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


def table_rows(table: pa.Table) -> list[list[Any]]:
    """The rows of ``table`` as lists of JSON values, in column order."""
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [[jsonable(v) for v in row] for row in zip(*columns, strict=True)]
