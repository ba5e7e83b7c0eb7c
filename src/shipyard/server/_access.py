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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from shipyard.errors import Forbidden, Unauthorized

__all__ = [
    "ADMIN",
    "COOKIE",
    "EDITOR",
    "PUBLIC",
    "ROLES",
    "VIEWER",
    "Caller",
    "SignInRequired",
    "caller_of",
    "presented_token",
    "require",
    "role_of",
    "wants_page",
]

ROLES = ("viewer", "editor", "admin")
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
    rank = ROLES.index(role)

    def check(request: Request) -> Caller:
        authenticate: Callable[[str], Caller] | None = getattr(
            request.app.state, "authenticate", None
        )
        if authenticate is None:
            caller = Caller(None, "admin")
        else:
            token = presented_token(request)
            try:
                if token is None:
                    raise Unauthorized(
                        "token: this server wants one (Authorization: Bearer <token>)."
                    )
                caller = authenticate(token)  # Unauthorized: unknown, revoked, expired
            except Unauthorized as exc:
                if wants_page(request):
                    raise SignInRequired(str(exc)) from None
                raise
            if ROLES.index(caller.role) < rank:
                raise Forbidden(
                    f"role: this needs {role} or higher; {caller.name} is {caller.role}."
                )
        request.state.caller = caller
        return caller

    check.role = role  # type: ignore[attr-defined]  # read by the access test
    return check


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
