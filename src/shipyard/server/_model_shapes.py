"""The model registry's request and answer bodies, as the OpenAPI description shows them.

Answers are built by ``shipyard.models._wire`` (the records the SDK returns, times as ISO 8601
strings) and validated against these shapes; request bodies are checked here first (sizes
the tables hold, no NUL character), then by the SDK's own rules (aliases, stages, tag keys,
metric values), whose messages name the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "AliasMove",
    "CompareOut",
    "DeletedModel",
    "EventPage",
    "ExportAsk",
    "ExportRecord",
    "LineageOut",
    "ModelOut",
    "ModelPage",
    "NewVersion",
    "Rolledback",
    "StageMove",
    "VersionId",
    "VersionOut",
    "VersionPage",
    "Why",
]

_PLAIN = r"^[^\x00]*$"  # PostgreSQL text holds no NUL
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=_PLAIN)]
Actor = Annotated[str, StringConstraints(max_length=128, pattern=_PLAIN)]
Text = Annotated[str, StringConstraints(max_length=10_000, pattern=_PLAIN)]
Time = Annotated[str, Field(description="ISO 8601 in UTC, e.g. 2026-12-05T22:57:04.123456+00:00")]
Size = Annotated[int, Field(ge=0, lt=2**63)]
ACTOR = (
    "Who acted, as the client names it (the SDK sends its user). A server with auth records "
    "the signed-in user instead; without the field, the server's user."
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- answers --------------------------------------------------------------------------------


class ColumnOut(BaseModel):
    name: str
    type: str
    nullable: bool
    categories: list[Any] | None = None


class SignatureOut(BaseModel):
    inputs: list[ColumnOut]
    task: str | None
    classes: list[Any] | None
    target: str | None


class ExportOut(BaseModel):
    format: str
    digest: str
    size: int
    meta: dict[str, Any]
    report: dict[str, Any]
    created_at: Time


class VersionOut(BaseModel):
    """One registered version: artifact, flavor, signature, environment, lineage, state."""

    id: str
    model_id: str
    name: str
    version: int
    ref: str = Field(description="name@version")
    flavor: str
    digest: str = Field(description="sha256 of the model file (a blob of the artifact store)")
    size: int
    flavor_meta: dict[str, Any]
    signature: SignatureOut | None
    environment: dict[str, Any]
    sample_digest: str | None
    metrics: dict[str, float]
    run_id: str | None
    source_commit: str | None
    stage: str = Field(description="none, staging, production or archived")
    description: str | None
    created_at: Time
    created_by: str | None
    aliases: list[str]
    tags: dict[str, str]
    datasets: list[str] = Field(description="name@version of the dataset versions it learned")
    exports: dict[str, ExportOut]


class ModelOut(BaseModel):
    """A named model and a summary of its versions."""

    id: str
    name: str
    created_at: Time
    description: str | None
    versions: int
    latest: int | None
    production: int | None
    aliases: dict[str, int]


class EventOut(BaseModel):
    """One recorded move: who did what to which version, when and why."""

    id: int
    model: str
    version: int | None
    kind: str = Field(
        description="registered, alias, alias-removed, stage, rollback, exported or deleted"
    )
    before: str | None
    after: str | None
    actor: str | None
    reason: str | None
    at: Time


class _Page(BaseModel):
    next_page_token: str | None = Field(description="Pass it as page_token for the next page.")


class ModelPage(_Page):
    items: list[ModelOut]


class VersionPage(_Page):
    items: list[VersionOut]


class EventPage(_Page):
    items: list[EventOut]


class VersionId(BaseModel):
    id: str


class Rolledback(BaseModel):
    previous: int | None = Field(description="The version that was in production, if any.")
    version: VersionOut = Field(description="The version now in production.")


class DeletedModel(BaseModel):
    name: str
    versions: int = Field(description="How many versions were deleted with it.")


class CompareRow(BaseModel):
    field: str
    values: list[Any] = Field(description="One value per column; null where a version lacks it.")
    differs: bool


class CompareOut(BaseModel):
    """Versions side by side; rows whose values differ come first."""

    columns: list[str]
    rows: list[CompareRow]


class RunOut(BaseModel):
    id: str
    name: str
    experiment: str
    status: str
    start_time: Time
    end_time: Time | None
    source_commit: str | None
    params: dict[str, str]
    metrics: dict[str, float]


class EdgeOut(BaseModel):
    parent: str
    child: str
    transform: str | None


class DatasetOut(BaseModel):
    id: str
    ref: str
    rows: int
    columns: int
    created_at: Time
    run_id: str | None = Field(description="The run that registered the dataset version.")
    upstream: list[EdgeOut] = Field(description="The dataset versions it was made from.")


class VersionRef(BaseModel):
    id: str
    ref: str


class LineageOut(BaseModel):
    """Where a version came from: the run that trained it and the data it learned."""

    version: VersionRef
    run_id: str | None
    run: RunOut | None = Field(description="Null without a run, or when it was deleted.")
    datasets: list[DatasetOut]


# -- requests -------------------------------------------------------------------------------


class ColumnIn(_Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=_PLAIN)]
    type: Short
    nullable: bool = False
    categories: list[Any] | None = None


class SignatureIn(_Body):
    inputs: list[ColumnIn]
    task: Short | None = None
    classes: list[Any] | None = None
    target: Text | None = None


class NewVersion(_Body):
    """A version to record; the model file and sample rows are blobs already stored."""

    flavor: Short
    digest: Digest
    size: Size
    flavor_meta: dict[str, Any] = {}
    signature: SignatureIn | None = None
    environment: dict[str, Any] = {}
    sample_digest: Digest | None = None
    metrics: dict[str, float] = {}
    run_id: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    source_commit: Annotated[str, StringConstraints(max_length=64, pattern=_PLAIN)] | None = None
    created_by: Actor | None = Field(None, description=ACTOR)
    description: Text | None = None
    tags: dict[str, str] = {}
    datasets: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        [], description="Ids of the dataset versions it was trained on."
    )
    aliases: list[str] = []
    stage: str = Field("none", description="none, staging, production or archived")
    reason: Text | None = None


class Why(_Body):
    reason: Text | None = Field(None, description="Why (kept in the history).")
    actor: Actor | None = Field(None, description=ACTOR)


class StageMove(Why):
    stage: str = Field(description="none, staging, production or archived")
    force: bool = Field(False, description="Override failed gates (needs a reason; admin).")


class AliasMove(Why):
    version: int | str = Field(description="The version it names: a number, alias or stage.")
    force: bool = Field(False, description="Override failed gates (needs a reason; admin).")


class ExportAsk(_Body):
    """Convert to ONNX on the server, check it against the native model, store it."""

    format: str = "onnx"
    quantize: str | None = Field(None, description="int8 to also store a quantized form.")
    data: str | None = Field(None, description="A dataset version to check on (loans@3).")
    target: str | None = Field(None, description="The label column of data.")
    rows: int = Field(1000, ge=1, le=100_000)
    atol: float = Field(1e-4, ge=0, le=1e6)
    min_agreement: float = Field(0.999, ge=0, le=1)
    tolerance: float = Field(0.01, ge=0, le=1e6)


class ExportRecord(_Body):
    """Another form of a version, its bytes a blob already stored."""

    format: Short
    digest: Digest
    size: Size
    meta: dict[str, Any] = {}
    report: dict[str, Any] = {}
    actor: Actor | None = Field(None, description=ACTOR)
