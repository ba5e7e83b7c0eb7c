"""Dataset profiles: per-column statistics of an Arrow table or Parquet data, through DuckDB.

Three vectorised passes, whatever the size: (1) every column's aggregates (counts, missing,
distinct, min/max, mean/std, quantiles), each column on one DuckDB thread so the same data
always gives the same numbers, columns split across cores; (2) one query with a
``histogram`` aggregate per numeric column over fixed-width bins; (3) one ``UNION ALL`` of
``GROUP BY`` queries for the top values of categorical and boolean columns. DuckDB scans
Arrow memory in place (no copy, no pandas) and streams Parquet with its own reader.

Up to :data:`EXACT_ROWS` rows, distinct counts and quantiles are exact; above, they are
estimates in bounded memory (HyperLogLog, t-digest) and each column says so. NaN counts as
missing. ``±inf`` is a value (in ``count`` and ``infinite``), but ``min``, ``max``,
``mean``, ``std`` and quantiles describe the finite values, so a profile is strict JSON;
infinities fall in the outer histogram bins, so ``sum(counts) == count``.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from shipyard.data._profile_types import (
    EXACT_ROWS,
    KINDS,
    QUANTILE_KEYS,
    QUANTILES,
    ColumnProfile,
    Histogram,
    Profile,
)
from shipyard.errors import InvalidInput, NotFound, ShipyardError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXACT_ROWS", "KINDS", "QUANTILES", "ColumnProfile", "Histogram", "Profile", "profile"]

_SOURCE = "profiled"


def profile(
    data: pa.Table | pd.DataFrame | str | os.PathLike[str], *, bins: int = 20, top_k: int = 20
) -> Profile:
    """Profile every column of a table: counts, missing, distinct, moments, quantiles, charts.

    Args:
        data: a ``pyarrow.Table`` (or ``RecordBatch``), a pandas DataFrame (converted to
            Arrow; its index is not profiled), or the path of a Parquet file or of a folder
            of Parquet files (hive partitions become columns), which is streamed.
        bins: number of histogram bins for numeric columns (at least 1).
        top_k: number of most frequent values kept for categorical and boolean columns.

    Returns:
        The profile.

    Raises:
        InvalidInput: ``data`` is none of the above, is not readable Parquet, has duplicate
            column names, or ``bins``/``top_k`` is not a positive integer.
        NotFound: the path does not exist.
        ShipyardError: DuckDB ran out of memory.
    """
    for name, value in (("bins", bins), ("top_k", top_k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"{name} must be a positive integer, got {value!r}.")
    source, schema, rows, label = _open(data)
    if len(set(schema.names)) != len(schema.names):
        dupes = sorted({n for n in schema.names if schema.names.count(n) > 1})
        raise InvalidInput(f"{label} has duplicate column names {dupes}; rename them first.")
    if not schema.names:
        return Profile(rows=rows, columns=[])
    plans = [_Plan(i, f, rows > EXACT_ROWS) for i, f in enumerate(schema)]
    duckdb = _import_duckdb()
    with tempfile.TemporaryDirectory(prefix="shipyard-profile-") as spill:
        con = duckdb.connect()
        try:
            con.sql(f"SET temp_directory = {_literal(spill)}")
            con.sql("SET enable_progress_bar = false")  # a slow scan prints one to stdout
            con.sql("SET GLOBAL TimeZone = 'UTC'")
            _trust_no_nan_statistics(con, duckdb)
            if isinstance(source, str):
                con.sql(f"CREATE VIEW {_SOURCE} AS SELECT * FROM {source}")
            else:
                con.register(_SOURCE, source)
            return _run(con, source, plans, bins=bins, top_k=top_k)
        except duckdb.OutOfMemoryException as exc:
            raise ShipyardError(f"Ran out of memory profiling {label}: {exc}") from exc
        except (duckdb.Error, pa.ArrowException) as exc:
            raise InvalidInput(f"Could not profile {label}: {exc}") from exc
        finally:
            con.close()


# -- input ----------------------------------------------------------------------------------


def _open(data: object) -> tuple[pa.Table | str, pa.Schema, int, str]:
    """Return what DuckDB scans (a table, or SQL reading Parquet), schema, row count, label."""
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        widened = _widened(data.schema)
        table = data if widened is None else data.cast(widened)
        return table, data.schema, data.num_rows, "the table"
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.exists():
            raise NotFound(f"No Parquet file or folder at {str(path)!r}.")
        try:  # pyarrow finds the files, schema (as written) and row count from the metadata
            dataset = ds.dataset(path, format="parquet", partitioning="hive")
            rows = dataset.count_rows()
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInput(f"{str(path)!r} is not readable as Parquet: {exc}") from exc
        # DuckDB's own reader streams each column chunk in small vectors, in bounded memory.
        hive = dataset.partitioning is not None and len(dataset.partitioning.schema) > 0
        files = ", ".join(_literal(f) for f in dataset.files)
        sql = f"read_parquet([{files}], hive_partitioning = {str(hive).lower()})"
        return sql, dataset.schema, rows, repr(str(path))
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InvalidInput(f"Could not convert the DataFrame to Arrow: {exc}") from exc
        return _open(table)[0], table.schema, table.num_rows, "the DataFrame"
    raise InvalidInput(
        "profile() expects a pyarrow.Table, a pandas DataFrame or the path of a Parquet "
        f"file or folder, got {type(data).__name__}."
    )


def _widened(schema: pa.Schema) -> pa.Schema | None:
    """Return ``schema`` with float16 and decimal256 (DuckDB cannot scan them) widened."""
    widened = schema
    for i, f in enumerate(schema):
        if pa.types.is_float16(f.type):
            widened = widened.set(i, f.with_type(pa.float32()))
        elif pa.types.is_decimal256(f.type):
            widened = widened.set(i, f.with_type(pa.float64()))
    return None if widened is schema else widened


def _trust_no_nan_statistics(con: Any, duckdb: Any) -> None:
    """Make DuckDB assume Parquet float columns may hold NaN whatever their min/max say.

    Parquet writers (pyarrow among them) leave NaN out of min/max statistics, and DuckDB
    >= 1.3 otherwise folds ``isnan(x)`` to false from them (duckdb/duckdb#25521). Older
    versions ignore float statistics, and lack the setting.
    """
    with contextlib.suppress(duckdb.Error):  # GLOBAL: the stats cursors are connections too
        con.sql("SET GLOBAL parquet_can_have_nan = true")


def _import_duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - duckdb is a core dependency
        raise ImportError("Profiles need DuckDB: pip install 'duckdb>=1.1'.") from exc
    return duckdb


# -- planning -------------------------------------------------------------------------------


def _kind(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_dictionary(t) or str(t) in ("string", "large_string", "string_view"):
        return "categorical"
    return "other"


class _Plan:
    """How one column is queried: its SQL expressions and result aliases."""

    def __init__(self, index: int, f: pa.Field, approximate: bool) -> None:
        self.index = index
        self.name = f.name
        self.type = str(f.type)
        self.kind = _kind(f.type)
        self.floating = pa.types.is_floating(f.type)
        self.approximate = approximate
        self.sql = '"' + f.name.replace('"', '""') + '"'
        self.value = f"{self.sql}::DOUBLE" if self.kind == "numeric" else self.sql

    def alias(self, stat: str) -> str:
        return f"c{self.index}_{stat}"

    def aggregates(self) -> list[str]:
        """SQL aggregates for the one-pass statistics query."""
        v, a = self.value, self.alias
        distinct = "approx_count_distinct({})" if self.approximate else "count(DISTINCT {})"
        if self.kind != "numeric":
            out = [f"count({v}) AS {a('n')}", f"{distinct.format(v)}::BIGINT AS {a('distinct')}"]
            if self.kind == "datetime":
                out += [f"min({v}) AS {a('min')}", f"max({v}) AS {a('max')}"]
            return out
        if self.floating:
            present = f"CASE WHEN NOT isnan({v}) THEN {v} END"
            finite = f"CASE WHEN isfinite({v}) THEN {v} END"
            nan = f"count_if(isnan({v}))::BIGINT"
            inf = f"count_if(isinf({v}))::BIGINT"
        else:
            present = finite = v
            nan = inf = "0::BIGINT"
        qs = "[" + ", ".join(repr(q) for q in QUANTILES) + "]"
        quantile = "approx_quantile" if self.approximate else "quantile_cont"
        return [
            f"count({v}) - {nan} AS {a('n')}",
            f"{inf} AS {a('inf')}",
            f"{distinct.format(present)}::BIGINT AS {a('distinct')}",
            f"min({finite}) AS {a('min')}",
            f"max({finite}) AS {a('max')}",
            f"avg({finite}) AS {a('mean')}",
            f"stddev_samp({finite}) AS {a('std')}",
            f"{quantile}({finite}, {qs}) AS {a('q')}",
        ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- running --------------------------------------------------------------------------------


def _run(con: Any, source: object, plans: list[_Plan], *, bins: int, top_k: int) -> Profile:
    """Run the three queries and assemble the profile."""
    stats = _stats(con, source, plans)
    rows = int(stats["n_rows"])
    columns = [_column(p, stats, rows) for p in plans]
    histograms = _histograms(con, plans, columns, bins)
    tops = _tops(con, [p for p in plans if p.kind in ("categorical", "boolean")], top_k)
    out = [
        replace(c, histogram=histograms.get(p.index), top=tops.get(p.index, []))
        for p, c in zip(plans, columns, strict=True)
    ]
    return Profile(rows=rows, columns=out)


def _stats(con: Any, source: object, plans: list[_Plan]) -> dict[str, Any]:
    """Compute every column's aggregates in one pass: one single-threaded query per core.

    Each column is aggregated by one DuckDB thread, so floating-point sums and sketches
    merge in scan order and the same data always gives the same numbers; the columns are
    split across cores (one cursor each) to keep the pass parallel.
    """
    workers = max(1, min(os.cpu_count() or 1, len(plans)))
    ordered = sorted(plans, key=lambda p: p.kind != "numeric")  # spread the costly ones
    groups = [ordered[i::workers] for i in range(workers)]
    con.sql("SET threads = 1")

    def run(group: list[_Plan]) -> dict[str, Any]:
        cursor = con.cursor()
        try:
            if not isinstance(source, str):  # registered tables are per connection
                cursor.register(_SOURCE, source)
            select = ["count(*) AS n_rows", *(s for p in group for s in p.aggregates())]
            return _one_row(cursor, f"SELECT {', '.join(select)} FROM {_SOURCE}")
        finally:
            cursor.close()

    merged: dict[str, Any] = {}
    with ThreadPoolExecutor(workers) as pool:
        for result in pool.map(run, groups):
            merged.update(result)
    con.sql("RESET threads")
    return merged


def _one_row(con: Any, query: str) -> dict[str, Any]:
    relation = con.sql(query)
    return dict(zip(relation.columns, relation.fetchall()[0], strict=True))


def _column(p: _Plan, stats: Mapping[str, Any], rows: int) -> ColumnProfile:
    """Build one column's profile (without histogram and top values) from the stats row."""
    count = int(stats[p.alias("n")] or 0)  # count_if over no rows is NULL
    distinct = int(stats[p.alias("distinct")] or 0)
    values: dict[str, Any] = {"count": count, "missing": rows - count, "distinct": distinct}
    if p.kind == "datetime":
        values.update(min=_iso(stats[p.alias("min")]), max=_iso(stats[p.alias("max")]))
    elif p.kind == "numeric":
        values.update({s: _float(stats[p.alias(s)]) for s in ("min", "max", "mean", "std")})
        qs = stats[p.alias("q")]
        values["quantiles"] = dict(zip(QUANTILE_KEYS, map(float, qs), strict=True)) if qs else {}
        values["infinite"] = int(stats[p.alias("inf")] or 0)
    return ColumnProfile(p.name, p.type, p.kind, approximate=p.approximate, **values)


def _float(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, date) else None


def _edges(lo: float, hi: float, bins: int) -> list[float]:
    """Return ``bins + 1`` increasing edges from ``lo`` to ``hi`` (one bin if they collide)."""
    # Interpolate rather than step from lo: near the limits of a double, hi - lo (or
    # numpy.linspace's own products) overflow, while lo * (1 - t) + hi * t never does.
    t = np.linspace(0.0, 1.0, bins + 1)
    edges = [float(e) for e in lo * (1 - t) + hi * t]
    edges[0], edges[-1] = lo, hi
    if any(b <= a for a, b in itertools.pairwise(edges)):
        return [lo, hi]
    return edges


def _histograms(
    con: Any, plans: list[_Plan], columns: list[ColumnProfile], bins: int
) -> dict[int, Histogram]:
    """Count each numeric column's values in fixed-width bins, in one query for all columns."""
    out: dict[int, Histogram] = {}
    inner, outer, wanted = [], [], []
    for p, c in zip(plans, columns, strict=True):
        if p.kind != "numeric" or not isinstance(c.min, float) or not isinstance(c.max, float):
            continue
        edges = _edges(c.min, c.max, bins)
        if len(edges) == 2:  # constant column (or a range too narrow to split): one bin
            out[p.index] = Histogram(edges=edges, counts=[c.count])
            continue
        k, v, j = len(edges) - 1, p.alias("v"), p.alias("j")
        valid = f"{p.value} IS NOT NULL" + (f" AND NOT isnan({p.value})" if p.floating else "")
        if math.isfinite(c.max - c.min):
            scaled = f"({p.value} - {c.min!r}) * {k / (c.max - c.min)!r}"
        else:
            scaled = f"({p.value} / 2 - {c.min / 2!r}) * {k / (c.max / 2 - c.min / 2)!r}"
        guess = f"least(greatest(floor({scaled}), 0), {k - 1})::INTEGER"
        inner += [f"{p.value} AS {v}", f"CASE WHEN {valid} THEN {guess} END AS {j}"]
        # The guess can be one bin off where a value sits on an edge: compare with the edges.
        e = "([" + ", ".join(repr(x) for x in edges) + "]::DOUBLE[])"
        outer.append(
            f"histogram(CASE WHEN {j} > 0 AND {v} < {e}[{j} + 1] THEN {j} - 1 "
            f"WHEN {j} < {k - 1} AND {v} >= {e}[{j} + 2] THEN {j} + 1 ELSE {j} END) AS {j}"
        )
        wanted.append((p, edges))
    if not wanted:
        return out
    query = f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {_SOURCE})"
    row = _one_row(con, query)
    for p, edges in wanted:
        found = dict(row[p.alias("j")] or [])
        counts = [int(found.get(i, 0)) for i in range(len(edges) - 1)]
        out[p.index] = Histogram(edges=edges, counts=counts)
    return out


def _tops(con: Any, plans: list[_Plan], top_k: int) -> dict[int, list[tuple[str, int]]]:
    """Return the ``top_k`` most frequent values of each column, in one query."""
    if not plans:
        return {}
    parts = [
        f"(SELECT {p.index} AS sy_col, CAST({p.sql} AS VARCHAR) AS sy_value, count(*) AS sy_n "
        f"FROM {_SOURCE} WHERE {p.sql} IS NOT NULL GROUP BY {p.sql} "
        f"ORDER BY sy_n DESC, sy_value LIMIT {top_k})"
        for p in plans
    ]
    out: dict[int, list[tuple[str, int]]] = {}
    result = con.sql(" UNION ALL ".join(parts)).to_arrow_table()
    for col, value, n in zip(*(result.column(i).to_pylist() for i in range(3)), strict=True):
        out.setdefault(col, []).append((value, int(n)))
    for ranked in out.values():  # UNION ALL keeps no order across branches: restore it
        ranked.sort(key=lambda item: (-item[1], item[0]))
    return out
