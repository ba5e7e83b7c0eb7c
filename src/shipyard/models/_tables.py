"""The model registry tables: models, versions, aliases, tags, inputs, exports, events,
promotion policies and the governance evidence recorded for versions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store import Base


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


class ModelPolicyRow(Base):
    """One version of a model's promotion policy (the newest is in force)."""

    __tablename__ = "model_policies"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # JSON: the parsed policy
    source: Mapped[str | None] = mapped_column(Text)  # the YAML as given
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(128))


class ModelEvidenceRow(Base):
    """What governance recorded about a version: an explanation, a fairness report, a
    mitigation, the card's user-written sections, an approval, a gate override."""

    __tablename__ = "model_evidence"
    __table_args__ = (Index(None, "version_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(128))


# The tables as SQLAlchemy Core objects, for the statements of this capability's store.
_tables = Base.metadata.tables
MODELS = _tables["models"]
VERSIONS = _tables["model_versions"]
ALIASES = _tables["model_aliases"]
TAGS = _tables["model_version_tags"]
INPUTS = _tables["model_inputs"]
EXPORTS = _tables["model_exports"]
EVENTS = _tables["model_events"]
POLICIES = _tables["model_policies"]
EVIDENCE = _tables["model_evidence"]
