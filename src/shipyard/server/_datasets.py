"""Datasets over HTTP: versions, schemas, profiles, diffs, lineage, rows and SQL, and the
write primitives of remote mode's dataset store (``shipyard.data._http``).

Reading needs the viewer role, changing anything (and SQL, which spends the server's CPU)
the editor role. Listings are pages (``page_size``, ``page_token``); times are ISO 8601.
A version's files are blobs of the artifact store (``/api/artifacts``): a new version's
record is sent here once its Parquet data and profile are stored there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from shipyard import data
from shipyard._refs import NAME_PATTERN, check_name, parse_ref
from shipyard._time import iso
from shipyard._validate import MAX_TAG_VALUE, check_key, text_value
from shipyard.data._api import _store
from shipyard.data._backend import POLICIES, SchemaChanged
from shipyard.data._preview import read_rows, table_rows
from shipyard.data._store import check_alias
from shipyard.data._wire import SCHEMA_CHANGED, dataset_json, new_version_from_json, version_json
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.server._access import EDITOR, VIEWER
from shipyard.server._datasets_io import (
    AliasIn,
    ChildPage,
    DatasetOut,
    DatasetPage,
    DiffOut,
    IdOut,
    LabelsIn,
    LineageOut,
    NewVersionIn,
    OutputIn,
    OutputOut,
    PolicyIn,
    ProfileOut,
    QueryIn,
    QueryOut,
    ReaderPage,
    ReadIn,
    RowsOut,
    SchemaIn,
    SchemaOut,
    SchemaVersionOut,
    TransformIn,
    TransformOut,
    VersionDetail,
    VersionOut,
    VersionPage,
)
from shipyard.server._datasets_views import detail, diff_json, lineage_graph, query_json
from shipyard.server._paging import PageSize, PageToken, page, page_of
from shipyard.serving._http import JSON
from shipyard.serving._openapi import ANY_ROUTE, CHANGES, KEYED, errors

__all__ = ["router"]

# with auth, every route wants a token (401) of a role high enough (403); names and
# references may be unknown (404) or malformed (422); a change may contradict what is
# stored (409) and a changing request may be refused a form body (415)
_LIST = errors(*ANY_ROUTE, *KEYED, 422)
_READ = errors(*ANY_ROUTE, *KEYED, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

# answers carry their own ISO times; user payloads (params, validation) stay as they are
router = APIRouter(tags=["datasets"], default_response_class=JSON)

_SELECTOR = r"([vV]?0*[1-9][0-9]{0,8}|latest|[A-Za-z0-9_.\-]{1,64})"
Name = Annotated[
    str, Path(description="A dataset name.", json_schema_extra={"pattern": f"^{NAME_PATTERN}$"})
]
Selector = Annotated[
    str,
    Path(
        description="A version number (3 or v3), latest, or an alias.",
        json_schema_extra={"pattern": f"^{_SELECTOR}$"},
    ),
]
VersionId = Annotated[str, Path(max_length=32, description="A version's id.")]
TransformId = Annotated[str, Path(max_length=32, description="A transform's id.")]
InputKey = Annotated[str, Path(max_length=64, description="The cache key of its inputs.")]
Alias = Annotated[str, Path(max_length=64, description="An alias, e.g. golden.")]
Depth = Annotated[int, Query(ge=1, le=50, description="Steps walked up and down.")]


def _name(name: str) -> str:
    return check_name("Dataset", name)


def _ref(name: str, selector: str) -> str:
    """``name@selector``, checked (422 naming what is wrong)."""
    ref = f"{_name(name)}@{selector}"
    parse_ref("Dataset", ref)
    return ref


def _tags(tags: dict[str, str]) -> dict[str, str]:
    return {check_key("Tag", k): text_value("Tag", k, v, MAX_TAG_VALUE) for k, v in tags.items()}


def _aliases(name: str, aliases: list[str]) -> list[str]:
    for alias in aliases:
        parse_ref("Dataset", f"{name}@{check_alias(alias)}")
    return aliases


# -- datasets ----------------------------------------------------------------------------


@router.get("/datasets", response_model=DatasetPage, responses=_LIST, dependencies=[VIEWER])
def list_datasets(page_size: PageSize = 100, page_token: PageToken = None) -> dict[str, Any]:
    """Every dataset, by name: its number of versions, latest version and policy."""
    found = [dataset_json(d) for d in data.list_datasets()]
    return page_of(found, page_size, page_token, "datasets")


@router.get("/datasets/{name}", response_model=DatasetOut, responses=_READ, dependencies=[VIEWER])
def get_dataset(name: Name) -> dict[str, Any]:
    """One dataset and the summary of its versions."""
    found = _store().dataset(_name(name))
    summary = next((d for d in data.list_datasets() if d.id == found.id), found)
    return dataset_json(summary)


@router.put(
    "/datasets/{name}/policy", response_model=DatasetOut, responses=_CHANGE, dependencies=[EDITOR]
)
def set_policy(name: Name, body: PolicyIn) -> dict[str, Any]:
    """What happens to a new version that fails its checks: ``reject`` it, or ``warn``
    (keep it, flagged)."""
    data.set_policy(_name(name), body.policy)
    return get_dataset(name)


@router.get(
    "/datasets/{name}/schema", response_model=SchemaOut, responses=_READ, dependencies=[VIEWER]
)
def get_schema(
    name: Name,
    version: Annotated[int | None, Query(ge=1, lt=2**31, description="Default: newest.")] = None,
) -> dict[str, Any]:
    """The dataset's schema (its newest version, or ``version``)."""
    found = _store().schema(_store().dataset(_name(name)).id, version)
    if found is None:
        which = f"no schema version {version}" if version else "no schema yet"
        raise NotFound(f"Dataset {name!r} has {which}.")
    return {"version": found[0], "schema": found[1]}


@router.post(
    "/datasets/{name}/schemas",
    response_model=SchemaVersionOut,
    responses=_CHANGE,
    dependencies=[EDITOR],
)
def put_schema(name: Name, body: SchemaIn) -> dict[str, Any]:
    """Store an edited schema as the dataset's next schema version."""
    dataset_id = _store().dataset(_name(name)).id
    return {"version": _store().put_schema(dataset_id, body.dataset_schema)}


# -- versions ----------------------------------------------------------------------------


@router.get(
    "/datasets/{name}/versions", response_model=VersionPage, responses=_READ, dependencies=[VIEWER]
)
def list_versions(
    name: Name,
    content_hash: Annotated[
        str | None, Query(max_length=64, description="Only the version with this content.")
    ] = None,
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> dict[str, Any]:
    """The dataset's versions, newest first."""
    if content_hash is not None:
        same = _store().by_content(_store().dataset(_name(name)).id, content_hash)
        found = [version_json(same)] if same is not None else []
    else:
        found = [version_json(v) for v in data.versions(_name(name))]
    return page_of(found, page_size, page_token, [name, content_hash])


@router.post(
    "/datasets/{name}/versions", response_model=VersionOut, responses=_CHANGE, dependencies=[EDITOR]
)
def add_version(name: Name, body: NewVersionIn) -> dict[str, Any]:
    """Record a new version (the dataset too, on its first): remote mode's register, after
    its files were stored as blobs. Identical content answers the version that has it;
    a schema that moved past ``expected_schema`` is a 409 starting ``schema changed:``
    (validate against the new schema and send again)."""
    if body.policy not in POLICIES:
        raise InvalidInput(f"policy must be one of {POLICIES}, got {body.policy!r}.")
    new = new_version_from_json(
        {**body.model_dump(), "tags": _tags(body.tags), "aliases": _aliases(name, body.aliases)}
    )
    unknown = _store().unknown_versions(list(new.parents))
    if unknown:
        raise InvalidInput(f"parents must be dataset version ids; unknown: {unknown}.")
    try:
        return version_json(_store().add_version(_name(name), new))
    except SchemaChanged:
        raise Conflict(
            f"{SCHEMA_CHANGED} the schema of dataset {name!r} moved past version "
            f"{body.expected_schema}; validate against the new one and send again."
        ) from None


@router.get(
    "/datasets/{name}/default",
    response_model=VersionDetail,
    responses=_READ,
    dependencies=[VIEWER],
)
def get_default(name: Name) -> dict[str, Any]:
    """What a bare name resolves to: the newest version that did not fail its checks."""
    return detail(data.resolve(_name(name)))


@router.get(
    "/datasets/{name}/versions/{selector}",
    response_model=VersionDetail,
    responses=_READ,
    dependencies=[VIEWER],
)
def get_version(name: Name, selector: Selector) -> dict[str, Any]:
    """One version (a number, ``latest`` or an alias): its record, checks and validation
    report, tags, aliases and the schema it was validated against."""
    return detail(data.resolve(_ref(name, selector)))


@router.get(
    "/datasets/{name}/versions/{selector}/profile",
    response_model=ProfileOut,
    responses=_READ,
    dependencies=[VIEWER],
)
def get_profile(name: Name, selector: Selector) -> dict[str, Any]:
    """The version's profile, ready to chart: per-column counts, missing values, distinct
    values, quantiles, a histogram (numeric columns) and the top values (categories)."""
    return data.profile(_ref(name, selector)).to_dict()


@router.get(
    "/datasets/{name}/versions/{selector}/rows",
    response_model=RowsOut,
    responses=_READ,
    dependencies=[VIEWER],
)
def get_rows(
    name: Name,
    selector: Selector,
    columns: Annotated[list[str] | None, Query(max_length=1000, description="Only these.")] = None,
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> dict[str, Any]:
    """A page of the version's rows (values in the order of ``columns``), read without
    loading the whole file. At most 100,000 values a page: wide tables get fewer rows."""
    version = data.resolve(_ref(name, selector))
    wanted = list(columns or [])
    width = len(wanted) or version.columns or 1
    size = max(1, min(page_size, 100_000 // width))
    query = [version.id, wanted, size]
    table = None

    def fetch(offset: int, limit: int) -> list[list[Any]]:
        nonlocal table
        table = read_rows(version.path(), offset, limit, wanted)
        return table_rows(table)

    found = page(fetch, size, page_token, query)
    assert table is not None
    columns_out = [{"name": f.name, "type": str(f.type)} for f in table.schema]
    return {**found, "columns": columns_out, "total": version.rows}


@router.get(
    "/datasets/{name}/versions/{selector}/lineage",
    response_model=LineageOut,
    responses=_READ,
    dependencies=[VIEWER],
)
def get_lineage(name: Name, selector: Selector, depth: Depth = 20) -> dict[str, Any]:
    """Where the version came from and what was made from it, as a graph: dataset
    versions, the runs that read them or registered it, and the models trained on them."""
    return lineage_graph(_ref(name, selector), depth)


@router.get("/datasets/{name}/diff", response_model=DiffOut, responses=_READ, dependencies=[VIEWER])
def get_diff(
    name: Name,
    a: Annotated[str, Query(max_length=200, description="A version of it (3), or name@3.")],
    b: Annotated[str, Query(max_length=200, description="Another version, or other@2.")],
) -> dict[str, Any]:
    """What changed from ``a`` to ``b``: rows, schema and the statistics that moved."""
    refs = [s if "@" in s else _ref(name, s) for s in (a, b)]
    return diff_json(refs[0], refs[1])


@router.post(
    "/datasets/{name}/aliases/{alias}",
    response_model=VersionOut,
    responses=_CHANGE,
    dependencies=[EDITOR],
)
def set_alias(name: Name, alias: Alias, body: AliasIn) -> dict[str, Any]:
    """Point ``alias`` at a version (``version`` number or ``version_id``), moving it."""
    if (body.version is None) == (body.version_id is None):
        raise InvalidInput("body: give exactly one of version (a number) and version_id.")
    dataset = _store().dataset(_name(name))
    if body.version_id is not None:
        target = _store().get(body.version_id)
        if target.dataset_id != dataset.id:
            raise InvalidInput(f"version_id: {body.version_id!r} is a version of {target.name!r}.")
    else:
        target = _store().resolve(parse_ref("Dataset", f"{name}@{body.version}"))
    _store().set_alias(dataset.id, check_alias(alias), target.id)
    return version_json(_store().get(target.id))


@router.delete(
    "/datasets/{name}/aliases/{alias}",
    status_code=204,
    response_class=Response,
    responses=_CHANGE,
    dependencies=[EDITOR],
)
def remove_alias(name: Name, alias: Alias) -> Response:
    """Delete an alias (404 names the aliases there are)."""
    data.remove_alias(_name(name), alias)
    return Response(status_code=204)


@router.post(
    "/datasets/query",
    response_model=QueryOut,
    responses={**_CHANGE, **errors(503)},
    dependencies=[EDITOR],
)
def query(body: QueryIn) -> dict[str, Any]:
    """SQL (DuckDB) over the versions it names as ``name@version``, e.g.
    ``SELECT region, avg(income) FROM loans@3 GROUP BY 1``. It reads only those versions:
    files, URLs, extensions and settings are refused (422). At most ``max_rows`` rows come
    back (``truncated`` says when there were more) and it stops after ``timeout`` seconds;
    at most two run at once (503 with Retry-After when the server is busy)."""
    return query_json(body.sql, body.params, body.max_rows, body.timeout)


# -- versions by id ------------------------------------------------------------------------


@router.get("/dataset-versions", response_model=VersionPage, responses=_LIST, dependencies=[VIEWER])
def run_inputs(
    read_by: Annotated[str, Query(max_length=32, description="A run's id.")],
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> dict[str, Any]:
    """The dataset versions a run read."""
    found = [version_json(v) for v in _store().run_inputs(read_by)]
    return page_of(found, page_size, page_token, ["read_by", read_by])


@router.get(
    "/dataset-versions/{version_id}",
    response_model=VersionOut,
    responses=_READ,
    dependencies=[VIEWER],
)
def get_by_id(version_id: VersionId) -> dict[str, Any]:
    """A version by id."""
    return version_json(_store().get(version_id))


@router.post(
    "/dataset-versions/{version_id}/accept",
    response_model=VersionOut,
    responses=_CHANGE,
    dependencies=[EDITOR],
)
def accept(version_id: VersionId) -> dict[str, Any]:
    """Accept a version that failed its checks: a bare name may resolve to it again."""
    _store().get(version_id)
    _store().accept(version_id)
    return version_json(_store().get(version_id))


@router.post(
    "/dataset-versions/{version_id}/labels",
    response_model=VersionOut,
    responses=_CHANGE,
    dependencies=[EDITOR],
)
def label(version_id: VersionId, body: LabelsIn) -> dict[str, Any]:
    """Point aliases at a version and set tags on it (same keys replaced), at once."""
    version = _store().get(version_id)
    _store().label(version_id, _aliases(version.name, body.aliases), _tags(body.tags))
    return version_json(_store().get(version_id))


@router.get(
    "/dataset-versions/{version_id}/children",
    response_model=ChildPage,
    responses=_READ,
    dependencies=[VIEWER],
)
def children(
    version_id: VersionId, page_size: PageSize = 100, page_token: PageToken = None
) -> dict[str, Any]:
    """The versions made from this one."""
    _store().get(version_id)
    found = [{"id": c, "ref": _store().get(c).ref} for c in _store().children(version_id)]
    return page_of(found, page_size, page_token, ["children", version_id])


@router.get(
    "/dataset-versions/{version_id}/readers",
    response_model=ReaderPage,
    responses=_READ,
    dependencies=[VIEWER],
)
def readers(
    version_id: VersionId, page_size: PageSize = 100, page_token: PageToken = None
) -> dict[str, Any]:
    """The runs that read this version: id, name, status."""
    _store().get(version_id)
    return page_of(_store().readers(version_id), page_size, page_token, ["readers", version_id])


@router.post(
    "/dataset-versions/{version_id}/readers",
    status_code=204,
    response_class=Response,
    responses=_CHANGE,
    dependencies=[EDITOR],
)
def record_input(version_id: VersionId, body: ReadIn) -> Response:
    """Remember that a run read this version (idempotent)."""
    _store().get(version_id)
    _store().record_input(body.run_id, version_id)
    return Response(status_code=204)


# -- transforms ----------------------------------------------------------------------------


@router.post("/transforms", response_model=IdOut, responses=_CHANGE, dependencies=[EDITOR])
def transform(body: TransformIn) -> dict[str, Any]:
    """The id of a transform at this code (recorded on first sight)."""
    if body.kind not in ("python", "sql"):
        raise InvalidInput(f"kind: expected python or sql, got {body.kind!r}.")
    return {"id": _store().transform(body.name, body.kind, body.code, body.code_hash)}


@router.get(
    "/transforms/{transform_id}",
    response_model=TransformOut,
    responses=_READ,
    dependencies=[VIEWER],
)
def transform_code(transform_id: TransformId) -> dict[str, Any]:
    """A transform's name, kind and code."""
    found = _store().transform_code(transform_id)
    return {**found, "created_at": iso(found["created_at"])}


@router.get(
    "/transforms/{transform_id}/outputs/{input_key}",
    response_model=OutputOut,
    responses=_READ,
    dependencies=[VIEWER],
)
def cached_output(transform_id: TransformId, input_key: InputKey) -> dict[str, Any]:
    """The version this transform already made from these inputs (null: none yet)."""
    found = _store().cached_output(transform_id, input_key)
    return {"version": version_json(found) if found is not None else None}


@router.put(
    "/transforms/{transform_id}/outputs/{input_key}",
    response_model=OutputOut,
    responses=_CHANGE,
    dependencies=[EDITOR],
)
def cache_output(transform_id: TransformId, input_key: InputKey, body: OutputIn) -> dict[str, Any]:
    """Remember the output of a transform run (the first one stored wins)."""
    _store().transform_code(transform_id)
    _store().get(body.version_id)
    _store().cache_output(transform_id, input_key, body.version_id)
    return cached_output(transform_id, input_key)
