"""ORM models of the metadata store.

Metric series live in their own table apart from run rows, and the latest value of each
metric is kept in ``latest_metrics`` so that filtering and ordering runs by a metric is an
index lookup, never a scan of every point ever logged. Times are UNIX epoch seconds (float).
Changing anything here needs a new Alembic migration in ``migrations/versions``;
``tests/store/test_db.py`` fails when models and migrations disagree.
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
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RUN_STATUSES = ("running", "finished", "failed", "killed")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


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


class ArtifactRow(Base):
    """A logical path in a run's artifacts, pointing at content in the artifact store."""

    __tablename__ = "artifacts"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class DatasetRow(Base):
    """A named dataset: its versions, schema history and validation policy."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(Text)
    policy: Mapped[str] = mapped_column(String(16))  # "reject" | "warn"


class DatasetSchemaRow(Base):
    """One version of a dataset's schema (JSON of ``shipyard.data.Schema``)."""

    __tablename__ = "dataset_schemas"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    schema: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class DatasetVersionRow(Base):
    """An immutable version: Parquet content in the artifact store, addressed by content."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        UniqueConstraint("dataset_id", "content_hash"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    schema_version: Mapped[int | None] = mapped_column(Integer)
    profile_digest: Mapped[str | None] = mapped_column(String(64))
    validation: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    run_id: Mapped[str | None] = mapped_column(String(32))
    transform_id: Mapped[str | None] = mapped_column(String(32))
    transform_params: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)


class DatasetAliasRow(Base):
    """A movable name for one version (``loans@golden``)."""

    __tablename__ = "dataset_aliases"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"))


class DatasetTagRow(Base):
    """A key/value tag on a dataset version."""

    __tablename__ = "dataset_version_tags"

    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DatasetLineageRow(Base):
    """Edge: ``child_id`` was made from ``parent_id`` (by a transform or a query)."""

    __tablename__ = "dataset_lineage"
    __table_args__ = (Index(None, "parent_id"),)

    child_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    parent_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )


class RunInputRow(Base):
    """Edge: a run read a dataset version through the SDK."""

    __tablename__ = "run_inputs"
    __table_args__ = (Index(None, "version_id"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )


class TransformRow(Base):
    """A named transform at one version of its code (Python source or SQL)."""

    __tablename__ = "transforms"
    __table_args__ = (UniqueConstraint("name", "code_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # "python" | "sql"
    code: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class TransformOutputRow(Base):
    """Cache: this transform on these inputs with these params made that version."""

    __tablename__ = "transform_outputs"

    transform_id: Mapped[str] = mapped_column(
        ForeignKey("transforms.id", ondelete="CASCADE"), primary_key=True
    )
    input_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"))


MODEL_STAGES = ("none", "staging", "production", "archived")


class ModelRow(Base):
    """A named model: its versions share a name, aliases and a stage history."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(Text)
    # Versions are numbered from this counter, so a deleted version's number is never reused.
    next_version: Mapped[int] = mapped_column(Integer)


class ModelVersionRow(Base):
    """An immutable model version: its artifact, flavor, signature, environment and lineage."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        CheckConstraint(
            "stage IN ('none', 'staging', 'production', 'archived')", name="stage_known"
        ),
        Index(None, "model_id", "stage"),
        Index(None, "run_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    flavor: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    flavor_meta: Mapped[str] = mapped_column(Text)  # JSON: format, trusted types, classes...
    signature: Mapped[str | None] = mapped_column(Text)  # JSON of models.Signature
    environment: Mapped[str] = mapped_column(Text)  # JSON: python and package versions
    sample_digest: Mapped[str | None] = mapped_column(String(64))  # Parquet rows for checks
    metrics: Mapped[str | None] = mapped_column(Text)  # JSON: copied from the run
    run_id: Mapped[str | None] = mapped_column(String(32))
    source_commit: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(128))


class ModelAliasRow(Base):
    """A movable name for one version (``churn@champion``)."""

    __tablename__ = "model_aliases"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))


class ModelTagRow(Base):
    """A key/value tag on a model version."""

    __tablename__ = "model_version_tags"

    version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelInputRow(Base):
    """Edge: a model version was trained on a dataset version."""

    __tablename__ = "model_inputs"
    __table_args__ = (Index(None, "dataset_version_id"),)

    version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )


class ModelExportRow(Base):
    """Another form of a version (``onnx``, ``onnx-int8``), stored after its checks passed."""

    __tablename__ = "model_exports"

    version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    format: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    meta: Mapped[str] = mapped_column(Text)  # JSON: how to feed it
    report: Mapped[str] = mapped_column(Text)  # JSON: parity, size, latency, metric change
    created_at: Mapped[float] = mapped_column(Float)


class ModelEventRow(Base):
    """One recorded move: registration, alias set or removed, stage change, rollback, delete.

    Kept when the version is deleted (the history of a model outlives its versions).
    """

    __tablename__ = "model_events"
    __table_args__ = (Index(None, "model_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(String(128))
    after: Mapped[str | None] = mapped_column(String(128))
    actor: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float)


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
