"""The values of monitoring: a monitor, a check, an alert, a finding and a notice (frozen
snapshots, as the stores return them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACTIVE",
    "STATUSES",
    "UNITS",
    "Alert",
    "Check",
    "Finding",
    "Monitor",
    "Notice",
    "format_duration",
]

STATUSES = ("open", "acknowledged", "resolved")
ACTIVE = ("open", "acknowledged")
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


@dataclass(frozen=True)
class Monitor:
    """A stored monitor (see :func:`create` for the fields' meaning)."""

    id: str
    name: str
    target_kind: str  # deployment or dataset
    target: str
    reference: str
    window: dict[str, float]  # {"rows": n} or {"seconds": s}
    detectors: tuple[str, ...]
    every: float | None
    channels: tuple[str, ...]
    cooldown: float
    drift_share: float
    thresholds: dict[str, float] = field(default_factory=dict)
    categorical: tuple[str, ...] = ()
    metric: str | None = None
    metric_threshold: float | None = None
    min_rows: int = 30
    weighted: bool = True
    on_alert: tuple[str, ...] = ()  # what an opened alert starts: "pipeline:NAME"
    enabled: bool = True
    created_at: float = 0.0
    created_by: str | None = None
    updated_at: float = 0.0
    last_check_at: float | None = None

    @property
    def due(self) -> bool:
        """Whether a scheduled check should run now."""
        if not self.enabled or self.every is None:
            return False
        return self.last_check_at is None or time.time() >= self.last_check_at + self.every

    def describe_window(self) -> str:
        if self.target_kind == "dataset":
            return "newest version"
        if "rows" in self.window:
            return f"last {int(self.window['rows']):,} rows"
        return f"last {format_duration(self.window['seconds'])}"


def format_duration(seconds: float) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds >= UNITS[unit] and seconds % UNITS[unit] == 0:
            return f"{int(seconds // UNITS[unit])}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class Check:
    """One run of a monitor: its status (``ok``, ``alert``, ``no data``, ``failed``), the
    windows it read, and what each detector found (``detectors[name]``: flagged, title,
    evidence)."""

    id: int
    monitor: str
    at: float
    status: str
    rows: int
    reference_rows: int
    window_start: float | None
    window_end: float | None
    seconds: float
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor,
            "at": self.at,
            "status": self.status,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "seconds": self.seconds,
            "error": self.error,
            "detectors": {
                name: {k: v for k, v in found.items() if k != "charts"}
                for name, found in self.detectors.items()
            },
        }


@dataclass(frozen=True)
class Finding:
    """What a check found for one detector: crossed or not, a one-line title, evidence."""

    flagged: bool
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    """An alert of a monitor's detector: its status (open, acknowledged, resolved), what
    the latest flagging check found, and every notice delivered."""

    id: int
    monitor: str
    target: str
    detector: str
    status: str
    title: str
    evidence: dict[str, Any]
    occurrences: int
    opened_at: float
    updated_at: float
    first_check_id: int | None = None
    last_check_id: int | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    deliveries: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor,
            "target": self.target,
            "detector": self.detector,
            "status": self.status,
            "title": self.title,
            "evidence": self.evidence,
            "occurrences": self.occurrences,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "first_check_id": self.first_check_id,
            "last_check_id": self.last_check_id,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by,
            "deliveries": list(self.deliveries),
        }


@dataclass(frozen=True)
class Notice:
    """A notice to send: the alert, the event, and the channels (None: all the monitor's)."""

    alert_id: int
    event: str
    channels: tuple[str, ...] | None = None
