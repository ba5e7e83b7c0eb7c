"""The windows a check compares: the current rows and the reference.

A deployment's current window is the newest rows (or the last stretch of time) of its
inference log, answered rows only (shadow copies are the shadow's business); its reference
is a dataset version or an earlier window of the log. A dataset monitor compares the
dataset's newest version with a reference version. Columns drift cannot judge (timestamps,
identifiers) are set aside here, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.monitoring._monitors import Monitor
from shipyard.monitoring._quality import current_schema

__all__ = ["LOG_COLUMNS", "Windows", "inputs_of", "read_windows", "window_evidence"]

# columns the inference log adds around a model's inputs
LOG_COLUMNS = (
    "request_id", "row", "at", "route", "model", "version", "latency_ms",
    "prediction", "probability", "shadow",
)  # fmt: skip
ID_ROWS = 100  # a column whose values are all distinct over this many rows is an identifier
ID_NAME = re.compile(r"(?i:(^|[^a-z])(id|uuid|key)$)|[a-z](Id|ID)$")


@dataclass
class Windows:
    """What one check compares: Arrow tables of the current and reference rows, the
    input columns judged, the window's time span, and the columns set aside."""

    current: Any  # Arrow table
    reference: Any
    inputs: list[str]
    start: float | None = None
    end: float | None = None
    reference_label: str = ""
    reference_predictions: Any = None  # Arrow table with prediction (and probability)
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it is not judged
    note: str = ""
    schema: Any = None  # the reference dataset's current data schema, when it has one


def read_windows(monitor: Monitor, now: float, log_dir: str | Path | None) -> Windows:
    """The monitor's windows as of ``now`` (``current`` None when nothing was logged)."""
    from shipyard import data as datasets

    if monitor.target_kind == "dataset":
        current = datasets.resolve(f"{monitor.target}@latest")
        reference = datasets.resolve(monitor.reference)
        table, before = current.to_arrow(), reference.to_arrow()
        names = list(before.column_names)  # columns the newest version dropped count too
        names += [n for n in table.column_names if n not in names]
        windows = Windows(table, before, names, reference_label=f"{reference.ref} vs {current.ref}")
        windows.schema = current_schema(reference.name)  # as quality(reference, ...) does
        return _skip_unjudgeable(windows, monitor)
    from shipyard.serving import read_requests

    size = monitor.window
    if "rows" in size:
        current = read_requests(
            monitor.target, log_dir, until=now, last=int(size["rows"]), shadow=False
        )
    else:
        current = read_requests(
            monitor.target, log_dir, since=now - size["seconds"], until=now, shadow=False
        )
    if current is None or current.num_rows == 0:
        windows = Windows(None, None, [], reference_label=monitor.reference)
        folder = _log_folder(log_dir) / monitor.target
        if not folder.is_dir():
            windows.note = f"no inference log at {folder}"
        return windows
    inputs = [c for c in current.column_names if c not in LOG_COLUMNS]
    start, end = _at_bounds(current)
    windows = Windows(current, None, inputs, start, end, monitor.reference)
    if monitor.reference == "log:first":
        if "rows" in size:
            reference = read_requests(
                monitor.target, log_dir, first=int(size["rows"]), shadow=False
            )
        else:
            oldest = read_requests(monitor.target, log_dir, first=1, shadow=False)
            since = float(oldest.column("at")[0].as_py())
            reference = read_requests(
                monitor.target, log_dir, since=since, until=since + size["seconds"],
                shadow=False,
            )  # fmt: skip
        windows.reference, windows.reference_predictions = reference, reference
    elif monitor.reference == "log:previous":
        if "rows" in size:
            reference = read_requests(
                monitor.target, log_dir, until=start, last=int(size["rows"]), shadow=False
            )
        else:
            reference = read_requests(
                monitor.target, log_dir, since=now - 2 * size["seconds"],
                until=now - size["seconds"], shadow=False,
            )  # fmt: skip
        windows.reference, windows.reference_predictions = reference, reference
    else:
        version = datasets.resolve(monitor.reference)
        windows.reference = version.to_arrow()
        windows.reference_label = version.ref
        windows.schema = current_schema(version.name)
    return _skip_unjudgeable(windows, monitor)


def _skip_unjudgeable(windows: Windows, monitor: Monitor) -> Windows:
    """Leave out what drift cannot judge: timestamps (a later window is later by design)
    and identifiers, whose every reference value is distinct (new rows bring new ids):
    text, or integers named like an id (``id``, ``*_id``, ``uuid``, ``key``) — other
    numbers are distinct too (amounts in cents) and are judged. Both are named in the
    evidence; ``categorical`` columns are always kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    reference = windows.reference
    for name in list(windows.inputs):
        if name in monitor.categorical:
            continue
        column = None if reference is None or name not in reference.column_names else (
            reference.column(name)
        )  # fmt: skip
        other = windows.current
        if column is None and name not in other.column_names:
            continue
        kind = (column if column is not None else other.column(name)).type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            windows.skipped[name] = "a timestamp: a later window is later by design"
        elif (
            column is not None
            and (
                pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
                or (pa.types.is_integer(kind) and ID_NAME.search(name) is not None)
            )
            and len(column) >= ID_ROWS
            and pc.count_distinct(column).as_py() == len(column)
        ):
            windows.skipped[name] = "an identifier: every reference value is distinct"
    windows.inputs = [n for n in windows.inputs if n not in windows.skipped]
    return windows


def _log_folder(log_dir: str | Path | None) -> Path:
    if log_dir is not None:
        return Path(log_dir)
    from shipyard.config import get_settings

    return get_settings().home / "inference"


def _at_bounds(table: Any) -> tuple[float | None, float | None]:
    import pyarrow.compute as pc

    bounds = pc.min_max(table.column("at")).as_py()
    return bounds["min"], bounds["max"]


def inputs_of(table: Any, inputs: Sequence[str]) -> Any:
    return table.select([c for c in inputs if c in table.column_names])


def window_evidence(windows: Windows) -> dict[str, Any]:
    return {
        "window": {
            "start": windows.start,
            "end": windows.end,
            "rows": 0 if windows.current is None else windows.current.num_rows,
        },
        "reference": windows.reference_label,
        "reference_rows": 0 if windows.reference is None else windows.reference.num_rows,
        "skipped": windows.skipped,
    }
