"""The serving tables: deployments, their routes and events, API keys, and the rollout
evidence pooled by every worker and replica (``serving._evidence_sql``)."""

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


class DeploymentRow(Base):
    """A named deployment: routes to model versions and the policy that splits traffic.

    ``revision`` grows with every change (routes, policy, its state), so a server notices a
    change with one indexed read.
    """

    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    policy: Mapped[str] = mapped_column(Text)  # JSON: kind, its parameters and its state
    revision: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class DeploymentRouteRow(Base):
    """One route of a deployment: a name, the model reference it serves, its traffic share."""

    __tablename__ = "deployment_routes"
    __table_args__ = (CheckConstraint("weight >= 0 AND weight <= 100", name="weight_percent"),)

    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    route: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(256))  # "churn@3", "churn@champion"
    weight: Mapped[float] = mapped_column(Float)  # percent of the traffic it answers
    position: Mapped[int] = mapped_column(Integer)


class DeploymentEventRow(Base):
    """One change or decision: created, policy set, promoted, rolled back, canary step."""

    __tablename__ = "deployment_events"
    __table_args__ = (Index(None, "deployment_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)  # JSON: the split before and after, evidence
    actor: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float)


class ApiKeyRow(Base):
    """An API key for the inference server: only its SHA-256 is stored, never the key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell keys apart
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the whole key
    scopes: Mapped[str] = mapped_column(String(256))  # comma-separated: predict,feedback,admin
    rate_limit: Mapped[float | None] = mapped_column(Float)  # requests per second; None: none
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(128))
    revoked_at: Mapped[float | None] = mapped_column(Float)


class EvidenceCountRow(Base):
    """One pooled count of a route in an evidence period: ``field`` is a RouteStats field
    (``requests``, ``labelled``, ...) or a model-time bucket (``t17``); added to, never
    rewritten."""

    __tablename__ = "evidence_counts"

    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    route: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(255), primary_key=True)
    field: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class EvidenceRequestRow(Base):
    """A request's ticket (route, period, prediction) and the feedback posted for it, each
    credited once; either may arrive first. Pruned by age and number."""

    __tablename__ = "evidence_requests"
    __table_args__ = (Index(None, "deployment_id", "at"),)

    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    route: Mapped[str | None] = mapped_column(String(64))
    period: Mapped[str | None] = mapped_column(String(255))
    prediction: Mapped[str | None] = mapped_column(Text)  # its value_key
    label: Mapped[str | None] = mapped_column(Text)  # the first posted, as a value_key
    reward: Mapped[float | None] = mapped_column(Float)  # the first posted
    label_counted: Mapped[bool] = mapped_column(Boolean)
    reward_counted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[float] = mapped_column(Float)


class EvidencePeriodRow(Base):
    """The evidence period a deployment is in: its policy's epoch and the revision it
    began at."""

    __tablename__ = "evidence_periods"

    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(Text)
    start: Mapped[int] = mapped_column(Integer)


# The tables as SQLAlchemy Core objects, for the statements of this capability's store.
_tables = Base.metadata.tables
DEPLOYMENTS = _tables["deployments"]
ROUTES = _tables["deployment_routes"]
EVENTS = _tables["deployment_events"]
KEYS = _tables["api_keys"]
EVIDENCE_COUNTS = _tables["evidence_counts"]
EVIDENCE_REQUESTS = _tables["evidence_requests"]
EVIDENCE_PERIODS = _tables["evidence_periods"]
