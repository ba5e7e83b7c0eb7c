"""The FastAPI application: routers, errors as JSON, optional API keys.

Errors keep the SDK's meaning: every :class:`~shipyard.errors.ShipyardError` is answered
with its ``http_status`` (bad input 422, unknown names 404, a state that forbids the change
409, ...) as ``{"error": message}`` with the SDK's message, by the handler the inference
server uses too; unknown paths (404), methods (405) and invalid parameters (422) answer in
the same shape. With ``auth``, every endpoint but ``/api/health`` wants an API key
(``shipyard keys create``; ``Authorization: Bearer`` or ``X-API-Key``), checked as the
inference server checks it: reading needs any live key, changing something the ``admin``
scope.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request

from shipyard._time import TIME_FORMAT, iso_times
from shipyard._version import __version__
from shipyard.errors import InvalidInput
from shipyard.serving import ApiKey, Keyring
from shipyard.serving._auth import check_key, default_keys
from shipyard.serving._guard import Guard, exposure
from shipyard.serving._http import JSON, install_error_handlers
from shipyard.serving._openapi import ANY_ROUTE, errors

__all__ = ["JSON", "TimesJSON", "create_app", "run"]

DESCRIPTION = (
    "Shipyard's deployments, monitors, alerts and pipelines. Every time in an answer "
    f"(`created_at`, `at`, `opened_at`...) is a string: {TIME_FORMAT}. Errors answer "
    '`{"error": message}` with the status of their kind.'
)


class TimesJSON(JSON):
    """The platform API's answers: orjson, with times as ISO 8601 in UTC (``shipyard._time``:
    the SDK's epoch seconds, converted by field name as the CLI's ``--json`` does)."""

    def render(self, content: Any) -> bytes:
        return super().render(iso_times(content))


def create_app(
    *, auth: bool = False, allow_hosts: Sequence[str] = (), allow_origins: Sequence[str] = ()
) -> FastAPI:
    """The platform API. ``auth``: require API keys (see the module docstring).
    ``allow_hosts``/``allow_origins``: ``Host`` names and cross-origin origins
    accepted beyond the server's own (``serving._guard``: a wrong Host is 400, a change
    from another origin 403, a form or text body 415)."""
    from shipyard.server._deployments import router as deployments
    from shipyard.server._monitoring import router as monitoring
    from shipyard.server._pipelines import router as pipelines
    from shipyard.server._tracking import router as tracking
    from shipyard.server._ui import router as ui

    # read again on every request: a revoked key stops, a new one works, at once (the
    # platform API sees people, not inference traffic; one small query is cheap)
    keyring = Keyring(default_keys(), ttl=0.0) if auth else None

    def caller(request: Request) -> ApiKey | None:
        """The key of the request (None without auth); refuses a missing or unknown one,
        and a change asked with a key lacking the ``admin`` scope."""
        if keyring is None:
            return None
        scope = None if request.method in ("GET", "HEAD") else "admin"
        found = check_key(keyring, request.headers, scope)
        request.state.api_key = found
        return found

    app = FastAPI(
        title="Shipyard platform API",
        description=DESCRIPTION,
        version=__version__,
        default_response_class=TimesJSON,
        openapi_url=None if auth else "/openapi.json",  # with auth, only health is open
        docs_url=None if auth else "/docs",
        redoc_url=None,
    )
    for router in (deployments, monitoring, pipelines, tracking):
        app.include_router(router, prefix="/api", dependencies=[Depends(caller), Depends(_json)])

    app.include_router(ui)  # the web UI's frame (static files); pages: server/_ui_*.py

    @app.get("/api/health", tags=["health"], responses=errors(*ANY_ROUTE))
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.state.auth = auth  # what ``serving.background`` checks before binding
    install_error_handlers(app)
    app.add_middleware(Guard, hosts=allow_hosts, origins=allow_origins)
    return app


async def _json(request: Request) -> None:
    """A request body must be a JSON object: a form or text body would otherwise be
    ignored, and a list or a bare value read as every field missing."""
    if request.method in ("GET", "HEAD") or not await request.body():
        return
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise InvalidInput(
            f"body: send JSON with 'Content-Type: application/json' (got {kind or 'none'!r})."
        )
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return  # FastAPI answers a malformed body itself (422, naming where)
    if not isinstance(body, dict):
        raise InvalidInput(f"body: send a JSON object (got {type(body).__name__}).")


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    auth: bool = False,
    insecure: bool = False,
    allow_hosts: Sequence[str] = (),
    allow_origins: Sequence[str] = (),
) -> None:
    """Serve the platform API until interrupted. Without ``auth`` it refuses an address
    other than loopback unless ``insecure`` (InvalidInput, before binding), and warns."""
    import uvicorn

    warning = exposure(host, auth=auth, insecure=insecure)
    app = create_app(auth=auth, allow_hosts=(host, *allow_hosts), allow_origins=allow_origins)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
