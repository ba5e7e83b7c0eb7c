"""Data quality of a current window against a reference: what a drift test does not say.

Per column: the share of missing values on each side, values outside the reference's range
(numbers), values the reference never had (categories), and columns missing or of another
kind. Computed from the same prepared columns as drift (sorted values, category counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from shipyard.monitoring._drift import Reference, _prepare, _table, _union

__all__ = ["quality"]

# a few values just past the reference's extremes are normal in a new sample: the issue is
# raised above this share (the share itself is always reported)
OUT_OF_RANGE = 0.01


def quality(
    reference: Any, current: Any, *, categorical: Sequence[str] = (), workers: int = 0
) -> pd.DataFrame:
    """One row per column: ``issue`` (empty when none), missing shares, the share of
    current values outside the reference's range or unseen in it, and examples."""
    prepared = (
        reference
        if isinstance(reference, Reference)
        else Reference(reference, categorical=categorical, workers=workers)
    )
    table = _table(current, "current")
    current_columns = _prepare(table, set(categorical) | set(prepared.categorical), workers)
    rows = []
    for name in _union(prepared.columns, table):
        ref, cur = prepared.columns.get(name), current_columns.get(name)
        row: dict[str, Any] = {
            "column": name,
            "issue": "",
            "reference_missing": ref.missing if ref else None,
            "current_missing": cur.missing if cur else None,
            "out_of_range": 0.0,
            "unseen": 0.0,
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
        rows.append(row)
    return pd.DataFrame(rows)
