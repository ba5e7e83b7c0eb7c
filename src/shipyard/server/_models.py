"""The model registry over HTTP: models, versions, aliases, stages, history, compare, lineage,
export, and the primitives of remote mode's :class:`~shipyard.models._http.HttpModelBackend`.

Reading needs the viewer role, changing the editor role, deleting a whole model admin. Each
move records who acted: the signed-in user with auth, else the ``actor`` the client names
(the SDK sends its user), else the server's user. A version in a path is what follows ``@``
in a reference: a number (``3``, ``v3``), ``latest``, an alias or a stage.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from shipyard import data, models, tracking
from shipyard._refs import Ref, check_name, parse_ref
from shipyard._time import iso
from shipyard.config import current_user
from shipyard.errors import NotFound
from shipyard.models._api import _store
from shipyard.models._export import export_as
from shipyard.models._promote import gated_move, gated_rollback
from shipyard.models._saving import checked_fields
from shipyard.models._wire import (
    event_json,
    model_json,
    new_version_from_json,
    version_json,
)
from shipyard.server._access import ADMIN, EDITOR, VIEWER, caller_of
from shipyard.server._model_shapes import (
    AliasMove,
    CompareOut,
    DeletedModel,
    EventPage,
    ExportAsk,
    ExportRecord,
    LineageOut,
    ModelOut,
    ModelPage,
    NewVersion,
    Rolledback,
    StageMove,
    VersionId,
    VersionOut,
    VersionPage,
    Why,
)
from shipyard.server._paging import PageSize, PageToken, page, page_of
from shipyard.serving._http import json_response
from shipyard.serving._openapi import ANY_ROUTE, CHANGES, KEYED, errors

__all__ = ["router"]

# besides success: a Host the server does not answer to (400), with auth no token or an
# unknown one (401) or too low a role (403); an unknown name (404) or a refused value (422);
# a change the registry's state forbids (409), a form body (415)
_READ = errors(*ANY_ROUTE, *KEYED, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["models"])
Version = Annotated[
    str,
    Path(description="A number (3 or v3), latest, an alias or a stage: what follows @ in a ref."),
]
# short enough that a query string of the longest values stays far below URL limits
Reason = Annotated[str | None, Query(max_length=500, description="Why (kept in the history).")]
ActorQuery = Annotated[
    str | None,
    Query(max_length=128, description="Who acted, as the client names it (see the bodies)."),
]


def _ref(name: str, version: str) -> Ref:
    check_name("Model", name)
    return parse_ref("Model", f"{name}@{version}")


def _ok(payload: Any, status: int = 200) -> Response:
    """An answer as built (times already ISO 8601): user payloads such as ``flavor_meta``
    keep their own fields, which the app's by-name time conversion would rewrite."""
    return json_response(status, payload)


def _actor(request: Request, given: bool, actor: str | None) -> str | None:
    """Who acted: the signed-in user, else what the client named, else the server's user."""
    signed_in = caller_of(request).actor
    if signed_in is not None:
        return signed_in
    return (actor or None) if given else current_user()


# -- models ---------------------------------------------------------------------------------


@router.get("/models", dependencies=[VIEWER], responses=_READ, response_model=ModelPage)
def list_models(page_size: PageSize = 100, page_token: PageToken = None) -> Response:
    """Every model with its version count, latest and production versions and aliases."""
    found = models.list_models()
    return _ok(page_of([model_json(m) for m in found], page_size, page_token, "models"))


@router.get("/models/{name}", dependencies=[VIEWER], responses=_READ, response_model=ModelOut)
def get_model(name: str) -> Response:
    """One model's summary."""
    check_name("Model", name)
    found = next((m for m in models.list_models() if m.name == name), None)
    if found is None:
        models.history(name, 1)  # NotFound naming what exists
        raise NotFound(f"No model named {name!r}. Try: shipyard models list")
    return _ok(model_json(found))


@router.delete(
    "/models/{name}", dependencies=[ADMIN], responses=_CHANGE, response_model=DeletedModel
)
def delete_model(name: str) -> Response:
    """Delete a model with every version and its history (admin only)."""
    return _ok({"name": name, "versions": models.delete_model(name)})


@router.get(
    "/models/{name}/events", dependencies=[VIEWER], responses=_READ, response_model=EventPage
)
def list_events(name: str, page_size: PageSize = 100, page_token: PageToken = None) -> Response:
    """The model's recorded moves, newest first: who, when, what, why."""
    check_name("Model", name)

    def fetch(offset: int, limit: int) -> list[dict[str, Any]]:
        return [event_json(e) for e in _store().events(name, offset + limit)[offset:]]

    return _ok(page(fetch, page_size, page_token, ["events", name]))


@router.post(
    "/models/{name}/rollback", dependencies=[EDITOR], responses=_CHANGE, response_model=Rolledback
)
def rollback(name: str, body: Why, request: Request) -> Response:
    """Put the previous production version back in production (409 without one)."""
    check_name("Model", name)
    actor = _actor(request, "actor" in body.model_fields_set, body.actor)
    before, after = gated_rollback(_store(), name, actor, body.reason)
    return _ok({"previous": before, "version": version_json(models.get(f"{name}@{after}"))})


@router.get(
    "/models/{name}/compare", dependencies=[VIEWER], responses=_READ, response_model=CompareOut
)
def compare(
    name: str,
    versions: Annotated[
        list[str], Query(min_length=2, max_length=20, description="Two or more: 3, champion.")
    ],
) -> Response:
    """Versions side by side: flavor, stage, size, metrics, params of their runs, datasets."""
    frame = models.compare([str(_ref(name, v)) for v in versions])
    differs = frame.astype(str).nunique(axis=1, dropna=False) > 1
    rows = [
        {"field": str(key), "values": [_plain(x) for x in row], "differs": bool(differs[key])}
        for key, row in frame.iterrows()
    ]
    return _ok({"columns": [str(c) for c in frame.columns], "rows": rows})


def _plain(value: Any) -> Any:
    """A table cell as JSON: NumPy scalars as Python values, missing as null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- aliases --------------------------------------------------------------------------------


@router.post(
    "/models/{name}/aliases/{alias}",
    dependencies=[EDITOR],
    responses=_CHANGE,
    response_model=VersionOut,
)
def set_alias(name: str, alias: str, body: AliasMove, request: Request) -> Response:
    """Point an alias at a version (moving it if it pointed elsewhere). An alias the
    model's policy protects needs its gates passed (409 listing the failed ones), or
    ``force`` with a reason (the admin role with auth)."""
    actor = _actor(request, "actor" in body.model_fields_set, body.actor)
    ref = _ref(name, str(body.version))
    role = caller_of(request).role
    moved = gated_move(
        ref, "alias", alias, actor=actor, reason=body.reason, force=body.force, role=role
    )
    return _ok(version_json(moved))


@router.delete(
    "/models/{name}/aliases/{alias}",
    dependencies=[EDITOR],
    responses=_CHANGE,
    status_code=204,
    response_class=Response,
)
def remove_alias(
    name: str, alias: str, request: Request, reason: Reason = None, actor: ActorQuery = None
) -> Response:
    """Remove an alias (404 listing the known ones when it is missing)."""
    check_name("Model", name)
    _store().remove_alias(name, alias, _actor(request, actor is not None, actor), reason)
    return Response(status_code=204)


# -- versions -------------------------------------------------------------------------------


@router.get(
    "/models/{name}/versions", dependencies=[VIEWER], responses=_READ, response_model=VersionPage
)
def list_versions(name: str, page_size: PageSize = 100, page_token: PageToken = None) -> Response:
    """Every version of a model, newest first."""
    found = models.versions(name)
    return _ok(page_of([version_json(v) for v in found], page_size, page_token, ["versions", name]))


@router.post(
    "/models/{name}/versions",
    dependencies=[EDITOR],
    responses=_CHANGE,
    response_model=VersionOut,
    status_code=201,
)
def add_version(name: str, body: NewVersion, request: Request) -> Response:
    """Record a new version (numbered under the model's lock); its model file and sample
    rows are blobs of the artifact store already. The SDK's ``register`` saves the model,
    uploads its files, then calls this."""
    check_name("Model", name)
    lists = {"aliases": body.aliases, "datasets": body.datasets, "requirements": ()}
    tags, metrics = checked_fields({**lists, "trusted": ()}, body.stage, body.tags, body.metrics)
    run_id = _check_lineage(body)
    fields = body.model_dump()
    fields.update(tags=tags, metrics=metrics, run_id=run_id)
    fields["created_by"] = _actor(request, "created_by" in body.model_fields_set, body.created_by)
    made = _store().add_version(name, new_version_from_json(fields))
    return _ok(version_json(made), 201)


def _check_lineage(body: NewVersion) -> str | None:
    """The run and dataset versions a new version names exist (else 404); the run's full id
    (a unique prefix names it too)."""
    if body.datasets:
        from shipyard.data import DatasetStore
        from shipyard.store import default_database

        unknown = DatasetStore(default_database()).unknown_versions(list(body.datasets))
        if unknown:
            raise NotFound(f"datasets: no dataset version with id {', '.join(unknown[:5])}.")
    return None if body.run_id is None else str(tracking.get_run(body.run_id).info.id)


@router.get(
    "/models/{name}/versions/{version}",
    dependencies=[VIEWER],
    responses=_READ,
    response_model=VersionOut,
)
def get_version(name: str, version: Version) -> Response:
    """One version: flavor, signature, metrics, tags, aliases, stage, run, datasets, exports."""
    return _ok(version_json(_store().resolve(_ref(name, version))))


@router.get(
    "/models/{name}/versions/{version}/id",
    dependencies=[VIEWER],
    responses=_READ,
    response_model=VersionId,
)
def resolve_id(name: str, version: Version) -> Response:
    """Only the id of the version a reference names (the cheap call of a load)."""
    return _ok({"id": _store().resolve_id(_ref(name, version))})


@router.delete(
    "/models/{name}/versions/{version}",
    dependencies=[EDITOR],
    responses=_CHANGE,
    response_model=VersionOut,
)
def delete_version(
    name: str,
    version: Version,
    request: Request,
    force: Annotated[bool, Query(description="Also one in production or with aliases.")] = False,
    reason: Reason = None,
    actor: ActorQuery = None,
) -> Response:
    """Delete a version (its number is never reused; its history is kept). One in production
    or holding aliases only with ``force`` (409 otherwise); its aliases go with it."""
    who = _actor(request, actor is not None, actor)
    return _ok(version_json(_store().delete_version(_ref(name, version), who, reason, force)))


@router.post(
    "/models/{name}/versions/{version}/stage",
    dependencies=[EDITOR],
    responses=_CHANGE,
    response_model=VersionOut,
)
def set_stage(name: str, version: Version, body: StageMove, request: Request) -> Response:
    """Move a version to a stage; promoting to production archives the previous one. A
    stage the model's policy protects needs its gates passed (409 listing the failed
    ones), or ``force`` with a reason (the admin role with auth)."""
    actor = _actor(request, "actor" in body.model_fields_set, body.actor)
    role = caller_of(request).role
    moved = gated_move(
        _ref(name, version), "stage", body.stage, actor=actor, reason=body.reason,
        force=body.force, role=role,
    )  # fmt: skip
    return _ok(version_json(moved))


@router.post(
    "/models/{name}/versions/{version}/export",
    dependencies=[EDITOR],
    responses=_CHANGE,
    response_model=VersionOut,
)
def export(name: str, version: Version, body: ExportAsk, request: Request) -> Response:
    """Convert a version to ONNX (and int8) on the server, check it predicts like the native
    model, and store it (422 with the figures when it does not)."""
    options = body.model_dump()
    done = export_as(_actor(request, False, None), str(_ref(name, version)), **options)
    return _ok(version_json(done))


@router.get(
    "/models/{name}/versions/{version}/lineage",
    dependencies=[VIEWER],
    responses=_READ,
    response_model=LineageOut,
)
def lineage(name: str, version: Version) -> Response:
    """Where a version came from: its run (params, metrics) and the dataset versions it was
    trained on, with the versions they were made from."""
    v = _store().resolve(_ref(name, version))
    sets = [d for d in map(_dataset, v.datasets) if d is not None]
    head = {"version": {"id": v.id, "ref": v.ref}, "run_id": v.run_id}
    return _ok({**head, "run": _run(v.run_id), "datasets": sets})


def _run(run_id: str | None) -> dict[str, Any] | None:
    """A run's summary; None without one, or when it was deleted (its id stays)."""
    if run_id is None:
        return None
    try:
        found = tracking.get_run(run_id)
    except NotFound:
        return None
    return {
        "id": str(found.info.id),
        "name": found.info.name,
        "experiment": found.experiment,
        "status": found.info.status,
        "start_time": iso(found.info.start_time),
        "end_time": iso(found.info.end_time),
        "source_commit": found.info.source_commit,
        "params": found.params,
        "metrics": {k: m.value for k, m in found.metrics.items()},
    }


def _dataset(ref: str) -> dict[str, Any] | None:
    """A dataset version's summary and what it was made from; None once deleted."""
    try:
        d = data.resolve(ref)
        edges = data.lineage(ref, depth=5).upstream
    except NotFound:
        return None
    return {
        "id": d.id,
        "ref": d.ref,
        "rows": d.rows,
        "columns": d.columns,
        "created_at": iso(d.created_at),
        "run_id": d.run_id,
        "upstream": [
            {"parent": e.parent, "child": e.child, "transform": e.transform} for e in edges
        ],
    }


# -- versions by id (remote mode's primitives) ---------------------------------------------


@router.get("/model-versions", dependencies=[VIEWER], responses=_READ, response_model=VersionPage)
def list_trained_on(
    trained_on: Annotated[
        str, Query(min_length=1, max_length=64, description="A dataset version's id.")
    ],
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> Response:
    """Versions trained on a dataset version, by model name then number."""
    found = _store().trained_on(trained_on)
    return _ok(
        page_of([version_json(v) for v in found], page_size, page_token, ["trained_on", trained_on])
    )


@router.get(
    "/model-versions/{version_id}",
    dependencies=[VIEWER],
    responses=_READ,
    response_model=VersionOut,
)
def get_by_id(version_id: str) -> Response:
    """A version by its id."""
    return _ok(version_json(_store().get(version_id)))


@router.post(
    "/model-versions/{version_id}/exports",
    dependencies=[EDITOR],
    responses=_CHANGE,
    response_model=VersionOut,
    status_code=201,
)
def add_export(version_id: str, body: ExportRecord, request: Request) -> Response:
    """Record another form of a version whose bytes are a stored blob (replacing an earlier
    one of that format): what the SDK's ``export`` calls after its checks passed."""
    actor = _actor(request, "actor" in body.model_fields_set, body.actor)
    done = _store().add_export(
        version_id, body.format, body.digest, body.size, body.meta, body.report, actor
    )
    return _ok(version_json(done), 201)
