"""The deployments pages: every deployment, and one with its routes and split, live
traffic (request rate, latency, errors), canary progress, arm shares, shadow agreement and
history; promote and roll back for editors."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from shipyard.server._access import VIEWER
from shipyard.server._traffic import progress, traffic
from shipyard.server._ui import pages, render
from shipyard.server._ui_ops import can_edit
from shipyard.serving import deployments

__all__ = ["router"]

router = pages()
WINDOWS = (15, 60, 360, 1440)  # the window choices, minutes
Minutes = Annotated[int, Query(ge=1, le=7 * 24 * 60)]


@router.get("/deployments", dependencies=[VIEWER])
def deployments_page(request: Request) -> HTMLResponse:
    rows = []
    for found in deployments.list_deployments():
        decision = deployments.last_decision(found.name)
        rows.append({"deployment": deployments.as_dict(found), "decision": decision})
    return render(request, "ops_deployments.html", rows=rows)


@router.get("/deployments/{name}", dependencies=[VIEWER])
def deployment_page(request: Request, name: str, minutes: Minutes = 15) -> HTMLResponse:
    found = deployments.get(name)
    shown = traffic(name, minutes)
    stale = False
    if not shown["series"] and shown["latest_at"] is not None:
        # nothing in the window: show the window that ends with the newest traffic
        stale = True
        shown = traffic(name, minutes, until=shown["latest_at"] + 1.0)
    events = [asdict(e) for e in deployments.history(name, limit=100)]
    return render(
        request,
        "ops_deployment.html",
        deployment=deployments.as_dict(found),
        traffic=shown,
        stale=stale,
        progress=progress(name),
        figures=_figures(shown),
        events=events,
        editor=can_edit(request),
        minutes=minutes,
        windows=WINDOWS,
    )


def _figures(shown: dict[str, Any]) -> dict[str, Any]:
    """Headline figures over the window: requests answered, the answers' p99 latency, the
    shadows' agreement, the pooled error rate."""
    answered = [s for s in shown["series"] if not s["shadow"]]
    total = sum(s["total"] for s in answered)
    p99s = [v for s in answered for v in s["p99_ms"] if v is not None]
    compared = sum(s["compared"] for s in shown["shadow"])
    agreed = sum((s["agreement"] or 0) * s["compared"] for s in shown["shadow"])
    attempts = sum(e["requests"] for e in shown["errors"])
    failed = sum(e["errors"] for e in shown["errors"])
    return {
        "requests": total,
        "p99_ms": max(p99s) if p99s else None,
        "agreement": agreed / compared if compared else None,
        "error_rate": failed / attempts if attempts else None,
    }
