"""Signing in to the web UI: the ``/login`` page, where a person pastes a token, and
``POST``/``DELETE /api/session``, which keep it in (and take it out of) the HttpOnly,
SameSite=Strict cookie ``shipyard_token`` (Secure over https). Scripts send the token as
``Authorization: Bearer`` instead; both are read by ``server._access``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shipyard.server._access import COOKIE, PUBLIC, Caller, caller_of
from shipyard.server._ui import render
from shipyard.server._users import Me
from shipyard.serving._openapi import CHANGES, errors

__all__ = ["pages", "router", "safe_next"]

router = APIRouter(tags=["session"])
pages = APIRouter(include_in_schema=False)
MAX_AGE = 30 * 86400  # seconds the browser keeps the cookie (the token may expire sooner)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this server, never another site's address
    (``//evil.example``, ``https://...``, ``/\\evil``); ``/`` otherwise."""
    if (
        not value
        or len(value) > 2000
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ord(c) < 32 or c in "\\" for c in value)
    ):
        return "/"
    return value


@router.post(
    "/session", response_model=Me, dependencies=[PUBLIC],
    responses=errors(*CHANGES, 401, 422),
)  # fmt: skip
def sign_in(
    request: Request,
    response: Response,
    token: Annotated[str, Body(embed=True, min_length=1, max_length=200)],
) -> Me:
    """Sign in: the token is checked and kept in the ``shipyard_token`` cookie (HttpOnly,
    SameSite=Strict). 401 for a token the server refuses."""
    authenticate: Callable[[str], Caller] | None = getattr(request.app.state, "authenticate", None)
    if authenticate is None:  # auth is off: everyone acts as admin, nothing to keep
        return Me(name=None, role="admin")
    caller = authenticate(token.strip())
    response.set_cookie(
        COOKIE, token.strip(), max_age=MAX_AGE, path="/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return Me(name=caller.name, role=caller.role)  # type: ignore[arg-type]


@router.delete(
    "/session", status_code=204, response_class=Response, dependencies=[PUBLIC],
    responses=errors(*CHANGES),
)  # fmt: skip
def sign_out() -> Response:
    """Sign out: the cookie is removed (the token itself stays valid until revoked)."""
    answer = Response(status_code=204)
    answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return answer


@pages.get("/login", dependencies=[PUBLIC], response_model=None)
def login(
    request: Request,
    next: Annotated[str | None, Query(max_length=2000)] = None,
    signout: bool = False,
) -> HTMLResponse | RedirectResponse:
    """The sign-in page (straight on to ``next`` when auth is off)."""
    target = safe_next(next)
    if getattr(request.app.state, "authenticate", None) is None:
        return RedirectResponse(target, status_code=303)
    caller = caller_of(request) if getattr(request.state, "caller", None) else None
    return render(request, "login.html", next=target, caller=caller, signout=signout, refused=None)
