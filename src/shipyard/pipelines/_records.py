"""What the pipeline store hands out: immutable snapshots of versions, runs and step runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "FINISHED",
    "RUN_STATUSES",
    "PipelineRun",
    "PipelineVersion",
    "StepRun",
]

#: The states a run ends in.
FINISHED = ("succeeded", "failed", "cancelled")
#: Every state of a run.
RUN_STATUSES = ("queued", "running", *FINISHED)
#: The states a step run ends in with an output.
DONE = ("succeeded", "cached", "reused")


@dataclass(frozen=True)
class PipelineVersion:
    """One registered version of a pipeline: where its code lives, its graph, defaults."""

    id: str
    name: str
    version: int
    code_hash: str
    entry: str
    source_file: str | None
    graph: list[dict[str, Any]]
    params: dict[str, Any]
    created_at: float
    created_by: str | None
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ref": self.ref}


@dataclass(frozen=True)
class StepRun:
    """One step of a run: status (pending, running, succeeded, cached, reused, failed,
    skipped, cancelled), attempts, times, captured output, and what it made."""

    name: str
    status: str
    attempts: int
    started_at: float | None
    ended_at: float | None
    error: str | None
    logs: str | None
    output_kind: str | None
    output_digest: str | None
    output_size: int | None
    output_meta: dict[str, Any] | None
    tracking_run_id: str | None
    links: tuple[str, ...]
    source_run: str | None
    cache_key: str | None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "duration": self.duration}


@dataclass(frozen=True)
class PipelineRun:
    """One run of a pipeline version, with its steps in graph order."""

    id: str
    pipeline: str
    version: int
    status: str
    params: dict[str, Any]
    trigger: dict[str, Any] | None
    executor: str
    options: dict[str, Any]
    resumed_from: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    heartbeat_at: float | None
    owner: str | None
    error: str | None
    created_by: str | None
    steps: tuple[StepRun, ...] = ()

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def step(self, name: str) -> StepRun:
        """The step run called ``name`` (KeyError naming the steps when there is none)."""
        for item in self.steps:
            if item.name == name:
                return item
        raise KeyError(
            f"Run {self.id} has no step {name!r}; it has {[s.name for s in self.steps]}."
        )

    def to_dict(self, steps: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = [s.to_dict() for s in self.steps] if steps else None
        data["duration"] = self.duration
        return data


def run_record(row: Any, steps: Sequence[Any], order: list[str] | None) -> PipelineRun:
    """A run from its row (joined with its pipeline's name and version) and step rows."""
    items = [step_record(s) for s in steps]
    if order:
        position = {name: i for i, name in enumerate(order)}
        items.sort(key=lambda s: position.get(s.name, len(position)))
    return PipelineRun(
        id=row.id,
        pipeline=row.pipeline,
        version=row.version,
        status=row.status,
        params=json.loads(row.params),
        trigger=None if row.trigger is None else json.loads(row.trigger),
        executor=row.executor,
        options={k: v for k, v in json.loads(row.options).items() if k != "order"},
        resumed_from=row.resumed_from,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        heartbeat_at=row.heartbeat_at,
        owner=row.owner,
        error=row.error,
        created_by=row.created_by,
        steps=tuple(items),
    )


def step_record(row: Any) -> StepRun:
    """A step run from its row."""
    return StepRun(
        name=row.step,
        status=row.status,
        attempts=row.attempts,
        started_at=row.started_at,
        ended_at=row.ended_at,
        error=row.error,
        logs=row.logs,
        output_kind=row.output_kind,
        output_digest=row.output_digest,
        output_size=row.output_size,
        output_meta=None if row.output_meta is None else json.loads(row.output_meta),
        tracking_run_id=row.tracking_run_id,
        links=tuple(json.loads(row.links)) if row.links else (),
        source_run=row.source_run,
        cache_key=row.cache_key,
    )
