"""One prediction request as it goes through the inference service (``_service``): what
it carries, and the checks of what its client named it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.serving._router import Router
from shipyard.serving._slot import Active

__all__ = ["Call", "fair_id", "header"]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value (the first), or None. Starlette's headers are scanned as the raw
    pairs they hold, as their ``get`` does but without raising and catching a KeyError for
    every absent header (the request id is absent from most requests)."""
    raw = getattr(headers, "raw", None)
    if raw is None:
        return headers.get(name)
    key = name.lower().encode("latin-1")
    for found, value in raw:
        if found == key:
            return str(value.decode("latin-1"))
    return None


def fair_id(request_id: str) -> bool:
    """A request id a client may give: 1 to 128 printable characters, as the body's ``id``,
    that an ``X-Request-ID`` header can carry (Latin-1: a body's id beyond it would fail the
    answer's headers; the server names such a request itself)."""
    return (
        0 < len(request_id) <= 128
        and request_id.isprintable()
        and all(ord(c) < 256 for c in request_id)
    )


@dataclass
class Call:
    """One prediction request as it goes through the service."""

    endpoint: str
    request_id: str
    started: float
    headers: Mapping[str, str]
    route: str | None = None
    active: Active | None = None
    router: Router | None = None
    raw: dict[str, Any] | None = None
    record: dict[str, Any] | None = None  # a one-record body that took the fast path
    columns: Mapping[str, np.ndarray] | None = None
    labels: Any = None
    proba: Any = None
    model_seconds: float = 0.0  # the model call that answered it
    explain: bool = False  # add the answer's explanation (/explain, ?explain=true)
