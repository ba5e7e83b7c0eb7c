"""What both HTTP apps (the inference server and the platform API) answer errors with.

One rule: a :class:`~shipyard.errors.ShipyardError` is answered with its ``http_status``
and ``http_headers`` as ``{"error": message}``; so are FastAPI's own answers (an unknown
path 404, a wrong method 405) and its request validation errors (422, one message naming
each field), and a bug of ours (500, the traceback in the server's log only).
:func:`install_error_handlers` puts those handlers on an app; a 405 names every method of
the path in ``Allow``. :class:`HeadAsGet` answers HEAD wherever GET is declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard.errors import ShipyardError

__all__ = [
    "JSON",
    "HeadAsGet",
    "allowed_methods",
    "dumps",
    "error_answer",
    "http_error",
    "install_error_handlers",
    "json_response",
]


def dumps(content: Any) -> bytes:
    """orjson: NaN and infinities become null, numpy values are written as numbers, and an
    integer beyond 64 bits (a client's JSON may hold one, Python's parser keeps it) as the
    float orjson itself reads it as, rather than failing the answer."""
    try:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
        return orjson.dumps(_fit(content), option=orjson.OPT_SERIALIZE_NUMPY)


def _fit(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _fit(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_fit(v) for v in data]
    if isinstance(data, int) and not isinstance(data, bool) and not -(2**63) <= data < 2**64:
        return float(data)
    return data


class JSON(JSONResponse):
    """orjson: NaN and infinities become null, numpy values are written as numbers."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """``payload`` as an orjson answer (numpy values written as numbers)."""
    return Response(
        dumps(payload),
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


def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (404 unknown path, 405 method) in the same shape; a 405's
    ``Allow`` names every method of the path (the router names one route's only)."""
    assert isinstance(exc, StarletteHTTPException)
    headers, message = exc.headers, str(exc.detail)
    if message == "There was an error parsing the body":  # FastAPI's, for bytes not UTF-8
        message = "body: not valid JSON (it is not UTF-8 text)."
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return json_response(exc.status_code, {"error": message}, headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods the app's routes answer at the request's path (and HEAD wherever GET is,
    on an app that :class:`HeadAsGet` serves)."""
    path = request.scope.get("path", "")
    found: dict[int, set[str]] = {}  # by how many parameters the route's path has
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            found.setdefault((route.path or "").count("{"), set()).update(route.methods)
    # the resource is the most specific path matching: POST /api/datasets/query, not a
    # dataset called "query" (the path the OpenAPI description names)
    methods = found[min(found)] if found else set()
    if "GET" in methods and getattr(request.app.state, "head_as_get", False):
        methods.add("HEAD")
    return sorted(methods)


def _internal(_request: Request, exc: Exception) -> Response:
    """A bug of ours, in the same shape (the traceback goes to the server's log)."""
    return json_response(500, {"error": "Internal server error: see the server's log."})


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


class HeadAsGet:
    """ASGI middleware: HEAD on a path that only declares GET is answered as GET is, without
    the body (RFC 9110: a server answering GET answers HEAD). Routes that declare HEAD
    themselves get it as sent. ``app`` is the FastAPI app whose routes are looked at."""

    def __init__(self, inner: Any, app: FastAPI) -> None:
        self.inner, self.app = inner, app
        app.state.head_as_get = True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or self._declared(scope):
            await self.inner(scope, receive, send)
            return

        async def headers_only(message: Any) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.inner({**scope, "method": "GET"}, receive, headers_only)

    def _declared(self, scope: Any) -> bool:
        path = scope.get("path", "")
        return any(
            "HEAD" in (route.methods or ())
            and (regex := getattr(route, "path_regex", None)) is not None
            and regex.match(path)
            for route in iter_route_contexts(self.app.routes)
        )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every ShipyardError, unknown path or method and invalid request as JSON."""
    app.add_exception_handler(ShipyardError, _shipyard_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _internal)
