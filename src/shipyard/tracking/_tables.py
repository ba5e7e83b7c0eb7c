"""The tracking tables: experiments, runs, params, tags, metric series (and the ids of the
batches written, so that a retried batch is not written twice), artifacts.

Metric series live in their own table apart from run rows, and the latest value of each
metric is kept in ``latest_metrics`` so that filtering and ordering runs by a metric is an
index lookup, never a scan of every point ever logged. Times are UNIX epoch seconds (float).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store import Base

RUN_STATUSES = ("running", "finished", "failed", "killed")


class ExperimentRow(Base):
    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(Text)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'finished', 'failed', 'killed')", name="status_known"
        ),
        Index(None, "experiment_id", "start_time"),
        Index(None, "status", "heartbeat_at"),
        Index(None, "parent_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[float] = mapped_column(Float)
    end_time: Mapped[float | None] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    host: Mapped[str] = mapped_column(String(256))
    pid: Mapped[int] = mapped_column(Integer)
    process_started: Mapped[str | None] = mapped_column(String(32))
    source_commit: Mapped[str | None] = mapped_column(String(64))
    source_dirty: Mapped[bool | None] = mapped_column(Boolean)
    entry_point: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[float | None] = mapped_column(Float)


class ParamRow(Base):
    __tablename__ = "params"
    __table_args__ = (Index(None, "key"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TagRow(Base):
    __tablename__ = "tags"
    __table_args__ = (Index(None, "key"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MetricRow(Base):
    """One point of a metric series; many per run and key."""

    __tablename__ = "metrics"
    __table_args__ = (Index(None, "run_id", "key", "step"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[float] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)


class LatestMetricRow(Base):
    """The point with the highest step (then latest timestamp) of each run's metric."""

    __tablename__ = "latest_metrics"
    __table_args__ = (Index(None, "key", "value"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[float] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(BigInteger)


class MetricBatchRow(Base):
    """A metric batch written for a run, by the id its client gave it: a retried batch
    (its first answer lost on the way back) is recognised and not written twice."""

    __tablename__ = "metric_batches"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class ArtifactRow(Base):
    """A logical path in a run's artifacts, pointing at content in the artifact store."""

    __tablename__ = "artifacts"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


# The tables as SQLAlchemy Core objects, for the statements of this capability's store.
_tables = Base.metadata.tables
EXPERIMENTS = _tables["experiments"]
RUNS = _tables["runs"]
PARAMS = _tables["params"]
TAGS = _tables["tags"]
METRICS = _tables["metrics"]
LATEST = _tables["latest_metrics"]
BATCHES = _tables["metric_batches"]
ARTIFACTS = _tables["artifacts"]
