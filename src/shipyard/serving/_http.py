"""What both HTTP apps (the inference server and the platform API) answer errors with.

One rule: a :class:`~shipyard.errors.ShipyardError` is answered with its ``http_status``
and ``http_headers`` as ``{"error": message}``; so are FastAPI's own answers (an unknown
path 404, a wrong method 405) and its request validation errors (422, one message naming
each field). :func:`install_error_handlers` puts that one handler on an app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard.errors import ShipyardError

__all__ = ["JSON", "error_answer", "install_error_handlers", "json_response"]


class JSON(JSONResponse):
    """orjson: NaN and infinities become null, numpy values are written as numbers."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """``payload`` as an orjson answer (numpy values written as numbers)."""
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_answer(exc: ShipyardError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, body and headers that answer ``exc``: the one mapping of both apps."""
    return exc.http_status, {"error": str(exc)}, exc.http_headers


def _shipyard_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShipyardError)
    status, payload, headers = error_answer(exc)
    return json_response(status, payload, headers or None)


def _http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own answers (404 unknown path, 405 method) in the same shape."""
    assert isinstance(exc, StarletteHTTPException)
    return json_response(exc.status_code, {"error": str(exc.detail)}, exc.headers)


def _invalid(_request: Request, exc: Exception) -> Response:
    """FastAPI's validation errors as one message naming each field and what it expects."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    for problem in exc.errors():
        if problem["type"] == "json_invalid":
            parts.append(f"body: not valid JSON ({problem.get('ctx', {}).get('error', '')})")
            continue
        where = ".".join(str(p) for p in problem["loc"] if p not in ("query", "path", "body"))
        parts.append(f"{where or 'body'}: {problem['msg']}")
    return json_response(422, {"error": "; ".join(parts) + "."})


def install_error_handlers(app: FastAPI) -> None:
    """Answer every ShipyardError, unknown path or method and invalid request as JSON."""
    app.add_exception_handler(ShipyardError, _shipyard_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
