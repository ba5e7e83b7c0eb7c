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
MAX_PAGE_BYTES = 32 << 20  # bytes a page of rows may hold once decoded


def read_rows(path: Path, offset: int, limit: int, columns: Sequence[str] = ()) -> pa.Table:
    """Rows ``offset`` to ``offset + limit`` of a Parquet file (only ``columns`` if given):
    the row groups before ``offset`` are skipped by their metadata, the rest read in small
    batches, so memory stays bounded by ``limit`` whatever the file's size. A page that
    would hold more than :data:`MAX_PAGE_BYTES` once decoded is refused (InvalidInput)
    before it is: a file of a kilobyte may repeat one long text in every row (a dictionary
    page, or a compressed plain one) and decode to gigabytes."""
    import pyarrow.parquet as pq

    plain = pq.ParquetFile(path)
    known = plain.schema_arrow.names
    missing = [c for c in columns if c not in known]
    if missing:
        raise InvalidInput(f"columns: no column {missing[0]!r} (columns: {', '.join(known)}).")
    wanted = list(columns) or None
    texts = [f.name for f in plain.schema_arrow if _is_text(f.type)]
    pf = pq.ParquetFile(path, read_dictionary=texts) if texts else plain  # repeats not copied
    start, at, widest = 0, 0, 0  # the first chosen group's first row; the current group's
    groups: list[int] = []
    for group in range(pf.metadata.num_row_groups):
        meta = pf.metadata.row_group(group)
        if at + meta.num_rows > offset and at < offset + limit:
            start = start if groups else at
            groups.append(group)
            widest = max(widest, meta.total_byte_size // max(meta.num_rows, 1))
        at += meta.num_rows
    batches: list[pa.RecordBatch] = []
    skip, need, size = offset - start, limit, 0
    batch_size = max(1, min(BATCH, MAX_PAGE_BYTES // max(widest, 1)))  # rows of wide pages
    if groups and need > 0:
        for batch in pf.iter_batches(batch_size=batch_size, row_groups=groups, columns=wanted):
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            part = batch.slice(skip, need)
            skip, need = 0, need - part.num_rows
            size += _decoded_size(part)
            if size > MAX_PAGE_BYTES:
                raise InvalidInput(
                    f"rows: these {limit - max(need, 0)} rows hold more than "
                    f"{MAX_PAGE_BYTES:,} bytes of values; ask for fewer rows (page_size) or "
                    "columns."
                )
            batches.append(part)
            if need <= 0:
                break
    schema = (
        pf.schema_arrow if wanted is None else pa.schema([pf.schema_arrow.field(c) for c in wanted])
    )
    table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
    return table.cast(_plain_schema(table.schema, plain.schema_arrow))


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _decoded_size(batch: pa.RecordBatch) -> int:
    """Bytes the batch's values take once every dictionary entry is written out in each
    row that names it."""
    import pyarrow.compute as pc

    total = 0
    for column in batch.columns:
        if pa.types.is_dictionary(column.type) and _is_text(column.type.value_type):
            lengths = pc.binary_length(column.dictionary).take(column.indices)
            total += int(pc.sum(lengths).as_py() or 0) + 4 * len(column)
        else:
            total += column.nbytes
    return total


def _plain_schema(read: pa.Schema, stored: pa.Schema) -> pa.Schema:
    """The schema of what was read, each text column back to its stored type."""
    return pa.schema([stored.field(f.name) if f.name in stored.names else f for f in read])


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
