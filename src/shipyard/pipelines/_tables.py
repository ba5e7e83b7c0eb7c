"""The pipeline tables: pipelines and their versions (through the registry core), runs, step
runs, schedules and triggers, and the firings a scheduler claimed."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store import Base


class PipelineRow(Base):
    """A named pipeline: its versions share a name and aliases."""

    __tablename__ = "pipelines"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(Text)
    next_version: Mapped[int] = mapped_column(Integer)


class PipelineVersionRow(Base):
    """One version of a pipeline: the hash of its code and graph, where its code lives, the
    graph (JSON: steps, their options and inputs) and its default parameters."""

    __tablename__ = "pipeline_versions"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "version"),
        UniqueConstraint("pipeline_id", "code_hash"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    code_hash: Mapped[str] = mapped_column(String(64))
    entry: Mapped[str] = mapped_column(Text)  # "module:qualname" of the decorated function
    source_file: Mapped[str | None] = mapped_column(Text)  # where it was defined
    graph: Mapped[str] = mapped_column(Text)  # JSON
    params: Mapped[str] = mapped_column(Text)  # JSON: the defaults it was registered with
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(128))


class PipelineAliasRow(Base):
    """A movable name for one pipeline version."""

    __tablename__ = "pipeline_aliases"

    pipeline_id: Mapped[str] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("pipeline_versions.id", ondelete="CASCADE"))


class PipelineTagRow(Base):
    """A key/value tag on a pipeline version."""

    __tablename__ = "pipeline_version_tags"

    version_id: Mapped[str] = mapped_column(
        ForeignKey("pipeline_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PipelineEventRow(Base):
    """One recorded move of a pipeline: a version registered, an alias moved."""

    __tablename__ = "pipeline_events"
    __table_args__ = (Index(None, "pipeline_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    version: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(String(128))
    after: Mapped[str | None] = mapped_column(String(128))
    actor: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float)


class PipelineRunRow(Base):
    """One run of a pipeline version: queued, running, succeeded, failed or cancelled."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (
        Index(None, "pipeline_id", "created_at"),
        Index(None, "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    version_id: Mapped[str] = mapped_column(ForeignKey("pipeline_versions.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[str] = mapped_column(Text)  # JSON: {name: stored value}
    trigger: Mapped[str | None] = mapped_column(Text)  # JSON: what started it
    executor: Mapped[str] = mapped_column(String(32))
    options: Mapped[str] = mapped_column(Text)  # JSON: cache, address, workers
    resumed_from: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    heartbeat_at: Mapped[float | None] = mapped_column(Float)
    owner: Mapped[str | None] = mapped_column(String(128))  # host:pid running it
    cancel_requested: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(128))


class StepRunRow(Base):
    """One step of a run: its attempts, times, captured logs and output (a small output is
    kept here, a larger one in the artifact store by digest)."""

    __tablename__ = "pipeline_step_runs"
    __table_args__ = (Index(None, "cache_key", "status"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("pipeline_runs.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    cache_key: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    logs: Mapped[str | None] = mapped_column(Text)
    output_kind: Mapped[str | None] = mapped_column(String(32))
    output_digest: Mapped[str | None] = mapped_column(String(64))
    output_size: Mapped[int | None] = mapped_column(BigInteger)
    output_inline: Mapped[bytes | None] = mapped_column(LargeBinary)
    output_meta: Mapped[str | None] = mapped_column(Text)  # JSON: shape, reference...
    tracking_run_id: Mapped[str | None] = mapped_column(String(32))
    links: Mapped[str | None] = mapped_column(Text)  # JSON: dataset and model versions made
    source_run: Mapped[str | None] = mapped_column(String(32))  # cached from / reused from


class ScheduleRow(Base):
    """What starts a pipeline on its own: a cron expression in a time zone, or a trigger
    (``dataset:NAME``, ``model:NAME``, ``alert:MONITOR``, ``labels:DEPLOYMENT``)."""

    __tablename__ = "pipeline_schedules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # "cron" | "trigger"
    cron: Mapped[str | None] = mapped_column(String(128))
    timezone: Mapped[str | None] = mapped_column(String(64))
    on: Mapped[str | None] = mapped_column(String(255))
    threshold: Mapped[int | None] = mapped_column(Integer)  # rows, for labels triggers
    params: Mapped[str] = mapped_column(Text)  # JSON
    enabled: Mapped[bool] = mapped_column(Boolean)
    cursor: Mapped[str | None] = mapped_column(Text)  # JSON: what the trigger saw last
    created_at: Mapped[float] = mapped_column(Float)


class FiringRow(Base):
    """One firing of a schedule, claimed by exactly one scheduler (the unique key)."""

    __tablename__ = "pipeline_firings"
    __table_args__ = (UniqueConstraint("schedule_id", "key"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    schedule_id: Mapped[str] = mapped_column(
        ForeignKey("pipeline_schedules.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(255))  # a cron time, a version, an alert id
    fired_at: Mapped[float] = mapped_column(Float)
    run_id: Mapped[str | None] = mapped_column(String(32))
    claimed_by: Mapped[str | None] = mapped_column(String(128))


# The tables as SQLAlchemy Core objects, for the statements of this capability's stores.
_tables = Base.metadata.tables
PIPELINES = _tables["pipelines"]
VERSIONS = _tables["pipeline_versions"]
ALIASES = _tables["pipeline_aliases"]
TAGS = _tables["pipeline_version_tags"]
EVENTS = _tables["pipeline_events"]
RUNS = _tables["pipeline_runs"]
STEPS = _tables["pipeline_step_runs"]
SCHEDULES = _tables["pipeline_schedules"]
FIRINGS = _tables["pipeline_firings"]
