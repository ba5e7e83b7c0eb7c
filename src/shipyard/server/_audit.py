"""The audit log over HTTP (admin role): entries newest first, paged by ``seq``, and the
verdict of a verification of the whole chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from shipyard._time import iso
from shipyard.governance import AuditEntry, audit_log, verify_audit
from shipyard.server._access import ADMIN, caller_of
from shipyard.server._paging import PageSize, PageToken, decode, encode
from shipyard.serving._http import json_response
from shipyard.serving._openapi import ANY_ROUTE, KEYED, errors
from shipyard.store import acting

__all__ = ["Acting", "entry_json", "router"]

_READ = errors(*ANY_ROUTE, *KEYED, 422)

router = APIRouter(tags=["audit"])


class EntryOut(BaseModel):
    seq: int
    at: str
    actor: str | None
    origin: str | None
    action: str
    kind: str
    name: str
    version: int | None
    before: Any
    after: Any
    reason: str | None
    prev: str
    hash: str


class AuditPage(BaseModel):
    items: list[EntryOut]
    next_page_token: str | None = None


class BreakOut(BaseModel):
    seq: int
    kind: str
    message: str


class ReportOut(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken: BreakOut | None
    seconds: float
    anchor: str | None


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """One entry as the API answers it: its time ISO 8601, ``before``/``after`` as recorded."""
    return {**entry.to_dict(), "at": iso(entry.at)}


Text32 = Annotated[str | None, Query(min_length=1, max_length=32, description="Only this kind.")]
Name = Annotated[str | None, Query(min_length=1, max_length=256, description="Only this name.")]
Number = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this version.")]
Actor = Annotated[str | None, Query(min_length=1, max_length=128, description="Only this actor.")]
After = Annotated[
    int | None,
    Query(ge=1, le=2**63 - 1, description="Continue below this seq (the last one seen)."),
]


@router.get("/audit", dependencies=[ADMIN], responses=_READ, response_model=AuditPage)
def list_audit(
    kind: Text32 = None,
    name: Name = None,
    version: Number = None,
    actor: Actor = None,
    after: After = None,
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> Response:
    """Audit entries, newest first, filtered by kind, name, version and actor."""
    query: dict[str, Any] = {"kind": kind, "name": name, "version": version, "actor": actor}
    if page_token:
        after = decode(page_token, query) or None
    found = audit_log(**query, limit=page_size + 1, after=after)
    items = found[:page_size]
    more = len(found) > page_size and items
    token = encode(items[-1].seq, query) if more else None
    return json_response(200, {"items": [entry_json(e) for e in items], "next_page_token": token})


@router.get("/audit/verify", dependencies=[ADMIN], responses=_READ, response_model=ReportOut)
def verify(
    head: Annotated[
        str | None,
        Query(max_length=64, description="A head hash kept elsewhere: the chain must hold it."),
    ] = None,
) -> Response:
    """Verify the whole chain: the first broken entry and how it broke, or intact."""
    return json_response(200, verify_audit(head).to_dict())


class Acting:
    """ASGI middleware: every audit entry a request appends names the signed-in caller (the
    one its route's role check recorded; the server's user with auth off) and ``http
    <client address>`` as where it came from."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        request = Request(scope)
        request.state  # noqa: B018  # made now, in the scope every route's Request shares
        origin = f"http {client[0] if client else 'unknown'}"
        with acting(lambda: caller_of(request).actor, origin):
            await self.app(scope, receive, send)
