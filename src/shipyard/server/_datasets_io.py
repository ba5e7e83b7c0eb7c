"""What the datasets API takes and answers (``server._datasets``), as pydantic models: the
OpenAPI document describes every body, and requests are bounded where the stores are (a
hash is 64 hex characters, an id 32, a key 250...), so a bad value is a 422 naming its
field, never a database error."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "AliasIn",
    "ChildPage",
    "DatasetOut",
    "DatasetPage",
    "DiffOut",
    "IdOut",
    "LabelsIn",
    "LineageOut",
    "NewVersionIn",
    "OutputIn",
    "OutputOut",
    "PolicyIn",
    "ProfileOut",
    "QueryIn",
    "QueryOut",
    "ReadIn",
    "ReaderPage",
    "RowsOut",
    "SchemaIn",
    "SchemaOut",
    "SchemaVersionOut",
    "TransformIn",
    "TransformOut",
    "VersionDetail",
    "VersionOut",
    "VersionPage",
]

_NO_NUL = r"^[^\x00]*$"
Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_\-]+$")]
Text = Annotated[str, StringConstraints(max_length=100_000, pattern=_NO_NUL)]
Count = Annotated[int, Field(ge=0, lt=2**63)]
Small = Annotated[int, Field(ge=0, lt=2**31)]
Json = dict[str, Any]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- answers -----------------------------------------------------------------------------


class DatasetOut(BaseModel):
    """A dataset and the summary of its versions."""

    id: str
    name: str
    created_at: str
    description: str | None
    policy: str
    versions: int
    latest: int | None


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    next_page_token: str | None


class VersionOut(BaseModel):
    """One immutable version: its record, reference, checks state, aliases, tags, parents."""

    id: str
    dataset_id: str
    name: str
    version: int
    ref: str
    content_hash: str
    digest: str
    rows: int
    columns: int
    size: int
    schema_version: int | None
    profile_digest: str | None
    validation: Json | None = Field(description="The validation report, when it was checked.")
    checks: str = Field(description="passed, warnings, failed or accepted.")
    flagged: bool = Field(description="Failed its checks, not accepted: a bare name skips it.")
    created_at: str
    run_id: str | None
    transform_id: str | None
    transform_params: Json | None
    description: str | None
    aliases: list[str]
    tags: dict[str, str]
    parents: list[str] = Field(description="Ids of the versions it was made from.")


class VersionDetail(VersionOut):
    """A version with the schema it was validated against and its one-line check warning."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    dataset_schema: Json | None = Field(alias="schema")
    warning: str | None


class VersionPage(BaseModel):
    items: list[VersionOut]
    next_page_token: str | None


class SchemaOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    version: int
    dataset_schema: Json = Field(alias="schema")


class SchemaVersionOut(BaseModel):
    version: int


class IdOut(BaseModel):
    id: str


class ChildItem(BaseModel):
    id: str
    ref: str


class ChildPage(BaseModel):
    items: list[ChildItem]
    next_page_token: str | None


class Reader(BaseModel):
    id: str
    name: str | None
    status: str | None


class ReaderPage(BaseModel):
    items: list[Reader]
    next_page_token: str | None


class TransformOut(BaseModel):
    id: str
    name: str
    kind: str
    code: str
    code_hash: str
    created_at: str


class OutputOut(BaseModel):
    version: VersionOut | None = Field(description="The cached output, or null.")


class ProfileOut(BaseModel):
    """Per-column statistics (``shipyard.data.Profile.to_dict``): numeric columns carry a
    ``histogram`` (``edges``, ``counts``) and ``quantiles``, categorical ones ``top``."""

    format: int
    rows: int
    columns: list[Json]


class DiffOut(BaseModel):
    a: str
    b: str
    rows: list[int] = Field(description="Rows of a, then of b.")
    same_content: bool
    schema_changes: list[str]
    stats: list[Json] = Field(description="column, stat, a, b, change: what moved.")


class Node(BaseModel):
    id: str
    kind: str = Field(description="dataset, run or model.")
    label: str
    detail: Json


class Edge(BaseModel):
    source: str
    target: str
    kind: str = Field(
        description="derived (a version made from another), read, registered (the run that "
        "registered it) or trained (a model trained on it)."
    )
    label: str | None


class LineageOut(BaseModel):
    focus: str
    nodes: list[Node]
    edges: list[Edge]


class Column(BaseModel):
    name: str
    type: str


class RowsOut(BaseModel):
    columns: list[Column]
    items: list[list[Any]] = Field(description="Rows, values in the order of columns.")
    total: int
    next_page_token: str | None


class QueryOut(BaseModel):
    columns: list[Column]
    rows: list[list[Any]]
    truncated: bool = Field(description="More rows than max_rows: only the first came back.")
    read: list[str] = Field(description="The versions the statement read.")


# -- requests ----------------------------------------------------------------------------


class PolicyIn(_In):
    policy: str = Field(max_length=16, description="warn or reject.")


class SchemaIn(_In):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dataset_schema: Json = Field(alias="schema")


class NewVersionIn(_In):
    """A version's record (``data._backend.NewVersion``); its files are in the artifact
    store already."""

    policy: str = Field(max_length=16)
    expected_schema: Small | None
    content_hash: Hash
    digest: Hash
    rows: Count
    columns: Small
    size: Count
    profile_digest: Hash | None
    validation: Json | None
    new_schema: Json | None
    run_id: Id | None
    parents: list[Id] = Field(default_factory=list, max_length=1000)
    transform_id: Id | None = None
    transform_params: Json | None = None
    description: Text | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list, max_length=100)


class LabelsIn(_In):
    aliases: list[str] = Field(default_factory=list, max_length=100)
    tags: dict[str, str] = Field(default_factory=dict)


class AliasIn(_In):
    version: Annotated[int, Field(ge=1, lt=2**31)] | None = Field(
        None, description="The version number (or give version_id)."
    )
    version_id: Id | None = None


class ReadIn(_In):
    run_id: Id


class TransformIn(_In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_NUL)]
    kind: str = Field(max_length=16, description="python or sql.")
    code: Annotated[str, StringConstraints(max_length=1_000_000, pattern=_NO_NUL)]
    code_hash: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NO_NUL)]


class OutputIn(_In):
    version_id: Id


class QueryIn(_In):
    sql: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    params: Json | None = None
    max_rows: Annotated[int, Field(ge=1, le=10_000)] = 1000
    timeout: Annotated[float, Field(gt=0, le=60)] = Field(
        30.0, description="Seconds before the statement is stopped (at most 60)."
    )
