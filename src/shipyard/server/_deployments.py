"""Deployments over HTTP: routes, policy, the last automatic decision and its reason, the
history, and the moves people make (promote, roll back)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from shipyard.server._access import EDITOR, VIEWER, caller_of
from shipyard.serving import deployments
from shipyard.serving._openapi import CHANGES, KEYED, errors

__all__ = ["router"]

# what the routes answer besides success (``shipyard.serving._openapi``): with auth, reading
# wants a live key (401), changing one with the admin scope (403); a name or filter may be
# unknown (404) or refused (422, e.g. a NUL character); a list without filters only 400/401
_LIST = errors(400, 401)
_READ = errors(400, 401, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["deployments"])
Limit = Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")]
Reason = Annotated[str | None, Body(embed=True, description="Why (kept in the history).")]


@router.get("/deployments", dependencies=[VIEWER], responses=_LIST)
def list_deployments() -> list[dict[str, Any]]:
    """Every deployment: routes, shares and policy."""
    return [deployments.as_dict(d) for d in deployments.list_deployments()]


@router.get("/deployments/{name}", dependencies=[VIEWER], responses=_READ)
def get_deployment(name: str) -> dict[str, Any]:
    """One deployment: routes, shares, policy, the last automatic decision (with its
    reason) and the statistics of the policy's current evidence period."""
    return deployments.as_dict(deployments.get(name), details=True)


@router.get("/deployments/{name}/history", dependencies=[VIEWER], responses=_READ)
def get_history(name: str, limit: Limit = 50) -> list[dict[str, Any]]:
    """Changes and decisions, newest first: what, who, why, when, the split before and
    after."""
    return [asdict(e) for e in deployments.history(name, limit=limit)]


@router.post("/deployments/{name}/promote", dependencies=[EDITOR], responses=_CHANGE)
def promote(
    name: str,
    request: Request,
    route: Annotated[
        str | None, Body(embed=True, description="The route (default: the policy's choice).")
    ] = None,
    reason: Reason = None,
) -> dict[str, Any]:
    """Give one route all traffic (a canary's candidate by default)."""
    return deployments.as_dict(deployments.promote(name, route, reason=_why(reason, request)))


@router.post("/deployments/{name}/rollback", dependencies=[EDITOR], responses=_CHANGE)
def rollback(name: str, request: Request, reason: Reason = None) -> dict[str, Any]:
    """Undo the last change of policy or split."""
    return deployments.as_dict(deployments.rollback(name, reason=_why(reason, request)))


def _why(reason: str | None, request: Request) -> str | None:
    """The reason as given, with the acting key's name when there is one."""
    who = caller_of(request).actor
    if who is None:
        return reason
    return f"{reason} ({who})" if reason else who
