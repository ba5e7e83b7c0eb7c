"""Deployments over HTTP: routes and traffic split, policy, the last automatic decision
and its reason, the history, live traffic figures, rollout progress, and the moves people
make (promote, roll back)."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator

from shipyard.errors import InvalidInput
from shipyard.server._access import EDITOR, VIEWER, caller_of
from shipyard.server._paging import PageSize, PageToken, page, page_of
from shipyard.server._traffic import progress, traffic
from shipyard.serving import deployments
from shipyard.serving._openapi import CHANGES, KEYED, errors
from shipyard.serving.policies import policy_of

__all__ = ["router"]

# what the routes answer besides success (``shipyard.serving._openapi``): with auth, no
# token (401) or too low a role (403); a name may be unknown (404), a parameter refused
# (422); a change may meet a state that forbids it (409)
_LIST = errors(400, *KEYED, 422)
_READ = errors(400, *KEYED, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["deployments"])
Reason = Annotated[str | None, Body(embed=True, description="Why (kept in the history).")]
Minutes = Annotated[
    int, Query(ge=1, le=7 * 24 * 60, description="The window: this many minutes up to now.")
]
_YEAR_10000 = 253402300800.0  # epoch seconds


def _time_or_seconds(value: Any) -> Any:
    """A query's text as epoch seconds or an ISO 8601 time, with one message for neither."""
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"expected ISO 8601 (2026-12-05T22:57:04+00:00) or epoch seconds, got {value!r:.40}"
        ) from None


Until = Annotated[
    datetime | float | None,
    BeforeValidator(_time_or_seconds),
    Query(
        description="The window's end (default: now): ISO 8601, e.g. "
        "2026-12-05T22:57:04+00:00 (without an offset: UTC), or epoch seconds.",
    ),
]


@router.get("/deployments", responses=_LIST, dependencies=[VIEWER])
def list_deployments(page_size: PageSize = 100, page_token: PageToken = None) -> dict[str, Any]:
    """Every deployment, by name: id, routes, shares, policy and revision."""
    found = [_stored(d) for d in deployments.list_deployments()]
    return page_of(found, page_size, page_token, "deployments")


@router.post("/deployments", status_code=201, responses=_CHANGE, dependencies=[EDITOR])
def create_deployment(
    request: Request,
    name: Annotated[str, Body(embed=True, description="The deployment's name.")],
    routes: Annotated[
        dict[str, str], Body(embed=True, description="Route names to model references.")
    ],
    policy: Annotated[str, Body(embed=True, description="fixed, canary, ...")] = "fixed",
    params: Annotated[
        dict[str, Any] | None, Body(embed=True, description="The policy's parameters.")
    ] = None,
    description: Annotated[str | None, Body(embed=True)] = None,
    reason: Reason = None,
) -> dict[str, Any]:
    """A new deployment (409 if the name is taken); each model reference must resolve."""
    made = deployments.create(
        name,
        routes,
        policy=policy,
        description=description,
        reason=_why(reason, request),
        **(params or {}),
    )
    return _stored(made)


@router.get("/deployments/{name}/revision", responses=_READ, dependencies=[VIEWER])
def get_revision(name: str) -> dict[str, Any]:
    """The deployment as stored (no statistics): its id and revision (what servers poll),
    routes, shares and policy."""
    return _stored(deployments.get(name))


@router.put("/deployments/{name}/policy", responses=_CHANGE, dependencies=[EDITOR])
def set_policy(
    name: str,
    request: Request,
    policy: Annotated[str, Body(embed=True, description="fixed, canary, ...")],
    params: Annotated[
        dict[str, Any] | None, Body(embed=True, description="The policy's parameters.")
    ] = None,
    reason: Reason = None,
) -> dict[str, Any]:
    """Replace the policy (its split starts over from the policy's own start)."""
    changed = deployments.set_policy(name, policy, reason=_why(reason, request), **(params or {}))
    return _stored(changed)


@router.put("/deployments/{name}/routes/{route}", responses=_CHANGE, dependencies=[EDITOR])
def set_route(
    name: str,
    route: str,
    request: Request,
    model: Annotated[str, Body(embed=True, description="A model reference (fraud@5).")],
    reason: Reason = None,
) -> dict[str, Any]:
    """Point a route at another model reference; its share is kept."""
    return _stored(deployments.set_route(name, route, model, reason=_why(reason, request)))


@router.delete("/deployments/{name}", status_code=204, responses=_CHANGE, dependencies=[EDITOR])
def delete_deployment(name: str) -> Response:
    """Delete a deployment, its history and pooled evidence (models are untouched)."""
    deployments.delete(name)
    return Response(status_code=204)


@router.post("/deployments/{name}/decisions", responses=_CHANGE, dependencies=[EDITOR])
def record_decision(
    name: str,
    seen_revision: Annotated[int, Body(embed=True, ge=0)],
    policy: Annotated[dict[str, Any], Body(embed=True)],
    weights: Annotated[dict[str, float], Body(embed=True)],
    kind: Annotated[str, Body(embed=True)],
    evidence: Annotated[dict[str, Any], Body(embed=True)],
    seen_id: Annotated[str | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    """A server's decision (a canary step, an A/B conclusion), applied only if nobody
    changed the deployment since ``seen_revision``: ``{"deployment": ...}``, null when
    someone did."""
    _check_decision(deployments.get(name), policy, weights, kind)
    done = deployments.record_decision(
        name, seen_revision, policy, weights, kind, evidence, seen_id
    )
    return {"deployment": None if done is None else _stored(done)}


@router.get("/deployments/{name}/evidence", responses=_READ, dependencies=[VIEWER])
def get_evidence(name: str) -> dict[str, Any]:
    """Each route's statistics pooled in the policy's current period, as the servers keep
    them (requests, errors, labels, rewards, model-time histogram)."""
    found = deployments.statistics(name)
    return {"routes": {route: stats.to_json() for route, stats in found.items()}}


@router.get("/deployments/{name}", responses=_READ, dependencies=[VIEWER])
def get_deployment(name: str) -> dict[str, Any]:
    """One deployment: routes, shares, policy, the last automatic decision (with its
    reason) and the statistics of the policy's current evidence period."""
    return deployments.as_dict(deployments.get(name), details=True)


@router.get("/deployments/{name}/history", responses=_READ, dependencies=[VIEWER])
def get_history(
    name: str, page_size: PageSize = 100, page_token: PageToken = None
) -> dict[str, Any]:
    """Changes and decisions, newest first: kind, detail (the split before and after, a
    decision's evidence), actor, reason, at."""
    deployments.get(name)  # NotFound for an unknown name, even on an empty page

    def fetch(offset: int, limit: int) -> list[dict[str, Any]]:
        events = deployments.history(name, limit=offset + limit)
        return [asdict(e) for e in events[offset:]]

    return page(fetch, page_size, page_token, ["history", name])


@router.get("/deployments/{name}/traffic", responses=_READ, dependencies=[VIEWER])
def get_traffic(name: str, minutes: Minutes = 60, until: Until = None) -> dict[str, Any]:
    """Live traffic per route from the inference log, one point a minute over the window
    (``times``: each minute's start): requests, rate per second, model latency p50 and p99
    (ms); each shadow route's agreement with the answers; each route's pooled error rate in
    the policy's current period; ``latest_at``, the newest logged request."""
    shown = until.isoformat() if isinstance(until, datetime) else until
    if isinstance(until, datetime):
        until = (until if until.tzinfo else until.replace(tzinfo=timezone.utc)).timestamp()
    end: float | None = until
    if end is not None and not 0 <= end < _YEAR_10000:
        raise InvalidInput(f"until: {shown} is not a time between 1970 and 9999.")
    return traffic(name, minutes, end)


@router.get("/deployments/{name}/progress", responses=_READ, dependencies=[VIEWER])
def get_progress(name: str) -> dict[str, Any]:
    """Where the rollout stands: each route's share and pooled evidence (a bandit's arms:
    requests, rewards), a canary's steps, current step, the candidate's requests toward the
    next step and the judge's checks; the last automatic decision."""
    return progress(name)


@router.post("/deployments/{name}/promote", responses=_CHANGE, dependencies=[EDITOR])
def promote(
    name: str,
    request: Request,
    route: Annotated[
        str | None, Body(embed=True, description="The route (default: the policy's choice).")
    ] = None,
    reason: Reason = None,
) -> dict[str, Any]:
    """Give one route all traffic (a canary's candidate by default)."""
    return _stored(deployments.promote(name, route, reason=_why(reason, request)))


@router.post("/deployments/{name}/rollback", responses=_CHANGE, dependencies=[EDITOR])
def rollback(name: str, request: Request, reason: Reason = None) -> dict[str, Any]:
    """Undo the last change of policy or split."""
    return _stored(deployments.rollback(name, reason=_why(reason, request)))


def _check_decision(
    current: deployments.Deployment,
    policy: dict[str, Any],
    weights: dict[str, float],
    kind: str,
) -> None:
    """A decision from over the wire is checked before it is stored: a known policy, a
    share (0 to 100, adding up to 100) for each of the deployment's routes and no other."""
    policy_of(policy)  # InvalidInput for an unknown kind
    routes = sorted(r.name for r in current.routes)
    if sorted(weights) != routes:
        raise InvalidInput(
            f"weights: expected a share for each route ({', '.join(routes)}); "
            f"got {', '.join(sorted(weights)) or 'none'}."
        )
    if any(not math.isfinite(v) or not 0 <= v <= 100 for v in weights.values()):
        raise InvalidInput("weights: each share must be a percentage from 0 to 100.")
    if abs(sum(weights.values()) - 100.0) > 0.01:
        raise InvalidInput(f"weights: the shares must add up to 100; got {sum(weights.values())}.")
    if not kind.strip():
        raise InvalidInput("kind: name the decision (e.g. canary-step).")


def _stored(deployment: deployments.Deployment) -> dict[str, Any]:
    return {**deployments.as_dict(deployment), "id": deployment.id}


def _why(reason: str | None, request: Request) -> str | None:
    """The reason as given, with who acted when the server knows (``user:NAME``)."""
    who = caller_of(request).actor
    if who is None:
        return reason
    return f"{reason} ({who})" if reason else who
