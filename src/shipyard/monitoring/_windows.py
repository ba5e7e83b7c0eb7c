"""The windows a check compares: the current rows and the reference.

A deployment's (or plainly served model's) current window is the newest rows (or the last
stretch of time) of its inference log, read through the log's owner
(``serving.InferenceLog``): answered rows only, shadow copies being the shadow's
business; its reference
is a dataset version or an earlier window of the log. A dataset monitor compares the
dataset's newest version with a reference version. Columns drift cannot judge (timestamps,
identifiers) are set aside here, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.monitoring._quality import current_schema
from shipyard.monitoring._values import Monitor

if TYPE_CHECKING:
    from shipyard.serving import InferenceLog

__all__ = ["Windows", "inputs_of", "read_windows", "window_evidence"]

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
    from shipyard.serving import InferenceLog  # serving loads the web stack: lazily

    return _log_windows(monitor, now, InferenceLog.of(monitor.target, log_dir))


def _log_windows(monitor: Monitor, now: float, log: InferenceLog) -> Windows:
    """A deployment's (or served model's) windows, read through its inference log: the
    rows its callers were answered with (shadow copies left out)."""
    size = monitor.window
    if "rows" in size:
        current = log.answered(until=now, last=int(size["rows"]))
    else:
        current = log.answered(since=now - size["seconds"], until=now)
    if current is None or current.num_rows == 0:
        windows = Windows(None, None, [], reference_label=monitor.reference)
        if not log.exists():
            windows.note = f"no inference log at {log.location}"
        return windows
    start, end = _at_bounds(current)
    windows = Windows(current, None, log.inputs(current), start, end, monitor.reference)
    if monitor.reference in ("log:first", "log:previous"):
        reference = _log_reference(monitor, now, log, start)
        windows.reference, windows.reference_predictions = reference, reference
    else:
        from shipyard import data as datasets

        version = datasets.resolve(monitor.reference)
        windows.reference = version.to_arrow()
        windows.reference_label = version.ref
        windows.schema = current_schema(version.name)
    return _skip_unjudgeable(windows, monitor)


def _log_reference(monitor: Monitor, now: float, log: InferenceLog, start: float | None) -> Any:
    """The reference window from the log itself: its first window, or the one before."""
    size = monitor.window
    if monitor.reference == "log:first":
        if "rows" in size:
            return log.answered(first=int(size["rows"]))
        oldest = log.answered(first=1)
        since = float(oldest.column("at")[0].as_py())
        return log.answered(since=since, until=since + size["seconds"])
    if "rows" in size:
        return log.answered(until=start, last=int(size["rows"]))
    return log.answered(since=now - 2 * size["seconds"], until=now - size["seconds"])


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
