"""The dataset tables: datasets, versions, schemas, aliases, tags, lineage, transforms and
the runs that read a version."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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


# The tables as SQLAlchemy Core objects, for the statements of this capability's store.
_tables = Base.metadata.tables
DATASETS = _tables["datasets"]
SCHEMAS = _tables["dataset_schemas"]
VERSIONS = _tables["dataset_versions"]
ALIASES = _tables["dataset_aliases"]
TAGS = _tables["dataset_version_tags"]
LINEAGE = _tables["dataset_lineage"]
RUN_INPUTS = _tables["run_inputs"]
TRANSFORMS = _tables["transforms"]
TRANSFORM_OUTPUTS = _tables["transform_outputs"]
