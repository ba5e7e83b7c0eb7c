"""The audit page (admin): the log of every state change, newest first, filtered by kind,
name and actor, paged by ``seq``; on request, the verdict of a verification of the chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from shipyard.errors import ShipyardError
from shipyard.governance import audit_log, verify_audit
from shipyard.server._access import ADMIN
from shipyard.server._ui import error_page, pages, render

__all__ = ["router"]

router = pages()
PAGE = 100
Text = Annotated[str | None, Query(max_length=256)]


@router.get("/audit", dependencies=[ADMIN])
def audit_page(
    request: Request,
    kind: Text = None,
    name: Text = None,
    actor: Text = None,
    after: Annotated[int | None, Query(ge=1)] = None,
    verify: bool = False,
) -> HTMLResponse:
    """Entries newest first (100 a page); ``verify=true`` also walks the whole chain."""
    filters = {"kind": kind or None, "name": name or None, "actor": actor or None}
    try:
        entries = audit_log(
            kind=filters["kind"], name=filters["name"], actor=filters["actor"],
            limit=PAGE + 1, after=after,
        )  # fmt: skip
        report = verify_audit() if verify else None
    except ShipyardError as error:
        return error_page(request, error)
    more = entries[PAGE - 1].seq if len(entries) > PAGE else None
    return render(
        request,
        "audit.html",
        entries=entries[:PAGE],
        filters={k: v or "" for k, v in filters.items()},
        more=more,
        report=report,
        after=after,
    )
