"""Two windows as one float matrix for the domain classifier of ``_domain``: numbers and
dates as floats (dates in seconds), categories as shared codes (the most common of both
windows, the rest one "other" code), and the columns that cannot take part, with why."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MAX_CATEGORIES", "MIN_CATEGORY_ROWS", "encode"]

MAX_CATEGORIES = 64  # per column; rarer values share one "other" category
MIN_CATEGORY_ROWS = 10  # in both windows together; rarer values share "other" too


def encode(
    ref_sample: Any, cur_sample: Any, wanted: dict[str, str]
) -> tuple[np.ndarray, list[str], list[int], list[str]]:
    """One float matrix (reference rows, then current rows), the columns kept, which of
    them are categories, and notes on the columns left out."""
    blocks: list[np.ndarray] = []
    used: list[str] = []
    categories: list[int] = []
    notes: list[str] = []
    for name, kind in wanted.items():
        ref, cur = ref_sample.column(name), cur_sample.column(name)
        if kind == "category":
            ref, cur = _decoded(ref), _decoded(cur)
            note = _degenerate_categories(ref, cur)
            ref_values, cur_values = _codes(ref, cur)
            for side, values in (("reference", ref_values), ("current window", cur_values)):
                if not note and _flat(values):  # every value rare: one code
                    note = f"has only values rarer than {MIN_CATEGORY_ROWS} rows in the {side}"
        else:
            ref_values, cur_values = _numbers(ref), _numbers(cur)
            note = _degenerate(ref_values, cur_values, kind)
        if note:
            notes.append(f"{name!r} {note}: left out")
            continue
        if kind == "category":
            categories.append(len(used))
        used.append(name)
        blocks.append(np.concatenate([ref_values, cur_values]))
    rows = len(ref_sample) + len(cur_sample)
    matrix = np.column_stack(blocks) if blocks else np.empty((rows, 0))
    return matrix, used, categories, notes


def _decoded(column: Any) -> Any:
    import pyarrow as pa

    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _numbers(column: Any) -> np.ndarray:
    """Floats, missing as NaN; timestamps, dates, durations and times in seconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = _decoded(column)
    kind = column.type
    scale = 1.0
    if pa.types.is_timestamp(kind):
        column = pc.cast(column, pa.timestamp("us", tz=kind.tz)).cast(pa.int64())
        scale = 1e-6
    elif pa.types.is_date(kind):
        column = pc.cast(column, pa.timestamp("us")).cast(pa.int64())
        scale = 1e-6
    elif pa.types.is_duration(kind):
        column = pc.cast(column, pa.duration("us")).cast(pa.int64())
        scale = 1e-6
    elif pa.types.is_time(kind):
        column = pc.cast(column, pa.time64("us")).cast(pa.int64())
        scale = 1e-6
    values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    out: np.ndarray = np.asarray(values, dtype=np.float64) * scale
    return out


def _codes(ref: Any, cur: Any) -> tuple[np.ndarray, np.ndarray]:
    """Category codes shared by both sides: the ``MAX_CATEGORIES`` values most common in
    both windows together (in ``MIN_CATEGORY_ROWS`` rows or more) are 0, 1, ...; any other
    value is one code more; missing is NaN. Values too rare to learn from (an id per row)
    share the one code: ordered by a tie-break they would hand each side codes of its own."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if ref.type != cur.type:  # e.g. string and large_string
        ref, cur = ref.cast(pa.large_string()), cur.cast(pa.large_string())
    both = pa.chunked_array(ref.chunks + cur.chunks, type=ref.type)
    counted = pc.value_counts(both.drop_null()).to_pylist()
    counted = [c for c in counted if c["counts"] >= MIN_CATEGORY_ROWS]
    counted.sort(key=lambda c: (-c["counts"], str(c["values"])))
    top = pa.array([c["values"] for c in counted[:MAX_CATEGORIES]], type=ref.type)
    other = float(len(top))

    def codes(column: Any) -> np.ndarray:
        index = pc.index_in(column, value_set=top).cast(pa.float64())
        values = np.array(index.to_numpy(zero_copy_only=False), dtype=np.float64)
        missing = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        values[np.isnan(values) & ~missing] = other
        return values

    return codes(ref), codes(cur)


def _degenerate_categories(ref: Any, cur: Any) -> str:
    import pyarrow.compute as pc

    for side, column in (("reference", ref), ("current window", cur)):
        distinct = pc.count_distinct(column).as_py()
        if distinct == 0:
            return f"is all missing in the {side}"
        if distinct == 1:
            return f"is constant in the {side}"
    return ""


def _flat(values: np.ndarray) -> str:
    """``all missing``, ``constant`` or "" (values vary)."""
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return "all missing"
    return "constant" if np.all(present == present[0]) else ""


def _degenerate(ref: np.ndarray, cur: np.ndarray, kind: str) -> str:
    """Why a column of numbers or dates cannot take part ("" when it can)."""
    for side, values in (("reference", ref), ("current window", cur)):
        if _flat(values):
            return f"is {_flat(values)} in the {side}"
    if kind == "time":
        ref_low, ref_high = np.nanmin(ref), np.nanmax(ref)
        cur_low, cur_high = np.nanmin(cur), np.nanmax(cur)
        if ref_high < cur_low or cur_high < ref_low:
            return "has no dates in common between the windows (the time axis they were cut on?)"
    return ""
