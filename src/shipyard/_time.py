"""Times as the CLI's ``--json`` and the REST API write them: ISO 8601 in UTC.

The SDK keeps epoch seconds (floats) in its objects; what leaves for scripts and other
programs says its zone: ``2026-12-05T22:57:04.123456+00:00``. :func:`iso_times` converts a
payload's time fields by name (``at``, ``start_time``, ``end_time``, ``window_start``,
``window_end``, every ``*_at``, and a ``window``'s ``start`` and ``end``), leaving user
payloads (``params``, ``tags``, ``metrics``, data rows...) as they are.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "FIRST",
    "LAST",
    "TIME_FORMAT",
    "epoch",
    "epoch_times",
    "epochs",
    "is_time_field",
    "iso",
    "iso_series",
    "iso_times",
]

TIME_FORMAT = "ISO 8601 with its UTC offset, e.g. 2026-12-05T22:57:04.123456+00:00"
FIRST, LAST = -62135596800.0, 253402300799.0  # epoch seconds of years 1 and 9999 (their ends)
_NAMES = frozenset({"at", "start_time", "end_time", "window_start", "window_end"})
_WITHIN = {"window": frozenset({"start", "end"})}  # a monitor check's evidence
# what users put in: their keys are not ours to read as times
_PAYLOADS = frozenset(
    {"params", "tags", "metrics", "environment", "schema", "profile", "rows", "inputs", "outputs"}
)


def iso(value: float | datetime | None) -> str | None:
    """Epoch seconds (or a datetime; naive means UTC) as ISO 8601 in UTC, to the
    microsecond; None stays None.

    Example:
        >>> iso(0.5)
        '1970-01-01T00:00:00.500000+00:00'
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    else:
        moment = datetime.fromtimestamp(float(value), tz=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def epoch(value: str | float | None) -> float | None:
    """An ISO 8601 time (as :func:`iso` writes it; naive means UTC) back to epoch seconds,
    for clients of the REST API (remote mode); numbers and None pass through.

    Example:
        >>> epoch("1970-01-01T00:00:00.500000+00:00")
        0.5
    """
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def iso_series(values: Sequence[float]) -> list[str]:
    """Epoch seconds as :func:`iso` writes them (the same rounding; times beyond the years
    1 to 9999 at those bounds), vectorized for long series such as a metric's history.

    Example:
        >>> iso_series([0.5, 86400.25])
        ['1970-01-01T00:00:00.500000+00:00', '1970-01-02T00:00:00.250000+00:00']
    """
    import numpy as np

    seconds = np.clip(np.asarray(values, dtype=np.float64), FIRST, LAST)
    fraction, whole = np.modf(seconds)  # as datetime.fromtimestamp: the fraction rounded
    micros = whole.astype(np.int64) * 1_000_000 + np.rint(fraction * 1e6).astype(np.int64)
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us").tolist()
    return [t + "+00:00" for t in text]


def epochs(values: Sequence[str]) -> list[float]:
    """:func:`iso_series`' strings back to epoch seconds, vectorized; other ISO 8601 times
    and numbers one by one (:func:`epoch`).

    Example:
        >>> epochs(['1970-01-02T00:00:00.250000+00:00'])
        [86400.25]
    """
    import numpy as np

    if all(isinstance(v, str) and len(v) == 32 and v.endswith("+00:00") for v in values):
        moments = np.array([v[:26] for v in values], dtype="datetime64[us]")
        return (moments.astype(np.int64) / 1e6).tolist()  # type: ignore[no-any-return]
    return [epoch(v) for v in values]  # type: ignore[misc]


def is_time_field(name: object) -> bool:
    """Whether a payload field of this name holds a time (``at``, ``start_time``,
    ``end_time``, ``*_at``); flattened user names (``metrics.seen_at``) never do."""
    if not isinstance(name, str) or "." in name:
        return False
    return name in _NAMES or name.endswith("_at")


def iso_times(data: Any) -> Any:
    """``data`` (dicts, lists, values) with every time field's epoch seconds or datetime
    as :func:`iso`; a new structure, the input unchanged.

    Example:
        >>> iso_times([{"id": 1, "created_at": 0.0, "tags": {"due_at": 5}}])
        [{'id': 1, 'created_at': '1970-01-01T00:00:00.000000+00:00', 'tags': {'due_at': 5}}]
    """
    if isinstance(data, dict):
        return {key: _field(key, value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [iso_times(value) for value in data]
    return data


def epoch_times(data: Any) -> Any:
    """The inverse of :func:`iso_times`, for clients of the REST API (remote mode): every
    time field's ISO 8601 text back to epoch seconds; a new structure.

    Example:
        >>> epoch_times({"at": "1970-01-01T00:00:01.000000+00:00", "tags": {"due_at": "x"}})
        {'at': 1.0, 'tags': {'due_at': 'x'}}
    """
    if isinstance(data, dict):
        return {key: _epoch_field(key, value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [epoch_times(value) for value in data]
    return data


def _epoch_field(key: object, value: Any) -> Any:
    if is_time_field(key) and isinstance(value, str):
        return _epoch_or_text(value)
    if key in _PAYLOADS:
        return value
    times = _WITHIN.get(key) if isinstance(key, str) else None
    if times is not None and isinstance(value, dict):
        return {
            k: _epoch_or_text(v) if k in times and isinstance(v, str) else epoch_times(v)
            for k, v in value.items()
        }
    return epoch_times(value)


def _epoch_or_text(value: str) -> float | str:
    try:
        return epoch(value) or 0.0
    except ValueError:  # text in a field named like a time: not ours to read
        return value


def _field(key: object, value: Any) -> Any:
    if is_time_field(key) and _is_time(value):
        return iso(value)
    if key in _PAYLOADS:
        return value
    times = _WITHIN.get(key) if isinstance(key, str) else None
    if times is not None and isinstance(value, dict):
        return {k: iso(v) if k in times and _is_time(v) else iso_times(v) for k, v in value.items()}
    return iso_times(value)


def _is_time(value: Any) -> bool:
    if isinstance(value, datetime):
        return True
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value))
