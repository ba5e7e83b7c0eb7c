"""What the tracking routes answer and take, as OpenAPI schemas.

The answers are built as plain dicts (fast to encode: a page of runs, a metric history) and
these models only document them; bodies are validated with them, except a metric batch,
which the route reads with orjson and checks itself (``_tracking_writes``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shipyard._time import TIME_FORMAT
from shipyard._validate import MAX_NAME

_TEXT = r"^[^\x00]*$"  # no NUL character (PostgreSQL refuses them in text)
# bodies: no unknown fields, no coercion (``false`` is not a time, ``"3"`` not a pid)
_BODY = ConfigDict(extra="forbid", strict=True)


class Experiment(BaseModel):
    """A named group of runs."""

    id: str
    name: str
    created_at: datetime
    description: str | None = None
    run_count: int | None = Field(None, description="Runs not deleted.")


class ExperimentsPage(BaseModel):
    items: list[Experiment]
    next_page_token: str | None


class RunInfo(BaseModel):
    """A run's attributes."""

    id: str
    experiment_id: str
    name: str
    status: str = Field(description="running, finished, failed or killed")
    start_time: datetime
    end_time: datetime | None
    parent_id: str | None
    host: str
    pid: int
    source_commit: str | None
    source_dirty: bool | None
    entry_point: str | None
    environment: dict[str, Any]
    deleted: bool


class LatestMetric(BaseModel):
    """A metric's newest point (highest step, then latest time) and how many were logged."""

    key: str
    value: float
    step: int
    timestamp: datetime = Field(description=TIME_FORMAT)
    count: int


class Artifact(BaseModel):
    """A file of a run, pointing at content in the artifact store by its sha256."""

    path: str
    digest: str
    size: int
    kind: str
    created_at: datetime


class RunData(BaseModel):
    """A run with its params, tags, latest metrics, artifacts and child runs."""

    info: RunInfo
    experiment: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, LatestMetric]
    artifacts: list[Artifact]
    children: list[str]


class RunRow(BaseModel):
    """A run of a search: its attributes, then ``metrics.<key>``, ``params.<key>`` and
    ``tags.<key>`` values."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    experiment: str
    name: str
    status: str
    start_time: datetime
    end_time: datetime | None
    duration: float | None = Field(description="seconds")
    parent_id: str | None


class RunsPage(BaseModel):
    items: list[RunRow]
    next_page_token: str | None


class MetricHistory(BaseModel):
    """A metric's points by step, as columns (``steps[i]``, ``values[i]``,
    ``timestamps[i]`` are one point); downsampled when ``max_points`` was given."""

    key: str
    count: int = Field(description="Points stored (before downsampling).")
    steps: list[int]
    values: list[float]
    timestamps: list[datetime] = Field(description=f"as logged, each {TIME_FORMAT}")


class CompareRow(BaseModel):
    field: str = Field(description="experiment, status, duration, params.*, metrics.*, tags.*")
    values: list[Any] = Field(description="One per run, in the order of `runs`.")
    differs: bool


class Comparison(BaseModel):
    runs: list[str] = Field(description="Each run's label: name (id prefix).")
    run_ids: list[str]
    rows: list[CompareRow]


class Deleted(BaseModel):
    deleted: list[str] = Field(description="The ids deleted (the run and its children).")


class Reaped(BaseModel):
    reaped: list[str] = Field(description="Runs found dead and marked killed.")


# -- bodies --------------------------------------------------------------------------------


class NewExperiment(BaseModel):
    model_config = _BODY
    name: str = Field(min_length=1, max_length=MAX_NAME)


class Process(BaseModel):
    """The process owning a run (its heartbeat and liveness are checked by it)."""

    model_config = _BODY
    host: str = Field(max_length=255, pattern=_TEXT)
    pid: int = Field(ge=0, lt=2**31)
    started: str | None = Field(None, max_length=64, pattern=_TEXT)


class Source(BaseModel):
    """Where the run's code came from."""

    model_config = ConfigDict(extra="ignore", strict=True)
    commit: str | None = Field(None, max_length=64, pattern=_TEXT)
    dirty: bool | None = None
    entry_point: str | None = Field(None, max_length=1000, pattern=_TEXT)


class NewRun(BaseModel):
    model_config = _BODY
    experiment_id: str = Field(min_length=1, max_length=MAX_NAME, pattern=_TEXT)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    parent_id: str | None = Field(None, max_length=64, pattern=_TEXT)
    process: Process
    source: Source = Field(default_factory=lambda: Source(commit=None, entry_point=None))
    environment: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    start_time: float | None = Field(None, description="epoch seconds; default: now")


class Resume(BaseModel):
    model_config = _BODY
    process: Process


METRIC_POINTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 1_000_000,
    "description": "Points as [key, value, step, timestamp (epoch seconds)].",
    "items": {
        "type": "array",
        "minItems": 4,
        "maxItems": 4,
        "prefixItems": [
            {"type": "string", "minLength": 1, "maxLength": 250},
            {"type": "number"},
            {"type": "integer"},
            {"type": "number"},
        ],
    },
}


class Heartbeat(BaseModel):
    model_config = _BODY
    run_ids: list[str] = Field(max_length=10_000)
    now: float | None = None


class Reap(BaseModel):
    model_config = _BODY
    now: float | None = None


class Params(BaseModel):
    model_config = _BODY
    params: dict[str, str]


class Tags(BaseModel):
    model_config = _BODY
    tags: dict[str, str]


class NewArtifact(BaseModel):
    model_config = _BODY
    path: str = Field(min_length=1, max_length=1000)
    digest: str = Field(pattern="^[0-9a-f]{64}$", description="sha256 of the content")
    size: int = Field(ge=0, lt=2**63)
    kind: str = Field(min_length=1, max_length=64, pattern=_TEXT)


class Artifacts(BaseModel):
    model_config = _BODY
    artifacts: list[NewArtifact] = Field(max_length=100_000)


def documented(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` documenting a 200 answer of ``model``'s shape (built as a dict)."""
    return {200: {"model": model, "description": description}}
