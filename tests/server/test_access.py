"""Every route of the platform server declares who may call it, and answers by it.

Walks every route of ``create_app(auth=True)`` (the API and the web UI's pages) and, on a
real server over a store with one user of each role, tries each with no token (401, or a
redirect to the sign-in page for a page), with every role below the declared one (403)
and with the declared one (neither). A route without a role dependency fails here; the
few open to anyone (health, sign-in, static files) are named below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts

from shipyard import server, serving
from shipyard.config import reset_settings
from shipyard.server import create_app
from shipyard.server._access import ROLES, VIEWER, role_of

# open to anyone: health, signing in and out, the sign-in page, static files
PUBLIC = {
    ("GET", "/api/health"),
    ("POST", "/api/session"),
    ("DELETE", "/api/session"),
    ("GET", "/login"),
    ("GET", "/static/{name}"),
}
# path parameters naming nothing: a route answers 404 or 422 past the role check
SAMPLES = {"alert_id": "999999", "prefix": "00000000", "version": "1"}


def declared(app: FastAPI) -> list[tuple[str, str, str | None, bool]]:
    """(method, path, role, is_page) of every route: the role its dependencies declare
    (None when none does), a page when it is not part of the API's schema nor under /api."""
    found = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        roles = [r for r in (role_of(d.call) for d in dependant.dependencies) if r]
        page = not route.path.startswith("/api") and not route.include_in_schema
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path, roles[0] if len(roles) == 1 else None, page))
    return found


def undeclared(app: FastAPI) -> list[str]:
    """Routes without exactly one role (or a public one not in PUBLIC)."""
    return [
        f"{method} {path}"
        for method, path, role, _ in declared(app)
        if role is None or (role == "public" and (method, path) not in PUBLIC)
    ]


ROUTES = [r for r in declared(create_app()) if r[2] != "public"]


def test_every_route_declares_one_role() -> None:
    assert undeclared(create_app(auth=True)) == []
    assert {(m, p) for m, p, role, _ in declared(create_app()) if role == "public"} == PUBLIC
    assert len(ROUTES) >= 30


def test_a_route_without_a_role_is_caught() -> None:
    app = create_app()
    extra = APIRouter()
    extra.add_api_route("/api/forgotten", lambda: {}, methods=["GET"])
    extra.add_api_route("/api/fine", lambda: {}, methods=["GET"], dependencies=[VIEWER])
    app.include_router(extra)
    assert undeclared(app) == ["GET /api/forgotten"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real server with auth over a store with one user (and token) of each role."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(tmp_path_factory.mktemp("access-home")))
        for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG", "SHIPYARD_URL"):
            patch.delenv(var, raising=False)
        reset_settings()
        tokens = {}
        for role in ROLES:
            server.create_user(f"the-{role}", role)
            tokens[role] = server.create_token(f"the-{role}")
        with serving.background(create_app(auth=True)) as url:
            yield {"url": url, "tokens": tokens}
    reset_settings()


def _call(
    client: httpx.Client, method: str, path: str, page: bool, token: str | None
) -> httpx.Response:
    filled = re.sub(
        r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLES.get(m.group(1), "nosuch"), path
    )  # fmt: skip
    headers = {"accept": "text/html" if page else "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, filled, headers=headers, json=body)


@pytest.mark.parametrize(
    ("method", "path", "role", "page"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES]
)
def test_each_route_wants_its_role(
    site: dict[str, Any], method: str, path: str, role: str, page: bool
) -> None:
    with httpx.Client(base_url=site["url"], timeout=60) as client:
        anonymous = _call(client, method, path, page, None)
        if page:
            assert anonymous.status_code == 303, anonymous.text[:200]
            assert anonymous.headers["location"].startswith("/login?next=%2F")
        else:
            assert anonymous.status_code == 401, anonymous.text[:200]
            assert "token" in anonymous.json()["error"]
        forged = _call(client, method, path, page, "syt_00000000_" + "x" * 43)
        assert forged.status_code == (303 if page else 401)
        for lower in ROLES[: ROLES.index(role)]:
            refused = _call(client, method, path, page, site["tokens"][lower])
            assert refused.status_code == 403, (lower, refused.text[:200])
            assert role in refused.json()["error"]
        allowed = _call(client, method, path, page, site["tokens"][role])
        assert allowed.status_code not in (401, 403), allowed.text[:200]
        assert allowed.status_code < 500, allowed.text[:200]
