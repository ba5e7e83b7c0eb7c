"""The monitoring tables: monitors, their checks and per-feature results, alerts."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store import Base


class MonitorRow(Base):
    """A monitor: what it watches (a deployment's traffic or a dataset's versions), its
    detectors, window, reference, thresholds, channels and schedule (``spec``, JSON)."""

    __tablename__ = "monitors"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    target_kind: Mapped[str] = mapped_column(String(16))  # deployment or dataset
    target: Mapped[str] = mapped_column(String(256))
    spec: Mapped[str] = mapped_column(Text)
    every: Mapped[float | None] = mapped_column(Float)  # seconds between scheduled checks
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[float] = mapped_column(Float)
    last_check_at: Mapped[float | None] = mapped_column(Float)


class MonitorCheckRow(Base):
    """One run of a monitor over one window: its outcome and, as JSON, what each detector
    found (verdicts, evidence, the distributions a report charts)."""

    __tablename__ = "monitor_checks"
    __table_args__ = (Index(None, "monitor_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))  # ok, alert, no data, failed
    window_start: Mapped[float | None] = mapped_column(Float)
    window_end: Mapped[float | None] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(Integer)
    reference_rows: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)  # how long the check took


class MonitorResultRow(Base):
    """One value of a check: a detector's statistic for a feature (``""`` for the whole
    window), its threshold and whether it crossed it. Read as a time series per monitor,
    feature and metric."""

    __tablename__ = "monitor_results"
    __table_args__ = (Index(None, "monitor_id", "feature", "metric", "at"),)

    check_id: Mapped[int] = mapped_column(
        ForeignKey("monitor_checks.id", ondelete="CASCADE"), primary_key=True
    )
    detector: Mapped[str] = mapped_column(String(32), primary_key=True)
    feature: Mapped[str] = mapped_column(Text, primary_key=True)  # a column name: any length
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    at: Mapped[float] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean)


class AlertRow(Base):
    """An alert of a monitor's detector: opened when a check crosses a threshold, updated
    (not repeated) while it stays open, resolved once checks have found the signal
    recovered for the monitor's cooldown (``recovered_at``: since when), or by hand.
    ``deliveries`` (JSON) records each notification sent and its outcome."""

    __tablename__ = "alerts"
    __table_args__ = (Index(None, "monitor_id", "detector", "status"), Index(None, "status"))

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    detector: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # open, acknowledged, resolved
    title: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)  # JSON: features, statistics, window
    occurrences: Mapped[int] = mapped_column(Integer)
    first_check_id: Mapped[int | None] = mapped_column(BigInteger)
    last_check_id: Mapped[int | None] = mapped_column(BigInteger)
    opened_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    acknowledged_at: Mapped[float | None] = mapped_column(Float)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[float | None] = mapped_column(Float)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    recovered_at: Mapped[float | None] = mapped_column(Float)
    deliveries: Mapped[str] = mapped_column(Text)


# The tables as SQLAlchemy Core objects, for the statements of this capability's store.
_tables = Base.metadata.tables
MONITORS = _tables["monitors"]
CHECKS = _tables["monitor_checks"]
RESULTS = _tables["monitor_results"]
ALERTS = _tables["alerts"]
