"""The FastAPI application: the web UI at ``/``, the REST API at ``/api``, users and tokens.

Errors keep the SDK's meaning: every :class:`~shipyard.errors.ShipyardError` is answered
with its ``http_status`` (bad input 422, unknown names 404, a state that forbids the change
409, ...) as ``{"error": message}`` with the SDK's message, by the handler the inference
server uses too; unknown paths (404), methods (405) and invalid parameters (422) answer in
the same shape. With ``auth``, every route but health, sign-in and static files wants a
user's token (``Authorization: Bearer``, or the web UI's cookie) whose role is the one the
route declares (``server._access``); a page asked without one redirects to ``/login``.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard._time import TIME_FORMAT, iso_times
from shipyard._version import __version__
from shipyard.errors import InvalidInput, NotFound
from shipyard.server._access import (
    COOKIE,
    PUBLIC,
    VIEWER,
    Admission,
    SignInRequired,
    role_of,
)
from shipyard.serving._guard import is_loopback
from shipyard.serving._http import (
    JSON,
    HeadAsGet,
    http_error,
    install_error_handlers,
    json_response,
)
from shipyard.serving._openapi import ANY_ROUTE, errors

__all__ = ["JSON", "TimesJSON", "check_exposure", "create_app", "run"]

DESCRIPTION = (
    "Shipyard's runs, datasets, models, deployments, monitors, alerts and pipelines. Every "
    f"time in an answer (`created_at`, `at`, `opened_at`...) is a string: {TIME_FORMAT}. "
    'Errors answer `{"error": message}` with the status of their kind. With auth on, send a '
    "user's token: `Authorization: Bearer syt_...`."
)


_OBJECT = re.compile(rb"[ \t\r\n]*\{")  # how a JSON object starts
_PARSED_TWICE = 1 << 20  # bytes of a body checked here as well as parsed by its route
MAX_BODY = 64 << 20  # bytes of one request body (a metric batch of ~1M points fits)


class TimesJSON(JSON):
    """The platform API's answers: orjson, with times as ISO 8601 in UTC (``shipyard._time``:
    the SDK's epoch seconds, converted by field name as the CLI's ``--json`` does)."""

    def render(self, content: Any) -> bytes:
        return super().render(iso_times(content))


def create_app(
    *, auth: bool = False, allow_hosts: Sequence[str] = (), allow_origins: Sequence[str] = ()
) -> FastAPI:
    """The platform server. ``auth``: require users' tokens (see the module docstring).
    ``allow_hosts``/``allow_origins``: ``Host`` names and cross-origin origins
    accepted beyond the server's own (``serving._guard``: a wrong Host is 400, a change
    from another origin 403, a form or text body 415)."""
    from shipyard.serving._guard import BodyLimit, Guard, NoFraming

    app = FastAPI(
        title="Shipyard platform API",
        description=DESCRIPTION,
        version=__version__,
        default_response_class=TimesJSON,
        openapi_url=None,  # served below, behind the viewer role like every page
        docs_url=None,  # /docs is a page of the UI (server/_ui_api.py), with no CDN script
        redoc_url=None,
    )
    _include(app)

    @app.get("/api/health", tags=["health"], dependencies=[PUBLIC], responses=errors(*ANY_ROUTE))
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    _describe(app, auth)
    app.state.auth = auth  # what ``serving.background`` checks before binding
    if auth:
        from shipyard.server._auth import Authenticator
        from shipyard.server._auth_store import SQLUserStore
        from shipyard.store import default_database

        app.state.authenticate = Authenticator(SQLUserStore(default_database()))
    install_error_handlers(app)
    app.add_exception_handler(StarletteHTTPException, _no_such_page)
    app.add_exception_handler(SignInRequired, _sign_in)
    from shipyard.server import _audit
    from shipyard.server._artifacts import is_upload_path

    app.add_middleware(HeadAsGet, app=app)  # innermost: HEAD reaches the GET route's checks
    # a body is read only once its route's role admitted the caller (inside the Guard)
    app.add_middleware(Admission, routes=app.routes)
    app.add_middleware(Guard, hosts=allow_hosts, origins=allow_origins, untyped=is_upload_path)
    # bodies are read before the role check: bounded for everyone (uploads bound their own)
    app.add_middleware(BodyLimit, max_body=MAX_BODY, exempt=is_upload_path)
    app.add_middleware(_audit.Acting)  # who and from where, for the audit log
    app.add_middleware(NoFraming)  # no page in another site's frame (clickjacking)
    return app


def _include(app: FastAPI) -> None:
    """The REST API's routers (one per capability) under ``/api``, and the web UI's pages."""
    from shipyard.server import (
        _artifacts,
        _audit,
        _datasets,
        _deployments,
        _evidence,
        _keys,
        _models,
        _monitoring,
        _pipelines,
        _policies,
        _signin,
        _tracking,
        _ui,
        _ui_api,
        _ui_audit,
        _ui_datasets,
        _ui_deployments,
        _ui_governance,
        _ui_home,
        _ui_models,
        _ui_monitors,
        _ui_pipelines,
        _ui_runs,
        _users,
    )

    for module in (
        _tracking,
        _datasets,
        _models,
        _evidence,
        _policies,
        _deployments,
        _monitoring,
        _pipelines,
        _users,
        _keys,
        _audit,
        _signin,
    ):
        app.include_router(module.router, prefix="/api", dependencies=[Depends(_json)])
    app.include_router(_artifacts.router, prefix="/api")  # no _json: bodies are raw chunks
    for pages in (
        _ui.router,  # the frame: static files, plotly.js
        _signin.pages,
        _ui_home.router,
        _ui_runs.router,
        _ui_datasets.router,
        _ui_models.router,
        _ui_governance.router,
        _ui_deployments.router,
        _ui_monitors.router,
        _ui_pipelines.router,
        _ui_audit.router,
        _ui_api.router,  # /docs
    ):
        app.include_router(pages)


def _describe(app: FastAPI, auth: bool) -> None:
    """``/openapi.json`` (viewer role; ``/docs`` draws it); with auth, the description names the
    bearer token every operation but the public ones wants."""

    plain = app.openapi

    def openapi() -> dict[str, Any]:
        schema = plain()  # cached by FastAPI; the bearer scheme added once more is cheap
        if auth:
            _secure(app, schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False, dependencies=[VIEWER])
    def openapi_json() -> Response:
        return json_response(200, openapi())


def _secure(app: FastAPI, schema: dict[str, Any]) -> None:
    """Declare the bearer scheme, and require it on every operation with a role."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A user's token (syt_...): `shipyard tokens create USER`.",
    }
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None or not getattr(route, "include_in_schema", False):
            continue
        roles = {role_of(d.call) for d in dependant.dependencies}
        if roles - {None, "public"}:
            for method in route.methods or ():
                operation = schema["paths"].get(route.path, {}).get(method.lower())
                if operation is not None:
                    operation["security"] = [{"bearer": []}]


def _no_such_page(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no route at a path, a method it does not take): a browser
    asking outside ``/api`` for a page that does not exist gets the UI's error page, every
    other client the API's ``{"error"}``."""
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    browser = "text/html" in request.headers.get("accept", "")
    if exc.status_code == 404 and browser and path != "/api" and not path.startswith("/api/"):
        from shipyard.server._ui import error_page

        return error_page(request, NotFound(f"There is no page at {path[:200]}."))
    return http_error(request, exc)


def _sign_in(request: Request, exc: Exception) -> Response:
    """A page asked without a valid token: to the sign-in page, back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    answer = RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
    if COOKIE in request.cookies:
        answer.delete_cookie(COOKIE, path="/")
    return answer


async def _json(request: Request) -> None:
    """A request body must be a JSON object, in strict JSON (no NaN or Infinity, UTF-8): a
    form or text body would otherwise be ignored, and a list or a bare value read as every
    field missing."""
    if request.method in ("GET", "HEAD") or not await request.body():
        return
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise InvalidInput(
            f"body: send JSON with 'Content-Type: application/json' (got {kind or 'none'!r})."
        )
    raw = await request.body()
    if len(raw) > _PARSED_TWICE and _OBJECT.match(raw):
        # a big object is parsed once, by its route (the metric batch's with orjson, off the
        # event loop): a second parse here of a 64 MB body held every request for seconds
        return
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # strict JSON (RFC 8259) here, where FastAPI's parser takes NaN and Infinity and
        # answers invalid UTF-8 with a vague 400
        raise InvalidInput(f"body: not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise InvalidInput(f"body: send a JSON object (got {type(body).__name__}).")


def check_exposure(host: str, *, auth: bool, insecure: bool) -> str | None:
    """The start-up rule: InvalidInput (before anything binds) for a server without auth
    on an address other than loopback unless ``insecure``; otherwise the one-line warning
    to print when auth is off (None with it)."""
    if auth:
        return None
    if not is_loopback(host) and not insecure:
        raise InvalidInput(
            f"Refusing to serve without auth on {host} (reachable from other machines): "
            "use --auth (users sign in with tokens: the default there), or --insecure to "
            "serve it open."
        )
    reach = "this machine" if is_loopback(host) else f"anyone who reaches {host}"
    return f"WARNING: auth is off (--no-auth): {reach} may call every endpoint without a token."


def bootstrap(url: str) -> str | None:
    """On the first start with auth and no users: user ``admin`` and the banner that shows
    its token, once (None afterwards: there are users)."""
    from shipyard.server._auth_store import SQLUserStore
    from shipyard.store import default_database

    token = SQLUserStore(default_database()).bootstrap()
    if token is None:
        return None
    return (
        "Created user 'admin' (role admin). Its token is shown this once; store it now:\n"
        f"  {token}\n"
        f"Sign in at {url}/login, or: export SHIPYARD_URL={url} SHIPYARD_TOKEN=<token>\n"
        "More users: shipyard users create NAME --role editor; shipyard tokens create NAME"
    )


def run(
    host: str = "127.0.0.1",
    port: int = 8700,
    *,
    auth: bool | None = None,
    insecure: bool = False,
    allow_hosts: Sequence[str] = (),
    allow_origins: Sequence[str] = (),
) -> None:
    """Serve the platform server until interrupted. ``auth`` defaults to on beyond
    loopback. Without it, an address other than loopback is refused unless ``insecure``
    (InvalidInput, before binding), with a warning. With it, the first start creates user
    ``admin`` and prints its token on stderr, once."""
    import uvicorn

    auth = not is_loopback(host) if auth is None else auth
    warning = check_exposure(host, auth=auth, insecure=insecure)
    app = create_app(auth=auth, allow_hosts=(host, *allow_hosts), allow_origins=allow_origins)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if auth:
        shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
        banner = bootstrap(f"http://{shown if ':' not in shown else f'[{shown}]'}:{port}")
        if banner:
            print(banner, file=sys.stderr, flush=True)
    from shipyard.server._ui import warm_static

    threading.Thread(target=warm_static, name="warm-static", daemon=True).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")
