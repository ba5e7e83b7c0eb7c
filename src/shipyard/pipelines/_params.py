"""How a run's parameters are kept in its record: JSON values as they are, anything else (a
DataFrame, say) as a stored value under the reserved key ``$stored``, read back when the run
starts in another process or resumes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.pipelines._task import read_value
from shipyard.pipelines._values import Stored, dump
from shipyard.store import default_artifacts

__all__ = ["json_params", "load_params", "store_params"]

#: The key of a parameter kept as a stored value in a run's record.
_STORED = "$stored"


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters a registered pipeline or a queued run keeps: JSON values only."""
    try:
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Registered parameters must be JSON values: {exc}.") from None
    for key, value in params.items():
        _not_stored(key, value)
    return params


def _not_stored(key: str, value: Any) -> None:
    """Refuse a parameter that poses as a stored value: it would be read back (unpickled)
    when its run starts or resumes."""
    if isinstance(value, dict) and set(value) == {_STORED}:
        raise InvalidInput(
            f"Parameter {key!r} is a dict whose only key is {_STORED!r}, which is reserved "
            "for stored values; give it another key."
        )


def store_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON: plain values as they are, others as stored values."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        _not_stored(key, value)
        try:
            json.dumps(value, allow_nan=False)
            out[key] = value
        except (TypeError, ValueError):
            record, data = dump(value, f"parameter {key!r}")
            if record.inline is None:
                default_artifacts().put_bytes(data)
            out[key] = {_STORED: record.to_json()}
    return out


def load_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters from a run's record, stored values read back."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict) and set(value) == {_STORED}:
            value = read_value(Stored.from_json(value[_STORED]), default_artifacts())
        out[key] = value
    return out
