"""Explanations on the model server: ``POST /explain`` and ``POST /predict?explain=true``.

A prediction request asks for its explanation with the ``/explain`` endpoint (the same body
forms as ``/predict``) or ``?explain=true``; the answer is the prediction's with an
``explanation`` object: the method, the output explained, the base value and each row's
per-feature contributions (``shipyard.governance.explain``'s, for the version the request
was routed to). A version served in its ONNX form is explained with its native form, loaded
once per version beside it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput, InvalidRequest, PayloadTooLarge

__all__ = ["AGNOSTIC_FEATURES", "AGNOSTIC_ROWS", "MAX_ROWS", "explanation_of", "wants_explanation"]

MAX_ROWS = 1000
"""The most rows one request may have explained (413 beyond): exact tree and linear methods."""
AGNOSTIC_ROWS = 10
"""The most rows a model-agnostic method explains per request (each row costs thousands of
model calls over the background rows): 413 beyond."""
AGNOSTIC_FEATURES = 64
"""The most input features a model may have for the model-agnostic method here (its
coalition samples times background rows times features are held in memory at once)."""
_AGNOSTIC = ("exact", "kernel")

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})
_lock = threading.Lock()
_native: dict[str, Any] = {}  # version id -> its native LoadedModel


def wants_explanation(query: Mapping[str, str], endpoint: str) -> bool:
    """Whether the request asks for explanations (``/explain``, or ``?explain=true``)."""
    if endpoint == "explain":
        return True
    value = query.get("explain")
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise InvalidRequest(f"explain: expected true or false, got {value[:40]!r}.")


def explanation_of(model: Any, columns: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The JSON explanation of validated ``columns`` for the served ``model`` (a version
    served in its ONNX form is explained with its native form, loaded once)."""
    from shipyard.governance import explain
    from shipyard.governance._explain import explainer_for

    rows = len(next(iter(columns.values()), ()))
    _bounded(rows, MAX_ROWS, "")
    key = model.version.id
    with _lock:
        native = _native.get(key, model if model.format == "native" else None)
    if native is None:
        from shipyard.models import load

        native = load(model.version.ref, format="native", check_environment=False)
        with _lock:
            _native[key] = native
    explainer = explainer_for(native)
    if explainer.method in _AGNOSTIC:
        if len(explainer.features) > AGNOSTIC_FEATURES:
            raise InvalidInput(
                f"explain: {model.version.ref} has {len(explainer.features)} input features; "
                f"the model-agnostic method explains at most {AGNOSTIC_FEATURES} here "
                "(explain it in process with sy.explain)."
            )
        _bounded(rows, AGNOSTIC_ROWS, " by the model-agnostic method")
    out = explain(native, dict(columns)).to_dict()
    del out["model"]
    return out


def _bounded(rows: int, most: int, how: str) -> None:
    if rows > most:
        raise PayloadTooLarge(
            f"rows: at most {most:,} rows are explained per request{how}, got {rows:,}; "
            "send fewer (or /predict without explain)."
        )
