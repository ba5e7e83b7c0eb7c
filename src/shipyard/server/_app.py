"""The FastAPI application: routers, errors as JSON, optional API keys.

Errors keep the SDK's meaning: bad input 422, unknown names 404, a state that forbids the
change 409, each ``{"error": message}`` with the SDK's message. With ``auth``, every endpoint
but ``/api/health`` wants an API key (``shipyard keys create``; ``Authorization: Bearer`` or
``X-API-Key``): reading needs any live key, changing something the ``admin`` scope.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard._version import __version__
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.serving import ApiKey, Keyring

__all__ = ["JSON", "create_app", "run"]


class JSON(JSONResponse):
    """orjson: NaN and infinities become null, numpy values are written as numbers."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(*, auth: bool = False) -> FastAPI:
    """The platform API. ``auth``: require API keys (see the module docstring)."""
    from shipyard.server._monitoring import router as monitoring

    # read again on every request: a revoked key stops, a new one works, at once (the
    # platform API sees people, not inference traffic; one small query is cheap)
    keyring = Keyring(ttl=0.0) if auth else None

    def caller(request: Request) -> ApiKey | None:
        """The key of the request (None without auth); refuses a missing or unknown one."""
        if keyring is None:
            return None
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header[:7].lower() == "bearer " else None
        key = key or request.headers.get("x-api-key")
        if not key:
            raise Refused(401, "An API key is required: 'Authorization: Bearer <key>'.")
        found = keyring.find(key)
        if found is None:
            raise Refused(401, "Unknown or revoked API key.")
        if request.method not in ("GET", "HEAD") and "admin" not in found.scopes:
            raise Refused(
                403, f"Key {found.name!r} lacks the 'admin' scope this change needs "
                f"(it has {', '.join(found.scopes)}).",
            )  # fmt: skip
        request.state.api_key = found
        return found

    app = FastAPI(
        title="Shipyard platform API",
        version=__version__,
        default_response_class=JSON,
        openapi_url=None if auth else "/openapi.json",  # with auth, only health is open
        docs_url=None if auth else "/docs",
        redoc_url=None,
    )
    app.include_router(monitoring, prefix="/api", dependencies=[Depends(caller), Depends(_json)])

    @app.get("/api/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    for kind in (*_STATUS, Refused):
        app.add_exception_handler(kind, _error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)  # unknown paths, methods

    return app


_STATUS = {InvalidInput: 422, NotFound: 404, Conflict: 409}


def _error(_request: Request, exc: Exception) -> Response:
    """An SDK error (or a refused key) as ``{"error": message}`` with its status."""
    if isinstance(exc, Refused):
        status = exc.status
    else:
        status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    return JSON({"error": str(exc)}, status_code=status, headers=headers)


async def _json(request: Request) -> None:
    """A request body must be JSON: a form or text body would otherwise be ignored."""
    if request.method in ("GET", "HEAD") or not await request.body():
        return
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise InvalidInput(
            f"body: send JSON with 'Content-Type: application/json' (got {kind or 'none'!r})."
        )


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
    return JSON({"error": "; ".join(parts) + "."}, status_code=422)


def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return JSON({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


def run(host: str = "127.0.0.1", port: int = 8000, *, auth: bool = False) -> None:
    """Serve the platform API until interrupted."""
    import uvicorn

    uvicorn.run(create_app(auth=auth), host=host, port=port, log_level="warning")
