"""Who may call a route: the roles, and the dependency every route declares.

Roles are ranked: ``viewer`` reads, ``editor`` also changes things (logs runs, registers
datasets and models, moves aliases, promotes, acknowledges alerts, triggers pipelines),
``admin`` also manages users, tokens and API keys. Every route of the platform server
declares the least role it needs with one of :data:`VIEWER`, :data:`EDITOR`, :data:`ADMIN`
in its ``dependencies`` (:data:`PUBLIC` for the few open to anyone: health, sign-in, static
files); ``tests/server/test_access.py`` walks the app's routes and tries
each with no token, with every role, and with the right one.

How a token becomes a caller is the app's business (``request.app.state.authenticate``,
set by ``create_app``): None means auth is off (a loopback server by default), and every
request acts as the local user with every right.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Depends, Request
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.errors import Forbidden, ShipyardError, Unauthorized
from shipyard.serving._http import error_answer, json_response

__all__ = [
    "ADMIN",
    "COOKIE",
    "EDITOR",
    "PUBLIC",
    "ROLES",
    "VIEWER",
    "Admission",
    "Caller",
    "SignInRequired",
    "caller_of",
    "presented_token",
    "require",
    "role_of",
    "wants_page",
]

ROLES = ("viewer", "editor", "admin")
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})  # methods whose requests carry no body
COOKIE = "shipyard_token"  # the web UI's sign-in keeps the token in this HttpOnly cookie


@dataclass(frozen=True)
class Caller:
    """Who is calling: a user's name and role (``None`` name when auth is off)."""

    name: str | None
    role: str

    @property
    def actor(self) -> str | None:
        """What records name as who acted: ``user:NAME``, or None without auth (the SDK then
        records the local user)."""
        return f"user:{self.name}" if self.name else None


def presented_token(request: Request) -> str | None:
    """The token a request carries: ``Authorization: Bearer``, else the UI's cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


class SignInRequired(Unauthorized):
    """A web page asked without a valid token: answered with a redirect to ``/login``."""


def wants_page(request: Request) -> bool:
    """Whether a person's browser asks for a page (not a script asking the API)."""
    path = request.url.path
    return not (path == "/api" or path.startswith("/api/")) and "text/html" in (
        request.headers.get("accept", "")
    )


def require(role: str) -> Callable[[Request], Caller]:
    """A dependency that lets ``role`` or higher through and records the caller on
    ``request.state.caller`` (401 without a valid token, 403 with too low a role)."""
    if role not in ROLES:
        raise ValueError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")

    def check(request: Request) -> Caller:
        caller = _admit(request, role)
        request.state.caller = caller
        return caller

    check.role = role  # type: ignore[attr-defined]  # read by the access test
    return check


def _admit(request: Request, role: str) -> Caller:
    """The caller of ``request`` if its token is valid and its role ``role`` or higher
    (every right when auth is off); Unauthorized (SignInRequired for a page) or Forbidden."""
    authenticate: Callable[[str], Caller] | None = getattr(request.app.state, "authenticate", None)
    if authenticate is None:
        return Caller(None, "admin")
    token = presented_token(request)
    try:
        if token is None:
            raise Unauthorized("token: this server wants one (Authorization: Bearer <token>).")
        caller = authenticate(token)  # Unauthorized: unknown, revoked, expired
    except Unauthorized as exc:
        if wants_page(request):
            raise SignInRequired(str(exc)) from None
        raise
    if ROLES.index(caller.role) < ROLES.index(role):
        raise Forbidden(f"role: this needs {role} or higher; {caller.name} is {caller.role}.")
    return caller


class Admission:
    """ASGI middleware: a request that may carry a body (any method but GET, HEAD, OPTIONS)
    is checked against the role its route declares before anything reads that body.
    FastAPI reads and parses a route's whole body, on the event loop, before the route's
    dependencies run: without this, anyone could make a server with auth parse a body of up
    to the body limit (seconds for 64 MB, every other request stalled) before being
    refused. The route's own dependency checks again (the verdict is cached)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        self._roles: list[tuple[Any, str | None]] | None = None  # each route, its role

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if getattr(request.app.state, "authenticate", None) is not None:  # auth is on
            role = self._role(scope)
            try:
                if role is not None:
                    await anyio.to_thread.run_sync(_admit, request, role)
            except ShipyardError as exc:
                status, body, headers = error_answer(exc)
                await json_response(status, body, headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _role(self, scope: Scope) -> str | None:
        """The role of the route the request goes to (None: no route, or a public one)."""
        if self._roles is None:  # the app's routes, as its router tries them
            self._roles = [
                (route, next((r for r in _declared(route) if r in ROLES), None))
                for route in iter_route_contexts(self.routes)
            ]
        for route, role in self._roles:
            if route.matches(scope)[0] is Match.FULL:
                return role
        return None


def _declared(route: Any) -> list[str | None]:
    """The roles a route's dependencies declare."""
    return [role_of(d.call) for d in getattr(getattr(route, "dependant", None), "dependencies", ())]


def _public(request: Request) -> None:
    """Anyone may call the route (health, sign-in, static files); records the caller when
    a valid token came along, for pages that show who is signed in."""
    authenticate: Callable[[str], Caller] | None = getattr(request.app.state, "authenticate", None)
    token = presented_token(request)
    if authenticate is not None and token is not None:
        with contextlib.suppress(Unauthorized):
            request.state.caller = authenticate(token)


_public.role = "public"  # type: ignore[attr-defined]


def role_of(dependency: object) -> str | None:
    """The role a dependency declares (``public`` for :data:`PUBLIC`), else None."""
    return getattr(dependency, "role", None)


def caller_of(request: Request) -> Caller:
    """The caller a route's role dependency recorded."""
    found: Any = getattr(request.state, "caller", None)
    return found if isinstance(found, Caller) else Caller(None, "admin")


VIEWER = Depends(require("viewer"))
EDITOR = Depends(require("editor"))
ADMIN = Depends(require("admin"))
PUBLIC = Depends(_public)
