"""Checks on what users record (run params, tags and metrics; dataset and model tags and
metrics): names, keys, values. Each error names the field.

Policy on non-finite metric values: NaN and ±inf are refused with :class:`InvalidInput`
before anything is buffered. They cannot be ordered or compared in a search, JSON cannot
carry them, and SQLite stores NaN as NULL; a diverging loss is better recorded as a tag or
a finite sentinel chosen by the user, e.g. ``run.set_tag("diverged_at_step", step)``.
"""

from __future__ import annotations

import math
import numbers
import re

from shipyard.errors import InvalidInput

MAX_KEY = 250
MAX_NAME = 256
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000

_KEY = re.compile(r"^[A-Za-z0-9_\-./: ]+$")


def check_key(kind: str, key: object) -> str:
    """A metric, param or tag key: letters, digits and ``_-./: ``, at most 250 characters."""
    if not isinstance(key, str):
        raise InvalidInput(f"{kind} key must be a string, got {type(key).__name__} {key!r}.")
    if (
        not key
        or len(key) > MAX_KEY
        or not _KEY.match(key)
        or key.startswith("/")
        or (".." in key.split("/"))
    ):
        raise InvalidInput(
            f"{kind} key {key!r} is not valid: expected 1-{MAX_KEY} characters of letters, "
            "digits, spaces and _ - . / :, not starting with '/' and without '..' parts."
        )
    return key


def check_name(kind: str, name: object) -> str:
    """An experiment or run name: 1-256 printable characters."""
    if not isinstance(name, str):
        raise InvalidInput(f"{kind} name must be a string, got {type(name).__name__} {name!r}.")
    if not name.strip() or len(name) > MAX_NAME or not name.isprintable() or "\x00" in name:
        raise InvalidInput(
            f"{kind} name {name!r} is not valid: expected 1-{MAX_NAME} printable characters, "
            "not only spaces."
        )
    return name


def metric_value(key: str, value: object) -> float:
    """A finite real number; bools and strings are refused."""
    if type(value) is float:
        number = value
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    else:
        raise InvalidInput(
            f"Metric '{key}' must be a real number, got {type(value).__name__} {value!r}."
        )
    if not math.isfinite(number):
        raise InvalidInput(
            f"Metric '{key}' is {number}; only finite values are stored. Record divergence "
            "as a tag instead, e.g. run.set_tag('diverged', 'true')."
        )
    return number


def metric_step(key: str, step: object) -> int:
    """An integer step that fits in 64 bits (numpy integers welcome)."""
    if isinstance(step, numbers.Integral) and not isinstance(step, bool):
        value = int(step)
        if -(2**63) <= value < 2**63:
            return value
        raise InvalidInput(f"Step of metric '{key}' must fit in 64 bits, got {step}.")
    raise InvalidInput(f"Step of metric '{key}' must be an integer, got {step!r}.")


# epoch seconds of the years 1 and 9999 (their ends): shipyard._time's FIRST and LAST, the
# times ISO 8601 answers can write (this layer may not import that one)
_FIRST, _LAST = -62135596800.0, 253402300799.0


def metric_timestamp(key: str, timestamp: object) -> float:
    """Epoch seconds: a real number within the years 1 to 9999 (as ISO 8601 writes them)."""
    if isinstance(timestamp, numbers.Real) and not isinstance(timestamp, bool):
        seconds = float(timestamp)
        if math.isfinite(seconds) and _FIRST <= seconds <= _LAST:
            return seconds
    raise InvalidInput(
        f"Timestamp of metric '{key}' must be finite epoch seconds within the years 1 to "
        f"9999, got {timestamp!r}."
    )


def final_status(status: object) -> str:
    """A status a run can end with."""
    if status not in ("finished", "failed", "killed"):
        raise InvalidInput(
            f"Run status {status!r} is not a final status; expected finished, failed or killed."
        )
    return str(status)


def text_value(kind: str, key: str, value: object, limit: int) -> str:
    """A param or tag value: str, number, bool or None, stored as text."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, numbers.Number)):
        text = str(value)
    else:
        raise InvalidInput(
            f"{kind} '{key}' must be a string, number, bool or None, got "
            f"{type(value).__name__}. Convert it (e.g. str(value) or json.dumps(value)) first."
        )
    if "\x00" in text:
        raise InvalidInput(f"{kind} '{key}' contains a NUL character, which no store keeps.")
    if len(text) > limit:
        raise InvalidInput(
            f"{kind} '{key}' is {len(text)} characters long; at most {limit} are stored. "
            "Log long values as an artifact instead."
        )
    return text
