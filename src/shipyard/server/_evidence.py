"""Governance evidence over HTTP: what was recorded about a model version (explanations,
fairness reports, mitigations, evaluations, card sections, approvals, overrides).

Reading needs the viewer role, recording the editor role. Approvals and gate overrides are
not recorded here: they have routes of their own that check who may give them. Nor are
evaluations: the ``max_drop`` gate reuses them as its scores, so only the server's own gate
check writes them (a client-written one could claim any score for either version).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from shipyard._time import iso
from shipyard.errors import InvalidInput
from shipyard.models._api import _store
from shipyard.models._types import Evidence
from shipyard.server._access import EDITOR, VIEWER
from shipyard.server._model_shapes import ACTOR, Actor, Time, _Body
from shipyard.server._models import Version, _actor, _ok, _ref
from shipyard.serving._openapi import ANY_ROUTE, CHANGES, KEYED, errors

__all__ = ["evidence_json", "router"]

_READ = errors(*ANY_ROUTE, *KEYED, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)
# approvals and overrides have their own routes (who may give them is checked there);
# evaluations are the server's own scores (the max_drop gate trusts them)
_OPEN_KINDS = ("explanation", "fairness", "mitigation", "card")

router = APIRouter(tags=["models"])


class EvidenceOut(BaseModel):
    id: int
    model: str
    version: int
    kind: str
    data: dict[str, Any]
    created_at: Time
    created_by: str | None


class EvidencePage(BaseModel):
    items: list[EvidenceOut]
    next_page_token: str | None = None


class NewEvidence(_Body):
    kind: Literal["explanation", "fairness", "mitigation", "card"] = Field(
        description="What the record is."
    )
    data: dict[str, Any] = Field(description="The record: a JSON object.")
    actor: Actor | None = Field(None, description=ACTOR)


def evidence_json(found: Evidence) -> dict[str, Any]:
    """One record as the API answers it (its time ISO 8601)."""
    return {**found.to_dict(), "created_at": iso(found.created_at)}


@router.get(
    "/models/{name}/versions/{version}/evidence",
    dependencies=[VIEWER],
    responses=_READ,
    response_model=EvidencePage,
)
def list_evidence(
    name: str,
    version: Version,
    kind: Annotated[str | None, Query(max_length=32, description="Only this kind.")] = None,
) -> Response:
    """What was recorded about a version, newest first (all of it: a version has few)."""
    found = _store().evidence(_ref(name, version), kind)
    return _ok({"items": [evidence_json(e) for e in found], "next_page_token": None})


@router.post(
    "/models/{name}/versions/{version}/evidence",
    dependencies=[EDITOR],
    responses=_CHANGE,
    response_model=EvidenceOut,
    status_code=201,
)
def add_evidence(name: str, version: Version, body: NewEvidence, request: Request) -> Response:
    """Record an explanation, fairness report, mitigation or card sections."""
    if body.kind not in _OPEN_KINDS:  # the Literal already refuses; kept for direct calls
        raise InvalidInput(f"kind: expected one of {', '.join(_OPEN_KINDS)}, got {body.kind!r}.")
    actor = _actor(request, "actor" in body.model_fields_set, body.actor)
    made = _store().add_evidence(_ref(name, version), body.kind, body.data, actor)
    return _ok(evidence_json(made), 201)
