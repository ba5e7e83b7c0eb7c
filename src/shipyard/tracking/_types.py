"""Values the tracking API returns: frozen snapshots, never live rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NewType

RunId = NewType("RunId", str)
ExperimentId = NewType("ExperimentId", str)


def as_datetime(epoch: float | None) -> datetime | None:
    """UTC datetime of an epoch time (None stays None)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    id: ExperimentId
    name: str
    created_at: float
    description: str | None = None
    run_count: int | None = None


@dataclass(frozen=True)
class Point:
    """One value of a metric series."""

    key: str
    value: float
    step: int
    timestamp: float


@dataclass(frozen=True)
class LatestMetric:
    """A metric's newest point (highest step, then latest time) and how many were logged."""

    key: str
    value: float
    step: int
    timestamp: float
    count: int


@dataclass(frozen=True)
class ArtifactInfo:
    """A file in a run's artifacts, pointing at content in the artifact store."""

    path: str
    digest: str
    size: int
    kind: str
    created_at: float


@dataclass(frozen=True)
class RunInfo:
    """Attributes of a run (not its params, metrics or tags)."""

    id: RunId
    experiment_id: ExperimentId
    name: str
    status: str
    start_time: float
    end_time: float | None
    parent_id: RunId | None
    host: str
    pid: int
    source_commit: str | None
    source_dirty: bool | None
    entry_point: str | None
    environment: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None while running."""
        return None if self.end_time is None else self.end_time - self.start_time


@dataclass(frozen=True)
class RunData:
    """A run with everything logged to it (metrics as their latest points)."""

    info: RunInfo
    experiment: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, LatestMetric]
    artifacts: list[ArtifactInfo]
    children: list[RunId]


@dataclass(frozen=True)
class RunsPage:
    """One page of a run search: a record per run (``run_id``, ``experiment``, ``name``,
    ``status``, ``start_time``, ``end_time`` and ``duration`` in epoch seconds, ``parent_id``,
    then ``metrics.<key>``, ``params.<key>``, ``tags.<key>``), and the next page's token."""

    rows: list[dict[str, Any]]
    next_page_token: str | None
