"""Promotion policies, gate checks and approvals over HTTP.

Reading policies needs the viewer role; setting one the admin role (a policy decides what
may reach production: an editor could otherwise loosen the gates it must pass). Checking a
version's gates needs the editor role (``max_drop`` scores models and records the
evaluation). Approving needs the viewer role: the approval records the caller's role, and
the ``approval`` gate counts it only when that role is high enough. Overriding failed
gates (``force`` on the alias and stage routes) needs the admin role with auth.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from shipyard._refs import check_name
from shipyard._time import iso
from shipyard.models._api import _store
from shipyard.models._policies import Policy, PolicyVersion
from shipyard.models._promote import check_with, record_approval
from shipyard.server._access import ADMIN, EDITOR, VIEWER, caller_of
from shipyard.server._evidence import EvidenceOut, evidence_json
from shipyard.server._model_shapes import ACTOR, Actor, Text, Time, _Body
from shipyard.server._models import Version, _actor, _ok, _ref
from shipyard.serving._openapi import ANY_ROUTE, CHANGES, KEYED, errors

__all__ = ["router"]

_READ = errors(*ANY_ROUTE, *KEYED, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["models"])


class PolicyOut(_Body):
    model: str
    version: int
    policy: dict[str, Any]
    source: str | None
    created_at: Time
    created_by: str | None


class PolicyPage(_Body):
    items: list[PolicyOut]
    next_page_token: str | None = None


class NewPolicy(_Body):
    policy: dict[str, Any] = Field(description="The policy: protect (list) and gates (map).")
    source: Annotated[str, Field(max_length=100_000)] | None = Field(
        None, description="The YAML it was written in, kept beside it."
    )
    actor: Actor | None = Field(None, description=ACTOR)


class GateOut(_Body):
    name: str
    passed: bool
    detail: str


class GateReportOut(_Body):
    ref: str
    to: str | None
    policy_version: int | None
    protected: bool
    passed: bool
    results: list[GateOut]
    holder: str | None
    holder_id: str | None


class Approval(_Body):
    comment: Text | None = Field(None, description="Why it may go.")
    for_: Annotated[str, Field(max_length=64)] | None = Field(
        None, alias="for", description="Only for this alias or stage."
    )
    actor: Actor | None = Field(None, description=ACTOR)


def policy_json(found: PolicyVersion) -> dict[str, Any]:
    return {**found.to_dict(), "created_at": iso(found.created_at)}


@router.get(
    "/models/{name}/policies", dependencies=[VIEWER], responses=_READ, response_model=PolicyPage
)
def list_policies(
    name: str,
    version: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Only this policy version.")
    ] = None,
) -> Response:
    """The model's policy versions, newest first (the first is in force)."""
    check_name("Model", name)
    found = _store().policies(name, version)
    return _ok({"items": [policy_json(p) for p in found], "next_page_token": None})


@router.put(
    "/models/{name}/policy", dependencies=[ADMIN], responses=_CHANGE, response_model=PolicyOut
)
def set_policy(name: str, body: NewPolicy, request: Request) -> Response:
    """Store the model's next policy version (422 naming a malformed field)."""
    check_name("Model", name)
    policy = Policy.from_dict(body.policy)
    actor = _actor(request, "actor" in body.model_fields_set, body.actor)
    return _ok(policy_json(_store().set_policy(name, policy, body.source, actor)))


@router.get(
    "/models/{name}/versions/{version}/gates",
    dependencies=[EDITOR],
    responses=_CHANGE,
    response_model=GateReportOut,
)
def check_gates(
    name: str,
    version: Version,
    to: Annotated[str | None, Query(max_length=64, description="The target.")] = None,
    against: Annotated[
        str | None, Query(max_length=200, description="max_drop's comparison, e.g. churn@3.")
    ] = None,
    score: Annotated[
        bool, Query(description="false: read-only (max_drop uses recorded scores only).")
    ] = True,
) -> Response:
    """The version's gates under its model's policy, for a move to ``to``."""
    report = check_with(_store(), _ref(name, version), to, against=against, score=score)
    return _ok(report.to_dict())


@router.post(
    "/models/{name}/versions/{version}/approvals",
    dependencies=[VIEWER],
    responses=_CHANGE,
    response_model=EvidenceOut,
    status_code=201,
)
def approve(name: str, version: Version, body: Approval, request: Request) -> Response:
    """Approve a version: recorded with the caller's role (admin without auth)."""
    actor = _actor(request, "actor" in body.model_fields_set, body.actor)
    role = caller_of(request).role
    made = record_approval(_store(), _ref(name, version), role, body.comment, body.for_, actor)
    return _ok(evidence_json(made), 201)
